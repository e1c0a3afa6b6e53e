"""The trap wrapper: a case injected before each fuzzer's trap, the invariants checked after
every trap of every process.

Contract: `wrap(system, proc)` replaces `proc`'s trap callback (the kernel's own: the
same `do_ipc`, the same SYSTEM gate) with one that, unless the system is broken (a
finding made it stop until the reboot), writes a fuzzer's case bytes (`Feed.write`),
snapshots the kernel's state and the other processes' memory, calls the kernel, and then
checks: no kernel panic; a denied trap (an error in eax, or a kernel call whose reply is
negative) changes no kernel state and no memory of another process; any other trap
changes another process's memory only where the kernel may write it (`memory.writable`)
and leaves the process table consistent (`check_table`).  Not a denial: RECEIVE's
ENOTREADY and ELOCKED, which may come after ASEND bookkeeping (stale pending bits
cleared, invalid entries finished), as in MINIX 3.  A fuzzer's trap is counted
(`system.traps`, `system.outcomes`) and its next case loaded.  What fails is reported
through `system.finding`; an exception of the checks themselves is a "harness" finding.
Of `system` (a `FuzzSystem`) it uses only `broken`, `feeds`, `kernel`, `layout`,
`traps`, `outcomes` and `finding`.
"""

from kernel.abi import (ELOCKED, ENOTREADY, M_TYPE, MSG_SIZE, NONBLOCK, OK, RECEIVE, SENDREC,
                        TASK_NAMES)
from kernel.message import read_int32
from kernel.names import PRIMITIVE_NAMES, result_name, type_name
from tools.fuzz.memory import snapshot, stray_write, writable
from tools.fuzz.state import diff, fingerprint
from tools.fuzz.table import check_table
from tools.fuzz.words import signed


def wrap(system, proc):
    real = proc.cpu.trap
    feed = system.feeds.get(proc.label)

    def trap(eax, ebx, ecx):
        if system.broken:
            return real(eax, ebx, ecx)
        try:
            if feed is not None:
                feed.write(proc)
            before = _before(system, proc, eax, ebx, ecx)
        except Exception as error:       # noqa: BLE001 - a bug of this package
            system.finding("harness", proc, f"{type(error).__name__}: {error}")
            return real(eax, ebx, ecx)
        result = real(eax, ebx, ecx)
        try:
            _after(system, proc, feed, before, eax, ebx, ecx, result)
            if feed is not None and proc.alive and not system.broken:
                feed.load(proc, system.layout, system.kernel.table.procs)
        except Exception as error:       # noqa: BLE001 - a bug of this package
            system.finding("harness", proc, f"{type(error).__name__}: {error}",
                           (ecx, eax, ebx))
        return result
    proc.cpu.trap = trap


def _before(system, proc, eax, ebx, ecx):
    """The kernel's state, the other processes' memory and, for a kernel call, its
    request's M_TYPE, before the trap."""
    kernel = system.kernel
    snaps = snapshot(kernel.table.procs, proc, system.layout.watch)
    request = None
    if ecx == SENDREC and signed(eax) in TASK_NAMES and proc.cpu.in_rw(ebx, MSG_SIZE):
        request = read_int32(proc.cpu, ebx + M_TYPE)
    return fingerprint(kernel), snaps, request


def _after(system, proc, feed, before, eax, ebx, ecx, result):
    kernel = system.kernel
    state, snaps, request = before
    registers = (ecx, eax, ebx)
    if feed is not None:
        feed.traps += 1
        system.traps += 1
        system.outcomes[_outcome(proc, ebx, ecx, result, request)] += 1
    if kernel.panic_report is not None:
        report = kernel.panic_report
        system.finding("panic", proc, f"{report['error']} at {report['at']}", registers)
        return
    if _denied(proc, ebx, ecx, result, request):
        after = fingerprint(kernel)
        if after != state:
            system.finding("violation", proc, "a denied trap changed the kernel's state: "
                           + diff(state, after), registers)
        for p, lo, hi, data in snaps:
            if bytes(p.cpu.mem[lo:hi]) != data:
                system.finding("violation", proc, f"a denied trap wrote the memory of "
                               f"{p.label}", registers)
        return
    for p, lo, hi, data in snaps:
        now = bytes(p.cpu.mem[lo:hi])
        if now != data:
            allowed = writable(p, state, snaps, proc, request is not None)
            address = stray_write(p, lo, data, now, allowed)
            if address is not None:
                system.finding("violation", proc, f"the trap wrote {p.label}'s memory at "
                               f"{address:#x}, where no delivery or grant may write",
                               registers)
    problems = check_table(kernel)
    if problems:
        system.finding("violation", proc, "; ".join(problems[:4]), registers)


def _denied(proc, ebx, ecx, result, request):
    """True when the trap was refused: then it must have changed nothing."""
    if result is None:
        return False
    if result < 0:
        return not (ecx & 0xFF == RECEIVE and result in (ENOTREADY, ELOCKED))
    return request is not None and proc.alive and read_int32(proc.cpu, ebx + M_TYPE) < 0


def _outcome(proc, ebx, ecx, result, request):
    """What a fuzzed trap gave: (primitive, result), or (kernel call, its reply's M_TYPE)."""
    if request is not None and result == OK and proc.alive:
        name = type_name(request)
        return (name if isinstance(name, str) else "unknown call",
                str(result_name(read_int32(proc.cpu, ebx + M_TYPE))))
    name = PRIMITIVE_NAMES.get(ecx & 0xFF, "bad function")
    if ecx & ~0xFF:
        name = name + "|NONBLOCK" if ecx & ~0xFF == NONBLOCK else "bad function"
    return name, "BLOCKED" if result is None else str(result_name(result))
