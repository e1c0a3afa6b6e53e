; flood: a driver that floods the IPC subsystem (the seed's "memory exhaustion").  In
; each of ROUNDS rounds it NOTIFYs RS and itself, NBSENDs and SENDs garbage to DS, asks
; for an ASEND table of 0xFFFFFFFF entries, makes a kernel call with a new unknown call
; number, calls a stale endpoint and a bad primitive; every 16th round it also SENDs
; garbage to PM, ASENDs a full table (ASEND_MAX entries: to itself, to DS, to a dead
; endpoint, some with unknown flags or AMF_NOTIFY) and receives its own entries into the
; table itself.  No trap may make the kernel keep anything per message: a blocked
; sender keeps its one message, a notification is a bit, an ASEND table stays in the
; sender's memory.  A SYS_TIMES call marks the start, the end of the warm-up (WARMUP
; rounds) and the end of the flood, for the test to measure the kernel's memory.
; Policy: a driver that may use every primitive with SYSTEM, rs, ds, pm and itself;
; TIMES and EXIT.  Ends with EXIT 0.

.include "abi.inc"
.include "ipc.inc"

.equ ROUNDS, 13000                       ; about 8 traps a round: over 100,000
.equ WARMUP, 300                        ; every bad primitive number seen once
.equ TABLE_EVERY, 15                    ; rounds & TABLE_EVERY == 0: the table too
.equ STALE, ENDPOINT_GEN_MUL + EP_RS
.equ SELF_ENTRIES, 32
.equ DS_ENTRIES, 16

.text
_start:
    call mark                               ; start
round:
    cmp dword ptr [rounds], WARMUP
    jne round_go
    call mark                               ; warm-up done
round_go:
    inc dword ptr [rounds]
    mov eax, [rounds]
    add eax, 0x8000
    mov [junk + M_TYPE], eax                ; an unknown request type
    ipc_notify EP_RS
    ipc_notify EP_FLOOD
    ipc_nbsend EP_DS, junk
    ipc_send EP_DS, junk
    test dword ptr [rounds], TABLE_EVERY
    jnz round_light
    ipc_send EP_PM, junk
    call fill_table
    mov eax, ASEND_MAX
    lea ebx, [table]
    mov ecx, ASEND
    int IPC_VEC
    mov eax, ANY                            ; its own entries, into the table itself
    lea ebx, [table]
    mov ecx, RECEIVE | NONBLOCK
    int IPC_VEC
round_light:
    mov eax, 0xFFFFFFFF
    lea ebx, [table]
    mov ecx, ASEND
    int IPC_VEC
    mov eax, [rounds]                       ; a new unknown kernel call each round
    add eax, 0x10000
    mov [kmsg + M_TYPE], eax
    ipc_sendrec SYSTEM, kmsg
    ipc_sendrec STALE, junk
    mov ecx, [rounds]
    and ecx, 0xFF
    or ecx, 0x400
    mov eax, EP_DS
    lea ebx, [junk]
    int IPC_VEC
    cmp dword ptr [rounds], ROUNDS
    jl round
    call mark                               ; flood done
    mov dword ptr [kmsg + M_TYPE], SYS_EXIT
    mov dword ptr [kmsg + EXIT_STATUS], 0
    ipc_sendrec SYSTEM, kmsg
    ud2

; fill_table: every entry valid again (the kernel marked them done), with garbage
fill_table:
    xor edi, edi
fill_next:
    imul ebx, edi, ASEND_ENTRY_SIZE
    lea ebx, [table + ebx]
    mov dword ptr [ebx + ASEND_FLAGS], AMF_VALID
    mov dword ptr [ebx + ASEND_DST], EP_FLOOD
    cmp edi, SELF_ENTRIES
    jb fill_type
    mov dword ptr [ebx + ASEND_DST], EP_DS
    cmp edi, SELF_ENTRIES + DS_ENTRIES
    jb fill_type
    mov dword ptr [ebx + ASEND_DST], STALE
    test edi, 1
    jz fill_type
    mov dword ptr [ebx + ASEND_FLAGS], AMF_VALID | AMF_NOTIFY | 0x40   ; unknown flag
fill_type:
    mov eax, [rounds]
    mov [ebx + ASEND_MSG + M_TYPE], eax
    inc edi
    cmp edi, ASEND_MAX
    jb fill_next
    ret

; mark: a SYS_TIMES, the test's checkpoint
mark:
    mov dword ptr [kmsg + M_TYPE], SYS_TIMES
    ipc_sendrec SYSTEM, kmsg
    ret

.bss
rounds:
    .space 4
junk:
    .space MSG_SIZE
kmsg:
    .space MSG_SIZE
table:
    .space ASEND_ENTRY_SIZE * ASEND_MAX
