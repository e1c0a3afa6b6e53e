; workload N: N rounds of file and printer work, for fault-injection campaigns.
;
; Each round r writes a file (wl0..wl3 in turn, FILE_BYTES of text that depend on r),
; reads it back and compares, then prints one line on the printer ("workload round r:
; ok", or "FAILED").  Every operation is retried on EIO (a driver being restarted
; under it: VFS answers EIO for a character request the old driver had taken), up to
; MAX_TRIES times with a growing pause.  Errors and mismatches are reported on the
; console; at the end one line sums it up:
;   workload: N rounds, E errors, T retries
; Exit status 0 when E is 0, else 1.

.include "abi.inc"
.include "libc.inc"

.equ FILE_BYTES, 1000
.equ BACK_MAX, 2048
.equ MAX_TRIES, 10
.equ PAUSE_LOOPS, 20000         ; busy-wait turns per try already made

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
    call parse_uint
    test eax, eax
    jle usage
    mov [rounds], eax
    lea ebx, [op_open_printer]
    call retrying
    test eax, eax
    js printer_failed
    mov [printer], eax
    mov dword ptr [round], 1
next_round:
    mov eax, [round]
    cmp eax, [rounds]
    jg finished
    call do_round
    inc dword ptr [round]
    jmp next_round
finished:
    call summary
    xor eax, eax
    cmp dword ptr [errors], 0
    je exit
    mov eax, 1
exit:
    call pm_exit
printer_failed:
    lea edx, [program]
    lea ecx, [libc_dev_printer]
    call complain
    jmp give_up
usage:
    mov eax, [libc_stdout]
    lea edx, [usage_text]
    call print
give_up:
    mov eax, 1
    call pm_exit

; do_round: one round: the file, then the printer line
do_round:
    mov dword ptr [round_ok], 1
    mov eax, [round]
    and eax, 3
    add al, '0'
    mov [file_name + 2], al
    call make_data
    lea ebx, [op_create]
    call retrying
    test eax, eax
    js round_error
    mov [fd], eax
    lea ebx, [op_write]
    call retrying
    push eax
    lea ebx, [op_close]
    call retrying
    pop eax
    test eax, eax
    js round_error
    cmp eax, FILE_BYTES
    jne round_short
    lea ebx, [op_open]
    call retrying
    test eax, eax
    js round_error
    mov [fd], eax
    mov dword ptr [got], 0
read_more:
    lea ebx, [op_read]
    call retrying
    test eax, eax
    js read_error
    jz read_done
    add [got], eax
    cmp dword ptr [got], BACK_MAX
    jl read_more
read_done:
    lea ebx, [op_close]
    call retrying
    cmp dword ptr [got], FILE_BYTES
    jne round_differs
    lea eax, [data]
    lea edx, [back]
    mov ecx, FILE_BYTES
    call memcmp
    test eax, eax
    jnz round_differs
    jmp round_print
read_error:
    push eax
    lea ebx, [op_close]
    call retrying
    pop eax
round_error:                        ; eax = the error
    lea edx, [program]
    lea ecx, [file_name]
    call complain
    jmp round_failed
round_short:
round_differs:
    mov eax, [libc_stdout]
    lea edx, [differs_text]
    call print
    mov eax, [libc_stdout]
    lea edx, [file_name]
    call print
    mov eax, [libc_stdout]
    lea edx, [libc_newline]
    call print
round_failed:
    inc dword ptr [errors]
    mov dword ptr [round_ok], 0
round_print:                        ; "workload round r: ok" on the printer
    lea edi, [line]
    lea esi, [round_text]
    call append
    mov eax, [round]
    mov edx, edi
    call itoa
    add edi, eax
    lea esi, [ok_text]
    cmp dword ptr [round_ok], 0
    jne round_print_status
    lea esi, [failed_text]
round_print_status:
    call append
    lea eax, [line]
    sub edi, eax
    mov [line_len], edi
    lea ebx, [op_print_line]
    call retrying
    test eax, eax
    jns round_done
    lea edx, [program]
    lea ecx, [libc_dev_printer]
    call complain
    inc dword ptr [errors]
round_done:
    ret

; make_data: FILE_BYTES of text for this round: letters from 'a' + round, a newline
; every 64 bytes
make_data:
    mov eax, [round]
    xor edx, edx
    mov ecx, 26
    div ecx                         ; edx = round mod 26
    xor ecx, ecx
make_data_next:
    cmp ecx, FILE_BYTES
    jge make_data_done
    mov al, dl
    add al, 'a'
    mov [data + ecx], al
    inc edx
    cmp edx, 26
    jl make_data_letter
    xor edx, edx
make_data_letter:
    mov eax, ecx
    and eax, 63
    cmp eax, 63
    jne make_data_kept
    mov byte ptr [data + ecx], 10
make_data_kept:
    inc ecx
    jmp make_data_next
make_data_done:
    ret

; retrying: call the operation at ebx until it answers anything but EIO, at most
; MAX_TRIES times, pausing longer after each failure -> its last result
retrying:
    push esi
    xor esi, esi                    ; tries made
retry_again:
    call ebx
    cmp eax, EIO
    jne retry_done
    inc esi
    cmp esi, MAX_TRIES
    jge retry_done
    inc dword ptr [retries]
    mov ecx, esi
    imul ecx, ecx, PAUSE_LOOPS
retry_pause:
    dec ecx
    jnz retry_pause
    jmp retry_again
retry_done:
    pop esi
    ret

; The operations: no arguments but the globals; eax = the result
op_open_printer:
    lea eax, [libc_dev_printer]
    mov edx, O_WRONLY
    jmp open
op_create:
    lea eax, [file_name]
    mov edx, O_WRONLY | O_CREAT | O_TRUNC
    jmp open
op_open:
    lea eax, [file_name]
    mov edx, O_RDONLY
    jmp open
op_write:
    mov eax, [fd]
    lea edx, [data]
    mov ecx, FILE_BYTES
    jmp write_all
op_read:
    mov eax, [fd]
    lea edx, [back]
    add edx, [got]
    mov ecx, BACK_MAX
    sub ecx, [got]
    jmp read
op_close:
    mov eax, [fd]
    jmp close
op_print_line:
    mov eax, [printer]
    lea edx, [line]
    mov ecx, [line_len]
    jmp write_all

; summary: "workload: N rounds, E errors, T retries" on the console
summary:
    lea edi, [line]
    lea esi, [summary_text]
    call append
    mov eax, [rounds]
    call append_number
    lea esi, [rounds_text]
    call append
    mov eax, [errors]
    call append_number
    lea esi, [errors_text]
    call append
    mov eax, [retries]
    call append_number
    lea esi, [retries_text]
    call append
    mov ecx, edi
    lea edx, [line]
    sub ecx, edx
    mov eax, [libc_stdout]
    jmp write_all

; append: copy the string at esi (without its NUL) to edi, advancing edi
append:
    mov al, [esi]
    test al, al
    jz append_done
    mov [edi], al
    inc esi
    inc edi
    jmp append
append_done:
    ret

; append_number: eax in decimal at edi, advancing edi
append_number:
    mov edx, edi
    call itoa
    add edi, eax
    ret

.data
program:
    .asciz "workload"
usage_text:
    .asciz "usage: workload ROUNDS\n"
file_name:
    .asciz "wl0"
differs_text:
    .asciz "workload: read back differs: "
round_text:
    .asciz "workload round "
ok_text:
    .asciz ": ok\n"
failed_text:
    .asciz ": FAILED\n"
summary_text:
    .asciz "workload: "
rounds_text:
    .asciz " rounds, "
errors_text:
    .asciz " errors, "
retries_text:
    .asciz " retries\n"

.bss
rest:
    .space 4
rounds:
    .space 4
round:
    .space 4
round_ok:
    .space 4
errors:
    .space 4
retries:
    .space 4
printer:
    .space 4
fd:
    .space 4
got:
    .space 4
line_len:
    .space 4
line:
    .space 80
data:
    .space FILE_BYTES
back:
    .space BACK_MAX
