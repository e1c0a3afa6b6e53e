"""The run loop: picks processes, runs their CPUs in slices, keeps virtual time.

Contract: `run(kernel, limits)` runs until one of the ends of `limits` and returns why:
`"exit"` (the process named `until_exit` ended), `"idle"` (no process can run and nothing
is due; with `until_idle`, the requested end, periodic alarms such as RS's heartbeats do
not count; an interactive console is waited for instead), `"max-ticks"` (also at
`max_time`, a limit in instructions),
`"panic"` (see `kernel.panic_report`), `"done"` (the default end: `init` ended, or,
in an image without `init`, every user program ended), or the reason a debugger or the
fault injector put in `kernel.stop_request` (for example `"watch"`, when a process
reached its `insn_watch`, its instruction count to stop at); a later `run` goes on.

A slice runs the picked process for at most the rest of its quantum, never past the next
alarm or device event (one set during the slice ends it early: `Kernel.event_scheduled`),
nor past the tick limit; time advances by the instructions that
really ran.  When nothing can run, time jumps to the next event.  After every slice, due
device interrupts and alarms are delivered, the quantum is accounted, and a fault ends
the process that caused it.  Nothing here reads the wall clock.
"""

from dataclasses import dataclass

from kernel.abi import TICK_INSNS

KIND_USER = "user"
NO_LIMIT = 1 << 62            # virtual time with no tick limit: never reached


@dataclass
class RunLimits:
    max_ticks: int | None = None
    until_exit: str | None = None
    until_idle: bool = False
    max_time: int | None = None      # also end at this virtual time, in instructions


def run(kernel, limits):
    sched = kernel.sched
    clock = kernel.clock
    bus = kernel.bus
    interrupts = kernel.interrupts
    ended = kernel.ended
    limit = limits.max_ticks * TICK_INSNS if limits.max_ticks is not None else None
    if limits.max_time is not None and (limit is None or limits.max_time < limit):
        limit = limits.max_time
    if limit is None:
        limit = NO_LIMIT
    # every user program started so far, ended ones too: a run resumed after some ended
    # (a debugger's) still ends when the last one does
    users = {policy.label for (policy, _), starts in zip(kernel.programs, kernel.starts)
             if starts and policy.kind == KIND_USER}
    has_init = "init" in kernel.labels
    seen_ended = 0
    while True:
        if kernel.panic_report is not None:
            return "panic"
        if kernel.stop_request is not None:
            reason, kernel.stop_request = kernel.stop_request, None
            return reason
        now = kernel.time
        if len(ended) != seen_ended:
            seen_ended = len(ended)
            end = _ended(kernel, limits, users, has_init)
            if end:
                return end
        raised = bus.advance(now)
        if raised:
            interrupts.raise_lines(raised)
        clock.expire(now)
        if now >= sched.next_rebalance:
            sched.rebalance(kernel.table.procs, now)
        proc = sched.pick()              # a method call: the debugger replaces it
        due = _next_due(clock.next_due, bus.next_due)
        if proc is None:
            if _next_due(clock.next_work_due, bus.next_due) is None:
                if kernel.machine.wait_input():     # an interactive console only
                    continue
                if limits.until_idle or due is None:
                    return "idle"                   # periodic alarms do not count
            if due >= limit:
                kernel.time = limit
                return "max-ticks"
            kernel.time = due
            continue
        if now >= limit:
            return "max-ticks"
        budget = proc.left
        if budget <= 0:                  # blocked at the very end of its quantum
            sched.quantum_expired(proc)
            continue
        if due is not None and due - now < budget:
            budget = max(due - now, 1)
        if limit - now < budget:
            budget = limit - now
        run_slice(kernel, proc, budget)


def run_slice(kernel, proc, budget):
    """Run `proc` for at most `budget` instructions (never past its instruction watch)
    and account for the slice: time, quantum, a fault, the watch.  The debugger steps a
    process with it too."""
    now = kernel.time
    watch = proc.insn_watch
    if watch is not None and watch - proc.insns < budget:
        budget = max(watch - proc.insns, 1)
    kernel.current = proc
    kernel.slice_end = now + budget
    cpu = proc.cpu
    ran = cpu.run(budget)
    kernel.current = None
    kernel.time = now + ran
    if kernel.trace is not None and ran:
        kernel.trace.slice(now, now + ran, proc)
    proc.insns += ran
    proc.left -= ran
    fault = cpu.fault
    if fault is not None:
        cpu.fault = None
        kernel.end_process(proc, "fault", fault=fault)
    elif proc.left <= 0 and proc.ready:
        kernel.sched.quantum_expired(proc)
    if watch is not None and proc.insns >= watch:
        proc.insn_watch = None
        kernel.stop_request = "watch"
    return ran


def _next_due(alarm, device):
    if alarm is None:
        return device
    if device is None:
        return alarm
    return min(alarm, device)


def _ended(kernel, limits, users, has_init):
    if limits.until_exit is not None:
        return "exit" if limits.until_exit in kernel.ended else None
    if limits.until_idle:
        return None
    if has_init:
        return "done" if "init" in kernel.ended else None
    if users and users.issubset(kernel.ended):
        return "done"
    return None
