; server: the server of the IPC round-trip benchmark (figure 1).
;
; In: esi = 0 to exit at once (not part of this figure), else serve forever.
; Loop: RECEIVE from ANY, SEND the message back to its source.  It never blocks on the
; SEND: its client waits for the reply inside SENDREC.

.include "abi.inc"

.text
_start:
    test esi, esi
    jz exit
serve:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, [msg + M_SOURCE]
    mov ecx, SEND
    int IPC_VEC
    jmp serve

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
