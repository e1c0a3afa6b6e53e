; hello: greets on the console (/dev/tty through VFS), then exits.
;
; Exit status 0 when the whole greeting was written, else 1.

.include "abi.inc"
.include "libc.inc"

.text
_start:
    lea eax, [libc_dev_tty]
    mov edx, O_WRONLY
    call open
    test eax, eax
    js failed
    mov ebx, eax
    lea edx, [greeting]
    call print
    cmp eax, greeting_end - greeting - 1
    jne failed
    mov eax, ebx
    call close
    xor eax, eax
    call pm_exit
failed:
    mov eax, 1
    call pm_exit

.data
greeting:
    .asciz "Hello from minix-emu!\n"
greeting_end:
