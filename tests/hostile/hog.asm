; hog: a client that floods PM and VFS with requests, as fast as they answer, forever
; (the seed's "scheduling order" and "denial of service").  It is a driver, so it
; runs above the servers and the users.  Several hogs (hog1, hog2, hog3: this source)
; keep a message queued at each server at almost every moment; the kernel's per-
; destination queues are FIFO, so another client's request waits behind at most one
; request of each hog and the stock workload still runs.  `rounds` counts its rounds.
; Policy: a driver with SENDREC to pm and vfs.

.include "abi.inc"
.include "ipc.inc"

.text
_start:
    mov dword ptr [getpid + M_TYPE], PM_GETPID
    ipc_sendrec EP_PM, getpid
    mov dword ptr [open + M_TYPE], VFS_OPEN
    mov dword ptr [open + VFS_PATH], 0x75736f6e          ; "nosuch": ENOENT
    mov dword ptr [open + VFS_PATH + 4], 0x6863
    mov dword ptr [open + VFS_FLAGS], O_RDONLY
    ipc_sendrec EP_VFS, open
    inc dword ptr [rounds]
    jmp _start

.bss
getpid:
    .space MSG_SIZE
open:
    .space MSG_SIZE
rounds:
    .space 4
