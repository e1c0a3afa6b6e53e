"""gdb's view of the machine: every process an inferior, the core's stops as stop replies.

Contract:
- Each live process is a gdb inferior with one thread: pid = slot + 1, thread id
  `p<pid>.<pid>` (hex, `multiprocess+`).  A process restarted in its slot is a new
  process: the old one's end is reported (`W`/`X`), the new one appears in the next
  thread list.  `known` holds the processes gdb has been told of (thread lists, stop
  replies): only their ends are reported, so gdb never hears of a pid it does not have.
- `resume(actions)` turns `vCont` actions into a core resume with the scope gdb asks
  for (a process no action names stays stopped; `s` steps one process first) and
  returns the stop reply: `T05swbreak:`/`hwbreak:` at a breakpoint, `T05syscall_entry:N`
  / `syscall_return:N` at a caught IPC trap (N = the primitive, hex), `T05` after a step,
  `T02` after Ctrl-C, `W<status>` / `X<signal>` (`process:<pid>`) when a process ended,
  `T05exec:PATH` in a process that started (gdb adds the inferior, loads its ELF and
  resumes by itself: new processes never come up in a thread list, where gdb would
  switch to them); each with `thread:` and eip, esp, ebp.  A second stop of the same
  resume is kept for the next one (a breakpoint or held trap is simply met again).
  None when nothing in scope can run: the server then waits for Ctrl-C (`interrupted()`).
- `detach(pid)` lets a process go (its breakpoints removed, never stopped again) and
  `finished` becomes "detached" when no process gdb knows is left; `kill(pid)` ends one.
  When the whole run ends, the reply is a `W` and `finished` is "ended".
"""

from emu import faults
from kernel.abi import NR_PROCS

from tools.gdbstub.hostio import HostIO, exec_path

SIGINT, SIGILL, SIGTRAP, SIGFPE, SIGKILL, SIGSEGV = 2, 4, 5, 8, 9, 11
FAULT_SIGNALS = {faults.INVALID_OPCODE: SIGILL, faults.DIVIDE_ERROR: SIGFPE,
                 faults.BREAKPOINT: SIGTRAP, faults.HALT: SIGSEGV}
EXPEDITED = (4, 5, 8)               # esp, ebp, eip


class GdbTarget:
    def __init__(self, debugger):
        self.dbg = debugger
        self.session = debugger.session
        self.table = debugger.table
        image = self.session.image
        self.paths = [exec_path(image, i) for i in range(len(image.programs))]
        self.hostio = HostIO(image, self.paths)
        self.known = {}             # pid -> endpoint of the process gdb was told of
        self.detached = set()       # endpoints gdb let go
        self.general = None         # pid of Hg
        self.catch = None           # the IpcCatch of QCatchSyscalls
        self.pending = []           # stop replies kept for the next resume
        self.last_reply = None
        self.finished = None
        debugger.wants = self.wants
        debugger.stop_on_end = self.stop_on_end
        debugger.stop_on_start = lambda proc: True

    # -- processes ----------------------------------------------------------------------------
    def wants(self, proc):
        return proc.endpoint not in self.detached

    def stop_on_end(self, proc, event):
        return self.known.get(proc.slot + 1) == proc.endpoint

    def threads(self):
        return [p for p in self.table.procs if p.alive and self.wants(p)]

    @staticmethod
    def pid(proc):
        return proc.slot + 1

    def thread_id(self, proc):
        pid = self.pid(proc)
        return b"p%x.%x" % (pid, pid)

    def tell(self, procs):
        for proc in procs:
            self.known[self.pid(proc)] = proc.endpoint

    def proc(self, pid):
        """The live, debugged process of `pid`, or None."""
        if not 1 <= pid <= NR_PROCS:
            return None
        proc = self.table.procs[pid - 1]
        return proc if proc.alive and self.wants(proc) else None

    def general_proc(self):
        proc = self.proc(self.general) if self.general else None
        if proc is None:
            last = self.dbg.last_proc()
            proc = last if last is not None and self.wants(last) else None
        if proc is None:
            threads = self.threads()
            proc = threads[0] if threads else None
        return proc

    @staticmethod
    def parse_thread(text):
        """(pid, tid) of `pP.T`, `P` or `-1` / `0` (all / any): -1 all, 0 any."""
        text = text.strip()
        if text.startswith("p"):
            pid_text, _, tid_text = text[1:].partition(".")
            pid = -1 if pid_text == "-1" else int(pid_text, 16)
            tid = -1 if tid_text in ("", "-1") else int(tid_text, 16)
            return pid, tid
        value = -1 if text == "-1" else int(text, 16)
        return value, value

    # -- running ------------------------------------------------------------------------------
    def resume(self, actions):
        """`actions`: [(letter, pid or -1 for all)], first match wins for each process."""
        if self.pending:
            reply = self.pending.pop(0)
            self.last_reply = reply
            return reply
        threads = self.threads()
        step, going = None, set()
        for proc in threads:
            for letter, pid in actions:
                if pid in (-1, 0) or pid == self.pid(proc):
                    if letter in "sS" and step is None:
                        step = proc
                    elif letter in "cCsS":
                        going.add(proc)
                    break
        everyone = len(going) + (step is not None) == len(threads)
        scope = None
        if not everyone:
            scope = going | {p for p in self.table.procs if p.alive and not self.wants(p)}
        stops = self.dbg.resume(scope=scope, step=step)
        return self._replies(stops)

    def _replies(self, stops):
        first = None
        for stop in stops:
            reply = self.stop_reply(stop)
            if reply is None:
                continue
            if first is None:
                first = reply
            elif stop.kind in ("ended", "started", "ipc-return"):
                self.pending.append(reply)
            elif stop.kind == "breakpoint":
                self.dbg.at_break.pop(stop.proc, None)      # met again next time
            elif stop.kind == "ipc-entry":
                self.dbg.held.pop(stop.proc, None)
        if first is not None:
            self.last_reply = first
        return first

    def stop_reply(self, stop):
        kind, proc = stop.kind, stop.proc
        if kind == "idle":
            return None
        if kind == "end":
            self.finished = "ended"
            return self._end_reply()
        if kind == "ended":
            return self._ended_reply(proc, stop.event)
        if kind == "started":
            return self._started_reply(proc)
        if kind == "interrupt" or proc is None or not self.wants(proc):
            proc = self.general_proc()
            if proc is None:
                return self._end_reply()
            return self.thread_reply(proc, SIGINT)
        reason = b""
        if kind == "breakpoint":
            reason = b"hwbreak:;" if stop.breakpoint.hardware else b"swbreak:;"
        elif kind in ("ipc-entry", "ipc-return") and stop.breakpoint is self.catch:
            word = b"syscall_entry" if kind == "ipc-entry" else b"syscall_return"
            reason = word + b":%x;" % stop.trap.primitive
        return self.thread_reply(proc, SIGTRAP, reason)

    def thread_reply(self, proc, signal, reason=b""):
        self.tell([proc])
        self.general = self.pid(proc)
        regs = proc.cpu.registers()
        names = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip")
        values = b"".join(b"%02x:%s;" % (n, (regs[names[n]] & 0xFFFFFFFF).to_bytes(
            4, "little").hex().encode()) for n in EXPEDITED)
        return b"T%02x%sthread:%s;%s" % (signal, reason, self.thread_id(proc), values)

    def interrupted(self):
        """The reply to Ctrl-C while nothing in scope could run."""
        proc = self.general_proc()
        reply = self.thread_reply(proc, SIGINT) if proc is not None else self._end_reply()
        self.last_reply = reply
        return reply

    def _started_reply(self, proc):
        """A new process is an `exec` in a new inferior: gdb adds it, loads its ELF and
        goes on by itself (no stop for the user, unless `catch exec`)."""
        self.tell([proc])
        path = self.paths[proc.index].encode().hex().encode()
        return b"T%02xexec:%s;thread:%s;" % (SIGTRAP, path, self.thread_id(proc))

    def _ended_reply(self, proc, event):
        pid = self.pid(proc)
        self.known.pop(pid, None)
        if event["ev"] == "exit":
            return b"W%02x;process:%x" % ((event.get("status") or 0) & 0xFF, pid)
        signal = SIGKILL if event["ev"] == "kill" else \
            FAULT_SIGNALS.get(event.get("cause"), SIGSEGV)
        return b"X%02x;process:%x" % (signal, pid)

    def _end_reply(self):
        self.finished = "ended"
        init = self.session.kernel.labels.get("init")
        pids = sorted(self.known)
        pid = init + 1 if init is not None and init + 1 in self.known else \
            (pids[0] if pids else None)
        return b"W00" if pid is None else b"W00;process:%x" % pid

    def stop_status(self):
        """The `?` reply: the last stop, or a stop of the current process."""
        if self.last_reply is not None and not self.last_reply.startswith((b"W", b"X")):
            return self.last_reply
        proc = self.general_proc()
        if proc is None:
            return b"W00"
        self.last_reply = self.thread_reply(proc, SIGTRAP)
        return self.last_reply

    # -- letting go ---------------------------------------------------------------------------
    def detach(self, pid=None):
        procs = self.threads() if pid is None else [p for p in [self.proc(pid)] if p]
        for proc in procs:
            self.detached.add(proc.endpoint)
            self.known.pop(self.pid(proc), None)
            for bp in [b for b in self.dbg.breakpoints if b.owner == proc.endpoint]:
                self.dbg.delete(bp)
            self.dbg.held.pop(proc, None)
            self.dbg.at_break.pop(proc, None)
        if pid is None or not self.known:
            self.finished = "detached"

    def kill(self, pid):
        proc = self.proc(pid)
        if proc is None:
            return False
        self.known.pop(pid, None)
        self.dbg.kill(proc, by="gdb")
        return True

    def set_catch(self, numbers):
        """QCatchSyscalls: None to stop catching, else the primitives (empty: all)."""
        if self.catch is not None:
            self.dbg.delete(self.catch)
            self.catch = None
        if numbers is not None:
            self.catch = self.dbg.add_catch(primitives=frozenset(numbers) or None,
                                            entry=True, ret=True)
