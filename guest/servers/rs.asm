; rs: the reincarnation server.  Takes charge of the drivers of the image: publishes
; them in DS, pings them, and restarts them when they end or hang.
;
; At start: GETINFO GI_PROGRAM i for i = 0.. GI_COUNT - 1 gives every program of the
; image; each driver (KIND_DRIVER) gets an entry in the table below with its label,
; heartbeat period and restart policy, and its live endpoint from GI_PROC (its boot slot
; is its program index).  The program labelled `ds` is the name server: every driver is
; published there (DS_PUBLISH label, endpoint); an image without `ds` publishes nothing.
;
; Heartbeats: a driver with heartbeat h > 0 is pinged (NOTIFY) every h ticks; it answers
; with a NOTIFY.  At each ping time a ping still unanswered counts a missed beat (an
; answer resets the count); at RS_MISSED_BEATS missed beats RS KILLs the driver, which
; ends it like a crash.  So a hung driver is killed at most (RS_MISSED_BEATS + 1) * h
; ticks after its last answer, plus RS's own handling time per ping (SYS_SETALARM
; counts whole ticks from the call; pings keep their period, without drift).  RS must
; run above the drivers' priority, so that a spinning driver cannot delay its pings.
; One alarm is kept for the earliest due ping or delayed restart; none when nothing is
; due.  At most RS_MAX_DRIVERS drivers are in RS's charge (the first ones of the image).
;
; Ends: SYSTEM notifies RS when a process ends; RS calls GETINFO GI_ENDED until ENOENT
; and restarts each ended driver of its table (the endpoint it knows) by its policy:
;   RESTART_ALWAYS   SPAWN at once;
;   RESTART_BACKOFF  SPAWN after a delay of 1, 2, 4... ticks, doubling at each end that
;                    comes less than BACKOFF_STABLE_TICKS after the last start, at most
;                    RS_BACKOFF_MAX_TICKS; the delay goes back to 1 after a stable run;
;   RESTART_NEVER    not again: the driver stays dead (endpoint NONE).
; A SPAWN that fails is retried after the driver's backoff delay (which then doubles).
; Each new endpoint is published in DS (which notifies the subscribers) and counted as
; a restart.  Ends of servers, users and unknown endpoints are taken and ignored.
;
; Requests, by SENDREC; the reply's M_TYPE is the result:
;   RS_STATUS    RS_LABEL -> RS_LABEL, RS_ENDPOINT (NONE while not running),
;                RS_RESTARTS; EINVAL for a bad label, ENOENT for no such driver.
;   anything else: EBADREQUEST.
; RS never blocks on a driver (NOTIFY only) nor on a client (replies by NBSEND, dropped
; when the client does not wait for them); it calls only SYSTEM and DS.
;
; Register convention of the routines below (and of rs_recover.inc, the heartbeats and
; restarts): eax, ebx and ecx are scratch (as in the IPC trap sequences); esi, edi, edx
; and ebp are preserved.

.include "abi.inc"

.equ RS_MAX_DRIVERS, 32
.equ BACKOFF_STABLE_TICKS, HZ   ; a run this long (one virtual second) is not a loop

; a driver's entry in the table
.equ D_LABEL, 0                 ; normalized label
.equ D_ENDPOINT, 16             ; current endpoint, NONE when not running
.equ D_PROGRAM, 20              ; program index in the image
.equ D_HEARTBEAT, 24            ; ping period in ticks, 0 = none
.equ D_RESTART, 28              ; RESTART_*
.equ D_STATE, 32                ; ST_*
.equ D_MISSED, 36               ; consecutive missed beats
.equ D_RESTARTS, 40             ; successful restarts
.equ D_BACKOFF, 44              ; next delay before a restart, in ticks
.equ D_DUE, 48                  ; ST_RUNNING: next ping; ST_WAITING: restart time (ticks)
.equ D_PINGED, 52               ; 1 while a ping is unanswered
.equ D_STARTED, 56              ; time of the last start (ticks)
.equ D_SIZE, 64
.equ ST_RUNNING, 1
.equ ST_WAITING, 2              ; waiting for its (delayed) restart
.equ ST_DEAD, 3                 ; not to be restarted

.text
_start:
    call get_time
    call scan_programs
    call find_ds
    call publish_all
    call schedule_alarm

main_loop:
    mov eax, ANY
    lea ebx, [request]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz main_loop
    mov eax, [request + M_TYPE]
    cmp eax, NOTIFY_MESSAGE
    je notified
    lea edi, [answer]
    call message_clear
    mov eax, [request + M_TYPE]
    cmp eax, RS_STATUS
    jne bad_request
    call do_status
    jmp reply
bad_request:
    mov eax, EBADREQUEST

; Reply to the requester with M_TYPE = eax, by NBSEND; a reply it does not wait for
; (ENOTREADY) is dropped.
reply:
    mov [answer + M_TYPE], eax
    mov eax, [request + M_SOURCE]
    lea ebx, [answer]
    mov ecx, NBSEND
    int IPC_VEC
    jmp main_loop

; A notification: the alarm, a process end, or a driver's heartbeat answer.
notified:
    mov eax, [request + M_SOURCE]
    cmp eax, CLOCK
    je notified_clock
    cmp eax, SYSTEM
    je notified_system
    call find_by_endpoint
    test esi, esi
    jz notified_done
    mov dword ptr [esi + D_PINGED], 0
    jmp notified_done
notified_clock:
    mov dword ptr [alarm_due], 0
    call get_time
    call do_alarm
    jmp notified_done
notified_system:
    call get_time
    call drain_ended
notified_done:
    call schedule_alarm
    jmp main_loop

; -- requests ---------------------------------------------------------------------------

; do_status: RS_STATUS.  Out: eax = result.
do_status:
    lea esi, [request + RS_LABEL]
    lea edi, [label]
    call label_take
    test eax, eax
    jnz status_done
    call find_by_label
    test esi, esi
    jz status_unknown
    lea edi, [answer + RS_LABEL]
    call label_copy
    mov eax, [esi + D_ENDPOINT]
    mov [answer + RS_ENDPOINT], eax
    mov eax, [esi + D_RESTARTS]
    mov [answer + RS_RESTARTS], eax
    xor eax, eax
status_done:
    ret
status_unknown:
    mov eax, ENOENT
    ret

; -- start ------------------------------------------------------------------------------

; scan_programs: a table entry for every driver of the image.
scan_programs:
    push esi
    push edi
    xor esi, esi                    ; program index
scan_next:
    mov dword ptr [kmsg + M_TYPE], SYS_GETINFO
    mov dword ptr [kmsg + GI_REQUEST], GI_PROGRAM
    mov [kmsg + GI_WHICH], esi
    lea eax, [procinfo]
    mov [kmsg + GI_ADDR], eax
    call kernel_call
    test eax, eax
    jnz scan_done
    mov eax, [kmsg + GI_COUNT]      ; the number of programs: the scan's end
    mov [nprograms], eax
    push esi
    lea esi, [procinfo + PI_LABEL]
    lea edi, [label]
    call label_take
    pop esi
    test eax, eax
    jnz scan_skip                   ; a label RS cannot name: not its business
    push esi
    lea esi, [label]
    lea edi, [ds_label]
    call label_equal
    pop esi
    jne scan_kind
    mov [ds_program], esi
scan_kind:
    cmp dword ptr [procinfo + PI_KIND], KIND_DRIVER
    jne scan_skip
    call add_driver
scan_skip:
    inc esi
    cmp esi, [nprograms]
    jl scan_next
scan_done:
    pop edi
    pop esi
    ret

; add_driver: an entry for program esi, whose policy is in `procinfo` and label in
; `label`; its endpoint is that of its boot slot when alive there, else its boot
; endpoint (a driver that ended before RS looked is reported by GI_ENDED).
add_driver:
    push esi
    push edi
    mov eax, [ndrivers]
    cmp eax, RS_MAX_DRIVERS
    jge add_driver_done
    inc dword ptr [ndrivers]
    shl eax, 6                      ; * D_SIZE
    lea edi, [drivers + eax]
    mov [edi + D_PROGRAM], esi
    mov [edi + D_ENDPOINT], esi     ; ENDPOINT(0, slot esi)
    mov eax, [procinfo + PI_HEARTBEAT]
    test eax, eax
    jns add_driver_period
    xor eax, eax
add_driver_period:
    mov [edi + D_HEARTBEAT], eax
    mov eax, [procinfo + PI_RESTART]
    mov [edi + D_RESTART], eax
    mov dword ptr [edi + D_STATE], ST_RUNNING
    mov dword ptr [edi + D_BACKOFF], 1
    mov eax, [now]
    mov [edi + D_STARTED], eax
    add eax, [edi + D_HEARTBEAT]
    mov [edi + D_DUE], eax
    push esi
    lea esi, [label]
    call label_copy
    pop esi
    call proc_of_slot
    test eax, eax
    jnz add_driver_done
    mov eax, [procinfo + PI_ENDPOINT]
    mov [edi + D_ENDPOINT], eax
add_driver_done:
    pop edi
    pop esi
    ret

; proc_of_slot: GETINFO GI_PROC of slot esi into `procinfo`.  Out: eax = OK when a live
; process of program esi is there, else an error.
proc_of_slot:
    mov dword ptr [kmsg + M_TYPE], SYS_GETINFO
    mov dword ptr [kmsg + GI_REQUEST], GI_PROC
    mov [kmsg + GI_WHICH], esi
    lea eax, [procinfo]
    mov [kmsg + GI_ADDR], eax
    call kernel_call
    test eax, eax
    jnz proc_of_slot_done
    test dword ptr [procinfo + PI_STATE], PS_ALIVE
    jz proc_of_slot_gone
    cmp [procinfo + PI_PROGRAM], esi
    jne proc_of_slot_gone
    xor eax, eax
proc_of_slot_done:
    ret
proc_of_slot_gone:
    mov eax, ESRCH
    ret

; find_ds: the endpoint of DS, from its boot slot; NONE when there is no live DS.
find_ds:
    push esi
    mov dword ptr [ds_endpoint], NONE
    mov esi, [ds_program]
    test esi, esi
    js find_ds_done
    call proc_of_slot
    test eax, eax
    jnz find_ds_done
    mov eax, [procinfo + PI_ENDPOINT]
    mov [ds_endpoint], eax
find_ds_done:
    pop esi
    ret

; publish_all: publish every running driver in DS.
publish_all:
    push esi
    push edx
    lea esi, [drivers]
    mov edx, [ndrivers]
publish_all_next:
    test edx, edx
    jz publish_all_done
    cmp dword ptr [esi + D_STATE], ST_RUNNING
    jne publish_all_skip
    call publish
publish_all_skip:
    add esi, D_SIZE
    dec edx
    jmp publish_all_next
publish_all_done:
    pop edx
    pop esi
    ret

; -- helpers ----------------------------------------------------------------------------

; get_time: `now` = the uptime in ticks.  Preserves every register but eax, ebx, ecx.
get_time:
    mov dword ptr [kmsg + M_TYPE], SYS_TIMES
    call kernel_call
    test eax, eax
    jnz get_time_done
    mov eax, [kmsg + T_TICKS]
    mov [now], eax
get_time_done:
    ret

; kernel_call: SENDREC the request in `kmsg` to SYSTEM.  Out: eax = the IPC error, or
; the call's result.
kernel_call:
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz kernel_call_done
    mov eax, [kmsg + M_TYPE]
kernel_call_done:
    ret

; find_by_endpoint: the running entry of endpoint eax.  Out: esi = the entry or 0.
find_by_endpoint:
    push edx
    lea esi, [drivers]
    mov edx, [ndrivers]
find_ep_next:
    test edx, edx
    jz find_ep_none
    cmp dword ptr [esi + D_STATE], ST_RUNNING
    jne find_ep_skip
    cmp [esi + D_ENDPOINT], eax
    je find_ep_done
find_ep_skip:
    add esi, D_SIZE
    dec edx
    jmp find_ep_next
find_ep_none:
    xor esi, esi
find_ep_done:
    pop edx
    ret

; find_by_label: the entry of `label`.  Out: esi = the entry or 0.
find_by_label:
    push edx
    push edi
    lea esi, [drivers]
    lea edi, [label]
    mov edx, [ndrivers]
find_label_next:
    test edx, edx
    jz find_label_none
    call label_equal
    je find_label_done
    add esi, D_SIZE
    dec edx
    jmp find_label_next
find_label_none:
    xor esi, esi
find_label_done:
    pop edi
    pop edx
    ret

.include "rs_recover.inc"
.include "label.inc"

.data
ds_label:
    .ascii "ds"
    .space LABEL_SIZE - 2
ds_program:                     ; program index of DS, -1 when the image has none
    .long -1
ds_endpoint:
    .long NONE
no_args:
    .byte 0

.bss
now:                            ; virtual time in ticks (SYS_TIMES, at each event)
    .space 4
alarm_oneshot:                  ; 1 when the alarm is for a restart, not only pings
    .space 4
alarm_due:                      ; the time the alarm is set for, 0 when none
    .space 4
ndrivers:
    .space 4
nprograms:                      ; programs of the image (GI_COUNT)
    .space 4
request:
    .space MSG_SIZE
answer:
    .space MSG_SIZE
kmsg:                           ; kernel calls
    .space MSG_SIZE
dsmsg:                          ; requests to DS
    .space MSG_SIZE
procinfo:
    .space PROCINFO_SIZE
label:
    .space LABEL_SIZE
drivers:
    .space RS_MAX_DRIVERS * D_SIZE
