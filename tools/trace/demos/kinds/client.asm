; client: makes every kind of call once, in this order: a request answered by SEND, two
; notifications that coalesce, a SEND to a process its policy does not name
; (ECALLDENIED), a SEND to no process (EDEADSRCDST), a non-blocking RECEIVE with nothing
; pending (ENOTREADY), a kernel call it may not make (ECALLDENIED from SYSTEM), an ASEND
; of two entries (one delivered later, one to a process it may not call: refused when
; the kernel reads it), a kernel-log line, an alarm it waits for (a notification from
; CLOCK), and a request to the driver, which crashes serving it: the client is woken
; with EDEADSRCDST.  The exit status is the last call's result.

.include "abi.inc"

.text
_start:
    mov dword ptr [msg + M_TYPE], 77
    mov eax, EP_SERVER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, EP_SERVER              ; the server is not receiving yet: one delivery later
    mov ecx, NOTIFY
    int IPC_VEC
    mov eax, EP_SERVER
    mov ecx, NOTIFY
    int IPC_VEC
    mov eax, EP_BYSTANDER
    lea ebx, [msg]
    mov ecx, SEND
    int IPC_VEC
    mov eax, 10                     ; slot 10 is empty
    lea ebx, [msg]
    mov ecx, SEND
    int IPC_VEC
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE | NONBLOCK
    int IPC_VEC
    mov dword ptr [msg + M_TYPE], SYS_DEVIO
    call kernel
    mov dword ptr [table + ASEND_FLAGS], AMF_VALID
    mov dword ptr [table + ASEND_DST], EP_SERVER
    mov dword ptr [table + ASEND_MSG + M_TYPE], 88
    mov dword ptr [table + ASEND_ENTRY_SIZE + ASEND_FLAGS], AMF_VALID
    mov dword ptr [table + ASEND_ENTRY_SIZE + ASEND_DST], EP_BYSTANDER
    mov eax, 2
    lea ebx, [table]
    mov ecx, ASEND
    int IPC_VEC
    mov dword ptr [msg + M_TYPE], SYS_DIAGCTL
    lea eax, [text]
    mov [msg + DIAG_ADDR], eax
    mov dword ptr [msg + DIAG_LEN], text_end - text
    call kernel
    mov dword ptr [msg + M_TYPE], SYS_SETALARM
    mov dword ptr [msg + ALARM_TICKS], 1
    mov dword ptr [msg + ALARM_FLAGS], 0            ; a one-shot alarm
    call kernel
    mov eax, CLOCK
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov dword ptr [msg + M_TYPE], 99
    mov eax, EP_DRIVER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov [msg + EXIT_STATUS], eax
    mov dword ptr [msg + M_TYPE], SYS_EXIT
    call kernel
    ud2                             ; never reached: EXIT does not return

kernel:
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    ret

.data
text:
    .ascii "client: all calls made"
text_end:

.bss
msg:
    .space MSG_SIZE
table:
    .space ASEND_ENTRY_SIZE * 2
