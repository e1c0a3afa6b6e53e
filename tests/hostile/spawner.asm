; spawner: a client that asks PM for children and never waits for them (the seed's
; "denial of service", on a server's table instead of its time): TRIES PM_SPAWNs of
; `hello`, which exits at once, so each child stays in PM's table (ended, not waited
; for) as long as its parent lives, and the spawner lives forever.  PM gives one parent
; PM_CHILD_MAX children at most (EAGAIN after), so init's shell can still run its
; programs.  `results` holds each answer (the child's endpoint or the error).  Policy:
; a boot process (a driver) that may call pm.

.include "abi.inc"
.include "ipc.inc"

.equ TRIES, 40

.text
_start:
    xor esi, esi
spawn_next:
    lea edi, [msg]
    xor eax, eax
    mov ecx, MSG_SIZE / 4
    cld
    rep stosd
    mov dword ptr [msg + M_TYPE], PM_SPAWN
    mov dword ptr [msg + PM_LABEL], 0x6c6c6568          ; "hello"
    mov dword ptr [msg + PM_LABEL + 4], 0x6f
    ipc_sendrec EP_PM, msg
    test eax, eax
    jnz spawn_store
    mov eax, [msg + M_TYPE]
spawn_store:
    mov [results + esi*4], eax
    inc esi
    cmp esi, TRIES
    jb spawn_next
forever:
    ipc_receive CLOCK, msg                              ; no alarm: never
    jmp forever

.bss
msg:
    .space MSG_SIZE
results:
    .space 4 * TRIES
