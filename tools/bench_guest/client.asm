; client: the client of the IPC round-trip benchmark (figure 1).
;
; In: esi = number of round trips (0: exit at once, not part of this figure).
; Each round trip is one SENDREC to the server.  Exit status: 0 when every call
; returned OK, else the OR of the results (the harness refuses a failed run).

.include "abi.inc"

.text
_start:
    xor edi, edi
    test esi, esi
    jz exit
    mov dword ptr [msg + M_TYPE], 1
round_trip:
    mov eax, EP_SERVER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    or edi, eax
    dec esi
    jnz round_trip

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
