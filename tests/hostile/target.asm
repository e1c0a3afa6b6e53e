; target: a user program that calls the processes and uses the primitives its policy
; does not grant (the seed's "unauthorized IPC target" and "unauthorized IPC
; primitive").  Every destination that is no target of its policy is ECALLDENIED, live
; as they are (RS, DS, the drivers, init, the kernel tasks: kernel calls are SENDREC to
; SYSTEM, which a user may not make); every primitive but SENDREC is ETRAPDENIED, to
; targets it has too; the primitive check comes first, then the endpoint, then the
; target.  The messages are valid requests of each destination, so a call let through
; would be served.  Policy: a user (SENDREC to pm and vfs).  Ends with PM_EXIT 0.

.include "abi.inc"
.include "libc.inc"

.text
_start:
    mov dword ptr [status + M_TYPE], RS_STATUS          ; valid requests: RS_STATUS,
    mov dword ptr [status + RS_LABEL], 0x6e697270       ; DS_LOOKUP "printer"
    mov dword ptr [status + RS_LABEL + 4], 0x00726574
    mov dword ptr [lookup + M_TYPE], DS_LOOKUP
    mov dword ptr [lookup + DS_LABEL], 0x6e697270
    mov dword ptr [lookup + DS_LABEL + 4], 0x00726574
    mov dword ptr [devwrite + M_TYPE], DEV_WRITE        ; "x" on a device
    mov dword ptr [devwrite + DEV_COUNT], 1
    mov dword ptr [devwrite + DEV_DATA], 0x78
    mov dword ptr [kcall + M_TYPE], SYS_TIMES
    mov dword ptr [getpid + M_TYPE], PM_GETPID
    mov dword ptr [table + ASEND_FLAGS], AMF_VALID
    mov dword ptr [table + ASEND_DST], EP_PM
    mov dword ptr [table + ASEND_MSG + M_TYPE], PM_GETPID
    call run_cases
    xor eax, eax
    call pm_exit

.include "cases.inc"

.data
cases:
    ; destinations its policy does not name: ECALLDENIED
    .long SENDREC, EP_RS, status, ECALLDENIED
    .long SENDREC, EP_DS, lookup, ECALLDENIED
    .long SENDREC, EP_PRINTER, devwrite, ECALLDENIED
    .long SENDREC, EP_TTY, devwrite, ECALLDENIED
    .long SENDREC, EP_DISK, devwrite, ECALLDENIED
    .long SENDREC, EP_INIT, getpid, ECALLDENIED
    .long SENDREC, SYSTEM, kcall, ECALLDENIED
    .long SENDREC, CLOCK, kcall, ECALLDENIED
    .long SENDREC, HARDWARE, kcall, ECALLDENIED
    .long SENDREC, EP_TARGET, getpid, ECALLDENIED       ; itself
    ; primitives its policy does not name: ETRAPDENIED, even to its targets
    .long SEND, EP_PM, getpid, ETRAPDENIED
    .long NBSEND, EP_PM, getpid, ETRAPDENIED
    .long SEND | NONBLOCK, EP_VFS, getpid, ETRAPDENIED
    .long NOTIFY, EP_PM, 0, ETRAPDENIED
    .long NOTIFY, EP_RS, 0, ETRAPDENIED
    .long RECEIVE, ANY, getpid, ETRAPDENIED
    .long RECEIVE | NONBLOCK, EP_PM, getpid, ETRAPDENIED
    .long ASEND, 1, table, ETRAPDENIED
    .long SEND, SYSTEM, kcall, ETRAPDENIED
    ; the order of the checks: primitive, endpoint, target
    .long NOTIFY, EP_HELLO, 0, ETRAPDENIED              ; a dead endpoint, a bad primitive
    .long SENDREC, EP_HELLO, getpid, EDEADSRCDST        ; a dead endpoint, no target
    .long SENDREC, EP_PM, getpid, OK                    ; what it may do
cases_end:

.bss
status:
    .space MSG_SIZE
lookup:
    .space MSG_SIZE
devwrite:
    .space MSG_SIZE
kcall:
    .space MSG_SIZE
getpid:
    .space MSG_SIZE
table:
    .space ASEND_ENTRY_SIZE
results:
    .space 4 * 32
