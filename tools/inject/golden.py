"""The golden run: a trial's schedule without faults, which every trial is compared with.

Contract: `run_golden(live, settings)` runs, from the golden point, `per_trial` windows
of `window` target instructions with the workload fed as in a trial, lets the typed
commands finish and runs the health check.  It returns a JSON-able dict: one round's
output on the printer or the console, as the profile says (`round_output`; every round
must print the same bytes), `offset` (the bytes of the first round printed before the
golden point), the health check's printer
and console output, `coverage` (the target's instructions that ran: the `exec` trigger
picks among them, so its faults are reached), `types` (the concrete types `random`
draws from: those with a target in the text, among `coverage` for `exec`), and
`round_target` / `round_time` (target instructions and virtual time of one round: an
`exec` fault waits a round at most for its instruction).  Or it raises
`SystemProblem` with one line.
"""

from unicorn import UC_HOOK_CODE

from tools.inject.faults import TYPES, has_target
from tools.inject.system import SystemProblem
from tools.inject.trial import Trial
from tools.inject.verdict import DRAIN_TIME, HEALTH_TIME, settle


def run_golden(live, settings):
    trial = Trial(live, settings, None, 0)
    proc = live.target_proc()
    start_insns = proc.insns
    coverage = set()
    base, end = live.text.base, live.text.base + len(live.text.code)
    hook = proc.cpu.uc.hook_add(UC_HOOK_CODE, lambda uc, a, s, d: coverage.add(a),
                                None, base, end - 1)
    proc.cpu.uc.ctl_remove_cache(base, end)      # code translated before sees the hook
    capped = 0
    for _ in range(settings["per_trial"]):
        trial.feed()
        status = trial.run_target(proc, trial.window, trial.window_time)
        if status not in ("reached", "cap"):
            raise SystemProblem(f"the golden run lost '{live.target}' ({status})")
        capped += status == "cap"
    kernel = live.kernel
    if not settle(trial, kernel.time, kernel.time + DRAIN_TIME):
        raise SystemProblem("the golden run: the workload's commands did not finish")
    proc.cpu.uc.hook_del(hook)
    rounds = live.shell.typed // live.profile.workload.count(b"\n")
    workload = live.output()[live.golden_point["boot_output"]:]
    round_output = workload[:len(workload) // rounds]
    if not round_output or round_output * rounds != workload:
        raise SystemProblem(f"the workload '{live.profile.name}' does not print the same "
                            f"bytes on the {live.profile.output} in every round")
    printer = live.printer.getvalue()
    round_target = max(1, (proc.insns - start_insns) // rounds)
    round_time = max(1, (kernel.time - live.golden_point["time"]) // rounds)
    printer_at, console_at = len(printer), len(live.console.getvalue())
    live.shell.type(live.profile.health)
    if not settle(trial, kernel.time, kernel.time + HEALTH_TIME):
        raise SystemProblem("the golden run: the health check did not finish")
    covered = sorted(coverage)
    where = set(covered) if settings["trigger"] == "exec" else None
    return {
        "round_output": round_output.decode("latin-1"),
        "offset": live.golden_point["output"] - live.golden_point["boot_output"],
        "health_printer": live.printer.getvalue()[printer_at:].decode("latin-1"),
        "health_console": live.console.getvalue()[console_at:].decode("latin-1"),
        "coverage": covered,
        "types": [t for t in TYPES if has_target(live.text, t, where)],
        "rounds": rounds,
        "round_target": round_target,
        "round_time": round_time,
        "point": live.golden_point,
        "capped": capped,
    }
