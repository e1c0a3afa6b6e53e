; crash: stands for a fault of the printer driver.  On every request it kills the
; printer's current process (GETINFO of its slot, then KILL), which RS restarts, and
; answers OK by NBSEND.  Policy: a server with GETINFO and KILL.

.include "abi.inc"
.include "ipc.inc"

.text
_start:
    ipc_receive ANY, msg
    test eax, eax
    jnz _start
    cmp dword ptr [msg + M_TYPE], NOTIFY_MESSAGE
    je _start
    mov eax, [msg + M_SOURCE]
    mov [client], eax
    mov dword ptr [kmsg + M_TYPE], SYS_GETINFO
    mov dword ptr [kmsg + GI_REQUEST], GI_PROC
    mov dword ptr [kmsg + GI_WHICH], EP_PRINTER
    lea eax, [info]
    mov [kmsg + GI_ADDR], eax
    kernel_call kmsg
    mov eax, [info + PI_ENDPOINT]
    mov [kmsg + KILL_ENDPOINT], eax
    mov dword ptr [kmsg + M_TYPE], SYS_KILL
    kernel_call kmsg
    mov [msg + M_TYPE], eax
    ipc_nbsend [client], msg
    jmp _start

.bss
msg:
    .space MSG_SIZE
kmsg:
    .space MSG_SIZE
info:
    .space PROCINFO_SIZE
client:
    .space 4
