"""Injecting cases: a fuzzer's next trap, resolved and written where its program reads it.

Contract: a `Feed` holds one fuzzer's cases: `source()` gives the next `Case`, or None
when it has no more; the fuzzer then parks (it receives from `waiter`, which never
sends) and `done` is set.  `feed.load(proc, layout, procs)` resolves the next case
against the live process table `procs` (endpoints of this generation, addresses in
`proc`'s window: `resolve`) and writes its registers (ecx, eax, ebx) into the fuzzer's
control block, which its program loads before its next `int`; the bytes of the case
(message, ASEND table, pokes) wait in `pending` until `feed.write(proc)`, called in the
trap, writes them where the fuzzer itself could write (its data, bss and stack), as its
program would have.  `case` is the case of the registers in the control block.
"""

import struct

from kernel.abi import ASEND_MAX, RECEIVE, endpoint
from tools.fuzz.programs import INDEX
from tools.fuzz.words import MASK

_MESSAGE = struct.Struct("<16I")
_ENTRY_HEAD = struct.Struct("<3I")
_CTL = struct.Struct("<3I")


class Feed:
    def __init__(self, label, source):
        self.label, self.source = label, source
        self.pending = None          # (case, ecx, eax, ebx, writes) in the control block
        self.done = False
        self.traps = 0
        self.seen_traps = 0          # at the end of the last step

    @property
    def case(self):
        return self.pending[0] if self.pending else None

    def load(self, proc, layout, procs):
        """Resolve the next case and put its registers in the control block."""
        case = None if self.done else self.source()
        if case is None:
            self.done = True
            ecx, eax, ebx, writes = (RECEIVE, procs[INDEX["waiter"]].endpoint,
                                     layout.inbox[proc.label], ())
        else:
            ecx, eax, ebx, writes = _resolve_case(case, proc, layout, procs)
        self.pending = (case, ecx, eax, ebx, writes)
        cpu = proc.cpu
        _CTL.pack_into(cpu.mem, layout.address(self.label, "ctl") - cpu.window_base,
                       ecx, eax, ebx)

    def write(self, proc):
        """The case's bytes, where the fuzzer itself could write them (data, bss, stack)."""
        cpu = proc.cpu
        for address, data in self.pending[4]:
            if data and cpu.in_rw(address, len(data)):
                offset = address - cpu.window_base
                cpu.mem[offset:offset + len(data)] = data


def _resolve_case(case, proc, layout, procs):
    """The registers (ecx, eax, ebx) of `case` for the fuzzer `proc`, now, and the bytes
    to write before its trap: [(address, bytes)]."""
    def words(specs):
        return [resolve(spec, proc, layout, procs) for spec in specs]
    ecx = case.function & MASK
    eax, ebx = words((case.target, case.buffer))
    writes = []
    if case.message is not None:
        writes.append((ebx, _MESSAGE.pack(*words(case.message))))
    if case.table:
        entries = [_ENTRY_HEAD.pack(*words((flags, dst)), result & MASK)
                   + _MESSAGE.pack(*words(message))
                   for flags, dst, result, message in case.table]
        writes.append((ebx, b"".join(entries[i % len(entries)]
                                     for i in range(min(eax, ASEND_MAX)))))
    for address, specs in case.pokes:
        writes.append((resolve(address, proc, layout, procs),
                       struct.pack(f"<{len(specs)}I", *words(specs))))
    return ecx, eax, ebx, writes


def resolve(spec, proc, layout, procs):
    """The 32-bit word a symbolic word names for the fuzzer `proc`, now."""
    if type(spec) is int:
        return spec & MASK
    tag, kind, arg = spec
    if tag == "addr":
        if kind == "other":
            return layout.inbox[arg]
        region, offset = arg
        return (layout.regions[proc.slot][region] + offset) & MASK
    if kind == "self":
        return proc.endpoint
    if kind == "free":
        return arg
    peer = procs[INDEX[arg]]
    if kind == "live":
        return peer.endpoint
    return endpoint(peer.gen - 1 if peer.gen else peer.gen + 1, peer.slot)
