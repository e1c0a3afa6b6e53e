"""The system under fuzz, booted once and run step by step: the coordinator of the package.

Contract: `FuzzSystem(sources, trace)` builds and boots the system of `programs` once,
wraps every process's trap (`trap.wrap`) and loads each fuzzer's first case from
`sources` (fuzzer label -> a callable giving its next `Case`, or None).  `step()` runs
one clock tick of virtual time and then checks (`check`): the process table, the
service and, every `WINDOW_EVERY` steps, every process's window outside what it or the
kernel may write.  A fuzzer that ended or stayed blocked for a whole step is killed and
restarted in its slot (`restart`); a whole second of virtual time without a fuzzed trap
is a violation.  After a panic or a violation the system is warm-rebooted (`reboot`):
a fresh machine and kernel, the same CPUs.  `findings` lists what went wrong
(`Finding`: kind "panic", "violation" or "harness", a bug of this package; the trap
count; the process; the text; the registers and the case of the trap, when in one).
For the tests and the checks: `proc(label)` is the live process of a program,
`word(label, name)` one of its int32 variables, `inbox` its receive buffer
(`Layout.inbox`).  Everything is seeded by the sources: the same cases give the same
traps and findings.
"""

from collections import Counter, namedtuple

from kernel.abi import HZ, TICK_INSNS
from kernel.message import read_int32
from kernel.run import RunLimits, run as run_kernel
from tools.fuzz import boot
from tools.fuzz.inject import Feed
from tools.fuzz.layout import Layout
from tools.fuzz.memory import window_problems
from tools.fuzz.programs import FUZZERS, INDEX
from tools.fuzz.service import SERVICE_STEPS, Service
from tools.fuzz.table import check_table
from tools.fuzz.trap import wrap

Finding = namedtuple("Finding", "kind trap proc text registers case")
WINDOW_EVERY = 16             # steps between two checks of the whole windows


class FuzzSystem:
    def __init__(self, sources, trace=True):
        self.session = boot.first_boot(trace)
        self.findings = []
        self.outcomes = Counter()
        self.traps = self.restarts = self.reboots = self.steps = 0
        self.broken = False
        self.layout = Layout(self.session)
        self.inbox = self.layout.inbox
        self.set_sources(sources)
        self._attach()

    @property
    def kernel(self):
        return self.session.kernel

    def proc(self, label):
        return self.kernel.table.procs[INDEX[label]]

    def word(self, label, name):
        """The int32 variable `name` of the program `label`, now."""
        return read_int32(self.proc(label).cpu, self.layout.address(label, name))

    def set_sources(self, sources):
        """New cases (label -> callable giving the next Case or None), from the next
        reboot or restart of each fuzzer on."""
        self.feeds = {label: Feed(label, sources[label]) for label in FUZZERS}

    def clear(self):
        """Forget the findings and the counts (not the traps made)."""
        self.findings.clear()
        self.outcomes.clear()
        self.restarts = self.reboots = 0

    # -- boots --------------------------------------------------------------------------
    def _attach(self):
        """Wrap every process's trap and load each fuzzer's first case."""
        for proc in self.kernel.table.procs:
            if proc.alive:
                wrap(self, proc)
                if proc.label in self.feeds:
                    self._load(proc)
        self.service = Service(self.word)
        self.quiet_fuzzers = 0

    def _load(self, proc):
        self.feeds[proc.label].load(proc, self.layout, self.kernel.table.procs)

    def reboot(self):
        """A warm reboot (`boot.warm_reboot`), its traps wrapped and its cases loaded."""
        boot.warm_reboot(self.session)
        self.broken = False
        self.reboots += 1
        self._attach()

    def restart(self, proc):
        """Kill a fuzzer if it lives and start it again in its slot (a new generation)."""
        boot.restart(self.session, proc)
        self.restarts += 1
        wrap(self, proc)
        self._load(proc)
        problems = check_table(self.kernel)
        if problems:
            self.finding("violation", proc, "after a restart: " + "; ".join(problems[:4]))

    # -- findings -----------------------------------------------------------------------
    def finding(self, kind, proc, text, registers=None):
        """Record a finding in a trap of `proc` (or between traps) and stop the run until
        the reboot that ends the step."""
        feed = self.feeds.get(proc.label)
        case = feed.case if feed is not None else None
        self.findings.append(Finding(kind, self.traps, proc.label, text, registers, case))
        self.broken = True
        current = self.kernel.current
        if current is not None:
            current.cpu.stop()

    # -- steps --------------------------------------------------------------------------
    def step(self):
        """Run one clock tick of virtual time, check, unstick the fuzzers; reboot after a
        panic or a violation."""
        kernel = self.kernel
        self.steps += 1
        limits = RunLimits(max_ticks=kernel.time // TICK_INSNS + 1, until_idle=True)
        try:
            run_kernel(kernel, limits)
        except Exception as error:           # noqa: BLE001 - the kernel raised outside a trap
            self.findings.append(Finding("panic", self.traps, "-", f"outside a trap: "
                                         f"{type(error).__name__}: {error}", None, None))
            self.broken = True
        if not self.broken:
            self.check(windows=self.steps % WINDOW_EVERY == 0)
        if self.broken:
            self.reboot()
            return
        self._unstick()

    def check(self, windows=True):
        """The checks between traps: the table, the service and (`windows`) the memory of
        every process outside what it or the kernel may write."""
        kernel = self.kernel
        problems = check_table(kernel)
        if windows:
            for p in kernel.table.procs:
                if p.alive:
                    problems += window_problems(p, self.layout.fixed)
        problems += self.service.problems()
        if problems:
            self.finding("violation", self.proc("client"), "between traps: "
                         + "; ".join(problems[:4]))

    def _unstick(self):
        """Restart a fuzzer that ended or stayed blocked a whole step; a whole second of
        virtual time without a fuzzed trap is a violation (the system is stuck)."""
        traps = sum(feed.traps - feed.seen_traps for feed in self.feeds.values())
        self.quiet_fuzzers = 0 if traps or self.done else self.quiet_fuzzers + 1
        if self.quiet_fuzzers >= HZ:
            self.finding("violation", self.proc("fuzz_a"), f"no fuzzed trap for {HZ} ticks")
        for feed in self.feeds.values():
            proc = self.proc(feed.label)
            stuck = not proc.alive or proc.blocked and feed.traps == feed.seen_traps
            if stuck and not feed.done:
                self.restart(proc)
            feed.seen_traps = feed.traps

    # -- for the tests ------------------------------------------------------------------
    @property
    def done(self):
        """True when every fuzzer has used all its cases."""
        return all(feed.done for feed in self.feeds.values())

    def run_cases(self, max_steps=500):
        """Step until every fuzzer has used its cases, or a finding."""
        start = len(self.findings)
        for _ in range(max_steps):
            if self.done or len(self.findings) > start:
                return
            self.step()

    def serves(self, answers=2):
        """True when the client gets `answers` more correct answers (within the steps the
        service check allows) without a finding."""
        start, want = len(self.findings), self.service.answered() + answers
        for _ in range(SERVICE_STEPS):
            if self.service.answered() >= want:
                return True
            self.step()
            if len(self.findings) > start:
                return False
        return self.service.answered() >= want
