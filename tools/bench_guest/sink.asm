; sink: the target of the trap benchmark (figure 2).
;
; In: esi = 0 to exit at once (not part of this figure), else block for good in a
; RECEIVE from CLOCK, which never sends (no alarm is set).  It is then not receiving
; from the notifier, so each NOTIFY only sets a pending bit: a trap with no switch.

.include "abi.inc"

.text
_start:
    test esi, esi
    jz exit
wait:
    mov eax, CLOCK
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    jmp wait

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
