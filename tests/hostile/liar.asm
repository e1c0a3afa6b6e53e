; liar: a printer driver that answers the wrong parties (asymmetric trust: "a driver
; that replies to the wrong party").  Its first incarnation takes VFS's first request
; and answers everyone but the requester correctly: the DEV_REPLY by NBSEND (and a
; NOTIFY) to RS, by ASEND to VFS with the DEV_ID of the request + 1 and + 32 (the id
; of the same slot's next request), to DS, PM and init (its policy names none of them:
; ECALLDENIED), then a DEV_REPLY with DEV_ID 0 by SENDREC to VFS, which never answers a
; driver: the liar blocks itself, stops answering heartbeats and RS kills it.  VFS
; answers the user EIO; the next incarnation is the stock printer driver (appended by
; the test).  Policy: the stock printer's, and TIMES.

.text
_start:
    mov dword ptr [evil_msg + M_TYPE], SYS_TIMES
    kernel_call evil_msg
    cmp dword ptr [evil_msg + T_TICKS], 2
    jge stock_start                     ; a restarted incarnation: the stock driver
evil_loop:
    ipc_receive ANY, evil_msg
    test eax, eax
    jnz evil_loop
    cmp dword ptr [evil_msg + M_TYPE], NOTIFY_MESSAGE
    jne evil_request
    cmp dword ptr [evil_msg + M_SOURCE], EP_RS
    jne evil_loop
    ipc_notify EP_RS
    jmp evil_loop
evil_request:
    mov eax, [evil_msg + DEV_ID]
    mov [evil_id], eax
    mov dword ptr [evil_reply + M_TYPE], DEV_REPLY
    mov [evil_reply + DEV_ID], eax
    mov eax, [evil_msg + DEV_BYTES]
    mov [evil_reply + DEV_RESULT], eax
    ipc_nbsend EP_RS, evil_reply        ; the right answer, to the wrong party
    ipc_notify EP_RS
    xor edi, edi                        ; wrong answers to VFS, answers to DS, PM, init
evil_fill:
    imul ebx, edi, ASEND_ENTRY_SIZE
    lea ebx, [evil_table + ebx]
    mov eax, [evil_parties + edi*8]
    mov [ebx + ASEND_DST], eax
    mov eax, [evil_id]
    add eax, [evil_parties + edi*8 + 4]
    mov [ebx + ASEND_MSG + DEV_ID], eax
    mov dword ptr [ebx + ASEND_MSG + M_TYPE], DEV_REPLY
    mov eax, [evil_msg + DEV_BYTES]
    mov [ebx + ASEND_MSG + DEV_RESULT], eax
    mov dword ptr [ebx + ASEND_FLAGS], AMF_VALID
    inc edi
    cmp edi, EVIL_PARTIES
    jb evil_fill
    mov eax, EVIL_PARTIES
    lea ebx, [evil_table]
    mov ecx, ASEND
    int IPC_VEC
    mov dword ptr [evil_reply + DEV_ID], 0
    ipc_sendrec EP_VFS, evil_reply      ; VFS never answers a driver: stuck here
    jmp evil_loop

.data
evil_parties:                           ; (destination, added to the request's DEV_ID)
    .long EP_VFS, 1
    .long EP_VFS, 32
    .long EP_DS, 0
    .long EP_PM, 0
    .long EP_INIT, 0
.equ EVIL_PARTIES, 5

.bss
evil_msg:
    .space MSG_SIZE
evil_reply:
    .space MSG_SIZE
evil_id:
    .space 4
evil_table:
    .space ASEND_ENTRY_SIZE * EVIL_PARTIES
.text
