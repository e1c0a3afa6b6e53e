; tty: the console driver (the UART at 0x3F8 data, 0x3FD line status; IRQ 4 on input).
;
; Requests:
;   DEV_WRITE   DEV_COUNT (1..DEV_INLINE_MAX) bytes inline from DEV_DATA (SPEC issue 1,
;               kept for simple programs).  Reply M_TYPE = bytes written or EINVAL / EIO.
;   CDEV_WRITE  from VFS: DEV_BYTES bytes from VFS's grant DEV_GRANT (SAFECOPYFROM, in
;               chunks) to the console.  DEV_REPLY: DEV_RESULT = bytes or an error.
;   CDEV_READ   from VFS: at least one byte, at most a line and DEV_BYTES, into the grant
;               (SAFECOPYTO); 0 bytes at the end of the input.  Answered at once when
;               input is there, else when IRQ 4 (or, without an IRQ line, the next
;               one-tick alarm) brings some.  One read may wait at a time: EBUSY for another.
;               The grant is checked first (a one-byte SAFECOPYTO at its last offset): a
;               read that could not deliver (EPERM) is refused before it takes any input.
;   other       M_TYPE = EBADREQUEST (a DEV_REPLY with that result for the other
;               device requests, so VFS is never left waiting).
; The console echoes the input it reads (a cooked terminal), so a transcript shows what
; was typed.  Output waits for the line status "ready to send" (bit 5), then writes up
; to UART_FIFO bytes in one VDEVIO (the 16550's transmit FIFO).
;
; A driver never blocks on anyone but the kernel: replies go by NBSEND, and a DEV_REPLY
; that VFS is not ready for goes by ASEND from a small table.  A notification from a
; process is RS's heartbeat: it is answered at once with a NOTIFY.

.include "abi.inc"
.include "ipc.inc"

.equ UART_DATA, 0x3F8
.equ UART_LINE_STATUS, 0x3FD
.equ LSR_DATA_READY, 0x01
.equ LSR_BREAK, 0x10              ; the end of the input (docs/OS.md)
.equ LSR_THR_EMPTY, 0x20
.equ UART_IRQ, 4
.equ UART_FIFO, 16                ; bytes per VDEVIO (at most VDEVIO_MAX)
.equ CHUNK, 256                   ; bytes per SAFECOPY
.equ LINE_MAX, 256                ; bytes per read at most
.equ ASEND_SLOTS, 8

.text
_start:
    call clear_kcall                ; take IRQ 4; without it, poll with alarms
    mov dword ptr [kcall + M_TYPE], SYS_IRQCTL
    mov dword ptr [kcall + IRQ_REQUEST], IRQ_ENABLE
    mov dword ptr [kcall + IRQ_LINE], UART_IRQ
    kernel_call kcall
    test eax, eax
    jnz main_loop
    mov dword ptr [irq_ok], 1
main_loop:
    ipc_receive ANY, request
    test eax, eax
    jnz main_loop
    mov eax, [request + M_TYPE]
    cmp eax, NOTIFY_MESSAGE
    je got_notification
    cmp eax, CDEV_READ
    je do_cdev_read
    cmp eax, CDEV_WRITE
    je do_cdev_write
    cmp eax, DEV_WRITE
    je do_write
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
    mov eax, [request + M_SOURCE]
    cmp eax, HARDWARE
    je got_interrupt
    cmp eax, CLOCK
    je got_alarm
    test eax, eax
    js main_loop                    ; SYSTEM: nothing to do
    ipc_notify eax                  ; a process: RS's heartbeat
    jmp main_loop
got_interrupt:
    mov dword ptr [irq_masked], 1   ; masked until we acknowledge
    cmp dword ptr [rd_pending], 0
    je main_loop                    ; keep the input in the UART until it is asked for
    call try_read
    jmp main_loop
got_alarm:
    mov dword ptr [alarm_set], 0
    cmp dword ptr [rd_pending], 0
    je main_loop
    call try_read
    jmp main_loop

; ---------------------------------------------------------------------------------------
; DEV_WRITE: the bytes are inline
do_write:
    mov ecx, [request + DEV_COUNT]
    cmp ecx, 1
    jl write_bad_count
    cmp ecx, DEV_INLINE_MAX
    jg write_bad_count
    mov [count], ecx
    lea esi, [request + DEV_DATA]
    call uart_write
    test eax, eax
    jnz write_io_error
    mov eax, [count]
    jmp reply
write_bad_count:
    mov eax, EINVAL
    jmp reply
write_io_error:
    mov eax, EIO
    jmp reply

; ---------------------------------------------------------------------------------------
; CDEV_WRITE: copy from VFS's grant in chunks, write each chunk
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
    call uart_write
    test eax, eax
    jnz cdev_write_io
    mov eax, [count]
    add [done], eax
    jmp cdev_write_next
cdev_write_finished:
    mov eax, [done]
    call dev_reply_request
    jmp main_loop
cdev_write_io:
    mov eax, EIO
cdev_write_failed:                  ; eax = the error; bytes already out count
    cmp dword ptr [done], 0
    jne cdev_write_finished
    call dev_reply_request
    jmp main_loop
cdev_write_invalid:
    mov eax, EINVAL
    call dev_reply_request
    jmp main_loop

; ---------------------------------------------------------------------------------------
; CDEV_READ: remember the request, answer it when there is input (or its end)
do_cdev_read:
    mov ecx, [request + DEV_BYTES]
    cmp ecx, 0
    jl cdev_read_invalid
    je cdev_read_empty
    cmp dword ptr [rd_pending], 0
    jne cdev_read_busy
    cmp ecx, LINE_MAX
    jle cdev_read_keep
    mov ecx, LINE_MAX
cdev_read_keep:
    mov [rd_bytes], ecx
    call probe_grant                ; a read that could not deliver takes no input
    test eax, eax
    jnz cdev_read_refused
    mov eax, [request + M_SOURCE]
    mov [rd_src], eax
    mov eax, [request + DEV_GRANT]
    mov [rd_grant], eax
    mov eax, [request + DEV_ID]
    mov [rd_id], eax
    mov dword ptr [rd_pending], 1
    call try_read
    jmp main_loop
cdev_read_empty:
    xor eax, eax
    call dev_reply_request
    jmp main_loop
cdev_read_busy:
    mov eax, EBUSY
    call dev_reply_request
    jmp main_loop
cdev_read_invalid:
    mov eax, EINVAL
cdev_read_refused:
    call dev_reply_request
    jmp main_loop

; probe_grant: check, before any input is taken from the UART, that the read's grant
; takes rd_bytes bytes: SAFECOPYTO of one byte at its last offset (the kernel checks
; validity, grantee, access and bounds; the byte is overwritten or beyond the answer).
; Out: eax = OK or the kernel's error.
probe_grant:
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_SAFECOPYTO
    mov eax, [request + M_SOURCE]
    mov [kcall + SC_GRANTER], eax
    mov eax, [request + DEV_GRANT]
    mov [kcall + SC_GRANT], eax
    mov eax, [rd_bytes]
    dec eax
    mov [kcall + SC_OFFSET], eax
    mov dword ptr [kcall + SC_SIZE], 1
    lea eax, [line]
    mov [kcall + SC_ADDR], eax
    kernel_call kcall
    ret

; try_read: serve the pending read from the UART: the bytes waiting (up to a newline
; or rd_bytes), or 0 at the end of the input; else wait for IRQ 4 or an alarm.
try_read:
    xor edi, edi                    ; bytes read
try_read_next:
    cmp edi, [rd_bytes]
    jge try_read_got
    mov edx, UART_LINE_STATUS
    call port_in
    test eax, eax
    jnz try_read_io
    mov [lsr], edx
    test edx, LSR_DATA_READY
    jz try_read_empty
    mov edx, UART_DATA
    call port_in
    test eax, eax
    jnz try_read_io
    mov [line + edi], dl
    inc edi
    push edi                        ; echo it
    lea esi, [line + edi - 1]
    mov ecx, 1
    call uart_write
    pop edi
    cmp byte ptr [line + edi - 1], 10
    jne try_read_next
    jmp try_read_got
try_read_empty:
    test edi, edi
    jnz try_read_got
    test dword ptr [lsr], LSR_BREAK
    jnz try_read_end
    ; nothing yet: wait for the interrupt (or poll at the next tick)
    cmp dword ptr [irq_ok], 0
    je try_read_poll
    cmp dword ptr [irq_masked], 0
    je try_read_wait
    mov dword ptr [irq_masked], 0
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_IRQCTL
    mov dword ptr [kcall + IRQ_REQUEST], IRQ_ACK
    mov dword ptr [kcall + IRQ_LINE], UART_IRQ
    kernel_call kcall
try_read_wait:
    ret
try_read_poll:
    cmp dword ptr [alarm_set], 0
    jne try_read_wait
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_SETALARM
    mov dword ptr [kcall + ALARM_TICKS], 1
    kernel_call kcall
    test eax, eax
    jnz try_read_wait
    mov dword ptr [alarm_set], 1
    ret
try_read_got:                       ; edi bytes in `line`: copy them to VFS's grant
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_SAFECOPYTO
    mov eax, [rd_src]
    mov [kcall + SC_GRANTER], eax
    mov eax, [rd_grant]
    mov [kcall + SC_GRANT], eax
    mov [kcall + SC_SIZE], edi
    lea eax, [line]
    mov [kcall + SC_ADDR], eax
    kernel_call kcall
    test eax, eax
    jnz try_read_answer
    mov eax, edi
    jmp try_read_answer
try_read_io:
    mov eax, EIO
    jmp try_read_answer
try_read_end:
    xor eax, eax
try_read_answer:                    ; eax = the result of the pending read
    mov dword ptr [rd_pending], 0
    mov edx, [rd_src]
    mov ecx, [rd_id]
    call dev_reply
    ret

; ---------------------------------------------------------------------------------------
; uart_write: write ecx bytes from esi to the console.  eax = 0 or an error.
uart_write:
    mov [uw_left], ecx
    mov [uw_from], esi
uart_write_next:
    mov ecx, [uw_left]
    test ecx, ecx
    jz uart_write_done
    cmp ecx, UART_FIFO
    jle uart_write_ready
    mov ecx, UART_FIFO
uart_write_ready:
    mov [uw_now], ecx
    mov edx, UART_LINE_STATUS
    call port_in
    test eax, eax
    jnz uart_write_failed
    test edx, LSR_THR_EMPTY
    jz uart_write_ready_wait
    mov ecx, [uw_now]
    mov esi, [uw_from]
    xor edi, edi
uart_write_fill:
    movzx eax, byte ptr [esi + edi]
    mov [vector + edi*8 + 4], eax
    inc edi
    cmp edi, ecx
    jl uart_write_fill
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_VDEVIO
    mov dword ptr [kcall + VDIO_REQUEST], DIO_OUTPUT | DIO_BYTE
    lea eax, [vector]
    mov [kcall + VDIO_VEC_ADDR], eax
    mov [kcall + VDIO_VEC_COUNT], ecx
    kernel_call kcall
    test eax, eax
    jnz uart_write_failed
    mov ecx, [uw_now]
    add [uw_from], ecx
    sub [uw_left], ecx
    jmp uart_write_next
uart_write_ready_wait:
    mov ecx, [uw_now]
    jmp uart_write_ready
uart_write_done:
    xor eax, eax
uart_write_failed:
    ret

; port_in: read the byte port edx.  eax = 0 and edx = the value, or eax = an error.
port_in:
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_DEVIO
    mov dword ptr [kcall + DIO_REQUEST], DIO_INPUT | DIO_BYTE
    mov [kcall + DIO_PORT], edx
    kernel_call kcall
    mov edx, [kcall + DIO_VALUE]
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
; (port, value) pairs for one VDEVIO: the data port, UART_FIFO times
vector:
    .rept UART_FIFO
    .long UART_DATA, 0
    .endr

.bss
irq_ok:
    .space 4
irq_masked:
    .space 4
alarm_set:
    .space 4
rd_pending:
    .space 4
rd_src:
    .space 4
rd_grant:
    .space 4
rd_bytes:
    .space 4
rd_id:
    .space 4
lsr:
    .space 4
count:
    .space 4
total:
    .space 4
done:
    .space 4
uw_left:
    .space 4
uw_from:
    .space 4
uw_now:
    .space 4
reply_to:
    .space 4
request:
    .space MSG_SIZE
answer:
    .space MSG_SIZE
kcall:
    .space MSG_SIZE
atable:
    .space ASEND_ENTRY_SIZE * ASEND_SLOTS
buffer:
    .space CHUNK
line:
    .space LINE_MAX
