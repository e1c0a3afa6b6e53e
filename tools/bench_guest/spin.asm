; spin: the guest-compute benchmark (figure 3).
;
; In: esi = loop iterations (0: exit at once, not part of this figure).  Four
; instructions per iteration, registers only; then EXIT with status 0.

.include "abi.inc"

.text
_start:
    test esi, esi
    jz exit
    xor eax, eax
    mov ebx, 1
spin:
    add eax, ebx
    xor ebx, eax
    dec esi
    jnz spin

exit:
    mov dword ptr [msg + M_TYPE], SYS_EXIT
    mov dword ptr [msg + EXIT_STATUS], 0
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    ud2                             ; never reached: EXIT does not return

.bss
msg:
    .space MSG_SIZE
