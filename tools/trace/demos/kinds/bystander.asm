; bystander: a server that breaks the rule of asymmetric trust: it SENDs to the driver,
; which receives only from the client, so it blocks (the kernel reports it: a `trust`
; event) until the driver dies and wakes it with EDEADSRCDST; then it receives forever
; (nobody may call it).

.include "abi.inc"

.text
_start:
    mov dword ptr [msg + M_TYPE], 66
    mov eax, EP_DRIVER
    lea ebx, [msg]
    mov ecx, SEND
    int IPC_VEC
receive:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    jmp receive

.bss
msg:
    .space MSG_SIZE
