; cycle_a, cycle_b, cycle_c: three drivers that close cycles of processes waiting on
; each other (the seed's "deadlocks"), on a timed script (script.inc): a cycle of 2
; (A SENDREC B, B SENDREC A), a cycle of 3 (A -> B -> C -> A by SENDREC), a cycle of
; 3 receivers (A RECEIVE from B, B from C, C from A) and a cycle of 2 by SEND.  The
; call that would close each cycle is ELOCKED and changes nothing; the others then
; complete when the process that was refused receives and replies.  This is A.
; Policy (each): a driver with SEND, RECEIVE, SENDREC, NBSEND to the other two and
; SYSTEM; TIMES, SETALARM, EXIT; never restarted.

.include "abi.inc"
.include "ipc.inc"

.text
_start:
    call run_script

.include "script.inc"

.data
script:
    .long 10, SENDREC, EP_CYCLE_B, msg, OK          ; 2-cycle: B replies at 12
    .long 20, SENDREC, EP_CYCLE_B, msg, OK          ; 3-cycle: B replies at 24
    .long 30, RECEIVE, EP_CYCLE_B, msg, OK          ; receivers: B sends at 34
    .long 40, SEND, EP_CYCLE_B, msg, OK             ; by SEND: B receives at 42
script_end:
.bss
msg:
    .space MSG_SIZE
results:
    .space 4 * 8
