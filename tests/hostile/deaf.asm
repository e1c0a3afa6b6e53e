; deaf: a printer driver that never receives (asymmetric trust: "a driver that never
; receives").  Its first incarnation (started at boot) waits for a CLOCK notification
; that never comes: VFS's requests stay in its ASEND table, RS's pings go unanswered.
; RS kills it after RS_MISSED_BEATS missed heartbeats; the next incarnation is the stock
; printer driver (appended to this source by the test), to which VFS re-issues the
; request the dead one never took.  Policy: the stock printer's, and TIMES.

.text
_start:
    mov dword ptr [evil_msg + M_TYPE], SYS_TIMES
    kernel_call evil_msg
    cmp dword ptr [evil_msg + T_TICKS], 2
    jge stock_start                     ; a restarted incarnation: the stock driver
evil_deaf:
    ipc_receive CLOCK, evil_msg         ; no alarm was set: never
    jmp evil_deaf

.bss
evil_msg:
    .space MSG_SIZE
.text
