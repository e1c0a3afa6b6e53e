; writer: prints "Hi!\n" twice on the printer, one DEV_WRITE by SENDREC each.  The exit
; status is 0 when both were printed, else 1.

.include "abi.inc"

.text
_start:
    call write_line
    jnz failed
    call write_line
    jnz failed
    xor edx, edx
    jmp exit
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

; write_line: one DEV_WRITE of the line.  Out: ZF set when every byte was printed.
write_line:
    mov dword ptr [msg + M_TYPE], DEV_WRITE
    mov dword ptr [msg + DEV_COUNT], line_end - line
    mov eax, [line]
    mov [msg + DEV_DATA], eax
    mov eax, EP_PRINTER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz write_done
    cmp dword ptr [msg + M_TYPE], line_end - line
write_done:
    ret

.data
line:
    .ascii "Hi!\n"
line_end:

.bss
msg:
    .space MSG_SIZE
