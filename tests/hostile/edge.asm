; edge: a user program that tests the size of a message (the seed's "oversized
; message"): a message is exactly MSG_SIZE bytes, no more is read or written, and a
; message at the very end of a region is checked as a whole.
; 1. SENDREC PM_GETPID from a buffer followed by 64 bytes of a second, valid-looking
;    request and a marker: PM gets 64 bytes (the guard checks PM's memory), the reply
;    overwrites 64 bytes (the marker must be intact: `marker_ok`).
; 2. The same request placed so that it ends exactly at the end of the stack (accepted)
;    and 1..63 bytes further (EFAULT, nothing sent).
; Policy: a user (SENDREC to pm and vfs).  Ends with PM_EXIT 0.

.include "abi.inc"
.include "libc.inc"

.equ TOP, WINDOW_BASE + EP_EDGE * WINDOW_SIZE + WINDOW_SIZE

.text
_start:
    mov esp, TOP - 4096             ; the top of the stack is the test's, not the calls'
    ; the request at the end of the stack (over the argument string, not needed)
    mov dword ptr [TOP - MSG_SIZE + M_TYPE], PM_GETPID
    mov dword ptr [TOP - MSG_SIZE + M_W0], 0x11111111
    mov dword ptr [TOP - 4], 0x22222222
    call run_cases
    ; the marker after the two requests must be what it was
    mov dword ptr [marker_ok], 1
    lea esi, [pair + 2 * MSG_SIZE]
    mov ecx, MSG_SIZE
check_marker:
    cmp byte ptr [esi + ecx - 1], 0xA5
    je check_marker_next
    mov dword ptr [marker_ok], 0
check_marker_next:
    dec ecx
    jnz check_marker
    ; the second request must be untouched too
    cmp dword ptr [pair + MSG_SIZE + M_TYPE], PM_SPAWN
    je second_ok
    mov dword ptr [marker_ok], 0
second_ok:
    xor eax, eax
    call pm_exit

.include "cases.inc"

.data
cases:
    .long SENDREC, EP_PM, pair, OK                      ; 64 bytes go, 64 come back
    .long SENDREC, EP_PM, TOP-MSG_SIZE, OK              ; ends at the end of the stack
    .long SENDREC, EP_PM, TOP-MSG_SIZE+1, EFAULT        ; one byte past it
    .long SENDREC, EP_PM, TOP-MSG_SIZE+4, EFAULT
    .long SENDREC, EP_PM, TOP-MSG_SIZE+32, EFAULT
    .long SENDREC, EP_PM, TOP-4, EFAULT
    .long SENDREC, EP_PM, TOP-1, EFAULT
    .long SENDREC, EP_VFS, TOP-MSG_SIZE+63, EFAULT
cases_end:
    .align 4
pair:                                   ; a PM_GETPID, then a PM_SPAWN of "hello"
    .long 0, PM_GETPID
    .space MSG_SIZE - 8
    .long 0, PM_SPAWN
    .ascii "hello"
    .space MSG_SIZE - 8 - 5
    .rept MSG_SIZE
    .byte 0xA5
    .endr

.bss
results:
    .space 4 * 16
marker_ok:
    .space 4
