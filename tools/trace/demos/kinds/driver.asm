; driver: takes a request from the client (only), enables IRQ 7, prints one byte with the printer's interrupt
; on, takes the interrupt (a notification from HARDWARE), then reads address 0: a CPU
; fault ends it before it answers.

.include "abi.inc"

.text
_start:
    mov eax, EP_CLIENT
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov dword ptr [kcall + M_TYPE], SYS_IRQCTL
    mov dword ptr [kcall + IRQ_REQUEST], IRQ_ENABLE
    mov dword ptr [kcall + IRQ_LINE], 7
    call kernel
    mov dword ptr [kcall + M_TYPE], SYS_DEVIO
    mov dword ptr [kcall + DIO_REQUEST], DIO_OUTPUT | DIO_BYTE
    mov dword ptr [kcall + DIO_PORT], 0xAC
    mov dword ptr [kcall + DIO_VALUE], 0x41
    call kernel
    mov dword ptr [kcall + M_TYPE], SYS_DEVIO
    mov dword ptr [kcall + DIO_PORT], 0xAD
    mov dword ptr [kcall + DIO_VALUE], 0x19     ; select, interrupt on, strobe
    call kernel
    mov eax, HARDWARE
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, [0]                                ; the bug
    jmp _start

kernel:
    mov eax, SYSTEM
    lea ebx, [kcall]
    mov ecx, SENDREC
    int IPC_VEC
    ret

.bss
msg:
    .space MSG_SIZE
kcall:
    .space MSG_SIZE
