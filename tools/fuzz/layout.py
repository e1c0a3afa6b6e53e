"""Where things are in the windows of the system under fuzz, read once after the first boot.

Contract: `Layout(session)` reads each program's symbols and memory regions; a warm
reboot or a restart loads every program again at the same place, so the layout holds
for the whole run.  Tables are keyed by slot (slot i runs program i):
  regions[slot]  the addresses a fuzzer's cases name ("scratch", "stack_top", "stack_lo",
                 "rw_end", "win"; see `cases`), fuzzers only;
  inbox[label]   the receive buffer of a process ("addr", "other", label), and a
                 fuzzer's scratch;
  watch[slot]    the window ranges (lo, hi) a trap may not write but by a delivery or a
                 grant: the data and, for a fuzzer, the stack;
  fixed[slot]    (lo, hi, bytes): the ranges nothing may change, with their bytes at
                 boot: all of a passive program's window but its variables (`vars` to
                 `vars_end`), a fuzzer's text and the gap below its stack.
`address(label, name)` is the address of a symbol of a program.
"""

from kernel.abi import WINDOW_SIZE
from tools.fuzz.programs import FUZZERS, INDEX, LABELS


class Layout:
    def __init__(self, session):
        self.symbols = [program.symbols for program in session.programs]
        self.regions, self.inbox, self.watch, self.fixed = {}, {}, {}, {}
        procs = session.kernel.table.procs
        for i, label in enumerate(LABELS):
            cpu = procs[i].cpu
            base = cpu.window_base
            (data_lo, data_hi), (stack_lo, _) = cpu.rw_regions
            data = (data_lo - base, data_hi - base)
            stack = (stack_lo - base, WINDOW_SIZE)
            if label in FUZZERS:
                scratch = self.address(label, "scratch")
                self.regions[i] = {"scratch": scratch, "stack_top": base + WINDOW_SIZE,
                                   "stack_lo": stack_lo, "rw_end": data_hi, "win": base}
                self.inbox[label] = scratch
                self.watch[i] = (data, stack)
                kept = ((0, data[0]), (data[1], stack[0]))
            else:
                lo = self.address(label, "vars") - base
                hi = self.address(label, "vars_end") - base
                self.inbox[label] = base + lo
                self.watch[i] = (data,)
                kept = ((0, lo), (hi, WINDOW_SIZE))
            pristine = bytes(cpu.mem)
            self.fixed[i] = [(lo, hi, pristine[lo:hi]) for lo, hi in kept]

    def address(self, label, name):
        return self.symbols[INDEX[label]][name][0]
