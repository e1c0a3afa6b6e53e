; mail: a driver that mails a process that is about to die and then keeps mailing its
; old endpoint after the slot is reused (see victim.asm).  It queues for the victim an
; ASEND entry, a NOTIFY and a blocking SEND; the victim dies: the SEND wakes with
; EDEADSRCDST.  Once the successor runs (an alarm later), it SENDs, NOTIFYs and
; ASENDs to the old endpoint again: EDEADSRCDST each time, the ASEND entry is failed
; with EDEADSRCDST when the kernel looks at it again.  Results: `results` (cases.inc)
; and the entry's result `entry_result`.  Policy: a driver with SEND, NOTIFY, ASEND,
; RECEIVE and SENDREC to SYSTEM and victim; TIMES, SETALARM, EXIT; never restarted.

.include "abi.inc"
.include "ipc.inc"

.text
_start:
    mov dword ptr [table + ASEND_FLAGS], AMF_VALID
    mov dword ptr [table + ASEND_DST], EP_VICTIM
    mov dword ptr [table + ASEND_MSG + M_TYPE], 0x4D41494C   ; "MAIL"
    mov dword ptr [letter + M_TYPE], 0x4D41494C
    mov dword ptr [first_row], 0
    mov dword ptr [last_row], 3
    call run_rows                       ; before the victim dies
    mov dword ptr [kmsg + M_TYPE], SYS_SETALARM
    mov dword ptr [kmsg + ALARM_TICKS], 5
    mov dword ptr [kmsg + ALARM_FLAGS], 0
    kernel_call kmsg
    ipc_receive CLOCK, kmsg             ; the successor runs by now
    mov dword ptr [first_row], 3
    mov eax, [ncases]
    mov [last_row], eax
    call run_rows
    mov eax, [table + ASEND_RESULT]
    mov [entry_result], eax
    mov eax, [table + ASEND_FLAGS]
    mov [entry_flags], eax
    mov dword ptr [kmsg + M_TYPE], SYS_EXIT
    mov dword ptr [kmsg + EXIT_STATUS], 0
    kernel_call kmsg
    ud2

; run_rows: the rows first_row .. last_row - 1 of `cases` (cases.inc's layout)
run_rows:
    mov esi, [first_row]
run_rows_next:
    cmp esi, [last_row]
    jge run_rows_done
    mov edi, esi
    shl edi, 4
    mov ecx, [cases + edi]
    mov eax, [cases + edi + 4]
    mov ebx, [cases + edi + 8]
    int IPC_VEC
    mov [results + esi*4], eax
    inc esi
    jmp run_rows_next
run_rows_done:
    ret

.data
ncases:
    .long (cases_end - cases) / 16
cases:
    .long ASEND, 1, table, OK                       ; pending: the victim is not receiving
    .long NOTIFY, EP_VICTIM, 0, OK                  ; a pending bit
    .long SEND, EP_VICTIM, letter, EDEADSRCDST      ; queued; the victim dies under it
    .long SEND, EP_VICTIM, letter, EDEADSRCDST      ; the old endpoint, slot reused
    .long NOTIFY, EP_VICTIM, 0, EDEADSRCDST
    .long SENDREC, EP_VICTIM, letter, EDEADSRCDST
    .long ASEND, 1, table, OK                       ; the entry is failed now
cases_end:

.bss
first_row:
    .space 4
last_row:
    .space 4
letter:
    .space MSG_SIZE
kmsg:
    .space MSG_SIZE
table:
    .space ASEND_ENTRY_SIZE
results:
    .space 4 * 8
entry_result:
    .space 4
entry_flags:
    .space 4
