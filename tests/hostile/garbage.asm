; garbage: a client that sends every stock server and driver requests with bad
; contents (the seed's "bad message contents"): unknown types, labels and paths without
; their NUL, bad flags, counts, fds, buffers, grants and sectors, requests it has no
; right to make.  Each must be answered with its error (requests.inc: the expected
; answer is in each row), and every server and driver must go on serving.  Policy: a
; user that may call every server and driver (SENDREC only).  Ends with PM_EXIT 0.

.include "abi.inc"
.include "libc.inc"

.equ W, WINDOW_BASE + EP_GARBAGE * WINDOW_SIZE
.equ VFS_DATA, WINDOW_BASE + EP_VFS * WINDOW_SIZE + DATA_OFFSET

.text
_start:
    call run_requests
    xor eax, eax
    call pm_exit

.include "requests.inc"

.data
requests:
    ; RS
    req EP_RS, EBADREQUEST, 0, 0
    req EP_RS, EBADREQUEST, 0, 0x7FFFFFFF
    req EP_RS, EBADREQUEST, 0, DS_LOOKUP, L_PRIN, L_TER
    req EP_RS, EINVAL, 0, RS_STATUS, A4, A4, A4, A4, A4
    req EP_RS, EINVAL, 0, RS_STATUS                         ; empty label
    req EP_RS, ENOENT, 0, RS_STATUS, L_NOSU, L_CH
    req EP_RS, ENOENT, 0, RS_STATUS, L_RS                   ; not a driver
    req EP_RS, OK, 0, RS_STATUS, L_PRIN, L_TER
    ; DS
    req EP_DS, EBADREQUEST, 0, -1
    req EP_DS, EPERM, 0, DS_PUBLISH, L_PRIN, L_TER, 0, 0, EP_GARBAGE
    req EP_DS, EINVAL, 0, DS_LOOKUP, A4, A4, A4, A4, A4
    req EP_DS, EINVAL, 0, DS_LOOKUP
    req EP_DS, ENOENT, 0, DS_LOOKUP, L_NOSU, L_CH
    req EP_DS, EINVAL, 0, DS_SUBSCRIBE, A4, A4, A4, A4
    req EP_DS, ENOENT, 0, DS_CHECK
    req EP_DS, OK, 0, DS_LOOKUP, L_PRIN, L_TER
    ; PM
    req EP_PM, EBADREQUEST, 0, 0
    req EP_PM, EBADREQUEST, 0, PM_RQ_BASE
    req EP_PM, EINVAL, 0, PM_SPAWN, A4, A4, A4, A4
    req EP_PM, EINVAL, 0, PM_SPAWN                          ; empty label
    req EP_PM, EINVAL, 0, PM_SPAWN, L_HELL, L_O, 0, 0, A4, A4, A4, A4, A4, A4, A4, A4, A4, A4
    req EP_PM, ENOENT, 0, PM_SPAWN, L_NOSU, L_CH
    req EP_PM, EPERM, 0, PM_SPAWN, L_DISK                   ; a driver
    req EP_PM, EPERM, 0, PM_SPAWN, L_RS                     ; a server
    req EP_PM, EPERM, 0, PM_SPAWN, L_INIT
    req EP_PM, ESRCH, 0, PM_WAIT, EP_INIT                   ; not its child
    req EP_PM, ESRCH, 0, PM_WAIT, ANY                       ; it has none
    req EP_PM, ESRCH, 0, PM_WAIT, -1
    ; VFS
    req EP_VFS, EBADREQUEST, 0, VFS_RQ_BASE
    req EP_VFS, EBADREQUEST, 0, VFS_UNLINK + 1
    req EP_VFS, EINVAL, 0, VFS_OPEN, L_MOTD, 0, 0, 0, 0, 0, 0, 0, 0x1000
    req EP_VFS, EINVAL, 0, VFS_OPEN, L_MOTD, 0, 0, 0, 0, 0, 0, 0, O_ACCMODE
    req EP_VFS, ENAMETOOLONG, 0, VFS_OPEN, A4, A4, A4, A4, A4, A4, A4, A4
    req EP_VFS, ENAMETOOLONG, 0, VFS_OPEN, A4, A4, A4, A4, A4, A4, A4
    req EP_VFS, ENOENT, 0, VFS_OPEN                         ; empty path
    req EP_VFS, ENOENT, 0, VFS_OPEN, 0x2f                   ; "/"
    req EP_VFS, ENOENT, 0, VFS_OPEN, 0x622f61               ; "a/b"
    req EP_VFS, ENOENT, 0, VFS_OPEN, L_NOSU, L_CH
    req EP_VFS, EPERM, 0, VFS_OPEN, 0x7665642f, 0x6972702f, 0x7265746e  ; /dev/printer
    req EP_VFS, EBADF, 0, VFS_READ, -1, text, 16
    req EP_VFS, EBADF, 0, VFS_READ, VFS_MAX_FDS, text, 16
    req EP_VFS, EBADF, 0, VFS_READ, 0x80000000, text, 16
    req EP_VFS, EBADF, 0, VFS_READ, 0, text, 16             ; not open
    req EP_VFS, EBADF, 0, VFS_WRITE, 0, text, 16
    req EP_VFS, EBADF, 0, VFS_CLOSE, 100
    req EP_VFS, EPERM, 0, VFS_UNLINK, 0x2f766564, L_TTY     ; dev/tty
    req EP_VFS, ENOENT, 0, VFS_UNLINK, L_NOSU, L_CH
    req EP_VFS, 0, 0, VFS_OPEN, L_MOTD                      ; fd 0, read only
    req EP_VFS, EFAULT, 0, VFS_READ, 0, 0, 16               ; buffer in page 0
    req EP_VFS, EFAULT, 0, VFS_READ, 0, VFS_DATA, 16        ; in VFS's own data
    req EP_VFS, EFAULT, 0, VFS_READ, 0, W, 16               ; its own text
    req EP_VFS, EFAULT, 0, VFS_READ, 0, W + WINDOW_SIZE - 8, 16   ; past its stack
    req EP_VFS, EINVAL, 0, VFS_READ, 0, text, VFS_IO_MAX + 1
    req EP_VFS, EINVAL, 0, VFS_READ, 0, text, -1
    req EP_VFS, EBADF, 0, VFS_WRITE, 0, text, 16            ; read-only fd
    req EP_VFS, 16, 0, VFS_READ, 0, text, 16                ; and it still works
    req EP_VFS, OK, 0, VFS_CLOSE, 0
    req EP_VFS, EBADF, 0, VFS_READ, 0, text, 16             ; closed
    ; the drivers, called directly
    req EP_PRINTER, EINVAL, 0, DEV_WRITE, 0
    req EP_PRINTER, EINVAL, 0, DEV_WRITE, DEV_INLINE_MAX + 1
    req EP_PRINTER, EINVAL, 0, DEV_WRITE, -1
    req EP_PRINTER, EPERM, 0, CDEV_WRITE, 0, 10, 77         ; no grant of its own
    req EP_PRINTER, EPERM, 0, CDEV_WRITE, 3, 10, 77         ; VFS's grant id
    req EP_PRINTER, EINVAL, 0, CDEV_WRITE, 0, -5, 77
    req EP_PRINTER, EINVAL, 0, CDEV_READ, 0, 10, 77
    req EP_PRINTER, EBADREQUEST, 0, BDEV_READ, 0, 512, 77
    req EP_PRINTER, EBADREQUEST, 0, 0x9999
    req EP_TTY, EINVAL, 0, DEV_WRITE, 0
    req EP_TTY, EPERM, 0, CDEV_WRITE, 0, 10, 77
    req EP_TTY, EINVAL, 0, CDEV_READ, 0, -1, 77
    req EP_TTY, EPERM, 0, CDEV_READ, 0, 10, 77              ; a grant it does not have
    req EP_TTY, EBADREQUEST, 0, BDEV_WRITE, 0, 512, 77
    req EP_TTY, EBADREQUEST, 0, -1
    req EP_DISK, EINVAL, 0, BDEV_READ, 0, 0, 77, 0
    req EP_DISK, EINVAL, 0, BDEV_READ, 0, 513, 77, 0
    req EP_DISK, EINVAL, 0, BDEV_READ, 0, -512, 77, 0
    req EP_DISK, EINVAL, 0, BDEV_READ, 0, 512, 77, 0x10000000
    req EP_DISK, EINVAL, 0, BDEV_READ, 0, 1024, 77, 0x0FFFFFFF
    req EP_DISK, EPERM, 0, BDEV_READ, 0, 512, 77, 0         ; no grant
    req EP_DISK, EPERM, 0, BDEV_WRITE, 0, 1024, 77, 0
    req EP_DISK, EPERM, 0, BDEV_WRITE, 2, 512, 77, 0        ; VFS's grant id
    req EP_DISK, EBADREQUEST, 0, CDEV_WRITE, 0, 10, 77
    req EP_DISK, EBADREQUEST, 0, 0
requests_end:

.bss
text:
    .space 64
results:
    .space 4 * 128
