"""The IPC fast path: the common traps in one function each, with exactly the checks of
the general path (`kernel.ipc`) and nothing else; every other case falls back to it.

Contract: `FastPath(kernel, ipc).trap(caller, function, eax, address)`, called first by
`Ipc.do_ipc`, handles one `int 0x21` of the running process `caller` as the general path
of `Ipc.do_ipc` would, returning the caller's eax or BLOCKED, or returns SLOW, having
changed nothing, when the case is not one it covers: `Ipc.do_ipc` goes on with the
general path, the reference.  Covered, when no debugger hears completions
(`Kernel.done_hook`), by the trap's whole `ecx` (no flag but NONBLOCK on SEND):
- SENDREC to a live process that waits for the caller (a client's call to a server in
  its RECEIVE): delivered, the server woken, the caller blocked in the receive half;
- SEND to a live process that waits for the caller (the server's reply): delivered,
  the caller woken, OK; NBSEND (or SEND with NONBLOCK) to one: the same;
- RECEIVE from ANY or a kernel task with nothing pending and no sender queued: blocked;
- NOTIFY to a live process: posted;
- SENDREC to a kernel task: straight to the SYSTEM gate (`System.call`).
Each guard is one line falling back to the general path (a denial, a trust report, a
pending ASEND or notification, a queued sender, a possible deadlock are all the general
path's); past the marked point of no return nothing can fail.  The state after, the
result and the trace events are those of the general path, so the fast path changes
speed, never behaviour: `enabled = False` turns it off, and a test runs the stock
system both ways and compares the traces byte for byte.
"""

from kernel.abi import (ANY, ENDPOINT_GEN_MUL, MSG_SIZE, NBSEND, NONBLOCK, NOTIFY, NR_PROCS,
                        NR_TASKS, OK, RECEIVE, SEND, SENDREC)
from kernel.outcome import BLOCKED

SLOW = object()               # not covered: run the general path


class FastPath:
    """The fast path over a kernel (see the module docstring)."""

    enabled = True            # per kernel (an attribute of the instance), or for all

    def __init__(self, kernel, ipc):
        self.kernel = kernel
        self.ipc = ipc
        self.procs = kernel.table.procs
        self.sched = kernel.sched
        self.system = kernel.system
        self.handlers = {SENDREC: self.send, SEND: self.send, NBSEND: self.send,
                         SEND | NONBLOCK: self.send, RECEIVE: self.receive,
                         NOTIFY: self.notify}       # by the trap's whole ecx

    def trap(self, caller, function, eax, address):
        handler = self.handlers.get(function)
        if handler is None or not self.enabled or self.kernel.done_hook is not None:
            return SLOW
        return handler(caller, function, eax, address)

    def peer(self, caller, eax):
        """The live process `eax` names, when the caller may send it (checks 3 and 4 of
        a process endpoint); else None."""
        if eax & 0x80000000 or eax == ANY:                   # a task, or not a process
            return None
        slot = eax % ENDPOINT_GEN_MUL
        if slot >= NR_PROCS:                                  # malformed endpoint
            return None
        dst = self.procs[slot]
        if not dst.alive or dst.gen != eax // ENDPOINT_GEN_MUL:   # dead or stale
            return None
        if not (caller.target_mask >> dst.index & 1 or caller.may_reply >> slot & 1):
            return None                                       # destination not allowed
        return dst

    def send(self, caller, function, eax, address):
        if function == SEND | NONBLOCK:                       # the same primitive
            function = NBSEND
        if not caller.ipc_mask >> function & 1:              # primitive not allowed
            return SLOW
        if eax & 0x80000000 and function == SENDREC:         # to a kernel task
            return self.kernel_call(caller, eax, address)
        dst = self.peer(caller, eax)
        if dst is None:                                       # checks 3, 4 fail
            return SLOW
        if not caller.cpu.in_rw(address, MSG_SIZE):           # check 5 fails
            return SLOW
        getfrom = dst.getfrom
        if getfrom is None or dst.sendto is not None or (
                getfrom != caller.endpoint and getfrom != ANY):
            return SLOW                                       # the peer does not wait
        if caller.is_server and dst.is_driver and function != NBSEND:
            return SLOW                                       # a trust report
        if function == SENDREC and caller.asyn_pending >> dst.slot & 1:
            return SLOW                                       # an ASEND reply may wait
        # -- point of no return ---------------------------------------------------------
        kernel, sched = self.kernel, self.sched
        self.ipc.transfer(caller, address, dst, function)
        dst.sendto = None                                     # Kernel.wake(dst, OK)
        dst.getfrom = None
        dst.in_sendrec = False
        cpu = dst.cpu
        if cpu.running:
            cpu.set_result(OK)
        else:
            cpu.pending_result = OK
        sched.enqueue(dst)
        current = kernel.current
        if current is not None and dst.priority < current.priority:
            current.cpu.stop()
        if function != SENDREC:
            return OK
        caller.in_sendrec = True                              # on to the receive half
        caller.getfrom = dst.endpoint
        caller.msg_addr = address
        sched.dequeue(caller)                                 # Kernel.block(caller)
        if caller is current:
            caller.cpu.stop()
        return BLOCKED

    def kernel_call(self, caller, eax, address):
        task = eax - 0x100000000
        if task < -NR_TASKS:                                  # not a task: EBADSRCDST
            return SLOW
        if not caller.task_mask >> (task + NR_TASKS) & 1:     # task not allowed
            return SLOW
        if not caller.cpu.in_rw(address, MSG_SIZE):           # check 5 fails
            return SLOW
        # -- point of no return ---------------------------------------------------------
        return self.system.call(caller, task, address)

    def receive(self, caller, function, eax, address):
        if not caller.ipc_mask >> RECEIVE & 1:                # primitive not allowed
            return SLOW
        if eax != ANY and not (eax & 0x80000000 and eax - 0x100000000 >= -NR_TASKS):
            return SLOW                                       # from a process: deadlock check
        if not caller.cpu.in_rw(address, MSG_SIZE):           # check 5 fails
            return SLOW
        if caller.notify_pending or caller.q_head is not None or caller.asyn_pending:
            return SLOW                                       # something to take
        # -- point of no return ---------------------------------------------------------
        caller.getfrom = eax if eax == ANY else eax - 0x100000000
        caller.msg_addr = address
        self.sched.dequeue(caller)                            # Kernel.block(caller)
        if caller is self.kernel.current:
            caller.cpu.stop()
        return BLOCKED

    def notify(self, caller, function, eax, address):
        if not caller.ipc_mask >> NOTIFY & 1:                 # primitive not allowed
            return SLOW
        dst = self.peer(caller, eax)
        if dst is None:                                       # checks 3, 4 fail
            return SLOW
        # -- point of no return ---------------------------------------------------------
        return self.ipc.notify(caller, dst)
