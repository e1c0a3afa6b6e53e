; spin: a driver in an endless loop (the seed's "CPU exhaustion").  It never traps:
; only the scheduler and RS can stop it.  MLFQ moves it down a queue each time it uses
; a whole quantum, so the servers and users keep running; it never answers RS's pings,
; so RS kills it after RS_MISSED_BEATS missed heartbeats and restarts it (and the new
; one spins again).  Policy: a driver with no primitive, no call, heartbeat 10.

.text
_start:
    inc dword ptr [turns]
    jmp _start

.bss
turns:
    .space 4
