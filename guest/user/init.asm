; init: the first user process.  Runs the boot script, then a minimal shell on the
; console, and ends at the end of the console input.
;
; The boot script is the file `rc` (through VFS): one command per line, a program name
; and its argument string; empty lines and lines starting with `#` are skipped.  The
; shell prints the prompt "# ", reads a line from /dev/tty (the tty driver echoes it)
; and runs it the same way.  A command runs as PM_SPAWN of the program with the rest of
; the line as its argument string, then PM_WAIT for it.  The shell says so when a
; program does not exist ("init: NAME: no such program"), when it ends with a non-zero
; status ("init: NAME: exit status N"), by a fault ("init: NAME: ended by a fault") or
; killed ("init: NAME: killed").  `exit` ends the shell, as does the end of the input
; (a read of 0 bytes); init then exits with status 0.

.include "abi.inc"
.include "libc.inc"

.equ EIO_RETRIES, 8               ; EIO answers in a row before init gives up

.equ SCRIPT_MAX, 2048
.equ CMD_MAX, 128

.text
_start:
    lea eax, [libc_dev_tty]
    mov edx, O_RDWR
    call open
    test eax, eax
    js no_console
    mov [libc_stdout], eax
    call run_script
shell:
    mov eax, [libc_stdout]
    lea edx, [prompt]
    call print
    call read_line
    test eax, eax
    js read_failed
    jz end_of_input
    lea eax, [cmd]
    call run_command
    jmp shell
read_failed:
    lea edx, [program]
    lea ecx, [libc_dev_tty]
    call complain
end_of_input:
    mov eax, [libc_stdout]
    lea edx, [libc_newline]
    call print
the_end:
    xor eax, eax
    call pm_exit
no_console:
    mov eax, 1
    call pm_exit

; ---------------------------------------------------------------------------------------
; run_script: every line of the file rc
run_script:
    lea eax, [rc_name]
    mov edx, O_RDONLY
    call open
    test eax, eax
    js script_failed
    mov [fd], eax
    xor ebx, ebx                    ; bytes of the script read
script_read:
    mov eax, [fd]
    lea edx, [script + ebx]
    mov ecx, SCRIPT_MAX
    sub ecx, ebx
    jz script_read_all
    call read
    test eax, eax
    js script_read_failed
    jz script_read_all
    add ebx, eax
    jmp script_read
script_read_failed:
    push eax
    mov eax, [fd]
    call close
    pop eax
    jmp script_failed
script_read_all:
    mov eax, [fd]
    call close
    xor esi, esi                    ; the start of the next line
script_line:
    cmp esi, ebx
    jge script_done
    xor edi, edi                    ; its length in cmd
script_char:
    cmp esi, ebx
    jge script_line_end
    mov al, [script + esi]
    inc esi
    cmp al, 10
    je script_line_end
    cmp edi, CMD_MAX - 1
    jge script_char                 ; too long: cut (and said below)
    mov [cmd + edi], al
    inc edi
    jmp script_char
script_line_end:
    mov byte ptr [cmd + edi], 0
    push ebx
    push esi
    lea eax, [cmd]
    call run_command
    pop esi
    pop ebx
    jmp script_line
script_failed:
    lea edx, [program]
    lea ecx, [rc_name]
    call complain
script_done:
    ret

; ---------------------------------------------------------------------------------------
; read_line: a line from the console into cmd, NUL-terminated, without its newline
; -> eax = 1 for a line, 0 at the end of the input, or an error.  A read answered EIO (the
; tty driver was restarted while it held the read) is asked again, EIO_RETRIES times at
; most in a row.
read_line:
    xor ebx, ebx                    ; bytes in cmd
read_more:
    mov eax, [libc_stdout]
    lea edx, [cmd + ebx]
    mov ecx, CMD_MAX - 1
    sub ecx, ebx
    jnz read_room
    lea edx, [overflow]             ; the line is too long: keep reading to its end
    mov ecx, CMD_MAX
    mov dword ptr [too_long], 1
read_room:
    call read
    cmp eax, EIO
    jne read_answered
    inc dword ptr [eio_count]       ; the tty driver was restarted under the read:
    cmp dword ptr [eio_count], EIO_RETRIES
    jle read_more                   ; ask its successor (a few times at most)
read_answered:
    mov dword ptr [eio_count], 0
    test eax, eax
    js read_done
    jz read_end
    cmp dword ptr [too_long], 0
    jne read_skipped
    add ebx, eax
    cmp byte ptr [cmd + ebx - 1], 10
    jne read_more
    dec ebx                         ; the newline
    jmp read_line_done
read_skipped:
    cmp byte ptr [overflow + eax - 1], 10
    jne read_more
read_line_done:
    mov byte ptr [cmd + ebx], 0
    cmp dword ptr [too_long], 0
    je read_line_ok
    mov dword ptr [too_long], 0
    mov eax, [libc_stdout]
    lea edx, [too_long_text]
    call print
    mov byte ptr [cmd], 0           ; not run
read_line_ok:
    mov eax, 1
    ret
read_end:                           ; the end of the input: a last line without newline
    test ebx, ebx
    jz read_done
    cmp dword ptr [too_long], 0
    jne read_line_done
    jmp read_line_done
read_done:
    ret

; ---------------------------------------------------------------------------------------
; run_command: eax = a command line (NUL-terminated): run it and wait for its end
run_command:
    cmp byte ptr [eax], '#'
    je run_nothing
    call next_word
    cmp byte ptr [eax], 0
    je run_nothing
    mov [name], eax
    mov [args], edx
    lea edx, [exit_word]
    call strcmp
    test eax, eax
    jz the_end
    mov eax, [name]
    mov edx, [args]
    call pm_spawn
    test eax, eax
    js run_failed
    call pm_wait
    test eax, eax
    js run_failed
    jz run_nothing
    mov [status], eax
    lea edx, [faulted_text]
    cmp eax, WAIT_FAULTED
    je run_report
    lea edx, [killed_text]
    cmp eax, WAIT_KILLED
    je run_report
    call say_name
    mov eax, [libc_stdout]
    lea edx, [status_text]
    call print
    mov eax, [libc_stdout]
    mov edx, [status]
    call print_num
    mov eax, [libc_stdout]
    lea edx, [libc_newline]
    jmp print
run_report:                         ; edx = what happened
    push edx
    call say_name
    pop edx
    mov eax, [libc_stdout]
    jmp print
run_failed:
    cmp eax, ENOENT
    je run_unknown
    lea edx, [program]
    mov ecx, [name]
    jmp complain
run_unknown:
    call say_name
    mov eax, [libc_stdout]
    lea edx, [unknown_text]
    jmp print
run_nothing:
    ret

; say_name: "init: NAME" on the console
say_name:
    mov eax, [libc_stdout]
    lea edx, [program_colon]
    call print
    mov eax, [libc_stdout]
    mov edx, [name]
    jmp print

.data
program:
    .asciz "init"
program_colon:
    .asciz "init: "
rc_name:
    .asciz "rc"
prompt:
    .asciz "# "
exit_word:
    .asciz "exit"
unknown_text:
    .asciz ": no such program\n"
status_text:
    .asciz ": exit status "
faulted_text:
    .asciz ": ended by a fault\n"
killed_text:
    .asciz ": killed\n"
too_long_text:
    .asciz "init: line too long\n"

.bss
eio_count:                      ; EIO answers in a row
    .space 4
fd:
    .space 4
name:
    .space 4
args:
    .space 4
status:
    .space 4
too_long:
    .space 4
cmd:
    .space CMD_MAX
overflow:
    .space CMD_MAX
script:
    .space SCRIPT_MAX
