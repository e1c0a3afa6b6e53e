; ps: lists the live processes on the console: slot, endpoint, label, state.
;
; The table comes from the kernel (GETINFO GI_PROCTAB, NR_PROCS PROCINFO entries, slot
; order); the listing is built in memory and written at once.  State: "sendrec" (in a
; SENDREC, its message not yet taken), "sending", "receiving", "ready", else "blocked".
; Exit status 0, or 1 when the table cannot be had.

.include "abi.inc"
.include "libc.inc"

.equ LINE_SLOT_WIDTH, 4
.equ LINE_EP_WIDTH, 9

.text
_start:
    call open_console
    test eax, eax
    js give_up
    lea edi, [kcall]
    xor eax, eax
    mov ecx, MSG_SIZE / 4
    cld
    rep stosd
    mov dword ptr [kcall + M_TYPE], SYS_GETINFO
    mov dword ptr [kcall + GI_REQUEST], GI_PROCTAB
    lea eax, [table]
    mov [kcall + GI_ADDR], eax
    kernel_call kcall
    test eax, eax
    js getinfo_failed
    lea edi, [listing]              ; edi: the end of the listing so far
    lea esi, [header]
    call append
    mov ecx, [kcall + GI_COUNT]
    cmp ecx, NR_PROCS
    jle count_ok
    mov ecx, NR_PROCS
count_ok:
    xor ebx, ebx                    ; slot
next_slot:
    cmp ebx, ecx
    jge listed
    mov ebp, ebx
    imul ebp, ebp, PROCINFO_SIZE
    lea ebp, [table + ebp]
    test dword ptr [ebp + PI_STATE], PS_ALIVE
    jz slot_done
    push ecx
    mov eax, ebx
    mov edx, LINE_SLOT_WIDTH
    call append_number
    mov eax, [ebp + PI_ENDPOINT]
    mov edx, LINE_EP_WIDTH
    call append_number
    mov byte ptr [edi], ' '
    mov byte ptr [edi + 1], ' '
    add edi, 2
    mov byte ptr [ebp + PI_LABEL + LABEL_SIZE - 1], 0
    lea esi, [ebp + PI_LABEL]
    call append
    lea eax, [ebp + PI_LABEL]       ; pad the label to its column
    call strlen
    mov ecx, LABEL_SIZE
    sub ecx, eax
    mov al, ' '
    rep stosb
    mov eax, [ebp + PI_STATE]
    and eax, PS_SENDING | PS_RECEIVING
    lea esi, [state_sendrec]
    cmp eax, PS_SENDING | PS_RECEIVING
    je state_named
    lea esi, [state_sending]
    test eax, PS_SENDING
    jnz state_named
    lea esi, [state_receiving]
    test eax, PS_RECEIVING
    jnz state_named
    lea esi, [state_ready]
    test dword ptr [ebp + PI_STATE], PS_READY
    jnz state_named
    lea esi, [state_blocked]
state_named:
    call append
    mov byte ptr [edi], 10
    inc edi
    pop ecx
slot_done:
    inc ebx
    jmp next_slot
listed:
    mov ecx, edi
    lea edx, [listing]
    sub ecx, edx
    mov eax, [libc_stdout]
    call write_all
    test eax, eax
    js give_up
    xor eax, eax
    call pm_exit
getinfo_failed:
    lea edx, [program]
    lea ecx, [what]
    call complain
give_up:
    mov eax, 1
    call pm_exit

; append: copy the string at esi (without its NUL) to edi, advancing edi
append:
    mov al, [esi]
    test al, al
    jz append_done
    mov [edi], al
    inc esi
    inc edi
    jmp append
append_done:
    ret

; append_number: eax right-aligned in edx columns at edi, advancing edi
append_number:
    push edx
    lea edx, [number]
    call itoa                       ; eax = its length
    pop ecx
    sub ecx, eax
    jle append_number_digits
    push eax
    mov al, ' '
    rep stosb
    pop eax
append_number_digits:
    lea esi, [number]
    jmp append

.data
program:
    .asciz "ps"
what:
    .asciz "GETINFO"
header:
    .asciz "SLOT ENDPOINT  LABEL           STATE\n"
state_sendrec:
    .asciz "sendrec"
state_sending:
    .asciz "sending"
state_receiving:
    .asciz "receiving"
state_ready:
    .asciz "ready"
state_blocked:
    .asciz "blocked"

.bss
kcall:
    .space MSG_SIZE
number:
    .space 16
table:
    .space NR_PROCS * PROCINFO_SIZE
listing:
    .space NR_PROCS * 48 + 64
