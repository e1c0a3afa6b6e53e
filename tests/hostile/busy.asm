; busy: a driver that spins but answers RS's heartbeats (CPU exhaustion that RS does
; not see as a hang): between turns of its loop it takes a pending ping with a
; non-blocking RECEIVE from RS and answers it.  RS never kills it; only the MLFQ
; scheduler keeps the servers and users running.  `beats` counts the pings answered.
; Policy: a driver with RECEIVE and NOTIFY to rs, heartbeat 10.

.include "abi.inc"

.text
_start:
    mov ecx, 1000
spin:
    dec ecx
    jnz spin
    mov eax, EP_RS
    lea ebx, [msg]
    mov ecx, RECEIVE | NONBLOCK
    int IPC_VEC
    test eax, eax
    jnz _start
    inc dword ptr [beats]
    mov eax, EP_RS
    mov ecx, NOTIFY
    int IPC_VEC
    jmp _start

.bss
msg:
    .space MSG_SIZE
beats:
    .space 4
