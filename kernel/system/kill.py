"""SYS_KILL: end another process (RS recovering a hung driver, PM ending a user).

Message in: M_TYPE = SYS_KILL, KILL_ENDPOINT (M_W0) = the victim's endpoint.  The victim
ends as by a fault or an exit: its slot is freed, every process blocked on it wakes with
EDEADSRCDST, a `kill` trace event names it and `by` (the caller's label), and its end is
reported to RS or PM (`kernel.ends`), as END_KILL.  Reply: M_TYPE = OK.  Errors: EPERM
when the victim is the caller itself (SELF or its own endpoint: a process ends itself
with EXIT), EBADSRCDST for a malformed endpoint (a kernel task, ANY, NONE), EDEADSRCDST
for an empty slot or a stale generation.
"""

from kernel.abi import EPERM, KILL_ENDPOINT, OK, SELF


def do_kill(kernel, caller, msg):
    ep = msg.get(KILL_ENDPOINT)
    if ep == SELF or ep == caller.endpoint:
        kernel.system.reason = "KILL of the caller itself"
        return EPERM
    status, victim = kernel.table.lookup(ep)
    if status:
        kernel.system.reason = "no such process"
        return status
    kernel.end_process(victim, "kill", by=caller.label)
    return OK
