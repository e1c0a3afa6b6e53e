; mute: a printer driver that takes a request and never replies (asymmetric trust: "a
; driver that never replies").  Its first incarnation answers RS's heartbeats, takes
; the first request from VFS and never answers it, goes on answering heartbeats for
; MUTE_BEATS more pings (hung with the request, but alive), then stops answering them
; too.  RS kills it; VFS answers the user EIO (the request was taken); the next
; incarnation is the stock printer driver (appended by the test).  Policy: the stock
; printer's, and TIMES.

.equ MUTE_BEATS, 3

.text
_start:
    mov dword ptr [evil_msg + M_TYPE], SYS_TIMES
    kernel_call evil_msg
    cmp dword ptr [evil_msg + T_TICKS], 2
    jge stock_start                     ; a restarted incarnation: the stock driver
evil_loop:
    ipc_receive ANY, evil_msg
    test eax, eax
    jnz evil_loop
    cmp dword ptr [evil_msg + M_TYPE], NOTIFY_MESSAGE
    jne evil_request
    mov eax, [evil_msg + M_SOURCE]
    cmp eax, EP_RS
    jne evil_loop
    cmp dword ptr [evil_taken], 0
    je evil_beat
    inc dword ptr [evil_beats]
    cmp dword ptr [evil_beats], MUTE_BEATS
    jg evil_deaf
evil_beat:
    ipc_notify EP_RS
    jmp evil_loop
evil_request:
    inc dword ptr [evil_taken]          ; taken, never answered
    jmp evil_loop
evil_deaf:
    ipc_receive CLOCK, evil_msg
    jmp evil_deaf

.bss
evil_msg:
    .space MSG_SIZE
evil_taken:
    .space 4
evil_beats:
    .space 4
.text
