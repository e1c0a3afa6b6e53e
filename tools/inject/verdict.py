"""The end of a trial: RS recovers, the health check, and the trial's outcome.

Contract: `finish(trial, records)` ends a `tools.inject.trial.Trial` whose faults are in
and returns its result (see `tools.inject.trial`).  In virtual time: no more workload
rounds are typed; the run goes on until RS has had the time to catch a hang of the last
fault (its heartbeat period times RS_MISSED_BEATS + 1, far longer than a round of the
workload); then the last fault's window closes.  If the target still carries faults it
is ended ("refreshed", as `service refresh` would), so RS restarts it from its pristine
image, and the workload's commands finish.  The health check types the profile's fresh
request; the system has recovered when it prints exactly the golden run's bytes on the
printer and on the console, with `init` alive.  Wrong output: the bytes the trial's
rounds printed (on the printer, or the console: the profile's `output`) differ from the
golden rounds (the rest of the golden point's round, then
every round typed); the fault in whose window they first differ is marked.  Trusted
server failures: servers that ended, and blocking sends from a server to a driver.
`settle(trial, until, deadline)` is the waiting step, shared with the golden run.
"""

from kernel.abi import TICK_INSNS
from kernel.protocols import RS_MISSED_BEATS
from tools.inject.outcome import DENIALS, TRIAL_COLUMNS

DRAIN_TIME = 4_000_000        # the workload's typed commands finish by then
HEALTH_TIME = 2_000_000       # the health check's command finishes by then


def settle(trial, until, deadline):
    """Run until the target is alive, every typed command is done and the virtual time
    is at least `until`: True; False at `deadline` (or a panic, or the end of init)."""
    live, kernel = trial.live, trial.kernel
    while not trial.panic:
        quiet = live.target_proc() is not None and live.shell.pending() == 0
        if quiet and kernel.time >= until:
            return True
        if kernel.time >= deadline:
            return False
        step = until if quiet else kernel.time + TICK_INSNS
        if trial.run_until(min(step, deadline)) in ("done", "idle", "exit"):
            return False
    return False


def hang_grace(live):
    """The virtual time RS needs to catch a hang of the target."""
    policy = live.kernel.programs[live.index][0]
    return policy.heartbeat * (RS_MISSED_BEATS + 1) * TICK_INSNS + TICK_INSNS


def finish(trial, records):
    live, injector, kernel = trial.live, trial.injector, trial.kernel
    injector.disarm()
    caught = trial.last_fault_time + hang_grace(live)
    while not trial.panic and kernel.time < caught:
        if trial.run_until(caught) in ("done", "idle", "exit"):
            break
    trial.close_window()
    refreshed = False if trial.panic else injector.refresh(live.target_proc())
    drained = not trial.panic and settle(trial, kernel.time, kernel.time + DRAIN_TIME)
    printed = live.output()[trial.start_output:]
    rounds = live.shell.typed // live.profile.workload.count(b"\n")
    healthy = drained and health(trial)
    wrong_at = divergence(trial.golden, printed, rounds)
    if wrong_at is not None and records:
        window = max((r for r in records if r["printed_at"] <= wrong_at),
                     key=lambda r: r["printed_at"], default=records[0])
        window["wrong_output"] = 1
    server_ends = [list(e) for e in injector.ends if e[2] == "server"]
    trust = sum(p.trust_reports for p in trial.servers) - trial.trust
    init_alive = kernel.table.by_label("init") is not None
    outcome = dict.fromkeys(TRIAL_COLUMNS, 0)
    outcome["activated"] = sum(1 for r in records if r["activated_at"] is not None)
    illegal, causes = {}, {}
    for r in records:
        for name in DENIALS + ("illegal_requests", "cpu_faults", "hangs", "exits", "stuck",
                               "restarts"):
            outcome[name] += r[name]
        for reason, count in r["illegal"].items():
            illegal[reason] = illegal.get(reason, 0) + count
        if r["cpu_fault"]:
            causes[r["cpu_fault"]] = causes.get(r["cpu_fault"], 0) + 1
    outcome["wrong_output"] = int(wrong_at is not None)
    outcome["server_failures"] = len(server_ends) + trust
    outcome["panics"] = int(trial.panic)
    outcome["unrecovered"] = int(not (healthy and init_alive))
    details = {"illegal": illegal, "cpu_faults": causes, "refreshed": refreshed,
               "drained": drained, "healthy": healthy, "printed": len(printed),
               "wrong_at": wrong_at, "rounds": rounds, "server_ends": server_ends,
               "trust_reports": trust, "end_time": kernel.time}
    if trial.panic:
        details["panic"] = {k: v for k, v in kernel.panic_report.items()
                            if k != "registers"}
    return {"trial": trial.number, "seed": trial.seed, "faults": records,
            "outcome": outcome, "details": details,
            "ticks": (kernel.time - trial.start_time) // TICK_INSNS}


def health(trial):
    """The fresh request: printed as in the golden run, on the printer and the console."""
    live, golden, kernel = trial.live, trial.golden, trial.kernel
    printer_at, console_at = len(live.printer.getvalue()), len(live.console.getvalue())
    live.shell.type(live.profile.health)
    if not settle(trial, kernel.time, kernel.time + HEALTH_TIME):
        return False
    return live.printer.getvalue()[printer_at:] == golden["health_printer"].encode("latin-1") \
        and live.console.getvalue()[console_at:] == golden["health_console"].encode("latin-1")


def divergence(golden, printed, rounds):
    """Where `printed` first differs from the golden rounds (None if nowhere)."""
    expected = (golden["round_output"].encode("latin-1") * rounds)[golden["offset"]:]
    if printed == expected:
        return None
    size = min(len(printed), len(expected))
    return next((i for i in range(size) if printed[i] != expected[i]), size)
