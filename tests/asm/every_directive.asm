; A program that uses every directive and section of the guest assembler.
.include "abi.inc"
.include "defs.inc"

.equ MASK, (1 << 4) | 3 & ~1       # 0x12
.set LIMIT, BUF_BYTES - 1
.set LIMIT, LIMIT + 1              # .set may redefine

.text
.global _start
.globl helper
_start:
    mov eax, SYSTEM
    mov ebx, msg
    mov ecx, [msg + 4]
    push SYSTEM
    ipc_call EP_PRINTER
    spin 3
    call helper
    jmp done
helper: mov al, 'a'
    ret
    .rept 2
    inc edx
    .endr
    .byte 0x90
    .align 8
done:
    mov dword ptr [counter], LIMIT
    jmp _start

.data
msg:    .long 1, 2, msg + 4, MASK
        .word 0x1234, -1
        .short 7
        .int -2
        .byte 'x', '\n', 0
        .ascii "ab", "c"
        .asciz "a;b#c"
        .string "q\"\t\\"
        .balign 4
table:  .skip 3, 0xAA
        .zero 2
        .space 1

.bss
counter: .space 4
        .align 16
buffer: .skip BUF_BYTES
