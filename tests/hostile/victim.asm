; victim: a driver whose slot is reused (the seed's "spoofing": a reused slot never
; receives mail for its predecessor).  Its first incarnation (it starts in the first
; two ticks of the boot) takes no mail: it waits for a CLOCK alarm only, while `mail`
; queues a SEND, a NOTIFY and an ASEND entry for it, then faults; RS restarts it in the
; same slot with the next generation.  The second incarnation receives from ANY
; forever and counts what it gets: `received` must stay 0, for nothing sent to its
; predecessor may reach it.  Policy: a driver with TIMES and SETALARM, no heartbeat.

.include "abi.inc"
.include "ipc.inc"

.text
_start:
    mov dword ptr [msg + M_TYPE], SYS_TIMES
    kernel_call msg
    cmp dword ptr [msg + T_TICKS], 2
    jge successor
    mov dword ptr [msg + M_TYPE], SYS_SETALARM
    mov dword ptr [msg + ALARM_TICKS], 3
    mov dword ptr [msg + ALARM_FLAGS], 0
    kernel_call msg
    ipc_receive CLOCK, msg
    ud2                                 ; dies with its mail pending
successor:
    ipc_receive ANY, msg
    test eax, eax
    jnz successor
    inc dword ptr [received]
    mov eax, [msg + M_SOURCE]
    mov [last_source], eax
    jmp successor

.bss
msg:
    .space MSG_SIZE
received:
    .space 4
last_source:
    .space 4
