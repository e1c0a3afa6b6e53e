"""The kernel: process lifecycle, blocking and waking, virtual time, panics.

Contract:
- `Kernel(machine, trace_stream=None, log_stream=None)` ties the process table, the
  scheduler, IPC, the SYSTEM gate, the CLOCK and the interrupt controller to a machine
  (its port bus and its CPUs).  `load_image(programs)` gives it the image's programs,
  (policy, loaded ELF) in image order; `start_process` starts one of them in a slot,
  with an argument string; `kernel.run.run` runs the processes.
- A new process finds its argument string, NUL-terminated, at the top of its stack:
  `esi` = its address, `edi` = its length (0 and a lone NUL for boot processes), `esp`
  below it, aligned to 16.  Its `start` trace event names its endpoint (and `by`, the
  spawner); a program started before gets a `restart` event too.
- Virtual time (`now()`) is the instructions retired by all processes: the time at the
  start of the running slice plus what the running CPU has counted so far.
- `block(proc)` takes a process off the ready queues (and stops its CPU when it is the
  one running); `wake(proc, result)` writes the result of its IPC call into its eax and
  makes it ready (`make_ready`), which preempts the running process when the woken one
  has a higher priority; so does the start of a process.
- `end_process(proc, how)` frees the slot; every process blocked on it wakes with
  EDEADSRCDST; nothing of it stays in any queue, bitmap or IRQ line; the end is
  reported to RS or PM (`kernel.ends`).
- `report_trust(server, driver, primitive)` counts and traces a blocking SEND or
  SENDREC from a server to a driver (asymmetric trust: servers must never do it).
- Debugging and fault injection hook in without cost when unused: `trap_hook` may hold
  a process before its trap (`hold_trap`), `done_hook` hears every IPC call complete
  (at once, or later when the caller is woken), `stop_request` ends the run after the
  current slice, and a process's `insn_watch` stops it at an instruction count.
- A Python exception inside a trap is a kernel panic: the machine stops, and
  `panic_report` says what trap caused it and how to reproduce it.
- `Ipc.do_ipc` takes a trap to the IPC fast path first (`kernel.fastpath`: the common
  calls, replies, receives, notifications and kernel calls), to the general path for
  everything else; `fastpath.enabled = False` turns it off (the results are the same).
"""

import traceback

from kernel.abi import (EDEADSRCDST, M_SOURCE, M_TYPE, MSG_SIZE, NOTIFY_IRQS,
                        NOTIFY_MESSAGE, NOTIFY_TICKS, NOTIFY_TIME_HI, NOTIFY_TIME_LO,
                        HARDWARE, PRIMITIVE_NAMES, RECEIVE, SEND, SENDREC, TICK_INSNS,
                        WINDOW_SIZE)
from kernel import privileges
from kernel.clock import Clock
from kernel.ends import Ends
from kernel.interrupts import Interrupts
from kernel.ipc import Ipc
from kernel.message import Message
from kernel.outcome import BLOCKED
from kernel.proc import NR_TASKS, ProcTable
from kernel.sched import Scheduler
from kernel.system import System
from kernel.trace import Trace


class Kernel:
    """The microkernel's state and its process lifecycle."""

    def __init__(self, machine, trace_stream=None, log_stream=None):
        self.machine = machine
        self.bus = machine.bus
        self.table = ProcTable()
        self.sched = Scheduler()
        self.system = System(self)
        self.ipc = Ipc(self)
        self.clock = Clock(self)
        self.interrupts = Interrupts(self)
        self.ends = Ends(self)
        self.fastpath = self.ipc.fastpath
        self.trace = Trace(trace_stream, self.table) if trace_stream is not None else None
        self.log_stream = log_stream
        self.time = 0                # virtual time at the start of the running slice
        self.current = None          # the process whose CPU is running
        self.slice_end = 0           # virtual time the running slice may not pass
        self.stop_request = None     # a reason to end the run after this slice
        self.trap_hook = None        # debugger: (proc, eax, ebx, ecx) -> True to hold
        self.done_hook = None        # debugger: (proc, result) when an IPC call completes
        self.notification = Message()
        self.panic_report = None
        self.ended = []              # labels of processes that ended, in order
        self.denials = {}            # (label, primitive, error) -> count
        self.illegal_requests = {}   # (label, m_type or None, error, reason) -> count
        self.labels = {}             # label -> program index of the image
        self.programs = []           # (policy, loaded ELF) of each program of the image
        self.starts = []             # processes started so far, per program

    def load_image(self, programs):
        """The image's programs, (policy, loaded ELF) in image order."""
        self.programs = list(programs)
        self.labels = {policy.label: index for index, (policy, _) in enumerate(self.programs)}
        self.starts = [0] * len(self.programs)
        self.ends.configure(self.labels)

    # -- time -------------------------------------------------------------------------------
    def now(self):
        current = self.current
        if current is None:
            return self.time
        return self.time + current.cpu.context.count

    def event_scheduled(self, when):
        """A new alarm or device event at `when`: end the running slice at once if it
        would otherwise run past it, so the event is delivered on time."""
        current = self.current
        if current is not None and when is not None and when < self.slice_end:
            current.cpu.stop()

    def insns_of(self, proc):
        if proc is self.current:
            return proc.insns + proc.cpu.context.count
        return proc.insns

    # -- the trap -----------------------------------------------------------------------------
    def make_trap(self, proc):
        """The CPU's `int 0x21` callback for `proc`: (eax, ebx, ecx) -> eax or None."""
        do_ipc = self.ipc.do_ipc

        def trap(eax, ebx, ecx):
            if self.trap_hook is not None and self.trap_hook(proc, eax, ebx, ecx):
                self.hold_trap(proc)
                return None
            try:
                result = do_ipc(proc, ecx, eax, ebx)
            except Exception as error:       # noqa: BLE001 - every exception is a panic
                self.panic(proc, error)
                return None
            if result is BLOCKED:
                return None
            if self.done_hook is not None:
                self.done_hook(proc, result)
            return result
        return trap

    def hold_trap(self, proc):
        """Stop `proc` before its `int 0x21` (for a debugger): eip back on the instruction,
        the instruction not counted, the run stopped with reason "trap"."""
        cpu = proc.cpu
        cpu.set_register("eip", cpu.eip - 2)
        cpu.context.count -= 1
        cpu.stop()
        self.stop_request = "trap"

    def panic(self, proc, error):
        registers = proc.cpu.registers()
        message = proc.cpu.read(registers["ebx"], MSG_SIZE)
        where = traceback.extract_tb(error.__traceback__)[-1]
        self.panic_report = {
            "proc": proc.label, "ep": proc.endpoint, "t": self.now(),
            "error": f"{type(error).__name__}: {error}",
            "at": f"{where.filename}:{where.lineno}",
            "registers": registers, "message": message.hex(),
        }
        if self.current is not None:
            self.current.cpu.stop()

    # -- blocking and waking ----------------------------------------------------------------
    def block(self, proc):
        self.sched.dequeue(proc)
        if proc is self.current:
            proc.cpu.stop()

    def wake(self, proc, result):
        proc.sendto = None
        proc.getfrom = None
        proc.in_sendrec = False
        proc.cpu.set_result(result)
        self.make_ready(proc)
        if self.done_hook is not None:
            self.done_hook(proc, result)

    def make_ready(self, proc):
        """Queue `proc`; preempt the running process when `proc` has a higher priority."""
        self.sched.enqueue(proc)
        current = self.current
        if current is not None and proc.priority < current.priority:
            current.cpu.stop()

    def write_notification(self, proc, address, source):
        """Build the notification message from `source` in `proc`'s buffer."""
        msg = self.notification.clear()
        now = self.now()
        msg.set(M_SOURCE, source)
        msg.set(M_TYPE, NOTIFY_MESSAGE)
        msg.set(NOTIFY_TICKS, now // TICK_INSNS)
        msg.set(NOTIFY_TIME_LO, now & 0xFFFFFFFF)
        msg.set(NOTIFY_TIME_HI, now >> 32)
        irqs = None
        if source == HARDWARE:
            irqs = proc.irq_pending
            msg.set(NOTIFY_IRQS, irqs)
            proc.irq_pending = 0
        msg.store(proc.cpu, address)
        if self.trace is not None:
            self.trace.ipc(now, proc, RECEIVE, source, NOTIFY_MESSAGE, 0, irqs=irqs)

    # -- accounting -------------------------------------------------------------------------
    def count_denial(self, proc, primitive, error):
        key = (proc.label, primitive, error)
        self.denials[key] = self.denials.get(key, 0) + 1

    def count_illegal_request(self, proc, m_type, error, reason):
        key = (proc.label, m_type, error, reason)
        self.illegal_requests[key] = self.illegal_requests.get(key, 0) + 1

    def report_trust(self, server, driver, primitive):
        server.trust_reports += 1
        if self.trace is not None:
            self.trace.process(self.now(), "trust", server, op=PRIMITIVE_NAMES[primitive],
                               peer=driver.endpoint, peer_label=driver.label)

    def log(self, proc, text):
        if self.trace is not None:
            self.trace.log(self.now(), proc, text)
        if self.log_stream is not None:
            self.log_stream.write(f"{proc.label}: {text}\n")

    # -- the start and the end of a process -------------------------------------------------
    def start_process(self, index, policy, program, slot=None, args=b"", by=None):
        """Start program `index` of the image (its policy, its loaded ELF) in a slot (the
        given one, else the lowest free) with the argument string `args`; None when
        the slot is taken or the table is full."""
        proc = self.table.allocate(slot)
        if proc is None:
            return None
        privileges.apply(proc, policy, self.labels)
        proc.index = index
        proc.cpu = cpu = self.machine.cpu_for(index, self.make_trap(proc), program)
        top = cpu.window_base + WINDOW_SIZE - len(args) - 1
        cpu.write(top, bytes(args) + b"\0")
        cpu.set_register("esi", top)
        cpu.set_register("edi", len(args))
        cpu.set_register("esp", top & ~15)
        proc.restarts = self.starts[index]
        self.starts[index] += 1
        self.make_ready(proc)
        if self.trace is not None:
            extra = {} if by is None else {"by": by}
            self.trace.process(self.now(), "start", proc, kind=proc.kind, **extra)
            if proc.restarts:
                self.trace.process(self.now(), "restart", proc, n=proc.restarts, **extra)
        return proc

    @staticmethod
    def blocked_primitive(proc):
        """The primitive a blocked process is in (for the trace)."""
        if proc.in_sendrec:
            return SENDREC
        return SEND if proc.sendto is not None else RECEIVE

    def end_process(self, proc, how, status=None, fault=None, by=None):
        """End `proc` (`how`: exit, fault or kill) and clean every trace of it."""
        if not proc.alive:
            return
        if self.trace is not None:
            self.trace_end(proc, how, status, fault, by)
        proc.alive = False
        proc.exit_status = status
        proc.last_fault = fault
        if fault is not None:
            proc.faults += 1
        self.sched.dequeue(proc)
        if proc.sendto is not None:
            self.unqueue(proc)
        slot_bit = 1 << proc.slot
        notify_bit = 1 << (proc.slot + NR_TASKS)
        for other in self.table.procs:
            if not other.alive:
                continue
            other.notify_pending &= ~notify_bit
            other.asyn_pending &= ~slot_bit
            other.may_reply &= ~slot_bit
            if other.sendto is proc or other.getfrom == proc.endpoint:
                if self.trace is not None:
                    self.trace.ipc(self.now(), other, self.blocked_primitive(other),
                                   proc.endpoint, None, EDEADSRCDST, proc.label)
                self.wake(other, EDEADSRCDST)
        proc.q_head = proc.q_tail = None
        self.interrupts.release(proc)
        if proc.alarm is not None:
            self.clock.set_alarm(proc, None)
        self.machine.release(proc.index, proc.cpu)
        self.ended.append(proc.label)
        self.ends.record(proc, how, status)
        if proc is self.current:
            proc.cpu.stop()

    def unqueue(self, proc):
        """Take a blocked sender out of its destination's queue."""
        dst = proc.sendto
        prev, cur = None, dst.q_head
        while cur is not None and cur is not proc:
            prev, cur = cur, cur.q_next
        if cur is proc:
            self.ipc.unlink_sender(dst, prev, proc)
        proc.sendto = None

    def trace_end(self, proc, how, status, fault, by):
        extra = {}
        if status is not None:
            extra["status"] = status
        if fault is not None:
            extra.update(cause=fault.cause, addr=fault.addr, eip=fault.eip,
                         insn=self.machine.describe_instruction(proc.cpu, fault.eip))
            if fault.detail:
                extra["detail"] = fault.detail
        if by is not None:
            extra["by"] = by
        self.trace.process(self.now(), how, proc, **extra)
