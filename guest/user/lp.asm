; lp [FILE]: prints a file on the printer (/dev/printer through VFS), or, without an
; argument, the printer's test page.
;
; Errors go to the console ("lp: NAME: why").  Exit status 0 when every byte was
; printed, else 1.

.include "abi.inc"
.include "libc.inc"

.text
_start:
    mov [rest], esi
    call open_console
    test eax, eax
    js give_up
    lea eax, [libc_dev_printer]
    mov edx, O_WRONLY
    call open
    test eax, eax
    js printer_failed
    mov [printer], eax
    mov eax, [rest]
    call next_word
    cmp byte ptr [eax], 0
    je test_page
    mov [name], eax
    cmp byte ptr [edx], 0
    jne usage                       ; one file at a time
    mov edx, O_RDONLY
    call open
    test eax, eax
    js file_failed
    mov [fd], eax
print_next:
    mov eax, [fd]
    lea edx, [buffer]
    mov ecx, STDIO_MAX
    call read
    test eax, eax
    js file_failed
    jz printed
    mov ecx, eax
    mov eax, [printer]
    lea edx, [buffer]
    call write_all
    test eax, eax
    js printer_failed
    jmp print_next
test_page:
    mov eax, [printer]
    lea edx, [page]
    mov ecx, page_end - page
    call write_all
    test eax, eax
    js printer_failed
printed:
    mov eax, [printer]
    call close
    xor eax, eax
    call pm_exit
file_failed:
    mov ecx, [name]
    jmp failed
printer_failed:
    lea ecx, [libc_dev_printer]
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
    .asciz "lp"
usage_text:
    .asciz "usage: lp [FILE]\n"
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
rest:
    .space 4
name:
    .space 4
printer:
    .space 4
fd:
    .space 4
buffer:
    .space STDIO_MAX
