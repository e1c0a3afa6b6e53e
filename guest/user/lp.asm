; lp: prints a fixed test page on the printer through the printer driver, then exits.
;
; The page goes in chunks of at most DEV_INLINE_MAX bytes, one DEV_WRITE by SENDREC per
; chunk.  The exit status is 0 when the driver printed every byte, else 1.

.include "abi.inc"

.text
_start:
    lea esi, [page]
    mov edx, page_end - page        ; bytes left
next_chunk:
    test edx, edx
    jz all_printed
    mov ecx, edx
    cmp ecx, DEV_INLINE_MAX
    jle chunk_ready
    mov ecx, DEV_INLINE_MAX
chunk_ready:
    mov [chunk], ecx
    sub edx, ecx
    mov [left], edx
    mov dword ptr [msg + M_TYPE], DEV_WRITE
    mov [msg + DEV_COUNT], ecx
    lea edi, [msg + DEV_DATA]
    cld
    rep movsb                       ; esi moves on to the next chunk
    mov eax, EP_PRINTER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz failed
    mov eax, [msg + M_TYPE]
    cmp eax, [chunk]
    jne failed
    mov edx, [left]
    jmp next_chunk
all_printed:
    xor edx, edx
    jmp exit
failed:
    mov edx, 1
exit:
    mov dword ptr [msg + M_TYPE], SYS_EXIT
    mov [msg + EXIT_STATUS], edx
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    ud2                             ; never reached: EXIT does not return

.data
page:
    .ascii "minix-emu printer test page\n"
    .ascii "===========================\n"
    .ascii "The quick brown fox jumps over the lazy dog.\n"
    .ascii "0123456789 !#$%&()*+,-./:;<=>?@[]^_{|}~\n"
    .ascii "Printed by lp through the printer driver at port 0xAB.\n"
    .ascii "-- end of page --\n"
    .byte 12                        ; form feed
page_end:

.bss
chunk:
    .space 4
left:
    .space 4
msg:
    .space MSG_SIZE
