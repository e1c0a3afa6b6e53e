"""Watching a kernel under attack, for the threat tests (tests/hostile/attack.py).

`TrapGuard(kernel, labels)` wraps the kernel's IPC entry (`Ipc.do_ipc`) for every
process.  Around each trap of a process labelled in `labels` it snapshots the memory of
every live process and records the trap (`TrapRecord`), its result and which bytes
changed where; it flags as a violation any trap that changed what it may not:
- a denied trap (a negative result) changes nothing, in any process;
- in the caller, a trap changes at most its own 64-byte message (RECEIVE, SENDREC, a
  kernel call answered with an error: the reply) or its ASEND table; a kernel call done
  may change the caller's memory as it was asked to (SAFECOPYFROM, VDEVIO input...);
- in another process, a trap changes at most the 64-byte buffer of a process that was
  receiving (a delivery), and a kernel call answered with an error nothing at all.
After `limit` watched traps the rest go through unwatched.  With `log`, every trap of
every process is also logged as (time, label, endpoint, function, eax, result).

`kernel_footprint(kernel)` counts the objects and bytes of the kernel's own state, for
the memory-exhaustion test.
"""

import gc
import struct
import sys
import types
from dataclasses import dataclass, field

from emu.cpu import Cpu
from emu.machine import Machine
from kernel import abi
from kernel.abi import ASEND, ASEND_ENTRY_SIZE, IPC_PRIMITIVE_MASK, M_TYPE, MSG_SIZE, SENDREC
from kernel.kernel import Kernel
from kernel.names import result_name
from kernel.outcome import BLOCKED

TASKS = (abi.HARDWARE, abi.SYSTEM, abi.CLOCK)


def signed32(value):
    return value - 0x100000000 if value & 0x80000000 else value


@dataclass
class TrapRecord:
    t: int
    label: str
    function: int
    eax: int
    ebx: int
    result: object              # the trap's result, BLOCKED, or None
    reply: int | None           # a kernel call's reply M_TYPE
    changes: dict = field(default_factory=dict)     # label -> [(lo, hi)] changed

    @property
    def primitive(self):
        return self.function & IPC_PRIMITIVE_MASK

    @property
    def denied(self):
        return (isinstance(self.result, int) and self.result < 0) or \
            (self.reply is not None and self.reply < 0)


class TrapGuard:
    """Watches the traps of the processes labelled `labels` (see the module docstring);
    after `limit` traps it lets the rest through unwatched."""

    def __init__(self, kernel, labels, limit=None, log=False):
        self.kernel = kernel
        self.labels = set(labels)
        self.limit = limit
        self.records = []
        self.violations = []
        self.log = [] if log else None  # (t, label, endpoint, function, eax, result)
        if not self.labels and not log:
            return
        self.real = kernel.ipc.do_ipc
        kernel.ipc.do_ipc = self.trap
        for proc in kernel.table.procs:
            if proc.alive:
                proc.cpu.trap = kernel.make_trap(proc)

    def trap(self, caller, function, eax, address):
        if self.log is not None:
            t = self.kernel.now()
            result = self.watch(caller, function, eax, address)
            self.log.append((t, caller.label, caller.endpoint, function, eax, result))
            return result
        return self.watch(caller, function, eax, address)

    def watch(self, caller, function, eax, address):
        if caller.label not in self.labels or (
                self.limit is not None and len(self.records) >= self.limit):
            return self.real(caller, function, eax, address)
        kernel = self.kernel
        live = [p for p in kernel.table.procs if p.alive]
        before = [(p, p.endpoint, _snapshot(p.cpu)) for p in live]
        receiving = {p.slot: p.msg_addr for p in live
                     if p.getfrom is not None and p.sendto is None}
        t = kernel.now()
        result = self.real(caller, function, eax, address)
        ep = signed32(eax)
        kcall = function == SENDREC and ep in TASKS and result == abi.OK
        reply = _word(caller.cpu, address + M_TYPE) if kcall else None
        record = TrapRecord(t, caller.label, function, eax, address, result, reply)
        for proc, endpoint, snapshot in before:
            if proc.alive and proc.endpoint == endpoint:
                ranges = _diff(snapshot, _snapshot(proc.cpu))
                if ranges:
                    record.changes[proc.label] = ranges
                    self.check(record, proc, proc is caller, ranges, receiving, kcall)
        self.records.append(record)
        return result

    def check(self, record, proc, own, ranges, receiving, kcall):
        allowed = []
        if isinstance(record.result, int) and record.result < 0:
            pass                                        # a denied trap changes nothing
        elif own:
            if kcall and record.reply >= 0:             # a call done: its own business
                return
            if kcall or record.primitive in (abi.RECEIVE, SENDREC):
                allowed.append((record.ebx, record.ebx + MSG_SIZE))
            elif record.primitive == ASEND:
                allowed.append((record.ebx, record.ebx + ASEND_ENTRY_SIZE * abi.ASEND_MAX))
        elif proc.slot in receiving and not (record.reply is not None and record.reply < 0):
            allowed.append((receiving[proc.slot], receiving[proc.slot] + MSG_SIZE))
        bad = [r for r in ranges if not any(lo <= r[0] and r[1] <= hi for lo, hi in allowed)]
        if bad:
            self.violations.append((record, proc.label, [(hex(a), hex(b)) for a, b in bad]))

    # -- views of the records ---------------------------------------------------------------
    def of(self, label):
        return [r for r in self.records if r.label == label]

    def results(self, label):
        """(primitive name, result name) of every watched trap of `label`."""
        return [(abi.PRIMITIVE_NAMES.get(r.primitive, r.primitive),
                 "BLOCKED" if r.result is BLOCKED else result_name(r.result))
                for r in self.of(label)]

    def touched(self, label):
        """Labels of the other processes whose memory the traps of `label` changed."""
        return {other for r in self.of(label) for other in r.changes if other != label}


def _snapshot(cpu):
    wb = cpu.window_base
    return [(lo, bytes(cpu.mem[lo - wb:hi - wb])) for lo, hi, _ in cpu.regions]


def _diff(before, after):
    """Changed byte ranges [lo, hi) between two snapshots of one CPU's regions."""
    ranges = []
    for (lo, old), (_, new) in zip(before, after):
        if old == new:
            continue
        for block in range(0, len(old), 64):
            if old[block:block + 64] == new[block:block + 64]:
                continue
            for i in range(block, min(block + 64, len(old))):
                if old[i] != new[i]:
                    if ranges and ranges[-1][1] == lo + i:
                        ranges[-1] = (ranges[-1][0], lo + i + 1)
                    else:
                        ranges.append((lo + i, lo + i + 1))
    return ranges


def _word(cpu, address):
    data = cpu.read(address, 4)
    return struct.unpack("<i", data)[0] if data else None


def kernel_footprint(kernel):
    """(objects, bytes) of the kernel's own state: everything reachable from its
    process table, scheduler, clock, interrupts, ends, SYSTEM task, IPC and counts,
    stopping at the CPUs (guest memory: fixed buffers), the machine and the trace (an
    output stream, not kernel state), modules, classes and functions."""
    stop = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
            types.MethodType, Cpu, Machine, Kernel)
    roots = [kernel.table, kernel.sched, kernel.clock, kernel.interrupts, kernel.ends,
             kernel.system, kernel.ipc, kernel.notification, kernel.denials,
             kernel.illegal_requests, kernel.ended, kernel.starts, kernel.labels]
    seen, stack, size = set(), list(roots), 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, stop) or obj is kernel.trace:
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return len(seen), size
