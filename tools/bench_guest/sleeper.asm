; sleeper: an idle process of the process-table scale figure (tools/bench_scale.py).
;
; Sets an alarm SLEEP_TICKS ahead and waits for it in a RECEIVE from CLOCK, in a loop:
; a process sleeping on an alarm, as a driver polling a device does.  The alarm is far
; enough ahead (1,000 virtual seconds) that it never fires during the figure: the
; figure measures what an alarm that is pending costs every other process's traps.

.include "abi.inc"

.equ SLEEP_TICKS, 100000

.text
_start:
sleep:
    mov dword ptr [msg + M_TYPE], SYS_SETALARM
    mov dword ptr [msg + ALARM_TICKS], SLEEP_TICKS
    mov dword ptr [msg + ALARM_FLAGS], 0
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, CLOCK
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    jmp sleep

.bss
msg:
    .space MSG_SIZE
