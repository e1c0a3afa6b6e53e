; cycle_b: see cycle_a.asm.  This is B.

.include "abi.inc"
.include "ipc.inc"

.text
_start:
    call run_script

.include "script.inc"

.data
script:
    .long 11, SENDREC, EP_CYCLE_A, msg, ELOCKED     ; A waits for B: a cycle of 2
    .long 12, RECEIVE, EP_CYCLE_A, msg, OK          ; takes A's request
    .long 12, NBSEND, EP_CYCLE_A, msg, OK           ; and answers it
    .long 21, SENDREC, EP_CYCLE_C, msg, OK          ; C replies at 23
    .long 24, RECEIVE, EP_CYCLE_A, msg, OK
    .long 24, NBSEND, EP_CYCLE_A, msg, OK
    .long 31, RECEIVE, EP_CYCLE_C, msg, OK          ; C sends at 33
    .long 34, NBSEND, EP_CYCLE_A, msg, OK
    .long 41, SEND, EP_CYCLE_A, msg, ELOCKED        ; A sends to B: a cycle of 2
    .long 42, RECEIVE, EP_CYCLE_A, msg, OK
script_end:
.bss
msg:
    .space MSG_SIZE
results:
    .space 4 * 16
