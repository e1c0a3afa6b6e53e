; printer_bug: the printer driver's DEV_WRITE (status polls by DEVIO until READY, then
; data and STROBE by one VDEVIO per byte), with a bug: the reply goes through a table of
; reply buffers indexed by the number of requests served, and the table has one entry.
; The second request reads past it and takes the counter that follows for a pointer:
; the write through it is a CPU fault that ends the driver.

.include "abi.inc"

.equ PRINTER_STATUS, 0xAB
.equ STATUS_READY_BIT, 0x80

.text
_start:
    mov eax, ANY
    lea ebx, [request]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz _start
    cmp dword ptr [request + M_TYPE], DEV_WRITE
    jne _start
    xor esi, esi
print_next:
    cmp esi, [request + DEV_COUNT]
    jge print_done
wait_ready:
    mov dword ptr [kcall + M_TYPE], SYS_DEVIO
    mov dword ptr [kcall + DIO_REQUEST], DIO_INPUT | DIO_BYTE
    mov dword ptr [kcall + DIO_PORT], PRINTER_STATUS
    call kernel
    test dword ptr [kcall + DIO_VALUE], STATUS_READY_BIT
    jz wait_ready
    movzx eax, byte ptr [request + DEV_DATA + esi]
    mov [strobe_vector + 4], eax
    mov dword ptr [kcall + M_TYPE], SYS_VDEVIO
    mov dword ptr [kcall + VDIO_REQUEST], DIO_OUTPUT | DIO_BYTE
    lea eax, [strobe_vector]
    mov [kcall + VDIO_VEC_ADDR], eax
    mov dword ptr [kcall + VDIO_VEC_COUNT], 3
    call kernel
    inc esi
    jmp print_next
print_done:
    mov eax, [served]
    mov ebx, [reply_buffers + eax * 4]   ; the bug: past the table the second time
    inc dword ptr [served]
    mov [ebx + M_TYPE], esi
    mov eax, [request + M_SOURCE]
    mov ecx, NBSEND
    int IPC_VEC
    jmp _start

kernel:
    mov eax, SYSTEM
    lea ebx, [kcall]
    mov ecx, SENDREC
    int IPC_VEC
    ret

.data
strobe_vector:                          ; data, STROBE high, STROBE low
    .long 0xAC, 0
    .long 0xAD, 0x09
    .long 0xAD, 0x08
reply_buffers:
    .long answer
served:
    .long 0

.bss
request:
    .space MSG_SIZE
kcall:
    .space MSG_SIZE
answer:
    .space MSG_SIZE
