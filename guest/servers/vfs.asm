; vfs: the virtual file system server.  Files live on the disk in our file system
; (docs/OS.md: sector 0 is the directory, file k is one extent of FS_FILE_SECTORS
; sectors); /dev/tty and /dev/printer are the character devices.
;
; Requests from users (kernel/protocols.py), by SENDREC; the reply's M_TYPE is the result:
;   VFS_OPEN   VFS_PATH (NUL-terminated within VFS_PATH_MAX + 1 bytes), VFS_FLAGS
;              (O_RDONLY / O_WRONLY / O_RDWR, or-ed with O_CREAT, O_TRUNC, O_APPEND)
;              -> fd, 0..VFS_MAX_FDS-1, private to the caller's endpoint
;   VFS_READ   VFS_FD, VFS_BUFFER, VFS_NBYTES (0..VFS_IO_MAX) -> bytes read, 0 at the end
;   VFS_WRITE  VFS_FD, VFS_BUFFER, VFS_NBYTES (0..VFS_IO_MAX) -> bytes written
;   VFS_CLOSE  VFS_FD -> OK
;   VFS_UNLINK VFS_PATH -> OK
;   anything else -> EBADREQUEST
; DS and the drivers are no users: their requests get nothing (a driver may message VFS
; as a reply to VFS's request; answering it could start a ping-pong of errors).
; Errors: EINVAL (bad flags or count), ENAMETOOLONG (no NUL within the path field, or a
; file name over FS_NAME_MAX), ENOENT, EPERM (unlink of a device, /dev/printer opened
; for reading), EBADF (not an fd of the caller, or not open for that access, or its file
; was unlinked), EFAULT (a user buffer VIRCOPY refuses), EMFILE, EAGAIN (all request
; slots taken), EBUSY (a second request while one of the caller's is in progress),
; ENOSPC (directory full), EFBIG (a write at the end of the extent), EIO (a disk or
; driver failure), or the error a character driver answered.
; A path is a name with an optional leading '/': "dev/tty", "dev/printer", or a file
; name without '/'.  O_TRUNC truncates only a file opened for writing.  A write at a
; position past the end of the file (another opener truncated it) writes at the end.
;
; Asymmetric trust: VFS never blocks on a driver or a user.  Requests to drivers go by
; ASEND from a table in VFS's memory (entry i belongs to request slot i, as grant i
; does); DEV_REPLY comes into the main RECEIVE ANY loop and is taken only when DEV_ID
; and M_SOURCE match the request's current id and its driver's current endpoint.  A
; user waiting on a driver is answered when the reply comes, by NBSEND (a user that is
; not receiving loses its answer).  Disk requests are served one at a time (the file
; request that owns the disk runs all its steps, the others wait in arrival order), so
; a read-modify-write or a directory update is never interleaved with another.
; Recovery: DS notifies VFS of a new endpoint of tty, printer or disk; VFS re-issues
; the disk's request transparently, and a character request not yet taken by the old
; driver; a taken one is answered EIO.  VFS SENDRECs only SYSTEM and DS.
;
; At start VFS registers its grant table, subscribes in DS to tty, printer and disk and
; looks them up (their boot endpoints EP_TTY, EP_PRINTER, EP_DISK while DS does not know
; them), then loads the directory; the image must have programs labelled ds, tty,
; printer and disk.
;
; Files: vfs_user.inc (user requests, fds), vfs_dev.inc (requests to drivers, their
; replies, DS), vfs_fs.inc (the directory and the file requests on the disk).

.include "abi.inc"
.include "ipc.inc"

; Drivers, by index (a device fd's kind is its driver's index)
.equ DRV_TTY, 0
.equ DRV_PRINTER, 1
.equ DRV_DISK, 2
.equ NR_DRIVERS, 3
.equ FK_FILE, 3                 ; fd kind: a file on the disk

; Request slots: one per user request in progress (and one for the directory load)
.equ NREQ, 16                   ; at most 32: DEV_ID = sequence * 32 + slot
.equ ID_SLOT_MASK, 31
.equ RQ_STATE, 0                ; ST_*
.equ RQ_USER, 4                 ; the caller's endpoint (NONE: VFS's own)
.equ RQ_OP, 8                   ; VFS_OPEN... (0: load the directory)
.equ RQ_DRIVER, 12              ; DRV_*
.equ RQ_ID, 16                  ; DEV_ID of the request at the driver
.equ RQ_STEP, 20                ; disk requests: STEP_* at the disk
.equ RQ_FD, 24                  ; the fd entry
.equ RQ_UBUF, 28                ; the user's buffer
.equ RQ_COUNT, 32               ; bytes the user asked for
.equ RQ_TICKET, 36              ; arrival order of file requests
.equ RQ_FLAGS, 40               ; VFS_OPEN flags
.equ RQ_NBYTES, 44              ; file transfer: bytes
.equ RQ_POS, 48                 ; file transfer: position in the file
.equ RQ_RESULT, 52              ; the answer once the directory is written back
.equ RQ_INDEX, 56               ; slot number = grant id = ASEND entry
.equ RQ_BUF, 60                 ; the slot's buffer
.equ RQ_GFLAGS, 64              ; the access its grant gives the driver
.equ RQ_NAME, 68                ; file name, NUL-padded to FS_NAME_MAX + 1 bytes
.equ RQ_SIZE, 96
.equ RQ_BUF_SIZE, VFS_IO_MAX + SECTOR_SIZE   ; a transfer touches at most 9 sectors

.equ ST_FREE, 0
.equ ST_QUEUED, 1               ; a file request waiting for the disk
.equ ST_DEV, 2                  ; a device request at its driver
.equ ST_DISK, 3                 ; the file request that owns the disk

; fd entries: any process's open files, tagged with the owner's endpoint
.equ NFDS, 64
.equ FD_STATE, 0                ; FDS_*
.equ FD_OWNER, 4
.equ FD_NUM, 8                  ; the fd number the owner sees
.equ FD_KIND, 12                ; DRV_TTY, DRV_PRINTER or FK_FILE
.equ FD_FILE, 16                ; directory entry of a file
.equ FD_GEN, 20                 ; generation of that entry when opened
.equ FD_MODE, 24                ; open flags
.equ FD_POS, 28                 ; position in the file
.equ FD_SIZE, 32
.equ FDS_FREE, 0
.equ FDS_RESERVED, 1            ; an open in progress
.equ FDS_OPEN, 2

.text
_start:
    call vfs_init
main_loop:
    ipc_receive ANY, msg
    test eax, eax
    jnz main_loop
    mov eax, [msg + M_TYPE]
    cmp eax, NOTIFY_MESSAGE
    je main_notify
    cmp eax, DEV_REPLY
    je main_dev_reply
    mov eax, [msg + M_SOURCE]
    call is_system_peer
    je main_loop
    mov eax, [msg + M_TYPE]
    sub eax, VFS_OPEN
    cmp eax, VFS_UNLINK - VFS_OPEN
    ja main_unknown
    call dword ptr [user_calls + eax*4]
    jmp main_loop
main_notify:
    call ds_changes
    jmp main_loop
main_dev_reply:
    call dev_reply
    jmp main_loop
main_unknown:
    mov eax, [msg + M_SOURCE]
    mov edx, EBADREQUEST
    call reply
    jmp main_loop

; reply: answer endpoint eax with M_TYPE = edx by NBSEND (dropped if it is not
; receiving; nothing for NONE).  Preserves every register but eax, ebx, ecx.
reply:
    cmp eax, NONE
    je reply_done
    mov [answer + M_TYPE], edx
    lea ebx, [answer]
    mov ecx, NBSEND
    int IPC_VEC
reply_done:
    ret

; is_system_peer: ZF set when endpoint eax is DS or a driver's current endpoint.
; Preserves every register.
is_system_peer:
    cmp eax, [ds_ep]
    je is_system_peer_done
    cmp eax, [drv_ep + DRV_TTY * 4]
    je is_system_peer_done
    cmp eax, [drv_ep + DRV_PRINTER * 4]
    je is_system_peer_done
    cmp eax, [drv_ep + DRV_DISK * 4]
is_system_peer_done:
    ret

; vfs_init: number the request slots, register the grant table, find the drivers in
; DS (boot endpoints while DS does not know them) and subscribe to their labels, and
; queue the load of the directory.
vfs_init:
    cld
    lea esi, [requests]
    lea edx, [buffers]
    xor ecx, ecx
vfs_init_slot:
    mov [esi + RQ_INDEX], ecx
    mov [esi + RQ_BUF], edx
    add edx, RQ_BUF_SIZE
    add esi, RQ_SIZE
    inc ecx
    cmp ecx, NREQ
    jb vfs_init_slot
    mov dword ptr [kmsg + M_TYPE], SYS_SETGRANT
    lea eax, [grants]
    mov [kmsg + SG_ADDR], eax
    mov dword ptr [kmsg + SG_COUNT], NREQ
    kernel_call kmsg
    xor edx, edx
vfs_init_driver:
    call ds_find_driver
    inc edx
    cmp edx, NR_DRIVERS
    jb vfs_init_driver
    call rq_alloc
    mov dword ptr [esi + RQ_USER], NONE
    mov dword ptr [esi + RQ_OP], 0
    call disk_enqueue
    ret

.include "vfs_user.inc"
.include "vfs_dev.inc"
.include "vfs_fs.inc"

.data
user_calls:
    .long do_open, do_read, do_write, do_close, do_unlink
ds_ep:
    .long EP_DS
drv_ep:                         ; current endpoints, by driver index
    .long EP_TTY, EP_PRINTER, EP_DISK
drv_labels:                     ; LABEL_SIZE bytes each, by driver index
    .asciz "tty"
    .space LABEL_SIZE - 4
    .asciz "printer"
    .space LABEL_SIZE - 8
    .asciz "disk"
    .space LABEL_SIZE - 5
id_sequence:
    .long 1
next_ticket:
    .long 1
disk_owner:                     ; the request slot that owns the disk, or 0
    .long 0
dir_loaded:                     ; 1 when `directory` holds the disk's sector 0
    .long 0

.bss
msg:
    .space MSG_SIZE
answer:
    .space MSG_SIZE
kmsg:
    .space MSG_SIZE
dsmsg:
    .space MSG_SIZE
pinfo:
    .space PROCINFO_SIZE
name_buf:
    .space FS_NAME_MAX + 1
requests:
    .space NREQ * RQ_SIZE
grants:
    .space NREQ * GRANT_ENTRY_SIZE
asend_table:
    .space NREQ * ASEND_ENTRY_SIZE
fds:
    .space NFDS * FD_SIZE
file_gen:                       ; bumped at every unlink of the entry
    .space FS_MAX_FILES * 4
directory:
    .space SECTOR_SIZE
buffers:
    .space NREQ * RQ_BUF_SIZE
