; printer_bug: the stock printer driver (guest/drivers/printer.asm) with one deliberate
; bug, for the driver-crash picture (tools/trace/pictures.py): after the first 256-byte
; chunk of a CDEV_WRITE, it takes the offset of the chunk in VFS's grant for the address
; of the copied bytes.  Writes of at most 256 bytes (the boot script's test page) print
; well; the second chunk of a longer one (`lp notes.txt`, 383 bytes) reads address 0x100:
; a CPU fault ends the driver, RS restarts it, DS tells VFS, and VFS answers the write
; EIO (the old driver had taken it).  The rest is the stock driver, unchanged.
;
; printer: the driver of the parallel printer at ports 0xAB (status), 0xAC (data),
; 0xAD (control).
;
; Requests:
;   DEV_WRITE   DEV_COUNT (1..DEV_INLINE_MAX) bytes inline from DEV_DATA (SPEC issue 1,
;               kept for simple programs).  Reply M_TYPE = bytes printed, or EINVAL for
;               a bad count, EIO when a kernel call fails.
;   CDEV_WRITE  from VFS: DEV_BYTES bytes from VFS's grant DEV_GRANT, copied in chunks
;               with SAFECOPYFROM.  DEV_REPLY: DEV_RESULT = bytes printed or an error.
;   CDEV_READ   DEV_REPLY with EINVAL: a printer has nothing to read.
;   other       M_TYPE = EBADREQUEST (a DEV_REPLY with that result for the other
;               device requests, so VFS is never left waiting).
; For each byte the driver polls the status port with DEVIO until READY (bit 7), then
; latches the byte and pulses STROBE with one VDEVIO (data, strobe on, strobe off).
;
; A driver never blocks on anyone but the kernel: replies go by NBSEND, and a DEV_REPLY
; that VFS is not ready for goes by ASEND from a small table.  A notification from a
; process is RS's heartbeat: it is answered at once with a NOTIFY; during a long write
; the driver looks for the next one between chunks (a non-blocking RECEIVE from RS), so
; a big page never looks like a hang.  Other notifications are ignored.

.include "abi.inc"
.include "ipc.inc"

.equ PRINTER_STATUS, 0xAB
.equ PRINTER_DATA, 0xAC
.equ PRINTER_CONTROL, 0xAD
.equ STATUS_READY_BIT, 0x80
.equ CONTROL_STROBE, 0x01
.equ CONTROL_SELECT, 0x08
.equ CHUNK, 256                   ; bytes per SAFECOPY
.equ ASEND_SLOTS, 8

.text
_start:
    mov dword ptr [rs_ep], NONE
main_loop:
    ipc_receive ANY, request
    test eax, eax
    jnz main_loop
    mov eax, [request + M_TYPE]
    cmp eax, NOTIFY_MESSAGE
    je got_notification
    cmp eax, DEV_WRITE
    je do_write
    cmp eax, CDEV_WRITE
    je do_cdev_write
    cmp eax, CDEV_READ
    je do_cdev_read
    cmp eax, DEV_READ
    jl bad_request
    cmp eax, BDEV_WRITE
    jg bad_request
    mov eax, EBADREQUEST            ; a device request this driver does not serve
    call dev_reply_request
    jmp main_loop
bad_request:
    mov eax, EBADREQUEST
; reply: M_TYPE = eax to the requester, by NBSEND
reply:
    call clear_answer
    mov [answer + M_TYPE], eax
    ipc_nbsend [request + M_SOURCE], answer
    jmp main_loop

got_notification:
    lea esi, [request]
    call heartbeat
    jmp main_loop

; heartbeat: the notification at esi; from a process (RS), answer it
heartbeat:
    mov eax, [esi + M_SOURCE]
    test eax, eax
    js heartbeat_done               ; HARDWARE, SYSTEM, CLOCK: nothing to do
    mov [rs_ep], eax
    ipc_notify eax
heartbeat_done:
    ret

; ---------------------------------------------------------------------------------------
; DEV_WRITE: print DEV_COUNT bytes of the request
do_write:
    mov ecx, [request + DEV_COUNT]
    cmp ecx, 1
    jl bad_count
    cmp ecx, DEV_INLINE_MAX
    jg bad_count
    mov [count], ecx
    lea esi, [request + DEV_DATA]
    call print_bytes
    test eax, eax
    jnz io_error
    mov eax, [count]
    jmp reply
bad_count:
    mov eax, EINVAL
    jmp reply
io_error:
    mov eax, EIO
    jmp reply

; ---------------------------------------------------------------------------------------
; CDEV_WRITE: copy from VFS's grant in chunks, print each chunk
do_cdev_write:
    mov ecx, [request + DEV_BYTES]
    test ecx, ecx
    js cdev_write_invalid
    mov [total], ecx
    mov dword ptr [done], 0
cdev_write_next:
    mov ecx, [total]
    sub ecx, [done]
    jz cdev_write_finished
    cmp ecx, CHUNK
    jle cdev_write_chunk
    mov ecx, CHUNK
cdev_write_chunk:
    mov [count], ecx
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_SAFECOPYFROM
    mov eax, [request + M_SOURCE]
    mov [kcall + SC_GRANTER], eax
    mov eax, [request + DEV_GRANT]
    mov [kcall + SC_GRANT], eax
    mov eax, [done]
    mov [kcall + SC_OFFSET], eax
    mov eax, [count]
    mov [kcall + SC_SIZE], eax
    lea eax, [buffer]
    mov [kcall + SC_ADDR], eax
    kernel_call kcall
    test eax, eax
    jnz cdev_write_failed
    mov ecx, [count]
    lea esi, [buffer]
    cmp dword ptr [done], 0
    je cdev_write_print
    mov esi, [done]                 ; THE BUG: the offset in the grant, not the buffer
cdev_write_print:
    call print_bytes
    test eax, eax
    jnz cdev_write_io
    mov eax, [count]
    add [done], eax
    call poll_heartbeat
    jmp cdev_write_next
cdev_write_finished:
    mov eax, [done]
    call dev_reply_request
    jmp main_loop
cdev_write_io:
    mov eax, EIO
cdev_write_failed:                  ; eax = the error; bytes already printed count
    cmp dword ptr [done], 0
    jne cdev_write_finished
    call dev_reply_request
    jmp main_loop
cdev_write_invalid:
    mov eax, EINVAL
    call dev_reply_request
    jmp main_loop

do_cdev_read:
    mov eax, EINVAL
    call dev_reply_request
    jmp main_loop

; poll_heartbeat: answer RS's heartbeat if one is pending (once RS has been heard of)
poll_heartbeat:
    mov eax, [rs_ep]
    cmp eax, NONE
    je poll_heartbeat_done
    lea ebx, [ping]
    mov ecx, RECEIVE | NONBLOCK
    int IPC_VEC
    test eax, eax
    jnz poll_heartbeat_done
    cmp dword ptr [ping + M_TYPE], NOTIFY_MESSAGE
    jne poll_heartbeat_done
    lea esi, [ping]
    call heartbeat
poll_heartbeat_done:
    ret

; ---------------------------------------------------------------------------------------
; print_bytes: print ecx bytes from esi.  eax = 0 or an error.
print_bytes:
    mov [pb_left], ecx
    mov [pb_from], esi
print_next:
    cmp dword ptr [pb_left], 0
    je print_done
wait_ready:
    mov edx, PRINTER_STATUS
    call devio_in
    test eax, eax
    jnz print_failed
    test edx, STATUS_READY_BIT
    jz wait_ready
    mov esi, [pb_from]
    movzx eax, byte ptr [esi]
    call print_byte
    test eax, eax
    jnz print_failed
    inc dword ptr [pb_from]
    dec dword ptr [pb_left]
    jmp print_next
print_done:
    xor eax, eax
print_failed:
    ret

; devio_in: read the byte port edx.  Out: eax = 0 and edx = value, or eax = error.
devio_in:
    mov dword ptr [kcall + M_TYPE], SYS_DEVIO
    mov dword ptr [kcall + DIO_REQUEST], DIO_INPUT | DIO_BYTE
    mov [kcall + DIO_PORT], edx
    kernel_call kcall
    mov edx, [kcall + DIO_VALUE]
    ret

; print_byte: latch byte eax and pulse STROBE in one VDEVIO.  Out: eax = 0 or error.
print_byte:
    mov [strobe_vector + 4], eax
    mov dword ptr [kcall + M_TYPE], SYS_VDEVIO
    mov dword ptr [kcall + VDIO_REQUEST], DIO_OUTPUT | DIO_BYTE
    lea eax, [strobe_vector]
    mov [kcall + VDIO_VEC_ADDR], eax
    mov dword ptr [kcall + VDIO_VEC_COUNT], 3
    kernel_call kcall
    ret

; ---------------------------------------------------------------------------------------
.include "dev_reply.inc"

clear_answer:
    push edi
    lea edi, [answer]
    jmp clear_msg
clear_kcall:
    push edi
    lea edi, [kcall]
; clear_msg: zero the message at edi (pushed by the caller).  Preserves eax, ecx.
clear_msg:
    push eax
    push ecx
    xor eax, eax
    mov ecx, MSG_SIZE / 4
    cld
    rep stosd
    pop ecx
    pop eax
    pop edi
    ret

.data
; (port, value) pairs: the data byte, then STROBE high, then STROBE low
strobe_vector:
    .long PRINTER_DATA, 0
    .long PRINTER_CONTROL, CONTROL_SELECT | CONTROL_STROBE
    .long PRINTER_CONTROL, CONTROL_SELECT

.bss
rs_ep:
    .space 4
count:
    .space 4
total:
    .space 4
done:
    .space 4
pb_left:
    .space 4
pb_from:
    .space 4
reply_to:
    .space 4
request:
    .space MSG_SIZE
answer:
    .space MSG_SIZE
kcall:
    .space MSG_SIZE
ping:
    .space MSG_SIZE
atable:
    .space ASEND_ENTRY_SIZE * ASEND_SLOTS
buffer:
    .space CHUNK
