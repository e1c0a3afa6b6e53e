; disk: the driver of the ATA disk at ports 0x1F0-0x1F7 (PIO, LBA28, 512-byte sectors).
;
; Requests (kernel/protocols.py), from VFS by ASEND or NBSEND:
;   BDEV_READ   DEV_BLOCK = first sector, DEV_BYTES = 1..DISK_MAX_SECTORS sectors in
;               bytes, DEV_GRANT = a grant of the requester allowing CPF_WRITE, DEV_ID
;   BDEV_WRITE  the same, the grant allowing CPF_READ; flushed before the answer
; The answer is DEV_REPLY with DEV_ID echoed and DEV_RESULT = the bytes moved, or
;   EINVAL       DEV_BYTES not a positive multiple of SECTOR_SIZE up to the maximum, or
;                sectors outside LBA28 (both checked before the drive is touched)
;   EPERM        the kernel refuses the grant (the grant of a write of several sectors
;                is checked whole before the drive is touched, so no sector of it is
;                written; a one-sector write or a read stops at its refused SDEVIO, before
;                a sector is stored)
;   EIO          the drive reports an error (sectors past its end: IDNF) or stays busy
;   EBADREQUEST  any other request
; Answers go by NBSEND; to a requester that is not receiving, by ASEND from a table of
; REPLY_SLOTS entries (a driver never blocks on its client; with the table full the
; answer is dropped).  A notification from RS (a heartbeat) is answered with a NOTIFY
; to RS at once; other notifications are ignored.  The image must have `rs` (EP_RS).
;
; The drive is driven by polling: after a command the driver spins a little, then reads
; the status (DEVIO), doubling the spin while the drive is busy (at most POLL_MAX
; polls); the taskfile goes in one VDEVIO, each sector in one SDEVIO between the data
; port and the requester's grant.  The drive is known idle after a request that ended
; cleanly; otherwise (at start, after an error) the next request first waits for it.

.include "abi.inc"

.equ ATA_DATA, 0x1F0
.equ ATA_COUNT, 0x1F2
.equ ATA_LBA_LOW, 0x1F3
.equ ATA_LBA_MID, 0x1F4
.equ ATA_LBA_HIGH, 0x1F5
.equ ATA_DRIVE, 0x1F6
.equ ATA_STATUS, 0x1F7
.equ ATA_COMMAND, 0x1F7
.equ ATA_BSY, 0x80
.equ ATA_DRQ, 0x08
.equ ATA_ERR, 0x01
.equ ATA_LBA_MODE, 0xE0          ; drive 0, LBA
.equ CMD_READ, 0x20
.equ CMD_WRITE, 0x30
.equ CMD_FLUSH, 0xE7
.equ LBA28_SECTORS, 0x10000000
.equ DISK_MAX_SECTORS, 128
.equ SPIN_FIRST, 64              ; loop turns before the first poll of a sector
.equ SPIN_FLUSH, 512             ; ... of a flush
.equ SPIN_MAX, 1024
.equ POLL_MAX, 64
.equ REPLY_SLOTS, 8

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
    je got_notification
    cmp eax, BDEV_READ
    je got_transfer
    cmp eax, BDEV_WRITE
    je got_transfer
    mov eax, EBADREQUEST
    jmp reply

got_notification:
    cmp dword ptr [request + M_SOURCE], EP_RS
    jne main_loop
    mov eax, EP_RS
    mov ecx, NOTIFY
    int IPC_VEC
    jmp main_loop

; A transfer: check it, then do it.  eax = the result for the reply.
got_transfer:
    mov ecx, [request + DEV_BYTES]
    test ecx, SECTOR_SIZE - 1
    jnz bad_request
    shr ecx, 9
    jz bad_request
    cmp ecx, DISK_MAX_SECTORS
    ja bad_request
    mov [sectors], ecx
    mov eax, [request + DEV_BLOCK]
    cmp eax, LBA28_SECTORS
    jae bad_request
    add eax, ecx
    cmp eax, LBA28_SECTORS
    ja bad_request
    cmp dword ptr [drive_idle], 0
    jne drive_ready
    mov ebp, SPIN_FIRST
    call wait_ready
    test eax, eax
    jnz reply
drive_ready:
    mov dword ptr [drive_idle], 0
    cmp dword ptr [request + M_TYPE], BDEV_WRITE
    je do_write
    mov eax, CMD_READ
    call command
    test eax, eax
    jnz reply
    xor esi, esi                    ; sectors moved
read_sector:
    call wait_data
    test eax, eax
    jnz reply
    mov eax, DIO_INPUT | DIO_WORD
    call move_sector
    test eax, eax
    jnz reply
    inc esi
    cmp esi, [sectors]
    jb read_sector
    jmp transfer_done

do_write:
    cmp dword ptr [sectors], 1
    je write_command
    call probe_grant
    test eax, eax
    jnz reply
write_command:
    mov eax, CMD_WRITE
    call command
    test eax, eax
    jnz reply
    xor esi, esi
write_sector:
    call wait_data
    test eax, eax
    jnz reply
    mov eax, DIO_OUTPUT | DIO_WORD
    call move_sector
    test eax, eax
    jnz reply
    inc esi
    cmp esi, [sectors]
    jb write_sector
    mov ebp, SPIN_FIRST             ; the last sector is stored
    call wait_ready
    test eax, eax
    jnz reply
    test edx, ATA_ERR
    jnz io_error
    mov dword ptr [kcall + DIO_VALUE], CMD_FLUSH
    mov dword ptr [kcall + DIO_PORT], ATA_COMMAND
    mov dword ptr [kcall + DIO_REQUEST], DIO_OUTPUT | DIO_BYTE
    call devio
    test eax, eax
    jnz io_error
    mov ebp, SPIN_FLUSH
    call wait_ready
    test eax, eax
    jnz reply
    test edx, ATA_ERR | ATA_DRQ
    jnz io_error
transfer_done:
    mov dword ptr [drive_idle], 1
    mov eax, [request + DEV_BYTES]
    jmp reply
bad_request:
    mov eax, EINVAL
    jmp reply
io_error:
    mov eax, EIO

; reply: DEV_REPLY with DEV_RESULT = eax to the requester, by NBSEND, else by ASEND.
reply:
    mov dword ptr [answer + M_TYPE], DEV_REPLY
    mov [answer + DEV_RESULT], eax
    mov eax, [request + DEV_ID]
    mov [answer + DEV_ID], eax
    mov eax, [request + M_SOURCE]
    lea ebx, [answer]
    mov ecx, NBSEND
    int IPC_VEC
    cmp eax, ENOTREADY
    jne main_loop
    call reply_later
    jmp main_loop

; reply_later: put `answer` for the requester in a free entry of the ASEND table (one
; that is empty or done) and hand the table to the kernel.
reply_later:
    lea edi, [replies]
    mov ecx, REPLY_SLOTS
reply_later_find:
    mov eax, [edi + ASEND_FLAGS]
    test eax, AMF_VALID
    jz reply_later_fill
    test eax, AMF_DONE
    jnz reply_later_fill
    add edi, ASEND_ENTRY_SIZE
    dec ecx
    jnz reply_later_find
    ret                             ; no room: the answer is lost
reply_later_fill:
    mov eax, [request + M_SOURCE]
    mov [edi + ASEND_DST], eax
    mov dword ptr [edi + ASEND_RESULT], 0
    xor ecx, ecx
reply_later_copy:
    mov eax, [answer + ecx]
    mov [edi + ASEND_MSG + ecx], eax
    add ecx, 4
    cmp ecx, MSG_SIZE
    jb reply_later_copy
    mov dword ptr [edi + ASEND_FLAGS], AMF_VALID
    mov eax, REPLY_SLOTS
    lea ebx, [replies]
    mov ecx, ASEND
    int IPC_VEC
    ret

; command: the taskfile for `sectors` sectors from DEV_BLOCK and command eax, in one
; VDEVIO.  Out: eax = OK or EIO.
command:
    mov [taskfile + 44], eax
    mov eax, [sectors]
    mov [taskfile + 4], eax
    mov eax, [request + DEV_BLOCK]
    mov [taskfile + 12], al
    shr eax, 8
    mov [taskfile + 20], al
    shr eax, 8
    mov [taskfile + 28], al
    shr eax, 8
    and eax, 0x0F
    or eax, ATA_LBA_MODE
    mov [taskfile + 36], eax
    mov dword ptr [kcall + M_TYPE], SYS_VDEVIO
    mov dword ptr [kcall + VDIO_REQUEST], DIO_OUTPUT | DIO_BYTE
    lea eax, [taskfile]
    mov [kcall + VDIO_VEC_ADDR], eax
    mov dword ptr [kcall + VDIO_VEC_COUNT], 6
    call kernel_call
    test eax, eax
    jz command_done
    mov eax, EIO
command_done:
    ret

; wait_data: wait until the drive holds or wants a sector.  Out: eax = OK or EIO.
wait_data:
    mov ebp, SPIN_FIRST
    call wait_ready
    test eax, eax
    jnz wait_data_done
    test edx, ATA_ERR
    jnz wait_data_eio
    test edx, ATA_DRQ
    jnz wait_data_done
wait_data_eio:
    mov eax, EIO
wait_data_done:
    ret

; wait_ready: poll the status until the drive is not busy, spinning ebp loop turns
; before each poll and doubling the spin up to SPIN_MAX, at most POLL_MAX polls.
; Out: eax = OK and edx = the status, or eax = EIO.  Preserves esi.
wait_ready:
    mov edi, POLL_MAX
wait_ready_spin:
    mov ecx, ebp
wait_ready_turn:
    dec ecx
    jnz wait_ready_turn
    mov dword ptr [kcall + DIO_PORT], ATA_STATUS
    mov dword ptr [kcall + DIO_REQUEST], DIO_INPUT | DIO_BYTE
    call devio
    test eax, eax
    jnz wait_ready_eio
    mov edx, [kcall + DIO_VALUE]
    test edx, ATA_BSY
    jz wait_ready_done
    shl ebp, 1
    cmp ebp, SPIN_MAX
    jbe wait_ready_next
    mov ebp, SPIN_MAX
wait_ready_next:
    dec edi
    jnz wait_ready_spin
wait_ready_eio:
    mov eax, EIO
wait_ready_done:
    ret

; move_sector: SDEVIO (request eax) of sector esi between the data port and the grant.
; Out: eax = OK or the kernel's error.  Preserves esi.
move_sector:
    mov dword ptr [kcall + M_TYPE], SYS_SDEVIO
    mov [kcall + SDIO_REQUEST], eax
    mov dword ptr [kcall + SDIO_PORT], ATA_DATA
    mov eax, [request + M_SOURCE]
    mov [kcall + SDIO_GRANTER], eax
    mov eax, [request + DEV_GRANT]
    mov [kcall + SDIO_GRANT], eax
    mov eax, esi
    shl eax, 9
    mov [kcall + SDIO_OFFSET], eax
    mov dword ptr [kcall + SDIO_COUNT], SECTOR_SIZE
    jmp kernel_call

; probe_grant: check the whole grant of a write of several sectors before the drive is
; touched: copy its last byte (SAFECOPYFROM checks validity, grantee, access and
; bounds).  Out: eax = OK or the kernel's error.
probe_grant:
    mov dword ptr [kcall + M_TYPE], SYS_SAFECOPYFROM
    mov eax, [request + M_SOURCE]
    mov [kcall + SC_GRANTER], eax
    mov eax, [request + DEV_GRANT]
    mov [kcall + SC_GRANT], eax
    mov eax, [request + DEV_BYTES]
    dec eax
    mov [kcall + SC_OFFSET], eax
    mov dword ptr [kcall + SC_SIZE], 1
    lea eax, [probe_byte]
    mov [kcall + SC_ADDR], eax
    jmp kernel_call

; devio: SYS_DEVIO with DIO_REQUEST, DIO_PORT (and DIO_VALUE) already in kcall.
devio:
    mov dword ptr [kcall + M_TYPE], SYS_DEVIO
; kernel_call: SENDREC kcall to SYSTEM.  Out: eax = the IPC error or the call's result.
; Preserves esi, edi, ebp, edx.
kernel_call:
    mov eax, SYSTEM
    lea ebx, [kcall]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz kernel_call_done
    mov eax, [kcall + M_TYPE]
kernel_call_done:
    ret

.data
; (port, value) pairs of the taskfile; command fills the values
taskfile:
    .long ATA_COUNT, 0
    .long ATA_LBA_LOW, 0
    .long ATA_LBA_MID, 0
    .long ATA_LBA_HIGH, 0
    .long ATA_DRIVE, 0
    .long ATA_COMMAND, 0
drive_idle:
    .long 0

.bss
sectors:
    .space 4
probe_byte:
    .space 4
request:
    .space MSG_SIZE
answer:
    .space MSG_SIZE
kcall:
    .space MSG_SIZE
replies:
    .space REPLY_SLOTS * ASEND_ENTRY_SIZE
