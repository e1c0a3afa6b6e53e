; cycle_c: see cycle_a.asm.  This is C.

.include "abi.inc"
.include "ipc.inc"

.text
_start:
    call run_script

.include "script.inc"

.data
script:
    .long 22, SENDREC, EP_CYCLE_A, msg, ELOCKED     ; A -> B -> C -> A
    .long 23, RECEIVE, EP_CYCLE_B, msg, OK
    .long 23, NBSEND, EP_CYCLE_B, msg, OK
    .long 32, RECEIVE, EP_CYCLE_A, msg, ELOCKED     ; C <- A <- B <- C
    .long 33, NBSEND, EP_CYCLE_B, msg, OK
script_end:
.bss
msg:
    .space MSG_SIZE
results:
    .space 4 * 8
