; cp SRC DST: copies the file SRC to DST (created, or truncated).
;
; Errors go to the console ("cp: NAME: why").  Exit status 0 when every byte was
; copied, else 1.

.include "abi.inc"
.include "libc.inc"

.text
_start:
    mov [rest], esi
    call open_console
    test eax, eax
    js give_up
    mov eax, [rest]
    call next_word
    cmp byte ptr [eax], 0
    je usage
    mov [src], eax
    mov eax, edx
    call next_word
    cmp byte ptr [eax], 0
    je usage
    mov [dst], eax
    cmp byte ptr [edx], 0
    jne usage                       ; a third word
    mov eax, [src]
    mov edx, O_RDONLY
    call open
    test eax, eax
    js src_failed
    mov [in_fd], eax
    mov eax, [dst]
    mov edx, O_WRONLY | O_CREAT | O_TRUNC
    call open
    test eax, eax
    js dst_failed
    mov [out_fd], eax
copy_next:
    mov eax, [in_fd]
    lea edx, [buffer]
    mov ecx, STDIO_MAX
    call read
    test eax, eax
    js src_failed
    jz copied
    mov ecx, eax
    mov eax, [out_fd]
    lea edx, [buffer]
    call write_all
    test eax, eax
    js dst_failed
    jmp copy_next
copied:
    mov eax, [out_fd]
    call close
    test eax, eax
    js dst_failed
    mov eax, [in_fd]
    call close
    xor eax, eax
    call pm_exit
src_failed:
    mov ecx, [src]
    jmp failed
dst_failed:
    mov ecx, [dst]
failed:
    lea edx, [program]
    call complain
    jmp give_up
usage:
    mov eax, [libc_stdout]
    lea edx, [usage_text]
    call print
give_up:
    mov eax, 1
    call pm_exit

.data
program:
    .asciz "cp"
usage_text:
    .asciz "usage: cp SRC DST\n"

.bss
rest:
    .space 4
src:
    .space 4
dst:
    .space 4
in_fd:
    .space 4
out_fd:
    .space 4
buffer:
    .space STDIO_MAX
