; badep: a user program that calls endpoints that do not exist (the seed's "nonexisting
; endpoint"): malformed ones (out of range, negative, ANY, SELF, NONE) are EBADSRCDST;
; an empty slot (a program that ended, a slot never used) or a stale generation of a
; live process is EDEADSRCDST.  Check 3 comes before the policy's check 4, so the
; answer does not depend on what the policy allows.  The message is a valid PM_GETPID
; (PM answers it), so a trap that reached anyone would show.  Policy: a user (SENDREC to
; pm and vfs).  Ends with PM_EXIT 0.

.include "abi.inc"
.include "libc.inc"

.text
_start:
    mov dword ptr [msg + M_TYPE], PM_GETPID
    call run_cases
    xor eax, eax
    call pm_exit

.include "cases.inc"

.equ STALE_PM, ENDPOINT_GEN_MUL + EP_PM             ; generation 1 of PM's slot
.equ OLDEST_VFS, MAX_GENERATION * ENDPOINT_GEN_MUL + EP_VFS

.data
cases:
    .long SENDREC, NR_PROCS, msg, EBADSRCDST            ; slot out of range
    .long SENDREC, ENDPOINT_GEN_MUL - 1, msg, EBADSRCDST
    .long SENDREC, 5 * ENDPOINT_GEN_MUL + 70, msg, EBADSRCDST
    .long SENDREC, 0x7FFFFFFF, msg, EBADSRCDST
    .long SENDREC, -4, msg, EBADSRCDST                  ; below the kernel tasks
    .long SENDREC, 0x80000000, msg, EBADSRCDST
    .long SENDREC, ANY, msg, EBADSRCDST                 ; ANY only for RECEIVE
    .long SENDREC, SELF, msg, EBADSRCDST                ; no IPC endpoint
    .long SENDREC, NONE, msg, EBADSRCDST
    .long SENDREC, ENDPOINT_GEN_MUL + ANY, msg, EBADSRCDST
    .long SENDREC, NR_PROCS - 1, msg, EDEADSRCDST       ; a slot never used
    .long SENDREC, EP_HELLO, msg, EDEADSRCDST           ; hello ran from rc and ended
    .long SENDREC, EP_CAT, msg, EDEADSRCDST
    .long SENDREC, STALE_PM, msg, EDEADSRCDST           ; stale generation of live PM
    .long SENDREC, OLDEST_VFS, msg, EDEADSRCDST
    .long SENDREC, EP_PM, msg, OK                       ; the call it may make
cases_end:

.bss
msg:
    .space MSG_SIZE
results:
    .space 4 * 32
