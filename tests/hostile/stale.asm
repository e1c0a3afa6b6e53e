; stale: a user program that keeps using a driver's endpoint after the driver was
; restarted (the seed's "unintended IPC target").  It looks the printer up in DS and
; prints "before" with the inline DEV_WRITE, has `crash` kill the printer (RS restarts
; it with a new endpoint, generation + 1, in the same slot), asks DS again until it
; gives a new endpoint, then calls the old endpoint (EDEADSRCDST: the message reaches
; no one, not the new printer in the same slot) and prints "after" at the new one.
; Results (words): old endpoint, new endpoint, lookups made, and each call's answer.
; Policy: a user that may call ds, the printer and crash.  Ends with PM_EXIT 0.

.include "abi.inc"
.include "libc.inc"

.equ MAX_LOOKUPS, 1000

.text
_start:
    call lookup
    mov [old_ep], eax
    mov eax, [old_ep]
    lea esi, [before]
    call print_at
    mov [printed_before], eax
    ipc_sendrec EP_CRASH, msg                   ; the printer dies
    mov [crashed], eax
look_again:
    inc dword ptr [lookups]
    cmp dword ptr [lookups], MAX_LOOKUPS
    jg give_up
    call lookup
    cmp eax, [old_ep]
    je look_again
    mov [new_ep], eax
    mov eax, [old_ep]
    lea esi, [stale_text]
    call print_at
    mov [printed_stale], eax
    mov eax, [new_ep]
    lea esi, [after]
    call print_at
    mov [printed_after], eax
give_up:
    xor eax, eax
    call pm_exit

; lookup: DS_LOOKUP printer -> eax = its endpoint (or the error)
lookup:
    call clear
    mov dword ptr [msg + M_TYPE], DS_LOOKUP
    mov dword ptr [msg + DS_LABEL], 0x6e697270
    mov dword ptr [msg + DS_LABEL + 4], 0x00726574
    ipc_sendrec EP_DS, msg
    test eax, eax
    jnz lookup_done
    mov eax, [msg + M_TYPE]
    test eax, eax
    jnz lookup_done
    mov eax, [msg + DS_ENDPOINT]
lookup_done:
    ret

; print_at: DEV_WRITE the 8 bytes at esi to the printer endpoint eax -> eax = the IPC
; error or the reply's M_TYPE (bytes printed)
print_at:
    push eax
    call clear
    pop eax
    mov dword ptr [msg + M_TYPE], DEV_WRITE
    mov dword ptr [msg + DEV_COUNT], 8
    mov ecx, [esi]
    mov [msg + DEV_DATA], ecx
    mov ecx, [esi + 4]
    mov [msg + DEV_DATA + 4], ecx
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz print_at_done
    mov eax, [msg + M_TYPE]
print_at_done:
    ret

clear:
    lea edi, [msg]
    xor eax, eax
    mov ecx, MSG_SIZE / 4
    cld
    rep stosd
    ret

.data
before:
    .ascii "before!\n"
stale_text:
    .ascii "stale!!\n"
after:
    .ascii "after!!\n"

.bss
msg:
    .space MSG_SIZE
old_ep:
    .space 4
new_ep:
    .space 4
lookups:
    .space 4
crashed:
    .space 4
printed_before:
    .space 4
printed_stale:
    .space 4
printed_after:
    .space 4
