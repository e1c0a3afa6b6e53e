; pm: the process manager, processes for users (docs/OS.md "Servers").
;
; Requests (SENDREC from a user; the reply's M_TYPE is the result or a negative error):
;   PM_SPAWN  PM_LABEL (16 bytes, NUL-terminated), PM_ARGS (NUL-terminated, at most
;             PM_ARGS_MAX bytes) -> the child's endpoint.  Only `user` programs of the
;             image, and not `init`: ENOENT for an unknown label, EPERM for a driver,
;             server or init, EINVAL for a label or argument string without its NUL,
;             EAGAIN when the caller has PM_CHILD_MAX children already (alive, or ended
;             and not yet waited for: one client cannot fill the table) or PM's table
;             (PM_MAX_PROCS children) is full, else SPAWN's error.
;   PM_WAIT   PM_CHILD (a child's endpoint, or ANY) -> when that child has ended:
;             M_TYPE = its exit status (0..255) when it exited, WAIT_FAULTED when it
;             faulted, WAIT_KILLED when someone else killed it; PM_CHILD = the child,
;             M_W1 = how it ended (END_EXIT, END_FAULT, END_KILL), M_W2 = the kernel's
;             raw status.  ESRCH when PM_CHILD is not a child of the caller (or, for ANY,
;             the caller has none).  A child that ended before the wait is answered at
;             once; then its entry is freed.
;   PM_EXIT   PM_STATUS -> no reply: PM kills the caller (KILL) and keeps the status
;             (its low 8 bits) for the parent's PM_WAIT.  EPERM (replied) for a caller
;             that is not a user program.
;   PM_GETPID -> the caller's endpoint.
;   anything else -> EBADREQUEST.
;
; PM never blocks on a user: replies go by NBSEND (a caller in SENDREC is receiving
; from PM; one that is not loses its reply).  PM_WAIT is answered later, when the child
; ends: the kernel notifies PM from SYSTEM when a user program ends, and PM then calls
; GETINFO GI_ENDED until ENOENT.  A parent that ends orphans its children: PM frees
; their entries when they end.  PM learns the programs of the image (label, kind) once,
; at start, with GETINFO GI_PROGRAM.

.include "abi.inc"
.include "ipc.inc"


; A child's entry
.equ C_STATE, 0                 ; FREE, ALIVE or ENDED
.equ C_EP, 4                    ; its endpoint
.equ C_PARENT, 8                ; the endpoint of its parent, NONE when orphaned
.equ C_EXITED, 12               ; 1 when it asked PM_EXIT (status in C_STATUS)
.equ C_STATUS, 16               ; the status PM_WAIT answers (M_TYPE of the reply)
.equ C_HOW, 20                  ; END_* once ended
.equ C_RAW, 24                  ; the kernel's raw status once ended
.equ C_SIZE, 32
.equ FREE, 0
.equ ALIVE, 1
.equ ENDED, 2

; A waiting parent's entry
.equ W_USED, 0
.equ W_EP, 4                    ; the parent, in SENDREC with PM
.equ W_CHILD, 8                 ; the child it waits for, or ANY
.equ W_SIZE, 12

; The image's programs, as learnt at start
.equ P_LABEL, 0                 ; LABEL_SIZE bytes, NUL-padded
.equ P_KIND, 16                 ; KIND_*
.equ P_SIZE, 20
.equ MAX_PROGRAMS, 32

.text
_start:
    call load_programs
main_loop:
    ipc_receive ANY, req
    test eax, eax
    jnz main_loop
    call clear_reply
    mov eax, [req + M_TYPE]
    cmp eax, NOTIFY_MESSAGE
    je got_notification
    cmp eax, PM_SPAWN
    je do_spawn
    cmp eax, PM_WAIT
    je do_wait
    cmp eax, PM_EXIT
    je do_exit
    cmp eax, PM_GETPID
    je do_getpid
    mov eax, EBADREQUEST
; reply: M_TYPE = eax to the requester, by NBSEND; then the next request
reply:
    mov [rep + M_TYPE], eax
    ipc_nbsend [req + M_SOURCE], rep
    jmp main_loop

got_notification:
    cmp dword ptr [req + M_SOURCE], SYSTEM
    jne main_loop
    call reap
    jmp main_loop

do_getpid:
    mov eax, [req + M_SOURCE]
    jmp reply

; ---------------------------------------------------------------------------------------
; PM_SPAWN
do_spawn:
    lea esi, [req + PM_LABEL]
    mov ecx, LABEL_SIZE
    call bounded_len
    cmp eax, 1
    jl spawn_invalid                ; no NUL within the label, or an empty label
    lea esi, [req + PM_ARGS]
    mov ecx, PM_ARGS_MAX + 1
    call bounded_len
    test eax, eax
    js spawn_invalid                ; no NUL within the argument words
    mov [args_len], eax
    call find_program               ; edi = the program's entry
    test edi, edi
    jz spawn_unknown
    cmp dword ptr [edi + P_KIND], KIND_USER
    jne spawn_denied
    lea esi, [edi + P_LABEL]
    lea edx, [init_label]
    call label_equal
    test eax, eax
    jnz spawn_denied                ; init is started by the kernel only
    mov [program], edi
    call count_children
    cmp eax, PM_CHILD_MAX
    jge spawn_full                  ; its share of the table is taken
    call alloc_child                ; ebp = a free entry
    test ebp, ebp
    jz spawn_full
    ; SPAWN the program: its clean label, the argument string copied into PM's memory
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_SPAWN
    mov esi, [program]
    lea edi, [kcall + SPAWN_LABEL]
    mov ecx, LABEL_SIZE
    cld
    rep movsb
    lea esi, [req + PM_ARGS]
    lea edi, [args]
    mov ecx, PM_ARGS_MAX + 1
    rep movsb
    lea eax, [args]
    mov [kcall + SPAWN_ARGS_ADDR], eax
    mov eax, [args_len]
    mov [kcall + SPAWN_ARGS_LEN], eax
    kernel_call kcall
    test eax, eax
    jnz reply                       ; SPAWN's error (or the trap's)
    mov eax, [kcall + SPAWN_ENDPOINT]
    mov dword ptr [ebp + C_STATE], ALIVE
    mov [ebp + C_EP], eax
    mov edx, [req + M_SOURCE]
    mov [ebp + C_PARENT], edx
    mov dword ptr [ebp + C_EXITED], 0
    mov dword ptr [ebp + C_STATUS], 0
    mov dword ptr [ebp + C_HOW], 0
    mov dword ptr [ebp + C_RAW], 0
    jmp reply
spawn_invalid:
    mov eax, EINVAL
    jmp reply
spawn_unknown:
    mov eax, ENOENT
    jmp reply
spawn_denied:
    mov eax, EPERM
    jmp reply
spawn_full:
    mov eax, EAGAIN
    jmp reply

; ---------------------------------------------------------------------------------------
; PM_WAIT
do_wait:
    mov edx, [req + M_SOURCE]
    mov eax, [req + PM_CHILD]
    cmp eax, ANY
    je wait_any
    call find_child                 ; ebp = the live or ended entry of endpoint eax
    test ebp, ebp
    jz wait_no_child
    cmp [ebp + C_PARENT], edx
    jne wait_no_child
    cmp dword ptr [ebp + C_STATE], ENDED
    je wait_answer_now
    jmp wait_later
wait_any:
    xor ebx, ebx                    ; 1 once the caller has a child at all
    lea ebp, [children]
    mov ecx, PM_MAX_PROCS
wait_any_scan:
    cmp dword ptr [ebp + C_STATE], FREE
    je wait_any_next
    cmp [ebp + C_PARENT], edx
    jne wait_any_next
    mov ebx, 1
    cmp dword ptr [ebp + C_STATE], ENDED
    je wait_answer_now
wait_any_next:
    add ebp, C_SIZE
    dec ecx
    jnz wait_any_scan
    test ebx, ebx
    jz wait_no_child
wait_later:
    mov eax, [req + M_SOURCE]
    call drop_waiter                ; a caller waits for one thing at a time
    lea ebx, [waiters]
    mov ecx, PM_MAX_PROCS
wait_slot:
    cmp dword ptr [ebx + W_USED], 0
    je wait_record
    add ebx, W_SIZE
    dec ecx
    jnz wait_slot
    mov eax, EAGAIN                 ; no room to remember the wait
    jmp reply
wait_record:
    mov dword ptr [ebx + W_USED], 1
    mov eax, [req + M_SOURCE]
    mov [ebx + W_EP], eax
    mov eax, [req + PM_CHILD]
    mov [ebx + W_CHILD], eax
    jmp main_loop                   ; answered when the child ends
wait_answer_now:
    mov eax, [req + M_SOURCE]
    call answer_wait
    jmp main_loop
wait_no_child:
    mov eax, ESRCH
    jmp reply

; ---------------------------------------------------------------------------------------
; PM_EXIT
do_exit:
    mov eax, [req + M_SOURCE]
    call find_child
    test ebp, ebp
    jz exit_not_child
    cmp dword ptr [ebp + C_STATE], ALIVE
    jne exit_not_child
    mov eax, [req + PM_STATUS]
    and eax, 0xFF
    mov [ebp + C_STATUS], eax
    mov dword ptr [ebp + C_EXITED], 1
    jmp exit_kill
exit_not_child:                     ; a boot user (init): check that it is a user
    call caller_is_user
    test eax, eax
    jz exit_denied
    xor ebp, ebp
exit_kill:
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_KILL
    mov eax, [req + M_SOURCE]
    mov [kcall + KILL_ENDPOINT], eax
    kernel_call kcall
    test eax, eax
    jz main_loop                    ; gone: no reply
    test ebp, ebp
    jz reply
    mov dword ptr [ebp + C_EXITED], 0
    jmp reply
exit_denied:
    mov eax, EPERM
    jmp reply

; ---------------------------------------------------------------------------------------
; reap: learn every end the kernel has for PM (GETINFO GI_ENDED until it fails)
reap:
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_GETINFO
    mov dword ptr [kcall + GI_REQUEST], GI_ENDED
    lea eax, [pinfo]
    mov [kcall + GI_ADDR], eax
    kernel_call kcall
    test eax, eax
    jnz reap_done
    mov eax, [kcall + GI_END_ENDPOINT]
    mov ecx, [kcall + GI_END_HOW]
    mov edx, [kcall + GI_END_STATUS]
    call process_ended
    jmp reap
reap_done:
    ret

; process_ended: eax = endpoint, ecx = how, edx = raw status.  Drops its wait, orphans
; its children, records its end and answers a waiting parent.
process_ended:
    mov [end_ep], eax
    mov [end_how], ecx
    mov [end_raw], edx
    call drop_waiter
    lea ebp, [children]
    mov ecx, PM_MAX_PROCS
orphan_scan:
    cmp dword ptr [ebp + C_STATE], FREE
    je orphan_next
    mov eax, [end_ep]
    cmp [ebp + C_PARENT], eax
    jne orphan_next
    mov dword ptr [ebp + C_PARENT], NONE
    cmp dword ptr [ebp + C_STATE], ENDED
    jne orphan_next
    mov dword ptr [ebp + C_STATE], FREE    ; nobody will wait for it any more
orphan_next:
    add ebp, C_SIZE
    dec ecx
    jnz orphan_scan
    mov eax, [end_ep]
    call find_child
    test ebp, ebp
    jz ended_done                   ; not ours (init, or a boot user)
    cmp dword ptr [ebp + C_STATE], ALIVE
    jne ended_done
    mov dword ptr [ebp + C_STATE], ENDED
    mov eax, [end_raw]
    mov [ebp + C_RAW], eax
    cmp dword ptr [ebp + C_EXITED], 0
    jne ended_by_pm_exit
    mov ecx, [end_how]
    mov [ebp + C_HOW], ecx
    cmp ecx, END_EXIT
    je ended_exit
    cmp ecx, END_FAULT
    je ended_fault
    mov dword ptr [ebp + C_STATUS], WAIT_KILLED
    jmp ended_recorded
ended_fault:
    mov dword ptr [ebp + C_STATUS], WAIT_FAULTED
    jmp ended_recorded
ended_exit:
    and eax, 0xFF
    mov [ebp + C_STATUS], eax
    jmp ended_recorded
ended_by_pm_exit:
    mov dword ptr [ebp + C_HOW], END_EXIT
ended_recorded:
    mov eax, [ebp + C_PARENT]
    cmp eax, NONE
    je ended_free
    ; a parent waiting for this child, or for ANY of its children
    lea ebx, [waiters]
    mov ecx, PM_MAX_PROCS
waiter_scan:
    cmp dword ptr [ebx + W_USED], 0
    je waiter_next
    cmp [ebx + W_EP], eax
    jne waiter_next
    mov edx, [ebx + W_CHILD]
    cmp edx, ANY
    je waiter_found
    cmp edx, [ebp + C_EP]
    je waiter_found
waiter_next:
    add ebx, W_SIZE
    dec ecx
    jnz waiter_scan
    ret                             ; kept until the parent waits
waiter_found:
    mov dword ptr [ebx + W_USED], 0
    call answer_wait
    ret
ended_free:
    mov dword ptr [ebp + C_STATE], FREE
ended_done:
    ret

; answer_wait: eax = the waiting parent, ebp = its ended child's entry.  Sends the
; child's end by NBSEND and frees the entry.
answer_wait:
    push eax
    call clear_reply
    mov eax, [ebp + C_STATUS]
    mov [rep + M_TYPE], eax
    mov eax, [ebp + C_EP]
    mov [rep + PM_CHILD], eax
    mov eax, [ebp + C_HOW]
    mov [rep + PM_END_HOW], eax
    mov eax, [ebp + C_RAW]
    mov [rep + PM_END_STATUS], eax
    mov dword ptr [ebp + C_STATE], FREE
    pop eax
    ipc_nbsend eax, rep
    ret

; drop_waiter: forget any wait of endpoint eax.  Preserves eax.
drop_waiter:
    lea ebx, [waiters]
    mov ecx, PM_MAX_PROCS
drop_scan:
    cmp [ebx + W_EP], eax
    jne drop_next
    mov dword ptr [ebx + W_USED], 0
drop_next:
    add ebx, W_SIZE
    dec ecx
    jnz drop_scan
    ret

; find_child: ebp = the entry (alive or ended) of endpoint eax, or 0.  Preserves eax, edx.
find_child:
    lea ebp, [children]
    mov ecx, PM_MAX_PROCS
find_child_scan:
    cmp dword ptr [ebp + C_STATE], FREE
    je find_child_next
    cmp [ebp + C_EP], eax
    je find_child_done
find_child_next:
    add ebp, C_SIZE
    dec ecx
    jnz find_child_scan
    xor ebp, ebp
find_child_done:
    ret

; count_children: eax = the entries (alive, or ended and not yet waited for) whose
; parent is the requester.  Clobbers ecx, edx, ebp.
count_children:
    xor eax, eax
    mov edx, [req + M_SOURCE]
    lea ebp, [children]
    mov ecx, PM_MAX_PROCS
count_children_next:
    cmp dword ptr [ebp + C_STATE], FREE
    je count_children_skip
    cmp [ebp + C_PARENT], edx
    jne count_children_skip
    inc eax
count_children_skip:
    add ebp, C_SIZE
    dec ecx
    jnz count_children_next
    ret

; alloc_child: ebp = a free entry, or 0
alloc_child:
    lea ebp, [children]
    mov ecx, PM_MAX_PROCS
alloc_scan:
    cmp dword ptr [ebp + C_STATE], FREE
    je alloc_done
    add ebp, C_SIZE
    dec ecx
    jnz alloc_scan
    xor ebp, ebp
alloc_done:
    ret

; caller_is_user: eax = 1 when the requester is a live user program (GETINFO GI_PROC)
caller_is_user:
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_GETINFO
    mov dword ptr [kcall + GI_REQUEST], GI_PROC
    mov eax, [req + M_SOURCE]
    and eax, ENDPOINT_GEN_MUL - 1
    mov [kcall + GI_WHICH], eax
    lea eax, [pinfo]
    mov [kcall + GI_ADDR], eax
    kernel_call kcall
    test eax, eax
    jnz not_user
    mov eax, [req + M_SOURCE]
    cmp [pinfo + PI_ENDPOINT], eax
    jne not_user
    cmp dword ptr [pinfo + PI_KIND], KIND_USER
    jne not_user
    mov eax, 1
    ret
not_user:
    xor eax, eax
    ret

; ---------------------------------------------------------------------------------------
; The programs of the image

; load_programs: GETINFO GI_PROGRAM for each program of the image, into `programs`
load_programs:
    mov dword ptr [nprograms], 0
    xor esi, esi                    ; program index
load_next:
    call clear_kcall
    mov dword ptr [kcall + M_TYPE], SYS_GETINFO
    mov dword ptr [kcall + GI_REQUEST], GI_PROGRAM
    mov [kcall + GI_WHICH], esi
    lea eax, [pinfo]
    mov [kcall + GI_ADDR], eax
    kernel_call kcall
    test eax, eax
    jnz load_done
    mov eax, esi
    imul eax, eax, P_SIZE
    lea edi, [programs + eax]
    push esi
    lea esi, [pinfo + PI_LABEL]
    mov ecx, LABEL_SIZE
    cld
    rep movsb
    mov byte ptr [edi - 1], 0       ; always NUL-terminated
    pop esi
    mov eax, [pinfo + PI_KIND]
    mov [edi - LABEL_SIZE + P_KIND], eax
    inc esi
    mov [nprograms], esi
    cmp esi, [kcall + GI_COUNT]
    jge load_done
    cmp esi, MAX_PROGRAMS
    jl load_next
load_done:
    ret

; find_program: edi = the entry of the program named by the request's label, or 0
find_program:
    lea edi, [programs]
    mov ebx, [nprograms]
find_program_scan:
    test ebx, ebx
    jz find_program_none
    lea esi, [req + PM_LABEL]
    mov edx, edi
    call label_equal
    test eax, eax
    jnz find_program_done
    add edi, P_SIZE
    dec ebx
    jmp find_program_scan
find_program_none:
    xor edi, edi
find_program_done:
    ret

; label_equal: eax = 1 when the NUL-terminated labels at esi and edx are equal.
; Preserves esi, edi, edx.
label_equal:
    xor ecx, ecx
label_equal_next:
    mov al, [esi + ecx]
    cmp al, [edx + ecx]
    jne label_differ
    test al, al
    jz label_same
    inc ecx
    cmp ecx, LABEL_SIZE
    jl label_equal_next
label_same:
    mov eax, 1
    ret
label_differ:
    xor eax, eax
    ret

; bounded_len: eax = the length of the string at esi if a NUL comes within ecx bytes,
; else -1
bounded_len:
    xor eax, eax
bounded_next:
    cmp eax, ecx
    jge bounded_none
    cmp byte ptr [esi + eax], 0
    je bounded_done
    inc eax
    jmp bounded_next
bounded_none:
    mov eax, -1
bounded_done:
    ret

clear_reply:
    lea edi, [rep]
    jmp clear_msg
clear_kcall:
    lea edi, [kcall]
; clear_msg: zero the message at edi.  Clobbers edi, ecx; preserves eax.
clear_msg:
    push eax
    xor eax, eax
    mov ecx, MSG_SIZE / 4
    cld
    rep stosd
    pop eax
    ret

.data
init_label:
    .asciz "init"

.bss
req:
    .space MSG_SIZE
rep:
    .space MSG_SIZE
kcall:
    .space MSG_SIZE
pinfo:
    .space PROCINFO_SIZE
args:
    .space PM_ARGS_MAX + 1
    .align 4
args_len:
    .space 4
program:
    .space 4
end_ep:
    .space 4
end_how:
    .space 4
end_raw:
    .space 4
nprograms:
    .space 4
programs:
    .space P_SIZE * MAX_PROGRAMS
children:
    .space C_SIZE * PM_MAX_PROCS
waiters:
    .space W_SIZE * PM_MAX_PROCS
