; canary: proves that RS, DS, PM and VFS keep serving while hostile programs run.
; Every PERIOD ticks (an alarm, then a RECEIVE from CLOCK) it makes one round of
; requests: RS_STATUS printer, DS_LOOKUP printer, PM_GETPID, then VFS_OPEN motd,
; VFS_READ of its first bytes and VFS_CLOSE.  `rounds` counts the rounds, `failures`
; the requests that did not answer as they should (`last_error` the last such result).
; A server blocked by an attacker stops the rounds: the tests measure the gaps between
; the canary's alarms in the trace.

.include "abi.inc"
.include "ipc.inc"

.equ PERIOD, 5

.text
_start:
round:
    call clear
    mov dword ptr [msg + M_TYPE], SYS_SETALARM
    mov dword ptr [msg + ALARM_TICKS], PERIOD
    kernel_call msg
    ipc_receive CLOCK, msg
    ; RS
    call clear
    mov dword ptr [msg + M_TYPE], RS_STATUS
    call put_label
    ipc_sendrec EP_RS, msg
    call expect_ok
    ; DS
    call clear
    mov dword ptr [msg + M_TYPE], DS_LOOKUP
    call put_label
    ipc_sendrec EP_DS, msg
    call expect_ok
    ; PM
    call clear
    mov dword ptr [msg + M_TYPE], PM_GETPID
    ipc_sendrec EP_PM, msg
    call expect_ok
    ; VFS
    call clear
    mov dword ptr [msg + M_TYPE], VFS_OPEN
    mov dword ptr [msg + VFS_PATH], 0x64746f6d        ; "motd"
    mov dword ptr [msg + VFS_FLAGS], O_RDONLY
    ipc_sendrec EP_VFS, msg
    call expect_ok
    mov eax, [msg + M_TYPE]
    mov [fd], eax
    call clear
    mov dword ptr [msg + M_TYPE], VFS_READ
    mov eax, [fd]
    mov [msg + VFS_FD], eax
    lea eax, [text]
    mov [msg + VFS_BUFFER], eax
    mov dword ptr [msg + VFS_NBYTES], 16
    ipc_sendrec EP_VFS, msg
    call expect_ok
    call clear
    mov dword ptr [msg + M_TYPE], VFS_CLOSE
    mov eax, [fd]
    mov [msg + VFS_FD], eax
    ipc_sendrec EP_VFS, msg
    call expect_ok
    inc dword ptr [rounds]
    jmp round

; expect_ok: the IPC result in eax and the reply's M_TYPE must both be >= 0
expect_ok:
    test eax, eax
    jnz expect_failed
    mov eax, [msg + M_TYPE]
    test eax, eax
    jns expect_done
expect_failed:
    inc dword ptr [failures]
    mov [last_error], eax
expect_done:
    ret

put_label:
    mov dword ptr [msg + M_W0], 0x6e697270       ; "printer"
    mov dword ptr [msg + M_W1], 0x00726574
    ret

clear:
    lea edi, [msg]
    xor eax, eax
    mov ecx, MSG_SIZE / 4
    cld
    rep stosd
    ret

.bss
msg:
    .space MSG_SIZE
text:
    .space 16
fd:
    .space 4
rounds:
    .space 4
failures:
    .space 4
last_error:
    .space 4
