; receiver: an idle process of the process-table scale figure (tools/bench_scale.py).
;
; Blocks in RECEIVE from ANY, for good: nobody sends to it.  It is one of the processes
; that are alive, and blocked, while the client and the server make their round trips.

.include "abi.inc"

.text
_start:
wait:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    jmp wait

.bss
msg:
    .space MSG_SIZE
