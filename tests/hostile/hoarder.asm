; hoarder: a boot process that subscribes in DS to as many labels as DS lets it, before
; VFS (a driver runs above the servers), and lives forever (the seed's "denial of
; service", on DS's table of subscriptions).  Were it to take the whole table, VFS
; could not subscribe to the drivers' labels and would never follow a restarted driver
; to its new endpoint.  DS gives one subscriber DS_SUB_MAX subscriptions (ENOMEM
; after).  `results` holds each answer.  Policy: a driver that may call ds.

.include "abi.inc"
.include "ipc.inc"

.equ TRIES, 20

.text
_start:
    xor esi, esi
subscribe_next:
    lea edi, [msg]
    xor eax, eax
    mov ecx, MSG_SIZE / 4
    cld
    rep stosd
    mov dword ptr [msg + M_TYPE], DS_SUBSCRIBE
    lea eax, [esi + 0x41]                               ; labels "A", "B", ...
    mov [msg + DS_LABEL], eax
    ipc_sendrec EP_DS, msg
    test eax, eax
    jnz subscribe_store
    mov eax, [msg + M_TYPE]
subscribe_store:
    mov [results + esi*4], eax
    inc esi
    cmp esi, TRIES
    jb subscribe_next
forever:
    ipc_receive CLOCK, msg                              ; no alarm: never
    jmp forever

.bss
msg:
    .space MSG_SIZE
results:
    .space 4 * TRIES
