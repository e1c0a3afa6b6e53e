"""`emu bench`: the figures of SPEC section 10, each as a ratio against a bare-Unicorn
floor measured in the same run (absolute times on shared machines are noise).

Contract: `run_benchmarks(quick, json_path)` builds the benchmark system
(`tools/bench_guest/system.toml`) and the stock system (`guest/system.toml`) into a
temporary folder, measures every figure of `FIGURES` against its floor
(`tools.bench_floor`), prints one table row per figure (figure, ours, floor, ratio,
target, pass/fail) and, with `json_path`, writes
`{key: {ours_us, floor_us, ratio, target, ok, ...} for each figure, "machine": {...}}`.
Times are medians over several repetitions, ours and its floor alternating so both see
the same machine load; the ratio is the median of the repetitions' own ratios (each pair
measured back to back), so it can differ a little from ours_us / floor_us.  It returns 0
when every figure was measured (a missed target is reported, not an error: shared
machines are noisy), 1 when a benchmark run went wrong (a guest failed, the kernel
panicked), 2 when an image could not be built or the JSON file cannot be written.
`quick` shortens every run to finish in a few seconds (tests).

The machine side of each figure boots through `emu.session.Session`, exactly as
`emu boot` does; only wall-clock timing (time.perf_counter) lives here and in the floor
module, never in the emulator.  The benchmark programs take their iteration count in
esi, set by the harness on the booted process before the run; a program left at 0 exits
at once, so one image serves every figure.
"""

import gc
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from emu.session import BootOptions, Session
from kernel.abi import TICK_INSNS
from tools import bench_floor as floor
from tools.build import BuildError, build_image

ROOT = Path(__file__).resolve().parent.parent
BENCH_SYSTEM = ROOT / "tools" / "bench_guest" / "system.toml"
STOCK_SYSTEM = ROOT / "guest" / "system.toml"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    unit: str
    target: float
    higher_is_better: bool = False      # ratio = floor/ours (a speed), else ours/floor


FIGURES = (
    Figure("ipc_round_trip", "IPC round trip (SENDREC, guest to guest)", "us per round trip",
           2.5),
    Figure("trap_no_switch", "trap with no process switch (NOTIFY)", "us per trap", 10.0),
    Figure("guest_compute", "guest compute (tight loop, quantum slices)",
           "us per 10^6 instructions", 0.9, higher_is_better=True),
    Figure("boot_first_output", "boot to the first user output", "us per boot", 3.0),
)


@dataclass(frozen=True)
class Sizes:
    repetitions: int
    round_trips: int
    traps: int
    spin_iterations: int             # four instructions each


FULL = Sizes(repetitions=7, round_trips=20000, traps=50000, spin_iterations=1000000)
QUICK = Sizes(repetitions=3, round_trips=1500, traps=4000, spin_iterations=150000)


class BenchError(Exception):
    """A benchmark run that went wrong; str is one line."""


# -- the machine side ---------------------------------------------------------------------
class _FirstOutput(io.RawIOBase):
    """A console that remembers when its first byte came (harness-side wall clock)."""

    def __init__(self):
        super().__init__()
        self.at = None

    def writable(self):
        return True

    def write(self, data):
        if self.at is None and len(data):
            self.at = time.perf_counter()
        return len(data)


def _options(**limits):
    return BootOptions(printer=None, console=io.BytesIO(), log=io.StringIO(), **limits)


def _process(session, label):
    """The process of program `label` (alive or ended) in a session's kernel."""
    kernel = session.kernel
    return kernel.table.procs[kernel.labels[label]]


def _run_bench(image, label, counts, max_insns):
    """Boot the bench image with `counts` ({label: esi}), run until `label` exits.
    Returns (seconds of Session.run, the process of `label`)."""
    session = Session(image, _options(until_exit=label,
                                      max_ticks=max_insns // TICK_INSNS + 100))
    try:
        for name in session.kernel.labels:          # esi at boot is the argument string
            _process(session, name).cpu.set_register("esi", counts.get(name, 0))
        gc.collect()
        start = time.perf_counter()
        end = session.run()
        elapsed = time.perf_counter() - start
    finally:
        session.close()
    proc = _process(session, label)
    if end != "exit" or proc.exit_status != 0:
        why = session.kernel.panic_report or f"exit status {proc.exit_status}"
        raise BenchError(f"the {label} run ended with '{end}' ({why})")
    return elapsed, proc


def _boot_stock(image):
    """Seconds from Session construction to the first console byte of the stock system."""
    console = _FirstOutput()
    options = BootOptions(printer=None, console=console, log=io.StringIO(), max_ticks=2000)
    gc.collect()
    start = time.perf_counter()
    session = Session(image, options)
    try:
        end = session.run()
    finally:
        session.close()
    if console.at is None:
        raise BenchError(f"the stock system wrote nothing to the console (run ended '{end}')")
    return console.at - start


# -- one plan per figure: (ours, floor, units of work), each a thunk returning seconds ----
def _quantum(image, label):
    return next(p.policy.quantum for p in image.programs
                if p.policy.label == label) * TICK_INSNS


def _program(image, label):
    return next(p.loaded for p in image.programs if p.policy.label == label)


def plan_round_trip(bench, sizes):
    trips = sizes.round_trips
    client, server = _program(bench, "client"), _program(bench, "server")
    budget = _quantum(bench, "client")

    def ours():
        return _run_bench(bench, "client", {"client": trips, "server": 1}, trips * 100)[0]

    def bare():
        return floor.floor_round_trip(client, server, trips, budget)
    return ours, bare, trips


def _plan_alone(bench, label, counts, max_insns, units):
    """A figure of one program running alone; the floor retires exactly the instructions
    the machine's run retired (found by a first, untimed run)."""
    program, budget = _program(bench, label), _quantum(bench, label)
    _, proc = _run_bench(bench, label, counts, max_insns)
    insns = proc.insns

    def ours():
        return _run_bench(bench, label, counts, max_insns)[0]

    def bare():
        return floor.floor_alone(program, {"esi": counts[label]}, insns, budget)
    return ours, bare, units(insns)


def plan_trap(bench, sizes):
    traps = sizes.traps
    return _plan_alone(bench, "notifier", {"notifier": traps, "sink": 1}, traps * 100,
                       lambda insns: traps)


def plan_compute(bench, sizes):
    iterations = sizes.spin_iterations
    return _plan_alone(bench, "spin", {"spin": iterations}, iterations * 8,
                       lambda insns: insns / 1e6)


def plan_boot(stock, sizes):
    count = len(stock.programs)
    return (lambda: _boot_stock(stock)), (lambda: floor.floor_boot(count)), 1


PLANS = {
    "ipc_round_trip": (plan_round_trip, "bench"),
    "trap_no_switch": (plan_trap, "bench"),
    "guest_compute": (plan_compute, "bench"),
    "boot_first_output": (plan_boot, "stock"),
}


def measure(figure, image, sizes):
    """The figure's result: medians over the repetitions, per unit of work, in us.
    One untimed warm-up of each side first; then ours and the floor back to back,
    in alternating order, so neither always runs on a cooler or warmer machine."""
    plan, _ = PLANS[figure.key]
    ours_run, floor_run, units = plan(image, sizes)
    ours_run()
    floor_run()
    ours, low, ratios = [], [], []
    for repetition in range(sizes.repetitions):
        if repetition % 2:
            bare = floor_run()
            mine = ours_run()
        else:
            mine = ours_run()
            bare = floor_run()
        ours.append(mine * 1e6 / units)
        low.append(bare * 1e6 / units)
        ratios.append(bare / mine if figure.higher_is_better else mine / bare)
    ours_us, floor_us = statistics.median(ours), statistics.median(low)
    ratio = statistics.median(ratios)
    ok = ratio >= figure.target if figure.higher_is_better else ratio <= figure.target
    return {"title": figure.title, "unit": figure.unit, "ours_us": ours_us,
            "floor_us": floor_us, "ratio": ratio, "target": figure.target,
            "target_is": "min" if figure.higher_is_better else "max", "ok": ok,
            "repetitions": sizes.repetitions, "quick": sizes is QUICK,
            "ours_all_us": ours, "floor_all_us": low}


# -- report ---------------------------------------------------------------------------------
def machine_info():
    import unicorn
    return {"python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "unicorn": unicorn.__version__, "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "machine": platform.machine(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def format_table(results):
    header = ("figure", "ours", "floor", "ratio", "target", "result")
    rows = []
    for figure in FIGURES:
        r = results[figure.key]
        sign = ">=" if figure.higher_is_better else "<="
        what = "speed " if figure.higher_is_better else ""
        rows.append((figure.title, f"{r['ours_us']:.3f} us", f"{r['floor_us']:.3f} us",
                     f"{what}{r['ratio']:.2f}x", f"{sign} {figure.target}x",
                     "pass" if r["ok"] else "FAIL"))
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                       for i, cell in enumerate(row)) for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    units = "; ".join(f"{f.title.split(' (')[0]}: {f.unit}" for f in FIGURES)
    return "\n".join(lines) + f"\n(times per unit of work: {units})"


def run_benchmarks(quick: bool, json_path: str | None) -> int:
    sizes = QUICK if quick else FULL
    if json_path and not Path(json_path).resolve().parent.is_dir():
        print(f"emu bench: {json_path}: no such folder", file=sys.stderr)
        return EXIT_BAD_INPUT
    with tempfile.TemporaryDirectory(prefix="emu-bench-") as folder:
        try:
            images = {"bench": build_image(BENCH_SYSTEM, Path(folder) / "bench.img",
                                           Path(folder) / "bench"),
                      "stock": build_image(STOCK_SYSTEM, Path(folder) / "stock.img",
                                           Path(folder) / "stock")}
        except BuildError as error:
            print(f"emu bench: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        results = {}
        for figure in FIGURES:
            try:
                results[figure.key] = measure(figure, images[PLANS[figure.key][1]], sizes)
            except BenchError as error:
                print(f"emu bench: {figure.title}: {error}", file=sys.stderr)
                return EXIT_FAILED
    print(format_table(results))
    if json_path:
        report = dict(results, machine=machine_info())
        try:
            Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
        except OSError as error:
            print(f"emu bench: {json_path}: {error.strerror or error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return EXIT_OK
