; kcalls: a driver that makes kernel calls with bad arguments (the seed's "bad message
; contents" to the kernel): unknown call numbers, calls its policy does not list, and
; for each call it may make, each argument wrong in turn: DEVIO, VDEVIO and SDEVIO
; requests, ports, counts, vectors and grants; IRQCTL requests and lines (one routed to
; the tty); SETGRANT tables; SAFECOPYFROM / SAFECOPYTO sizes, buffers, granters, grant
; ids, offsets and a grant of its own on another process's memory; SETALARM; DIAGCTL.
; The SYSTEM gate and each call's checks must refuse every one (requests.inc: SENDREC
; to SYSTEM, the expected reply in each row) and change nothing; it starts 5 ticks after
; the boot, once VFS has its grant table.  Policy: a driver with RECEIVE, SENDREC and
; the calls of the stock drivers and SETGRANT, SETALARM, TIMES, DIAGCTL, EXIT; ports
; 0x378-0x37A (no device there); IRQ lines 4 (the tty's) and 5.  No heartbeat, never
; restarted; ends with EXIT 0.

.include "abi.inc"

.equ W, WINDOW_BASE + EP_KCALLS * WINDOW_SIZE
.equ TOP, W + WINDOW_SIZE
.equ VFS_DATA, WINDOW_BASE + EP_VFS * WINDOW_SIZE + DATA_OFFSET
.equ DEAD, ENDPOINT_GEN_MUL + EP_PRINTER          ; a stale generation
.equ IN_B, DIO_INPUT | DIO_BYTE
.equ OUT_B, DIO_OUTPUT | DIO_BYTE
.equ IN_W, DIO_INPUT | DIO_WORD

.text
_start:
    mov dword ptr [request_msg + M_TYPE], SYS_SETALARM   ; after VFS's start: its
    mov dword ptr [request_msg + ALARM_TICKS], 5         ; grant table is registered
    mov eax, SYSTEM
    lea ebx, [request_msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, CLOCK
    lea ebx, [request_msg]
    mov ecx, RECEIVE
    int IPC_VEC
    call run_requests
    mov dword ptr [request_msg + M_TYPE], SYS_EXIT
    mov dword ptr [request_msg + EXIT_STATUS], 0
    mov eax, SYSTEM
    lea ebx, [request_msg]
    mov ecx, SENDREC
    int IPC_VEC
    ud2

.include "requests.inc"

.macro call_ expected, type, w0=0, w1=0, w2=0, w3=0, w4=0, w5=0
    req SYSTEM, \expected, 0, \type, \w0, \w1, \w2, \w3, \w4, \w5
.endm

.data
requests:
    ; the gate: unknown calls, calls not in the policy
    call_ EBADREQUEST, 0
    call_ EBADREQUEST, -1
    call_ EBADREQUEST, KERNEL_CALL - 1
    call_ EBADREQUEST, KERNEL_CALL + NR_SYS_CALLS
    call_ EBADREQUEST, 0x7FFFFFFF
    call_ ECALLDENIED, SYS_GETINFO, GI_PROCTAB, 0, buffer
    call_ ECALLDENIED, SYS_SPAWN, L_DISK
    call_ ECALLDENIED, SYS_KILL, EP_VFS
    call_ ECALLDENIED, SYS_VIRCOPY, EP_VFS, VFS_DATA, SELF, buffer, 64
    ; DEVIO: request, then port
    call_ EINVAL, SYS_DEVIO, 0, 0x378
    call_ EINVAL, SYS_DEVIO, DIO_INPUT, 0x378              ; no size
    call_ EINVAL, SYS_DEVIO, DIO_BYTE, 0x378               ; no direction
    call_ EINVAL, SYS_DEVIO, 3 | DIO_BYTE, 0x378
    call_ EINVAL, SYS_DEVIO, DIO_INPUT | 0x40, 0x378
    call_ EINVAL, SYS_DEVIO, IN_B | 0x100, 0x378
    call_ EINVAL, SYS_DEVIO, -1, 0x378
    call_ EPERM, SYS_DEVIO, IN_B, 0xAB                     ; the printer's port
    call_ EPERM, SYS_DEVIO, OUT_B, 0x3F8, 0x41             ; the console's
    call_ EPERM, SYS_DEVIO, IN_B, -1
    call_ EPERM, SYS_DEVIO, IN_B, 0x10000
    call_ EPERM, SYS_DEVIO, IN_B, 0x10378
    call_ EPERM, SYS_DEVIO, IN_W, 0x379                    ; misaligned
    call_ EPERM, SYS_DEVIO, DIO_INPUT | DIO_LONG, 0x378    ; past the range's end
    call_ OK, SYS_DEVIO, IN_B, 0x37A                       ; its own port
    ; VDEVIO: request, count, vector, a bad port among good ones
    call_ EINVAL, SYS_VDEVIO, 0, vector, 1
    call_ EINVAL, SYS_VDEVIO, IN_B, vector, 0
    call_ EINVAL, SYS_VDEVIO, IN_B, vector, VDEVIO_MAX + 1
    call_ EINVAL, SYS_VDEVIO, IN_B, vector, -1
    call_ EFAULT, SYS_VDEVIO, IN_B, 0, 2
    call_ EFAULT, SYS_VDEVIO, IN_B, W, 2                   ; its text
    call_ EFAULT, SYS_VDEVIO, IN_B, TOP - 12, 2            ; past its stack
    call_ EFAULT, SYS_VDEVIO, IN_B, VFS_DATA, 2
    call_ EPERM, SYS_VDEVIO, OUT_B, bad_vector, 3          ; all or nothing
    ; SDEVIO: request, count, port, granter, grant
    call_ EINVAL, SYS_SDEVIO, 0, 0x378, SELF, 0, 0, 4
    call_ EINVAL, SYS_SDEVIO, IN_B, 0x378, SELF, 0, 0, 0
    call_ EINVAL, SYS_SDEVIO, IN_B, 0x378, SELF, 0, 0, SDEVIO_MAX + 1
    call_ EINVAL, SYS_SDEVIO, IN_W, 0x378, SELF, 0, 0, 3   ; not whole words
    call_ EPERM, SYS_SDEVIO, IN_B, 0x1F0, SELF, 0, 0, 4    ; the disk's port
    call_ EPERM, SYS_SDEVIO, IN_B, 0x378, SELF, 0, 0, 4    ; no table yet
    call_ EPERM, SYS_SDEVIO, IN_B, 0x378, EP_VFS, 0, 0, 4  ; VFS's grants are not its
    call_ EPERM, SYS_SDEVIO, IN_B, 0x378, DEAD, 0, 0, 4
    call_ EPERM, SYS_SDEVIO, IN_B, 0x378, SYSTEM, 0, 0, 4
    ; IRQCTL: request, line, lines of others
    call_ EINVAL, SYS_IRQCTL, 0, 5
    call_ EINVAL, SYS_IRQCTL, 4, 5
    call_ EINVAL, SYS_IRQCTL, IRQ_ENABLE, -1
    call_ EINVAL, SYS_IRQCTL, IRQ_ENABLE, NR_IRQS
    call_ EPERM, SYS_IRQCTL, IRQ_ENABLE, 7                 ; not in its policy
    call_ EPERM, SYS_IRQCTL, IRQ_ENABLE, 4                 ; routed to the tty
    call_ EPERM, SYS_IRQCTL, IRQ_DISABLE, 4
    call_ EPERM, SYS_IRQCTL, IRQ_ACK, 4
    call_ EPERM, SYS_IRQCTL, IRQ_ACK, 5                    ; not routed to it yet
    call_ OK, SYS_IRQCTL, IRQ_ENABLE, 5
    call_ OK, SYS_IRQCTL, IRQ_DISABLE, 5
    ; SETGRANT, then grants of its own
    call_ EINVAL, SYS_SETGRANT, grants, -1
    call_ EINVAL, SYS_SETGRANT, grants, GRANT_MAX + 1
    call_ EFAULT, SYS_SETGRANT, 0, 1
    call_ EFAULT, SYS_SETGRANT, TOP - 8, 1
    call_ EFAULT, SYS_SETGRANT, VFS_DATA, 1
    call_ OK, SYS_SETGRANT, grants, 4
    ; SAFECOPYFROM / SAFECOPYTO: size, own buffer, granter, grant id, flags, grantee,
    ; access, offset, and the granted area itself
    call_ EINVAL, SYS_SAFECOPYFROM, SELF, 0, 0, 0, buffer
    call_ EINVAL, SYS_SAFECOPYFROM, SELF, 0, 0, -1, buffer
    call_ EINVAL, SYS_SAFECOPYTO, SELF, 0, 0, SAFECOPY_MAX + 1, buffer
    call_ EFAULT, SYS_SAFECOPYFROM, SELF, 0, 0, 16, 0
    call_ EFAULT, SYS_SAFECOPYFROM, SELF, 0, 0, 16, W      ; into its text
    call_ EFAULT, SYS_SAFECOPYTO, SELF, 0, 0, 16, VFS_DATA
    call_ EPERM, SYS_SAFECOPYFROM, EP_VFS, 0, 0, 16, buffer
    call_ EPERM, SYS_SAFECOPYTO, EP_VFS, 3, 0, 16, buffer
    call_ EPERM, SYS_SAFECOPYFROM, EP_DS, 0, 0, 16, buffer ; no table
    call_ EPERM, SYS_SAFECOPYFROM, DEAD, 0, 0, 16, buffer
    call_ EPERM, SYS_SAFECOPYFROM, ANY, 0, 0, 16, buffer
    call_ EPERM, SYS_SAFECOPYFROM, NONE, 0, 0, 16, buffer
    call_ EPERM, SYS_SAFECOPYFROM, SELF, -1, 0, 16, buffer
    call_ EPERM, SYS_SAFECOPYFROM, SELF, 4, 0, 16, buffer  ; past the table
    call_ EPERM, SYS_SAFECOPYFROM, SELF, 1, 0, 16, buffer  ; not valid
    call_ EPERM, SYS_SAFECOPYFROM, SELF, 2, 0, 16, buffer  ; another grantee
    call_ EPERM, SYS_SAFECOPYTO, SELF, 0, 0, 16, buffer    ; read-only grant
    call_ EPERM, SYS_SAFECOPYFROM, SELF, 0, -1, 16, buffer
    call_ EPERM, SYS_SAFECOPYFROM, SELF, 0, 60, 16, buffer ; past its end
    call_ EPERM, SYS_SAFECOPYFROM, SELF, 3, 0, 16, buffer  ; VFS's memory
    call_ OK, SYS_SAFECOPYFROM, SELF, 0, 0, 16, buffer
    ; SETALARM, TIMES, DIAGCTL
    call_ EINVAL, SYS_SETALARM, -1
    call_ EINVAL, SYS_SETALARM, 5, 2
    call_ EINVAL, SYS_SETALARM, 5, -1
    call_ OK, SYS_SETALARM, 0
    call_ OK, SYS_TIMES
    call_ EINVAL, SYS_DIAGCTL, text, 0
    call_ EINVAL, SYS_DIAGCTL, text, DIAG_MAX + 1
    call_ EINVAL, SYS_DIAGCTL, text, -1
    call_ EFAULT, SYS_DIAGCTL, 0, 4
    call_ EFAULT, SYS_DIAGCTL, VFS_DATA, 4
    call_ EFAULT, SYS_DIAGCTL, TOP - 2, 4
requests_end:
vector:                                 ; (port, value) pairs
    .long 0x378, 0, 0x37A, 0
bad_vector:
    .long 0x378, 0x41, 0x3F8, 0x41, 0x37A, 0x41
grants:                                 ; {flags, grantee, address, size}
    .long CPF_VALID | CPF_READ, EP_KCALLS, buffer, 64
    .long CPF_READ, EP_KCALLS, buffer, 64
    .long CPF_VALID | CPF_READ | CPF_WRITE, EP_VFS, buffer, 64
    .long CPF_VALID | CPF_READ | CPF_WRITE, EP_KCALLS, VFS_DATA, 64
text:
    .ascii "kcalls"

.bss
buffer:
    .space 64
results:
    .space 4 * 128
