"""The debugging core under both front ends (the built-in debugger and the GDB stub).

Contract:
- `Debugger(session)` attaches to a booted `emu.session.Session` (`attach()`): it sets
  the kernel's `trap_hook` and `done_hook`, the machine's `breakpoint_handler` and a
  `Recorder` as `kernel.trace` (which still feeds the boot's own trace file, if any);
  `detach()` takes everything out again, breakpoints included.  Without a debugger the
  hooks stay None and nothing costs anything.
- Breakpoints (`add_breakpoint`: software `int3` or hardware code hook, for every process
  of a program or for one process) and IPC catches (`add_catch`) stop the machine.
  A process stopped at an IPC entry is held before its `int 0x21`: the kernel has not
  seen the call; resuming it lets that one trap through.
- `resume(scope, step, count)` runs the machine until something stops it and returns the
  `Stop`s (the first is the reason; a trap can complete two calls at once).  `scope`
  (None for all) is the set of processes allowed to run; `step` is a process to run
  `count` instructions, first and alone while it can run: when it blocks in a trap
  the others in scope run until its call completes, which ends a step over that trap
  (a blocked process's step ends when its call completes).  A process resumed from a
  breakpoint steps over it first.  Stops: `breakpoint`, `ipc-entry`, `ipc-return`,
  `step`, `ended` / `started` (a process ended or started and `stop_on_end` /
  `stop_on_start` wanted to hear it), `interrupt` (`interrupt()`, safe from a signal
  handler or another thread, even just before the resume), `idle` (nothing in `scope`
  can run), `end` (the run ended: done, exit, idle, max-ticks, panic).  `pass_trap`:
  a step from an `int 0x21` runs that trap even if a catch would hold it.
- Every trap is recorded (`traps[proc]`, a `TrapRecord` with the kernel's verdict: the
  trace events of its handling and its result); `step_records` are those of the process
  stepped by the last `resume`.  `notices` are the process events that did not stop it.
- `wants(proc)` (front end's, default all) says which processes are debugged: the others
  never stop the machine.  Runs keep to the boot's limits (`limits`).
"""

from dataclasses import dataclass

from kernel.abi import ENDPOINT_GEN_MUL, WINDOW_BASE, WINDOW_SIZE
from kernel.run import RunLimits, run

from emu.debug.breakpoints import CodeBreakpoint, CodeBreakpoints
from emu.debug.catches import IpcCatch, primitive_of, signed32
from emu.debug.places import Places
from emu.debug.recorder import Recorder
from emu.debug.traps import TrapLog, open_record

IPC_INSTRUCTION = b"\xcd\x21"
_CONTINUE = frozenset(("debug", "trap", "watch", "interrupt"))
_OURS = frozenset(("debug", "interrupt"))


@dataclass
class Stop:
    kind: str
    proc: object = None
    address: int | None = None
    breakpoint: object = None       # the CodeBreakpoint or IpcCatch that stopped it
    trap: object = None             # the TrapRecord of an IPC entry, return or step
    event: dict | None = None       # `ended`: the trace event (exit, fault, kill)
    reason: str = ""                # `end`: the run's end reason


class Debugger:
    """Breakpoints, catches, stepping and stops over one session (see the docstring)."""

    def __init__(self, session, limits=None):
        self.session = session
        self.kernel = session.kernel
        self.machine = session.machine
        self.table = session.kernel.table
        options = session.options
        self.limits = limits or RunLimits(options.max_ticks, options.until_exit,
                                          options.until_idle)
        self.code = CodeBreakpoints(self._on_hardware)
        self.patches = self.code.patches
        self.breakpoints = self.code.items
        self.catches = []
        self.numbers = 0
        self.recorder = None
        self._inner_trace = None
        self.attached = False
        self.running = False
        self.stops = []
        self.notices = []
        self.held = {}              # proc -> address of the int 0x21 it is held before
        self.passing = {}           # proc -> address of the trap to let through once
        self.at_break = {}          # proc -> (address, insns): stopped at a breakpoint
        self.skip = {}              # proc -> (address, insns): step over it once
        self.rearm = []             # (cpu, address) lifted for one instruction
        self.log = TrapLog(self.table)
        self.traps = self.log.last  # proc -> its last TrapRecord
        self.stepping = None
        self.step_target = 0
        self.step_records = []
        self.scope = None
        self.interrupted = False
        self.end = None
        self.last_slot = 0          # the process that ran last
        self.wants = lambda proc: True
        self.stop_on_end = lambda proc, event: event["ev"] == "fault"
        self.stop_on_start = lambda proc: False
        self.places = Places(self)

    # -- attaching --------------------------------------------------------------------------
    def attach(self):
        kernel = self.kernel
        self._inner_trace = kernel.trace
        self.recorder = Recorder(kernel.trace, self.table, self._on_event)
        self.log.recorder = self.recorder
        kernel.trace = self.recorder
        kernel.trap_hook = self._on_trap
        kernel.done_hook = self._on_done
        self.machine.breakpoint_handler = self._on_int3
        self.attached = True
        return self

    def detach(self):
        """Remove every breakpoint and catch and the hooks; held processes just go on."""
        for item in list(self.breakpoints) + list(self.catches):
            self.delete(item)
        self._rearm()
        kernel = self.kernel
        kernel.trace = self._inner_trace
        kernel.trap_hook = None
        kernel.done_hook = None
        self.machine.breakpoint_handler = None
        if kernel.stop_request in _OURS:
            kernel.stop_request = None
        self.held.clear()
        self.passing.clear()
        self.attached = False

    # -- processes --------------------------------------------------------------------------
    def live(self):
        return [p for p in self.table.procs if p.alive]

    def proc_of_cpu(self, cpu):
        for proc in self.table.procs:
            if proc.alive and proc.cpu is cpu:
                return proc
        return None

    def last_proc(self):
        proc = self.table.procs[self.last_slot]
        if proc.alive:
            return proc
        live = self.live()
        return live[0] if live else None

    def read_memory(self, proc, address, size):
        """Memory of `proc` as the program sees it (breakpoints hidden); b'' if unmapped."""
        return self.patches.read(proc.cpu, address, size)

    def write_memory(self, proc, address, data):
        return self.patches.write(proc.cpu, address, bytes(data))

    def kill(self, proc, by="debugger"):
        self.kernel.end_process(proc, "kill", by=by)

    # -- breakpoints and catches --------------------------------------------------------------
    def program_of(self, address):
        index = (address - WINDOW_BASE) // WINDOW_SIZE
        if address < WINDOW_BASE or index >= len(self.session.programs):
            return None
        return index

    def add_breakpoint(self, address, owner=None, hardware=False, where=""):
        """A breakpoint at `address` (in some program's text); None when it is not."""
        index = self.program_of(address)
        if index is None:
            return None
        program = self.session.programs[index]
        if not program.text_base <= address < program.text_base + len(program.text):
            return None
        self.numbers += 1
        bp = CodeBreakpoint(self.numbers, address, index, owner, hardware, where)
        return self.code.add(bp, self.live())

    def find_breakpoint(self, address, owner=None, hardware=False):
        return self.code.find(address, owner, hardware)

    def add_catch(self, **filters):
        self.numbers += 1
        catch = IpcCatch(self.numbers, **filters)
        self.catches.append(catch)
        return catch

    def delete(self, item):
        if not self.code.remove(item) and item in self.catches:
            self.catches.remove(item)

    # -- running ------------------------------------------------------------------------------
    def interrupt(self):
        """Stop a running machine soon (a signal handler or another thread may call it)."""
        self.interrupted = True
        if self.kernel.stop_request is None:
            self.kernel.stop_request = "interrupt"

    def resume(self, scope=None, step=None, count=1, pass_trap=False):
        """Run until a stop (see the module docstring); returns the stops."""
        self.stops, self.notices, self.step_records = [], [], []
        if self.end is not None:
            return [Stop("end", reason=self.end)]
        if step is not None and not step.alive:
            return [Stop("end", step, reason="not running")]
        kernel = self.kernel
        self.scope = None if scope is None else set(scope)
        self._prepare(step, count, pass_trap)
        filtered = scope is not None or step is not None
        if filtered:
            kernel.sched.pick = self._make_pick()
        self.running = True
        try:
            while not self.stops:
                if self.interrupted:
                    self.interrupted = False
                    self._stop(Stop("interrupt", self.last_proc()))
                    break
                reason = run(kernel, self.limits)
                self._rearm()
                if self.stops:
                    break
                if reason == "watch":
                    self._check_step()
                elif reason == "idle" and self.scope is not None:
                    self._stop(Stop("idle", self.last_proc(), reason=reason))
                elif reason not in _CONTINUE:
                    self.end = reason
                    self._stop(Stop("end", self.last_proc(), reason=reason))
        finally:
            self.running = False
            if kernel.stop_request in _OURS:
                kernel.stop_request = None          # a stop seen after the run returned
            if filtered:
                del kernel.sched.pick
            self._rearm()
            if self.stepping is not None:
                self.stepping.insn_watch = None
                self.stepping = None
            self.scope = None
        for stop in self.stops:
            if stop.proc is not None and stop.kind not in ("end", "idle", "interrupt"):
                self.last_slot = stop.proc.slot
        return self.stops

    def _prepare(self, step, count, pass_trap):
        in_scope = self.scope
        for proc, at in self.held.items():
            if proc is step or in_scope is None or proc in in_scope:
                self.passing[proc] = at
        if step is not None and pass_trap:
            at = step.cpu.eip
            if step.cpu.read(at, 2) == IPC_INSTRUCTION:
                self.passing[step] = at
        self.skip = dict(self.at_break)
        self.at_break = {}
        if step is not None:
            pc = step.cpu.eip
            if self.patches.patched(step.cpu, pc) or self.patches.hooked(step.cpu, pc):
                self.skip[step] = (pc, step.insns)
            blocked = step.blocked
            self.stepping = step
            self.step_target = step.insns + count - (1 if blocked else 0)
            if self.step_target > step.insns:
                step.insn_watch = self.step_target

    def _make_pick(self):
        queues = self.kernel.sched.queues
        scope, stepping = self.scope, self.stepping

        def pick():
            if stepping is not None and stepping.ready:
                return stepping
            for queue in queues:
                for proc in queue:
                    if scope is None or proc in scope:
                        return proc
            return None
        return pick

    def _check_step(self):
        proc = self.stepping
        if proc is None or not proc.alive:
            return
        if self.kernel.insns_of(proc) >= self.step_target and not proc.blocked:
            last = self.step_records[-1] if self.step_records else None
            self._stop(Stop("step", proc, proc.cpu.eip, trap=last))

    def _stop(self, stop):
        if not self.running:
            self.notices.append(stop)
            return
        self.stops.append(stop)
        kernel = self.kernel
        if kernel.stop_request is None:
            kernel.stop_request = "debug"
        if kernel.current is not None:
            kernel.current.cpu.stop()

    def _rearm(self):
        for cpu, address in self.rearm:
            self.patches.rearm(cpu, address)
        self.rearm = []

    def _skipping(self, proc, address, insns):
        if self.skip.get(proc) == (address, insns):
            del self.skip[proc]
            return True
        return False

    # -- hooks --------------------------------------------------------------------------------
    def _on_int3(self, cpu):
        pc = cpu.context.pc
        if not self.patches.patched(cpu, pc):
            return False                     # the program's own int3: its fault
        proc = self.proc_of_cpu(cpu)
        if proc is None:
            return False
        cpu.set_register("eip", pc)          # the int3 did not happen: eip on it, not counted
        cpu.context.count -= 1
        cpu.stop()
        insns = proc.insns + cpu.context.count
        hit = self._hit_of(proc, cpu, pc, False)
        if hit is None or self._skipping(proc, pc, insns):
            self.patches.lift(cpu, pc)       # run the real instruction once, then re-arm
            self.rearm.append((cpu, pc))
            cpu.context.limit += 1
            if self.kernel.stop_request is None:
                self.kernel.stop_request = "debug"
            return True
        self._hit(proc, pc, hit, insns)
        return True

    def _on_hardware(self, cpu, address):
        proc = self.proc_of_cpu(cpu)
        if proc is None:
            return
        insns = proc.insns + cpu.context.count - 1     # this instruction is counted already
        hit = self._hit_of(proc, cpu, address, True)
        if hit is None or self._skipping(proc, address, insns):
            return
        cpu.context.count -= 1
        cpu.stop()
        cpu.uc.emu_stop()                    # before the instruction runs
        self._hit(proc, address, hit, insns)

    def _hit_of(self, proc, cpu, address, hardware):
        return self.code.hit(proc, cpu, address, hardware) if self.wants(proc) else None

    def _hit(self, proc, address, bp, insns):
        bp.hits += 1
        self.at_break[proc] = (address, insns)
        self._stop(Stop("breakpoint", proc, address, breakpoint=bp))

    def _on_trap(self, proc, eax, ebx, ecx):
        at = proc.cpu.eip - 2
        self.log.seal()
        if self.passing.pop(proc, None) != at and self.catches and self.wants(proc):
            catch = self._match_entry(proc, eax, ebx, ecx)
            if catch is not None:
                catch.hits += 1
                self.held[proc] = at
                record = open_record(proc, eax, ebx, ecx, self.table, self.recorder.count,
                                     self.kernel.now())
                self._stop(Stop("ipc-entry", proc, at, breakpoint=catch, trap=record))
                return True
        self.held.pop(proc, None)
        record = self.log.open(proc, eax, ebx, ecx, self.kernel.now())
        if proc is self.stepping:
            self.step_records.append(record)
        return False

    def _match_entry(self, proc, eax, ebx, ecx):
        primitive = primitive_of(ecx)
        peer_name = self.table.name_of(signed32(eax))
        for catch in self.catches:
            if catch.match_entry(proc, primitive, peer_name, ebx):
                return catch
        return None

    def _on_done(self, proc, result):
        record = self.log.complete(proc, result)
        if record is None:
            return
        catch = None
        if self.catches and self.wants(proc):
            catch = next((c for c in self.catches
                          if c.match_return(proc, record, self.table)), None)
        if catch is not None:
            catch.hits += 1
            self._stop(Stop("ipc-return", proc, proc.cpu.eip, breakpoint=catch, trap=record))
        elif proc is self.stepping and self.kernel.insns_of(proc) >= self.step_target:
            self._stop(Stop("step", proc, proc.cpu.eip, trap=record))

    def _on_event(self, number, event):
        ev = event["ev"]
        slot = event["ep"] % ENDPOINT_GEN_MUL
        if ev == "slice":
            self.last_slot = slot
            self.log.slice_ended(number, event["ep"])
            return
        proc = self.table.procs[slot]
        if ev == "start":
            self.code.reapply(proc)
            stop = Stop("started", proc, event=event)
            if self.wants(proc) and self.stop_on_start(proc):
                self._stop(stop)
            else:
                self.notices.append(stop)
            return
        self._ended(proc, number, event)

    def _ended(self, proc, number, event):
        self.log.ended(proc, number)
        for bp in self.code.owned_by(proc.endpoint):
            self.code.remove(bp)
        for table in (self.held, self.passing, self.skip, self.at_break):
            table.pop(proc, None)
        stop = Stop("ended", proc, event=event)
        if self.wants(proc) and (proc is self.stepping or self.stop_on_end(proc, event)):
            self._stop(stop)
        else:
            self.notices.append(stop)
