; ds: the data store (name server).  Maps labels to endpoints, for drivers that RS
; restarts with new endpoints, and tells subscribers when a label changes.
;
; Requests (kernel/protocols.py), by SENDREC; the reply's M_TYPE is the result:
;   DS_PUBLISH   DS_LABEL, DS_ENDPOINT: set the label's endpoint.  From RS (EP_RS)
;                only, else EPERM; EINVAL for a bad label; ENOMEM when all
;                DS_MAX_ENTRIES are taken.  Every subscription of the label is marked
;                changed and its subscriber gets a NOTIFY.
;   DS_LOOKUP    DS_LABEL -> DS_LABEL, DS_ENDPOINT; ENOENT for an unknown label.
;   DS_SUBSCRIBE DS_LABEL: notify the caller at every publication of the label.  At most
;                DS_SUB_MAX subscriptions per subscriber (so that one client cannot take
;                the table from the others: ENOMEM) and DS_MAX_SUBSCRIBERS in all
;                (ENOMEM); subscribing twice to the same label is one subscription.
;                Subscribing marks nothing: the subscriber looks up the current value
;                itself.
;   DS_CHECK     -> DS_LABEL, DS_ENDPOINT of one changed label the caller subscribed to
;                and has not checked since its last publication (the first in table
;                order); ENOENT when none is left.
;   anything else: EBADREQUEST.  Notifications to DS are ignored.
; A label is valid when non-empty and NUL-terminated within LABEL_SIZE bytes.
;
; DS never blocks on anyone: it receives from ANY, replies by NBSEND (a caller in
; SENDREC is receiving; a reply to a caller that is not is dropped) and tells
; subscribers by NOTIFY.  A subscriber found dead (EDEADSRCDST) loses its subscriptions.
; Replies carry nothing of other requests: the reply buffer is cleared for each one.

.include "abi.inc"

.equ ENTRY_LABEL, 0             ; an entry of the table: the label (normalized)
.equ ENTRY_ENDPOINT, 16         ; its endpoint
.equ ENTRY_USED, 20             ; 1 when the entry holds a label
.equ ENTRY_SIZE, 32
.equ SUB_LABEL, 0               ; a subscription: the label (normalized)
.equ SUB_ENDPOINT, 16           ; the subscriber
.equ SUB_USED, 20               ; 1 when the subscription is live
.equ SUB_CHANGED, 24            ; 1 when published since the subscriber's last DS_CHECK
.equ SUB_SIZE, 32

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
    je main_loop
    lea edi, [answer]
    call message_clear
    mov eax, [request + M_TYPE]
    cmp eax, DS_PUBLISH
    je dispatch_publish
    cmp eax, DS_LOOKUP
    je dispatch_lookup
    cmp eax, DS_SUBSCRIBE
    je dispatch_subscribe
    cmp eax, DS_CHECK
    je dispatch_check
    mov eax, EBADREQUEST
    jmp reply
dispatch_publish:
    call do_publish
    jmp reply
dispatch_lookup:
    call do_lookup
    jmp reply
dispatch_subscribe:
    call do_subscribe
    jmp reply
dispatch_check:
    call do_check

; Reply to the requester with M_TYPE = eax, by NBSEND; a reply it does not wait for
; (ENOTREADY) is dropped.
reply:
    mov [answer + M_TYPE], eax
    mov eax, [request + M_SOURCE]
    lea ebx, [answer]
    mov ecx, NBSEND
    int IPC_VEC
    jmp main_loop

; do_publish: RS sets a label's endpoint.  Out: eax = result.
do_publish:
    cmp dword ptr [request + M_SOURCE], EP_RS
    jne publish_denied
    call take_request_label
    test eax, eax
    jnz publish_done
    call find_entry
    test ebx, ebx
    jnz publish_set
    mov ebx, [free_entry]
    test ebx, ebx
    jz publish_full
    lea esi, [label]
    mov edi, ebx
    call label_copy
    mov dword ptr [ebx + ENTRY_USED], 1
publish_set:
    mov eax, [request + DS_ENDPOINT]
    mov [ebx + ENTRY_ENDPOINT], eax
    call answer_entry
    call notify_subscribers
    xor eax, eax
publish_done:
    ret
publish_denied:
    mov eax, EPERM
    ret
publish_full:
    mov eax, ENOMEM
    ret

; do_lookup: the endpoint of a label.  Out: eax = result.
do_lookup:
    call take_request_label
    test eax, eax
    jnz lookup_done
    call find_entry
    test ebx, ebx
    jz lookup_unknown
    call answer_entry
    xor eax, eax
lookup_done:
    ret
lookup_unknown:
    mov eax, ENOENT
    ret

; do_subscribe: the caller wants a NOTIFY at every publication of a label.
; Out: eax = result.
do_subscribe:
    call take_request_label
    test eax, eax
    jnz subscribe_done
    mov edx, [request + M_SOURCE]
    lea esi, [subs]
    xor ebx, ebx                    ; the first free subscription, 0 when none
    mov dword ptr [sub_count], 0    ; the caller's subscriptions
    mov ecx, DS_MAX_SUBSCRIBERS
subscribe_scan:
    cmp dword ptr [esi + SUB_USED], 0
    je subscribe_free
    cmp [esi + SUB_ENDPOINT], edx
    jne subscribe_next
    inc dword ptr [sub_count]
    lea edi, [label]
    call label_equal
    je subscribe_ok                 ; already subscribed
    jmp subscribe_next
subscribe_free:
    test ebx, ebx
    jnz subscribe_next
    mov ebx, esi
subscribe_next:
    add esi, SUB_SIZE
    dec ecx
    jnz subscribe_scan
    cmp dword ptr [sub_count], DS_SUB_MAX
    jge subscribe_full              ; its share of the table is taken
    test ebx, ebx
    jz subscribe_full
    lea esi, [label]
    mov edi, ebx
    call label_copy
    mov [ebx + SUB_ENDPOINT], edx
    mov dword ptr [ebx + SUB_CHANGED], 0
    mov dword ptr [ebx + SUB_USED], 1
subscribe_ok:
    xor eax, eax
subscribe_done:
    ret
subscribe_full:
    mov eax, ENOMEM
    ret

; do_check: one changed label of the caller's subscriptions, marked seen.
; Out: eax = result.
do_check:
    mov edx, [request + M_SOURCE]
    lea esi, [subs]
    mov ecx, DS_MAX_SUBSCRIBERS
check_scan:
    cmp dword ptr [esi + SUB_USED], 0
    je check_next
    cmp [esi + SUB_ENDPOINT], edx
    jne check_next
    cmp dword ptr [esi + SUB_CHANGED], 0
    jne check_found
check_next:
    add esi, SUB_SIZE
    dec ecx
    jnz check_scan
    mov eax, ENOENT
    ret
check_found:
    mov dword ptr [esi + SUB_CHANGED], 0
    lea edi, [label]
    call label_copy
    call find_entry
    test ebx, ebx
    jz check_vanished               ; cannot happen: a change is a publication
    call answer_entry
    xor eax, eax
    ret
check_vanished:
    mov eax, ENOENT
    ret

; take_request_label: validate the request's DS_LABEL into `label`.  Out: eax = result.
take_request_label:
    lea esi, [request + DS_LABEL]
    lea edi, [label]
    jmp label_take

; find_entry: the entry of `label`.  Out: ebx = the entry or 0; `free_entry` = the first
; free entry or 0.  Clobbers eax, ecx, esi, edi.
find_entry:
    mov dword ptr [free_entry], 0
    lea esi, [label]
    lea edi, [entries]
    mov ecx, DS_MAX_ENTRIES
find_entry_scan:
    cmp dword ptr [edi + ENTRY_USED], 0
    je find_entry_free
    call label_equal
    je find_entry_found
    jmp find_entry_next
find_entry_free:
    cmp dword ptr [free_entry], 0
    jne find_entry_next
    mov [free_entry], edi
find_entry_next:
    add edi, ENTRY_SIZE
    dec ecx
    jnz find_entry_scan
    xor ebx, ebx
    ret
find_entry_found:
    mov ebx, edi
    ret

; answer_entry: put entry ebx's label and endpoint in the reply.  Clobbers eax, esi, edi.
answer_entry:
    lea esi, [ebx + ENTRY_LABEL]
    lea edi, [answer + DS_LABEL]
    call label_copy
    mov eax, [ebx + ENTRY_ENDPOINT]
    mov [answer + DS_ENDPOINT], eax
    ret

; notify_subscribers: mark every subscription of `label` changed and NOTIFY its
; subscriber; a subscriber found dead loses the subscription.  Clobbers eax, ebx, ecx,
; edx, esi, edi.
notify_subscribers:
    lea esi, [subs]
    lea edi, [label]
    mov edx, DS_MAX_SUBSCRIBERS
notify_scan:
    cmp dword ptr [esi + SUB_USED], 0
    je notify_next
    call label_equal
    jne notify_next
    mov dword ptr [esi + SUB_CHANGED], 1
    mov eax, [esi + SUB_ENDPOINT]
    mov ecx, NOTIFY
    int IPC_VEC
    cmp eax, EDEADSRCDST
    jne notify_next
    mov dword ptr [esi + SUB_USED], 0
notify_next:
    add esi, SUB_SIZE
    dec edx
    jnz notify_scan
    ret

.include "label.inc"

.bss
request:
    .space MSG_SIZE
answer:
    .space MSG_SIZE
label:                          ; the request's label, normalized
    .space LABEL_SIZE
free_entry:
    .space 4
sub_count:
    .space 4
entries:
    .space DS_MAX_ENTRIES * ENTRY_SIZE
subs:
    .space DS_MAX_SUBSCRIBERS * SUB_SIZE
