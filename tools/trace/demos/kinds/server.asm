; server: answers request 77 with M_TYPE 0 by SEND; takes anything else and goes on.

.include "abi.inc"

.text
_start:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    cmp dword ptr [msg + M_TYPE], 77
    jne _start
    mov dword ptr [msg + M_TYPE], 0
    mov eax, [msg + M_SOURCE]
    lea ebx, [msg]
    mov ecx, SEND
    int IPC_VEC
    jmp _start

.bss
msg:
    .space MSG_SIZE
