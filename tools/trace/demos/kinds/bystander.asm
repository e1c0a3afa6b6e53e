; bystander: receives forever (nobody may call it).

.include "abi.inc"

.text
_start:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    jmp _start

.bss
msg:
    .space MSG_SIZE
