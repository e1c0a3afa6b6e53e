; hello: prints a greeting on the console through the tty driver, then exits.
;
; One DEV_WRITE to tty by SENDREC with the text inline; the exit status is 0 when tty
; wrote every byte, else 1.

.include "abi.inc"

.text
_start:
    mov dword ptr [msg + M_TYPE], DEV_WRITE
    mov dword ptr [msg + DEV_COUNT], greeting_end - greeting
    lea esi, [greeting]
    lea edi, [msg + DEV_DATA]
    mov ecx, greeting_end - greeting
    cld
    rep movsb
    mov eax, EP_TTY
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    xor edx, edx
    test eax, eax
    jnz failed
    cmp dword ptr [msg + M_TYPE], greeting_end - greeting
    je exit
failed:
    mov edx, 1
exit:
    mov dword ptr [msg + M_TYPE], SYS_EXIT
    mov [msg + EXIT_STATUS], edx
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    ud2                             ; never reached: EXIT does not return

.data
greeting:
    .ascii "Hello from minix-emu!\n"
greeting_end:

.bss
msg:
    .space MSG_SIZE
