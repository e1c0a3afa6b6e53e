; badcall: a user program that makes IPC traps with bad primitives and flags (the
; seed's "bad IPC primitive").  Every row must be EBADCALL (check 1, before the
; policy's check 2): unknown primitive numbers, NONBLOCK on a primitive that does not
; take it (the seed's bug: NONBLOCK on SENDREC was not detected) and unknown flag bits.
; The message is a valid PM_GETPID, so a trap let through would be served: the
; result would differ and PM's memory would change.  Policy: a user (SENDREC to pm and
; vfs).  Ends with PM_EXIT 0.

.include "abi.inc"
.include "libc.inc"

.text
_start:
    mov dword ptr [msg + M_TYPE], PM_GETPID
    mov dword ptr [table + ASEND_FLAGS], AMF_VALID
    mov dword ptr [table + ASEND_DST], EP_PM
    call run_cases
    xor eax, eax
    call pm_exit

.include "cases.inc"

.data
cases:
    .long 0, EP_PM, msg, EBADCALL                       ; primitive 0
    .long 6, EP_PM, msg, EBADCALL                       ; between NBSEND and ASEND
    .long 15, EP_PM, msg, EBADCALL
    .long 17, EP_PM, msg, EBADCALL                      ; ASEND + 1
    .long 0x7F, EP_PM, msg, EBADCALL
    .long 0xFF, EP_PM, msg, EBADCALL
    .long SENDREC | NONBLOCK, EP_PM, msg, EBADCALL      ; the seed's bug
    .long SENDREC | NONBLOCK, EP_VFS, msg, EBADCALL
    .long NOTIFY | NONBLOCK, EP_PM, msg, EBADCALL
    .long NBSEND | NONBLOCK, EP_PM, msg, EBADCALL
    .long ASEND | NONBLOCK, 1, table, EBADCALL
    .long SENDREC | 0x200, EP_PM, msg, EBADCALL         ; unknown flag bits
    .long SENDREC | 0x10000, EP_PM, msg, EBADCALL
    .long SENDREC | 0x80000000, EP_PM, msg, EBADCALL
    .long SEND | NONBLOCK | 0x800, EP_PM, msg, EBADCALL
    .long RECEIVE | 0x200, ANY, msg, EBADCALL
    .long 0xFFFFFFFF, EP_PM, msg, EBADCALL
    .long SEND, EP_PM, msg, ETRAPDENIED                 ; valid, but not in its policy
    .long SENDREC, EP_PM, msg, OK                       ; and the call it may make
cases_end:

.bss
msg:
    .space MSG_SIZE
table:
    .space ASEND_ENTRY_SIZE
results:
    .space 4 * 32
