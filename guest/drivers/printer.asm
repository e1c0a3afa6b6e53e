; printer: the driver of the parallel printer at ports 0xAB (status), 0xAC (data),
; 0xAD (control).
;
; Protocol: DEV_WRITE with DEV_COUNT (1..DEV_INLINE_MAX) bytes inline from DEV_DATA.
; For each byte the driver polls the status port with DEVIO until READY (bit 7), then
; latches the byte and pulses STROBE with one VDEVIO (data, strobe on, strobe off).
; The reply's M_TYPE is the number of bytes printed, or a negative error (EINVAL for a
; bad count, EBADREQUEST for an unknown request, EIO when a kernel call fails).
; Replies go by NBSEND: a driver never blocks on its client.  Notifications (alarms,
; interrupts) are taken and ignored.

.include "abi.inc"

.equ PRINTER_STATUS, 0xAB
.equ PRINTER_DATA, 0xAC
.equ PRINTER_CONTROL, 0xAD
.equ STATUS_READY_BIT, 0x80
.equ CONTROL_STROBE, 0x01
.equ CONTROL_SELECT, 0x08

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

; Print DEV_COUNT bytes of the request; eax = bytes printed or an error.
do_write:
    mov ecx, [request + DEV_COUNT]
    cmp ecx, 1
    jl bad_count
    cmp ecx, DEV_INLINE_MAX
    jg bad_count
    mov [count], ecx
    xor esi, esi
print_next:
    cmp esi, [count]
    jge print_done
wait_ready:
    mov edx, PRINTER_STATUS
    call devio_in
    test eax, eax
    jnz io_error
    test edx, STATUS_READY_BIT
    jz wait_ready
    movzx eax, byte ptr [request + DEV_DATA + esi]
    call print_byte
    test eax, eax
    jnz io_error
    inc esi
    jmp print_next
print_done:
    mov eax, [count]
    jmp reply
bad_count:
    mov eax, EINVAL
    jmp reply
io_error:
    mov eax, EIO

; Reply to the requester with M_TYPE = eax, by NBSEND.
reply:
    mov [answer + M_TYPE], eax
    mov eax, [request + M_SOURCE]
    lea ebx, [answer]
    mov ecx, NBSEND
    int IPC_VEC
    jmp main_loop

; devio_in: read the byte port edx.  Out: eax = 0 and edx = value, or eax = error.
devio_in:
    mov dword ptr [kcall + M_TYPE], SYS_DEVIO
    mov dword ptr [kcall + DIO_REQUEST], DIO_INPUT | DIO_BYTE
    mov [kcall + DIO_PORT], edx
    mov eax, SYSTEM
    lea ebx, [kcall]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz devio_in_done
    mov eax, [kcall + M_TYPE]
    mov edx, [kcall + DIO_VALUE]
devio_in_done:
    ret

; print_byte: latch byte eax and pulse STROBE in one VDEVIO.  Out: eax = 0 or error.
print_byte:
    mov [strobe_vector + 4], eax
    mov dword ptr [kcall + M_TYPE], SYS_VDEVIO
    mov dword ptr [kcall + VDIO_REQUEST], DIO_OUTPUT | DIO_BYTE
    lea eax, [strobe_vector]
    mov [kcall + VDIO_VEC_ADDR], eax
    mov dword ptr [kcall + VDIO_VEC_COUNT], 3
    mov eax, SYSTEM
    lea ebx, [kcall]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz print_byte_done
    mov eax, [kcall + M_TYPE]
print_byte_done:
    ret

.data
; (port, value) pairs: the data byte, then STROBE high, then STROBE low
strobe_vector:
    .long PRINTER_DATA, 0
    .long PRINTER_CONTROL, CONTROL_SELECT | CONTROL_STROBE
    .long PRINTER_CONTROL, CONTROL_SELECT

.bss
count:
    .space 4
request:
    .space MSG_SIZE
answer:
    .space MSG_SIZE
kcall:
    .space MSG_SIZE
