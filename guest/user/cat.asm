; cat FILE...: copies each file to the console (/dev/tty), in order.
;
; A file that cannot be opened or read is reported on the console ("cat: FILE: why")
; and the others still go.  Exit status 0 when every file was copied, else 1.

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
next_file:
    mov [name], eax
    mov [rest], edx
    call cat_file
    mov eax, [rest]
    call next_word
    cmp byte ptr [eax], 0
    jne next_file
    mov eax, [status]
    call pm_exit
usage:
    mov eax, [libc_stdout]
    lea edx, [usage_text]
    call print
give_up:
    mov eax, 1
    call pm_exit

; cat_file: copy the file [name] to the console; on an error, say so and set status
cat_file:
    mov eax, [name]
    mov edx, O_RDONLY
    call open
    test eax, eax
    js cat_failed
    mov [fd], eax
cat_next:
    mov eax, [fd]
    lea edx, [buffer]
    mov ecx, STDIO_MAX
    call read
    test eax, eax
    js cat_read_failed
    jz cat_closed
    mov ecx, eax
    mov eax, [libc_stdout]
    lea edx, [buffer]
    call write_all
    test eax, eax
    jns cat_next
cat_read_failed:
    push eax
    mov eax, [fd]
    call close
    pop eax
    jmp cat_failed
cat_closed:
    mov eax, [fd]
    call close
    ret
cat_failed:                         ; eax = the error
    lea edx, [program]
    mov ecx, [name]
    call complain
    mov dword ptr [status], 1
    ret

.data
program:
    .asciz "cat"
usage_text:
    .asciz "usage: cat FILE...\n"

.bss
fd:
    .space 4
rest:
    .space 4
name:
    .space 4
status:
    .space 4
buffer:
    .space STDIO_MAX
