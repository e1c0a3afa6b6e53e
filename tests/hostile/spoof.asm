; spoof: a client that forges M_SOURCE (the seed's "spoofing"): it sends requests whose
; M_SOURCE names another process, so a server that believed it would act for that
; process.  The kernel overwrites M_SOURCE on delivery, so each request is served as
; the attacker's own: DS_PUBLISH "as RS" of the printer's label to itself is EPERM (the
; name stays the printer's), VFS_CLOSE of init's console fds "as init" is EBADF (init's
; shell keeps its console), PM_WAIT "as init" finds no child, PM_GETPID "as 12345"
; answers the attacker's own endpoint.  Policy: a user (SENDREC to pm, vfs, ds).
; Ends with PM_EXIT 0.

.include "abi.inc"
.include "libc.inc"

.text
_start:
    call run_requests
    xor eax, eax
    call pm_exit

.include "requests.inc"

.data
requests:
    req EP_DS, EPERM, EP_RS, DS_PUBLISH, L_PRIN, L_TER, 0, 0, EP_SPOOF
    req EP_DS, EPERM, EP_RS, DS_PUBLISH, L_DISK, 0, 0, 0, EP_SPOOF
    req EP_VFS, EBADF, EP_INIT, VFS_CLOSE, 0
    req EP_VFS, EBADF, EP_INIT, VFS_CLOSE, 1
    req EP_VFS, EBADF, EP_INIT, VFS_WRITE, 0, text, 4
    req EP_PM, ESRCH, EP_INIT, PM_WAIT, ANY
    req EP_PM, EP_SPOOF, 12345, PM_GETPID                   ; its own endpoint
    req EP_PM, EP_SPOOF, SYSTEM, PM_GETPID
    req EP_DS, OK, EP_RS, DS_LOOKUP, L_PRIN, L_TER          ; still the printer's
requests_end:

.bss
text:
    .space 16
results:
    .space 4 * 16
