"""SYS_GETINFO: the process table and the image's programs (RS, PM, `ps`), and the ends.

Message in: M_TYPE = SYS_GETINFO, GI_REQUEST (M_W0) = one of:
- GI_PROC: GI_WHICH (M_W1) = a slot, 0..NR_PROCS-1; one PROCINFO entry to GI_ADDR (M_W2).
- GI_PROCTAB: NR_PROCS entries, slot order, to GI_ADDR; reply GI_COUNT (M_W5) = NR_PROCS.
- GI_PROGRAM: GI_WHICH = a program index of the image; its policy as an entry to GI_ADDR
  (endpoint NONE, state 0, base priority, no faults); reply GI_COUNT = the programs.
- GI_ENDED: the oldest end not yet reported to the caller (`kernel.ends`): reply
  GI_END_ENDPOINT (M_W1), GI_END_PROGRAM (M_W2), GI_END_HOW (M_W3, END_*),
  GI_END_STATUS (M_W4, the exit status; 0 for a fault or a kill).
A live slot's entry: PI_ENDPOINT, PI_STATE (PS_ALIVE, and PS_SENDING / PS_RECEIVING
while blocked, PS_READY while runnable), PI_PROGRAM, PI_PRIORITY (its current queue),
PI_KIND, PI_HEARTBEAT, PI_RESTART, PI_FAULTS (of the slot, all generations), PI_LABEL
(NUL-padded).  A free slot's entry is zeros with PI_ENDPOINT = NONE and PI_PROGRAM = -1.
Reply: M_TYPE = OK.  Errors: EINVAL for a bad request, slot or program index, EFAULT
when the entries do not fit in the caller's data, bss or stack, EPERM for GI_ENDED by
anyone but `rs` and `pm`; ENOENT when no end is left to report (an answer, not a
rejection: it has no reason and is no illegal request).
"""

import struct

from kernel.abi import (EFAULT, EINVAL, ENOENT, EPERM, GI_ADDR, GI_COUNT, GI_END_ENDPOINT,
                        GI_END_HOW, GI_END_PROGRAM, GI_END_STATUS, GI_ENDED, GI_PROC,
                        GI_PROCTAB, GI_PROGRAM, GI_REQUEST, GI_WHICH, KIND_DRIVER,
                        KIND_SERVER, KIND_USER, NONE, NR_PROCS, OK, PS_ALIVE,
                        PS_READY, PS_RECEIVING, PS_SENDING, RESTART_ALWAYS,
                        RESTART_BACKOFF, RESTART_NEVER)

KINDS = {"driver": KIND_DRIVER, "server": KIND_SERVER, "user": KIND_USER}
RESTARTS = {"always": RESTART_ALWAYS, "never": RESTART_NEVER, "backoff": RESTART_BACKOFF}
# PI_ENDPOINT, PI_STATE, PI_PROGRAM, PI_PRIORITY, PI_KIND, PI_HEARTBEAT, PI_RESTART,
# PI_FAULTS, PI_LABEL: the layout of kernel.abi, checked by the tests
ENTRY = struct.Struct("<8i16s")
FREE_ENTRY = ENTRY.pack(NONE, 0, -1, 0, 0, 0, 0, 0, b"")


def do_getinfo(kernel, caller, msg):
    request = msg.get(GI_REQUEST)
    if request == GI_ENDED:
        return _ended(kernel, caller, msg)
    if request == GI_PROC:
        which = msg.get(GI_WHICH)
        if not 0 <= which < NR_PROCS:
            kernel.system.reason = "bad slot"
            return EINVAL
        entries = [_proc_entry(kernel.table.procs[which])]
    elif request == GI_PROCTAB:
        entries = [_proc_entry(proc) for proc in kernel.table.procs]
        msg.set(GI_COUNT, NR_PROCS)
    elif request == GI_PROGRAM:
        which = msg.get(GI_WHICH)
        if not 0 <= which < len(kernel.programs):
            kernel.system.reason = "bad program index"
            return EINVAL
        policy = kernel.programs[which][0]
        entries = [_entry(NONE, 0, which, policy.priority, policy)]
        msg.set(GI_COUNT, len(kernel.programs))
    else:
        kernel.system.reason = "bad GETINFO request"
        return EINVAL
    address = msg.get_unsigned(GI_ADDR)
    cpu = caller.cpu
    data = b"".join(entries)
    if not cpu.in_rw(address, len(data)):
        kernel.system.reason = "entries outside the caller"
        return EFAULT
    offset = address - cpu.window_base
    cpu.mem[offset:offset + len(data)] = data
    return OK


def _ended(kernel, caller, msg):
    if caller.label not in kernel.ends.queues:
        kernel.system.reason = "ends go to rs and pm only"
        return EPERM
    end = kernel.ends.take(caller.label)
    if end is None:
        return ENOENT               # the normal end of the caller's loop: no rejection
    endpoint, program, how, status = end
    msg.set(GI_END_ENDPOINT, endpoint)
    msg.set(GI_END_PROGRAM, program)
    msg.set(GI_END_HOW, how)
    msg.set(GI_END_STATUS, status)
    return OK


def _proc_entry(proc):
    if not proc.alive:
        return FREE_ENTRY
    state = PS_ALIVE
    if proc.sendto is not None:
        state |= PS_SENDING
    if proc.getfrom is not None:
        state |= PS_RECEIVING
    if proc.ready:
        state |= PS_READY
    return _entry(proc.endpoint, state, proc.index, proc.priority, proc.policy, proc.faults)


def _entry(endpoint, state, program, priority, policy, faults=0):
    return ENTRY.pack(endpoint, state, program, priority, KINDS[policy.kind],
                      policy.heartbeat, RESTARTS[policy.restart], faults,
                      policy.label.encode("latin-1"))
