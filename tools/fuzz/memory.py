"""The invariants of memory: what a trap may write in the windows of other processes.

Contract: `snapshot(procs, caller, watch)` copies, before a trap of `caller`, the watched
ranges (`Layout.watch`) of every other live process, as (proc, lo, hi, bytes) with lo
and hi offsets in its window.  After the trap, `writable(other, state, snaps, caller,
kernel_call)` gives the address ranges of `other` the kernel may have written, from the
kernel's state and memory before the trap, and `stray_write(other, lo, data, now,
allowed)` the first address of a change outside them (None when there is none).
`window_problems(proc, fixed)` checks, between traps, the ranges nothing may change
(`Layout.fixed`).  Nothing here changes memory.
"""

import struct

from kernel.abi import (ASEND_ENTRY_SIZE, CPF_FLAGS_MASK, CPF_VALID, CPF_WRITE,
                        GRANT_ENTRY_SIZE, MSG_SIZE)
from tools.fuzz.state import FIELD, proc_state

_GRANT = struct.Struct("<4I")


def snapshot(procs, caller, watch):
    snaps = []
    for p in procs:
        if p.alive and p is not caller:
            mem = p.cpu.mem
            for lo, hi in watch[p.slot]:
                snaps.append((p, lo, hi, bytes(mem[lo:hi])))
    return snaps


def writable(other, state, snaps, caller, kernel_call):
    """Address ranges of `other` the kernel may write in `caller`'s trap, from the state
    `state` (a fingerprint) and the memory `snaps` before it: its receive buffer while it
    receives or is in SENDREC (the reply may come in the trap that takes its request),
    the flags and result words of its ASEND table, and (for a kernel call) what its
    grants let `caller` write."""
    info = proc_state(state, other.slot)
    ranges = []
    if info[FIELD["getfrom"]] is not None or info[FIELD["in_sendrec"]]:
        address = info[FIELD["msg_addr"]]
        ranges.append((address, address + MSG_SIZE))
    table = info[FIELD["asend_addr"]]
    for i in range(info[FIELD["asend_count"]]):
        entry = table + i * ASEND_ENTRY_SIZE
        ranges += [(entry, entry + 4), (entry + 8, entry + 12)]
    if kernel_call:
        table = info[FIELD["grant_addr"]]
        for i in range(info[FIELD["grant_count"]]):
            entry = _pre_bytes(snaps, other, table + i * GRANT_ENTRY_SIZE, GRANT_ENTRY_SIZE)
            if entry is None:
                continue
            flags, grantee, address, size = _GRANT.unpack(entry)
            if flags & CPF_VALID and flags & CPF_WRITE and not flags & ~CPF_FLAGS_MASK \
                    and grantee == caller.endpoint:
                ranges.append((address, address + size))
    return ranges


def stray_write(other, lo, data, now, allowed):
    """The first address where `now` (the range at offset `lo` of `other`'s window, after
    the trap) differs from `data` (before) outside the `allowed` ranges, or None."""
    base = other.cpu.window_base
    expected = bytearray(data)
    for a, b in allowed:
        a, b = max(a - base - lo, 0), min(b - base - lo, len(data))
        if a < b:
            expected[a:b] = now[a:b]
    if expected == now:
        return None
    return base + lo + next(i for i in range(len(now)) if now[i] != expected[i])


def window_problems(p, fixed):
    """A line when a range of `p`'s window that nothing may change has changed."""
    mem = p.cpu.mem
    for lo, hi, data in fixed[p.slot]:
        if bytes(mem[lo:hi]) != data:
            at = next(i for i in range(hi - lo) if mem[lo + i] != data[i])
            return [f"{p.label}'s memory changed at {p.cpu.window_base + lo + at:#x}"]
    return []


def _pre_bytes(snaps, proc, address, size):
    """`size` bytes at `address` of `proc`'s memory as they were before the trap."""
    offset = address - proc.cpu.window_base
    for p, lo, hi, data in snaps:
        if p is proc and lo <= offset and offset + size <= hi:
            return data[offset - lo:offset - lo + size]
    return None
