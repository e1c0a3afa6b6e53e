"""The SYSTEM task: the gate of every kernel call, and the table of calls.

Contract: a kernel call is a SENDREC to a kernel task whose message passed the IPC checks
1-5.  `System.call(caller, task, address)` reads the request, and denies by default:
an unknown call number is `EBADREQUEST`, a call not in the caller's `kernel_calls` is
`ECALLDENIED`; otherwise the call's handler checks its own arguments and does the work.
Every handler has the signature `do_<call>(kernel, caller, msg) -> result`, reads its
request from `msg` (a copy: the caller cannot change it under the handler) and writes
its reply fields into it; the reply goes back to the caller's buffer with `M_TYPE` =
result and `M_SOURCE` = the task.  A rejection is a negative result with `reason` set
(the sub-reason of an illegal kernel request, counted by call number, or by None for an
unknown number); a negative result without a reason is an answer (GETINFO's ENOENT: no
end left) and no illegal request.  `BLOCKED` (EXIT) means the caller is gone: no reply.
"""

from kernel.abi import (EBADREQUEST, ECALLDENIED, KERNEL_CALL, KERNEL_CALL_NAMES, M_SOURCE,
                        M_TYPE, NR_SYS_CALLS, OK, SENDREC, SYS_DEVIO, SYS_DIAGCTL, SYS_EXIT,
                        SYS_GETINFO, SYS_IRQCTL, SYS_KILL, SYS_SAFECOPYFROM, SYS_SAFECOPYTO,
                        SYS_SDEVIO, SYS_SETALARM, SYS_SETGRANT, SYS_SPAWN, SYS_TIMES,
                        SYS_VDEVIO, SYS_VIRCOPY)
from kernel.message import Message, unpack_int32
from kernel.names import MESSAGE_FIELDS
from kernel.outcome import BLOCKED
from kernel.system import (devio, diagctl, exit as exit_call, getinfo, irqctl, kill,
                           safecopy, sdevio, setalarm, setgrant, spawn, times, vdevio,
                           vircopy)

CALLS = {
    SYS_DEVIO: devio.do_devio,          # one port read or write
    SYS_VDEVIO: vdevio.do_vdevio,       # a vector of port reads or writes
    SYS_SDEVIO: sdevio.do_sdevio,       # string port I/O through a grant
    SYS_IRQCTL: irqctl.do_irqctl,       # enable / disable / acknowledge an IRQ line
    SYS_SETGRANT: setgrant.do_setgrant,  # register the caller's grant table
    SYS_SAFECOPYFROM: safecopy.do_safecopyfrom,  # copy from a granter, through a grant
    SYS_SAFECOPYTO: safecopy.do_safecopyto,      # copy to a granter, through a grant
    SYS_VIRCOPY: vircopy.do_vircopy,    # copy between two processes (servers)
    SYS_SETALARM: setalarm.do_setalarm,  # a CLOCK notification after N ticks
    SYS_TIMES: times.do_times,          # virtual time
    SYS_DIAGCTL: diagctl.do_diagctl,    # a line to the kernel log
    SYS_EXIT: exit_call.do_exit,        # end the caller
    SYS_KILL: kill.do_kill,             # end another process
    SYS_SPAWN: spawn.do_spawn,          # start a program of the image
    SYS_GETINFO: getinfo.do_getinfo,    # process table, programs, ends
}


class System:
    """The gate and the dispatch table (built once; the trap path only indexes it)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.table = [CALLS[KERNEL_CALL + i] for i in range(NR_SYS_CALLS)]
        self.msg = Message()
        self.reason = ""

    def call(self, caller, task, address):
        msg = self.msg.load(caller.cpu, address)
        m_type = unpack_int32(msg.data, M_TYPE)[0]
        index = m_type - KERNEL_CALL
        self.reason = ""
        if not 0 <= index < NR_SYS_CALLS:
            self.reason = "unknown call"
            result = EBADREQUEST
        elif not caller.call_mask >> index & 1:
            self.reason = "call not allowed"
            result = ECALLDENIED
        else:
            result = self.table[index](self.kernel, caller, msg)
            if result is BLOCKED:
                return BLOCKED
        if result < 0 and self.reason:
            # an unknown call number is counted as None: a flood of them, each with a
            # new number, must not grow the kernel's counts (SPEC section 3)
            known = m_type if 0 <= index < NR_SYS_CALLS else None
            self.kernel.count_illegal_request(caller, known, result, self.reason)
        msg.set(M_TYPE, result)
        msg.set(M_SOURCE, task)
        msg.store(caller.cpu, address)
        trace = self.kernel.trace
        if trace is not None:
            self.trace_call(trace, caller, task, m_type, msg, result)
        return OK

    def trace_call(self, trace, caller, task, m_type, msg, result):
        now = self.kernel.now()
        trace.ipc(now, caller, SENDREC, task, m_type, OK)
        args = {}
        for i, name in enumerate(MESSAGE_FIELDS.get(m_type, ())):
            args[name.split("_", 1)[1].lower()] = msg.get(8 + 4 * i)
        trace.kcall(now, caller, KERNEL_CALL_NAMES.get(m_type, str(m_type)), args, result,
                    self.reason)
