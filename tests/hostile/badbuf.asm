; badbuf: a driver that hands the kernel message buffers and ASEND tables that are not
; wholly in its own data, bss or stack (the seed's "illegal message buffer"): page 0,
; its text, the unmapped gaps, another process's window, buffers straddling the end of
; its data or either end of its stack, addresses that wrap around 4 GiB.  Each is
; EFAULT for every primitive that takes a buffer (SENDREC and NBSEND to RS, RECEIVE,
; a kernel call) and for an ASEND table, before anything is read or written; a buffer
; or table that ends exactly at the end of the stack is accepted.  Policy: the stock
; drivers' (RECEIVE, NBSEND, SENDREC, NOTIFY, ASEND to SYSTEM and rs), no heartbeat,
; never restarted.  Ends with EXIT 0.  All its variables are in .data, which it pads
; to a whole page, so `data_end` is the end of its data region.

.include "abi.inc"

.equ W, WINDOW_BASE + EP_BADBUF * WINDOW_SIZE      ; its own window
.equ TOP, W + WINDOW_SIZE                          ; the end of its stack
.equ VFS_DATA, WINDOW_BASE + EP_VFS * WINDOW_SIZE + DATA_OFFSET
.equ RS_STACK, WINDOW_BASE + EP_RS * WINDOW_SIZE + WINDOW_SIZE - MSG_SIZE

.text
_start:
    call run_cases
    mov dword ptr [msg + M_TYPE], SYS_EXIT
    mov dword ptr [msg + EXIT_STATUS], 0
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    ud2

.include "cases.inc"

; every primitive that takes a buffer, with the buffer at \where
.macro bad where
    .long SENDREC, EP_RS, \where, EFAULT
    .long NBSEND, EP_RS, \where, EFAULT
    .long RECEIVE | NONBLOCK, ANY, \where, EFAULT
    .long RECEIVE, EP_RS, \where, EFAULT
    .long SENDREC, SYSTEM, \where, EFAULT
    .long ASEND, 1, \where, EFAULT
.endm

.data
cases:
    bad 0                                   ; page 0
    bad 0x1000
    bad 0xFFC                               ; straddles pages 0 and 1
    bad W                                   ; its text
    bad W+0x100
    bad W+0x70000                           ; the gap after the text
    bad W+DATA_OFFSET-32                    ; straddles the start of the data
    bad data_end-32                         ; straddles the end of the data
    bad data_end
    bad W+0xE0000                           ; the gap before the stack
    bad TOP-STACK_SIZE-8                    ; straddles the start of the stack
    bad TOP-63                              ; straddles the end of the stack
    bad TOP-1
    bad TOP                                 ; the next window's text
    bad VFS_DATA                            ; another process's data
    bad RS_STACK                            ; another process's stack
    bad 0xFFFFFFC0                          ; the last 64 bytes of 4 GiB
    bad 0xFFFFFFF0                          ; wraps around
    bad 0xFFFFFFFF
    ; whole tables: count * ASEND_ENTRY_SIZE bytes must fit
    .long ASEND, 2, TOP-ASEND_ENTRY_SIZE, EFAULT
    .long ASEND, ASEND_MAX + 1, table, EFAULT
    .long ASEND, 0xFFFFFFFF, table, EFAULT
    .long ASEND, 0x80000000, table, EFAULT
    ; a message or a table that ends exactly at the end of a region is accepted
    .long RECEIVE | NONBLOCK, ANY, TOP-MSG_SIZE, ENOTREADY
    .long RECEIVE | NONBLOCK, ANY, data_end-MSG_SIZE, ENOTREADY
    .long ASEND, 1, TOP-ASEND_ENTRY_SIZE, OK
    .long ASEND, 0, 0, OK                   ; no table: nothing to check
cases_end:
msg:
    .space MSG_SIZE
table:
    .space ASEND_ENTRY_SIZE * 2
results:
    .space 4 * 160
    .align PAGE_SIZE
data_end:
