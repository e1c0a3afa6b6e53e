"""One trial of a campaign: from the golden point, faults into the target over time.

Contract: `run_trial(live, settings, golden, number)` runs trial `number` on a system at
the golden point (`tools.inject.system.boot`; the caller forks it first, so the golden
point stays for the next trial) and returns its result, a JSON-able dict: `trial`,
`seed` (of its random generator: `settings.trial_seed`), `faults` (one record per fault:
see `tools.inject.triggers`, with the outcomes of its window), `outcome` (the counters
of `tools.inject.outcome.TRIAL_COLUMNS`), `details` and `ticks`.  The same system,
settings, golden run and number give the same result, byte for byte.  `trace` (a text
stream) records the trial's IPC trace; `on_first_fault(live, record)` is called when
the first fault has gone in (replay's `--debug`).

A trial, in virtual time: the workload runs on (a round is typed when none waits);
fault i goes into the target, then its window: the target runs
`window` instructions, or the window's virtual time `window_time` runs out, or the
target ends (a crash, an exit, RS's kill for missed heartbeats, or the injector's when
the workload is stuck on a request the target lost: see `feed`).  What happens in
the window is fault i's outcome; the next fault goes into the driver as it is then
(restarted by RS if it ended).  `static` writes the fault at once; `time` first lets the
target run a random part of a window (waiting up to a golden round for it to run) and
writes the fault at its program counter (in flight: the instruction in memory there,
decoded again when earlier faults changed it); `exec` puts an `int3` on the fault's
instruction and writes the fault when the target reaches it (waiting up to a golden
round).  The end of the trial: `tools.inject.verdict`.
"""

import random

from kernel.run import RunLimits, run
from kernel.trace import Trace
from tools.inject.faults import TYPES, Text, fault_from
from tools.inject.outcome import DENIALS, Counters
from tools.inject.settings import trial_faults, trial_seed
from tools.inject.triggers import Injector
from tools.inject import verdict

RESTART_TIME = 3_000_000      # RS restarts a driver by then (back-off included)
QUEUED_ROUNDS = 1             # workload rounds kept typed ahead
STUCK_ROUNDS = 4              # a round this many golden rounds long is stuck
STOPPED = ("done", "idle", "exit")
PC_LOOKAHEAD = 64             # bytes decoded at a program counter inside changed code


class Trial:
    """The state of one trial (also the golden run's, without faults)."""

    def __init__(self, live, settings, golden, number, trace=None, on_first_fault=None):
        self.live = live
        self.kernel = live.kernel
        self.settings = settings
        self.golden = golden
        self.number = number
        self.seed = trial_seed(settings["seed"], number)
        self.rng = random.Random(self.seed)
        self.window = settings["window"]
        self.window_time = settings["window_time"]
        self.covered = set(golden["coverage"]) if golden else None
        self.types = golden["types"] if golden else list(TYPES)
        self.injector = Injector(live)
        self.counters = Counters(live.kernel, live.target)
        self.on_first_fault = on_first_fault
        self.start_time = self.kernel.time
        self.start_output = len(live.output())
        self.servers = [p for p in self.kernel.table.procs if p.alive and p.kind == "server"]
        self.trust = sum(p.trust_reports for p in self.servers)
        self.panic = False
        self.last_fault_time = self.kernel.time
        self.window_record = None
        self.window_state = None
        self.progress = (live.shell.count(), self.kernel.time)
        if trace is not None:
            self.kernel.trace = Trace(trace, self.kernel.table)

    # -- running ---------------------------------------------------------------------------
    def run_until(self, max_time):
        kernel = self.kernel
        kernel.stop_request = None
        end = run(kernel, RunLimits(max_time=max_time))
        if kernel.panic_report is not None:
            self.panic = True
        return end

    def run_target(self, proc, count, time_cap, until_activated=False):
        """Run until `proc` has executed `count` more instructions ("reached"), or it
        ends ("ended"), or `time_cap` virtual time has passed ("cap"); exec: until its
        breakpoint ("activated").  Or "panic", "stopped".  The workload is fed every
        `window_time` of a longer wait."""
        endpoint, goal = proc.endpoint, proc.insns + count
        kernel = self.kernel
        limit = kernel.time + time_cap
        while True:
            proc.insn_watch = goal
            end = self.run_until(min(limit, kernel.time + self.window_time))
            if self.panic:
                return "panic"
            if not proc.alive or proc.endpoint != endpoint:
                return "ended"
            if until_activated and self.injector.activated is not None:
                proc.insn_watch = None
                return "activated"
            if proc.insns >= goal:
                proc.insn_watch = None
                return "reached"
            if end in STOPPED or kernel.time >= limit:
                proc.insn_watch = None
                return "stopped" if end in STOPPED else "cap"
            if end == "max-ticks":
                self.feed()

    def ensure_target(self):
        """The live target, after waiting for RS to restart it if needed; or None."""
        proc = self.live.target_proc()
        limit = self.kernel.time + RESTART_TIME
        while proc is None and not self.panic:
            end = self.run_until(limit)
            proc = self.live.target_proc()
            if proc is None and (end == "max-ticks" or end in STOPPED):
                return None
        return None if self.panic else proc

    def feed(self):
        """One more round of the workload when fewer than QUEUED_ROUNDS wait.  A round
        that has not finished after STUCK_ROUNDS golden rounds is stuck: the target lost
        a request (drivers may leave a request unanswered, and no check can see it), so
        it is refreshed, when it carries faults, as a user would restart it."""
        shell, now = self.live.shell, self.kernel.time
        if shell.pending() < QUEUED_ROUNDS:
            shell.type(self.live.profile.workload)
            self.progress = (shell.prompts, now)
        elif shell.prompts != self.progress[0]:
            self.progress = (shell.prompts, now)
        elif self.golden and now - self.progress[1] > STUCK_ROUNDS * self.golden["round_time"]:
            self.injector.refresh(self.live.target_proc(), "stuck")
            self.progress = (shell.prompts, now)

    # -- one fault ---------------------------------------------------------------------------
    def choose_type(self):
        fault_type = self.rng.choice(self.settings["types"])
        return self.rng.choice(self.types) if fault_type == "random" else fault_type

    def inject(self, proc):
        """Fault one: into `proc`, by the trigger; its record, or None when no live
        target was left to take it.  The previous fault's window closes when this one
        goes in (with `time`, after the pause)."""
        trigger, text, rng = self.settings["trigger"], self.live.text, self.rng
        fault_type = self.choose_type()
        if trigger == "static":
            fault = self.live.targets().pick(fault_type, rng)
            record = self.open_window(self.injector.apply, proc, fault, "static")
            self.first(record)
        elif trigger == "exec":
            start = rng.randrange(len(text.instructions))
            fault = self.live.targets(self.covered).pick_from(fault_type, start, rng)
            record = self.open_window(self.injector.arm, proc, fault)
            status = self.run_target(proc, self.golden["round_target"],
                                     self.golden["round_time"], until_activated=True)
            if status != "activated":
                if status != "ended":
                    self.injector.disarm()
                return record
            self.first(record)
        else:
            proc = self.pause(proc, rng.randrange(self.window))
            if proc is None:
                return None
            fault = self.at_pc(proc, fault_type, rng)
            record = self.open_window(self.injector.apply, proc, fault, "time")
            record["pc"] = proc.cpu.eip
            self.first(record)
        self.run_target(proc, self.window, self.window_time)
        return record

    def at_pc(self, proc, fault_type, rng):
        """time: a fault of `fault_type` from the instruction at `proc`'s program counter
        on: the one in memory, when an earlier fault changed the code there."""
        text, cpu = self.live.text, proc.cpu
        pc = cpu.eip
        number = text.index_at(pc)
        insn = text.instructions[number]
        if insn.address != pc or cpu.read(pc, insn.size) != bytes(insn.bytes):
            end = text.base + len(text.code)
            here = Text(cpu.read(pc, min(PC_LOOKAHEAD, end - pc)), pc)
            fault = fault_from(here, fault_type, 0, rng) if here.instructions else None
            if fault is not None:
                return fault
        return self.live.targets().pick_from(fault_type, number, rng)

    def pause(self, proc, count):
        """time: let the target run `count` instructions (its next incarnation, if it
        ends first), waiting up to a golden round for it to run; the process to put the
        fault in, or None."""
        for _ in range(3):
            if not count or self.run_target(proc, count, self.golden["round_time"]) \
                    != "ended":
                break
            proc = self.ensure_target()
            if proc is None:
                return None
        return None if self.panic else proc

    def first(self, record):
        if self.on_first_fault is not None:
            callback, self.on_first_fault = self.on_first_fault, None
            callback(self.live, record)

    # -- windows -------------------------------------------------------------------------------
    def open_window(self, put, *args):
        """Close the previous fault's window, put this fault in (`put(*args)` gives its
        record) and open its window."""
        self.close_window()
        injector = self.injector
        self.window_state = (self.counters.snapshot(), len(injector.ends), injector.starts,
                             len(self.live.output()) - self.start_output)
        self.window_record = record = put(*args)
        self.last_fault_time = self.kernel.time
        return record

    def close_window(self):
        record = self.window_record
        if record is None:
            return
        self.window_record = None
        injector = self.injector
        snapshot, ends, starts, printed = self.window_state
        denials, illegal = self.counters.since(snapshot)
        for name in DENIALS:
            record[name] = denials.get(name, 0)
        record["illegal_requests"] = sum(illegal.values())
        record["illegal"] = illegal
        mine = [e for e in injector.ends[ends:] if e[1] == self.live.target]
        record["cpu_fault"] = next((e[4] for e in mine if e[3] == "fault"), "")
        record["cpu_faults"] = sum(1 for e in mine if e[3] == "fault")
        record["hangs"] = sum(1 for e in mine if e[3] == "kill" and e[5] == "rs")
        record["exits"] = sum(1 for e in mine if e[3] == "exit")
        record["stuck"] = sum(1 for e in mine if e[5] == "stuck")
        record["restarts"] = injector.starts - starts
        record["printed_at"] = printed
        record["window_end"] = self.kernel.time
        record["wrong_output"] = 0

    # -- the trial ---------------------------------------------------------------------------
    def run(self):
        records = []
        for _ in range(trial_faults(self.settings, self.number)):
            proc = self.ensure_target()
            if proc is None:
                break
            self.feed()
            record = self.inject(proc)
            if record is not None:
                records.append(record)
            if record is None or self.panic:
                break
        return verdict.finish(self, records)


def run_trial(live, settings, golden, number, trace=None, on_first_fault=None):
    return Trial(live, settings, golden, number, trace, on_first_fault).run()
