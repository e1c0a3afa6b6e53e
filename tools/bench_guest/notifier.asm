; notifier: the caller of the trap benchmark (figure 2).
;
; In: esi = number of NOTIFY calls to the sink (0: exit at once, not part of this
; figure).  Exit status: 0 when every call returned OK, else the OR of the results.

.include "abi.inc"

.text
_start:
    xor edi, edi
    test esi, esi
    jz exit
notify:
    mov eax, EP_SINK
    mov ecx, NOTIFY
    int IPC_VEC
    or edi, eax
    dec esi
    jnz notify

exit:
    mov dword ptr [msg + M_TYPE], SYS_EXIT
    mov [msg + EXIT_STATUS], edi
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    ud2                             ; never reached: EXIT does not return

.bss
msg:
    .space MSG_SIZE
