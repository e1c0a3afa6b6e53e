; tty: the console driver (the UART at 0x3F8 data, 0x3FD line status).
;
; Protocol: DEV_WRITE with DEV_COUNT (1..DEV_INLINE_MAX) bytes inline from DEV_DATA.
; For each byte the driver polls the line status with DEVIO until "ready to send"
; (bit 5), then writes the byte to the data port.  The reply's M_TYPE is the number of
; bytes written or a negative error (EINVAL, EBADREQUEST, EIO), sent by NBSEND: a
; driver never blocks on its client.  Notifications are taken and ignored.

.include "abi.inc"

.equ UART_DATA, 0x3F8
.equ UART_LINE_STATUS, 0x3FD
.equ LSR_THR_EMPTY, 0x20

.text
_start:
main_loop:
    mov eax, ANY
    lea ebx, [request]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz main_loop
    mov eax, [request + M_TYPE]
    cmp eax, NOTIFY_MESSAGE
    je main_loop
    cmp eax, DEV_WRITE
    je do_write
    mov eax, EBADREQUEST
    jmp reply

do_write:
    mov ecx, [request + DEV_COUNT]
    cmp ecx, 1
    jl bad_count
    cmp ecx, DEV_INLINE_MAX
    jg bad_count
    mov [count], ecx
    xor esi, esi
write_next:
    cmp esi, [count]
    jge write_done
wait_ready:
    mov dword ptr [kcall + DIO_REQUEST], DIO_INPUT | DIO_BYTE
    mov dword ptr [kcall + DIO_PORT], UART_LINE_STATUS
    call devio
    test eax, eax
    jnz io_error
    test dword ptr [kcall + DIO_VALUE], LSR_THR_EMPTY
    jz wait_ready
    movzx eax, byte ptr [request + DEV_DATA + esi]
    mov [kcall + DIO_VALUE], eax
    mov dword ptr [kcall + DIO_REQUEST], DIO_OUTPUT | DIO_BYTE
    mov dword ptr [kcall + DIO_PORT], UART_DATA
    call devio
    test eax, eax
    jnz io_error
    inc esi
    jmp write_next
write_done:
    mov eax, [count]
    jmp reply
bad_count:
    mov eax, EINVAL
    jmp reply
io_error:
    mov eax, EIO

reply:
    mov [answer + M_TYPE], eax
    mov eax, [request + M_SOURCE]
    lea ebx, [answer]
    mov ecx, NBSEND
    int IPC_VEC
    jmp main_loop

; devio: SYS_DEVIO with the request fields already in kcall.  Out: eax = 0 or error.
devio:
    mov dword ptr [kcall + M_TYPE], SYS_DEVIO
    mov eax, SYSTEM
    lea ebx, [kcall]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz devio_done
    mov eax, [kcall + M_TYPE]
devio_done:
    ret

.bss
count:
    .space 4
request:
    .space MSG_SIZE
answer:
    .space MSG_SIZE
kcall:
    .space MSG_SIZE
