"""Putting faults into the running target: the triggers, activation, and the target's life.

Contract: `Injector(live)` takes charge of a booted system (`tools.inject.system.Live`):
it follows the target driver's incarnations and the ends of every system process, takes
the machine's `int3` breakpoints, and writes faults into the target's text, the
translation cache flushed for every write (`Cpu.patch`).
- `apply(proc, fault, trigger)`: write `fault` (a `tools.inject.faults.Fault`, computed
  on the pristine text) into the running code now: the `static` trigger, and the `time`
  trigger at the program counter.  Bit-flip types flip the same bits in the bytes that
  are there (faults accumulate until the driver restarts from its pristine image);
  NOP types overwrite.  Returns the fault's record (type, trigger, program, address,
  `symbol+offset`, `file:line`, the bytes and their disassembly before and after, the
  virtual time); a Unicorn code hook on the changed bytes fills in `activated_at` when
  one of them first executes.
- `arm(proc, fault)`: the `exec` trigger: an `int3` on the fault's instruction; when the
  target reaches it, the fault's bytes replace the breakpoint, the instruction pointer
  goes back to it, the fault is injected and activated at once and the run stops
  (`activated`), so the patched instruction is the very next one the driver executes.
  `disarm()` takes back a breakpoint never reached (the fault was never injected:
  `injected_at` stays None).
- `ends` lists the ends of drivers and servers (time, label, kind, how, cause, by);
  `starts` counts the target's new incarnations.  The run stops after the slice in which
  the target ends or starts (`kernel.stop_request`); the injector's own state says what
  happened, whatever reason the run returned.
"""

import ctypes

from unicorn import UC_HOOK_CODE

from emu import unicorn_fast as fast

FLIP_TYPES = frozenset(("text", "dst", "src", "ptr", "loop"))
# void (*)(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
_CODE_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                                  ctypes.c_void_p)


class Injector:
    """Faults into the target, and what became of it (see the module docstring)."""

    def __init__(self, live):
        self.live = live
        self.kernel = kernel = live.kernel
        self.target = live.target
        self.ends = []
        self.starts = 0
        self.patched = None          # the endpoint of the incarnation that carries faults
        self.hooks = []              # [cpu, hook, start, end, record]: not activated yet
        self._callback = _CODE_CALLBACK(self._on_code)
        self._callback_address = ctypes.cast(self._callback, ctypes.c_void_p).value
        self.armed = None            # (cpu, address, bytes to write, record)
        self.activated = None        # the record the breakpoint activated last
        self.text_end = live.text.base + len(live.text.code)
        self._end_process = kernel.end_process
        self._start_process = kernel.start_process
        kernel.end_process = self._on_end
        kernel.start_process = self._on_start
        live.machine.breakpoint_handler = self._on_breakpoint

    # -- the target's life --------------------------------------------------------------
    def _on_end(self, proc, how, status=None, fault=None, by=None):
        was_alive = proc.alive
        self._end_process(proc, how, status=status, fault=fault, by=by)
        if not was_alive or proc.alive or proc.kind == "user":
            return
        self.ends.append((self.kernel.now(), proc.label, proc.kind, how,
                          fault.cause if fault is not None else None, by))
        if proc.label == self.target:
            self._forget(proc.cpu)
            if self.patched == proc.endpoint:
                self.patched = None
            self.kernel.stop_request = "target-end"

    def _on_start(self, index, policy, program, slot=None, args=b"", by=None):
        proc = self._start_process(index, policy, program, slot=slot, args=args, by=by)
        if proc is not None and proc.label == self.target:
            self.starts += 1
            self.kernel.stop_request = "target-start"
        return proc

    def _forget(self, cpu):
        """The incarnation on `cpu` ended: its pristine image comes back at its restart,
        so its breakpoint and activation hooks go."""
        for entry in self.hooks:
            if entry[0] is cpu:
                fast.uc_hook_del(cpu.handle, entry[1])
        self.hooks = [entry for entry in self.hooks if entry[0] is not cpu]
        if self.armed is not None and self.armed[0] is cpu:
            self.armed = None

    def refresh(self, proc, why="refresh"):
        """End the target (as `service refresh` would) when its incarnation carries faults
        or a breakpoint, so RS restarts it from its pristine image.  True if it did.  The
        end is a `kill` by `why` ("refresh" at the end of a trial, "stuck" when the
        workload waits on a request the target lost)."""
        if proc is None or self.patched != proc.endpoint:
            return False
        self.kernel.end_process(proc, "kill", by=why)
        return True

    # -- writing faults -------------------------------------------------------------------
    def mutate(self, cpu, fault):
        """(address, bytes there now, bytes with the fault) for `fault` on `cpu`."""
        address, original, new = fault.address, fault.original, fault.new
        current = cpu.read(address, len(new))
        if fault.type in FLIP_TYPES:
            patched = bytes(c ^ o ^ n for c, o, n in zip(current, original, new))
        else:
            patched = new
        return address, current, patched

    def apply(self, proc, fault, trigger):
        cpu = proc.cpu
        address, current, patched = self.mutate(cpu, fault)
        record = self.record(cpu, fault, trigger, address, current, patched)
        self._watch_activation(cpu, address, len(patched), record)
        cpu.patch(address, patched)
        self.patched = proc.endpoint
        return record

    def arm(self, proc, fault):
        cpu = proc.cpu
        address, current, patched = self.mutate(cpu, fault)
        record = self.record(cpu, fault, "exec", address, current, patched)
        record["injected_at"] = None          # until the target reaches it
        self.armed = (cpu, address, patched, record)
        self.activated = None
        cpu.patch(address, b"\xcc")
        self.patched = proc.endpoint
        return record

    def disarm(self):
        """Take back a breakpoint the target never reached (its byte comes back)."""
        if self.armed is None:
            return
        cpu, address, _, record = self.armed
        cpu.patch(address, bytes.fromhex(record["original"])[:1])
        self.armed = None

    def _on_breakpoint(self, cpu):
        armed = self.armed
        pc = cpu.context.pc
        if armed is None or armed[0] is not cpu or armed[1] != pc:
            return False                       # not ours: the process's own int3 faults
        _, address, patched, record = armed
        self.armed = None
        cpu.patch(address, patched)
        cpu.set_register("eip", address)
        record["injected_at"] = record["activated_at"] = self.kernel.now()
        self.activated = record
        cpu.stop()                             # the patched instruction runs next
        self.kernel.stop_request = "activated"
        return True

    def _watch_activation(self, cpu, address, size, record):
        """A code hook on the changed bytes only (free elsewhere); the changed range's
        translations are flushed by the patch that follows, so the hook sees them."""
        hook = fast.add_raw_hook(cpu.handle, UC_HOOK_CODE, self._callback_address, 0,
                                 address, address + size - 1)
        self.hooks.append([cpu, hook, address, address + size, record])

    def _on_code(self, uc, address, size, user_data):
        """A hooked instruction runs: the faults there are activated, their hooks go."""
        now = self.kernel.now()
        keep = []
        for entry in self.hooks:
            cpu, hook, start, end, record = entry
            if cpu.handle.value == uc and start <= address < end:
                record["activated_at"] = now
                fast.uc_hook_del(cpu.handle, hook)
            else:
                keep.append(entry)
        self.hooks = keep

    # -- records ------------------------------------------------------------------------
    def record(self, cpu, fault, trigger, address, current, patched):
        live = self.live
        rest = cpu.read(address + len(patched), max(0, min(15, self.text_end - address -
                                                            len(patched))))
        where = live.symbols.source_line(address)
        return {
            "type": fault.type, "trigger": trigger, "program": live.target,
            "address": address,
            "symbol": live.symbols.describe(address),
            "line": f"{_short(where[0])}:{where[1]}" if where else "",
            "original": current.hex(), "new": patched.hex(),
            "before": live.disassemble(current + rest, address),
            "after": live.disassemble(patched + rest, address),
            "injected_at": self.kernel.now(), "activated_at": None,
        }


def _short(path):
    """A source path as the report shows it: from `guest/` on when it is in the tree."""
    at = path.rfind("guest/")
    return path[at:] if at >= 0 else path
