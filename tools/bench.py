"""`emu bench`: the figures of SPEC section 10, each as a ratio against a floor measured
in the same run (absolute times on shared machines are noise).

Contract: `run_benchmarks(quick, json_path, only=None)` builds the benchmark system
(`tools/bench_guest/system.toml`), the stock system (`guest/system.toml`) and the two
systems of the scale figure (`tools.bench_scale`) into a temporary folder, measures
every figure of `FIGURES` (or those whose key is in `only`), prints one table row per
figure (figure, ours, floor, ratio, target, pass/fail) and, with `json_path`, writes
`{key: {title, unit, ratio, target, target_is, ok, ...} for each figure, "machine": {...}}`.
The kinds of figure:
- `time`: ours against a floor, both the thread's CPU time per unit of work (`ours_us`,
  `floor_us`; on a shared machine wall time would count other processes' slices too):
  bare Unicorn (`tools.bench_floor`) for the round trip, the trap, guest
  compute and the boot; our own round trip with 4 processes alive for the one with 60
  (`tools.bench_scale`).  Medians over several repetitions, ours and its floor
  alternating so both see the same machine load; the ratio is the median of the
  repetitions' own ratios (each pair measured back to back), so it can differ a little
  from ours_us / floor_us.
- `memory`: the kernel's traced Python memory under an IPC flood (`tools.bench_memory`):
  growth from the end of the warm-up to the end, against a noise bound in bytes.
- `campaign`: `emu inject` into the printer driver with 1 and 2 workers
  (`tools.bench_campaign`), in wall time (several processes): throughput (faults per
  second, the slope between two campaign sizes), the ratio of 2 workers to 1, and the time of a 1,000,000-fault
  campaign with 2 workers, extrapolated from the measured sizes (the JSON says
  `extrapolated_from`).  Skipped, with a note, in a checkout without `emu inject`.
It returns 0 when every figure was measured (a missed target is reported, not an error:
shared machines are noisy), 1 when a benchmark run went wrong (a guest failed, the
kernel panicked, a campaign failed), 2 when an image could not be built or the JSON
file cannot be written.  `quick` shortens every run (tests).

The machine side of each figure boots through `emu.session.Session`, exactly as
`emu boot` does; only the harness's clock (`bench_floor.clock`) lives here and in the
floor modules, never in the emulator.  The benchmark programs take their iteration
count in esi, set by the harness on the booted process before the run; a program left
at 0 exits at once, so one image serves every figure.  The table and the machine's
description are `tools.bench_report`'s.
"""

import gc
import io
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from emu.session import BootOptions, Session
from kernel.abi import TICK_INSNS
from tools import bench_campaign as campaign
from tools import bench_floor as floor
from tools import bench_memory as memory
from tools import bench_report as report
from tools import bench_scale as scale
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
    kind: str = "time"                  # time, memory or campaign (module docstring)


FIGURES = (
    Figure("ipc_round_trip", "IPC round trip (SENDREC, guest to guest)", "us per round trip",
           2.5),
    Figure("trap_no_switch", "trap with no process switch (NOTIFY)", "us per trap", 10.0),
    Figure("guest_compute", "guest compute (tight loop, quantum slices)",
           "us per 10^6 instructions", 0.9, higher_is_better=True),
    Figure("boot_first_output", "boot to the first user output", "us per boot", 3.0),
    Figure("ipc_round_trip_scale", f"IPC round trip, {scale.LARGE} processes alive vs "
           f"{scale.SMALL}", "us per round trip", 1.10),
    Figure("kernel_memory_flood", "kernel memory under an IPC flood", "bytes of growth",
           memory.NOISE_BYTES, kind="memory"),
    Figure("campaign_scaling", "campaign throughput, 2 workers vs 1", "faults per second",
           1.8, higher_is_better=True, kind="campaign"),
    Figure("campaign_million", "1,000,000-fault printer campaign, 2 workers",
           "seconds (extrapolated)", 600.0, kind="campaign"),
)


@dataclass(frozen=True)
class Sizes:
    repetitions: int
    round_trips: int
    traps: int
    spin_iterations: int             # four instructions each
    flood_messages: int
    flood_samples: int
    campaign_faults: tuple           # (small, big): the slope between them is the rate
    campaign_repetitions: int


FULL = Sizes(repetitions=7, round_trips=20000, traps=50000, spin_iterations=1000000,
             flood_messages=1_000_000, flood_samples=10, campaign_faults=(2000, 20000),
             campaign_repetitions=3)
QUICK = Sizes(repetitions=3, round_trips=1500, traps=4000, spin_iterations=150000,
              flood_messages=20000, flood_samples=4, campaign_faults=(200, 1000),
              campaign_repetitions=1)
CAMPAIGN_AIM = 300.0                 # seconds: the aim for the 1,000,000 faults


class BenchError(Exception):
    """A benchmark run that went wrong; str is one line."""


# -- the machine side ---------------------------------------------------------------------
class _FirstOutput(io.RawIOBase):
    """A console that remembers when its first byte came (the harness's clock)."""

    def __init__(self):
        super().__init__()
        self.at = None

    def writable(self):
        return True

    def write(self, data):
        if self.at is None and len(data):
            self.at = floor.clock()
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
        start = floor.clock()
        end = session.run()
        elapsed = floor.clock() - start
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
    start = floor.clock()
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


def plan_scale(images, sizes):
    """Ours: the round trip with LARGE processes alive; its floor: with SMALL."""
    trips = sizes.round_trips

    def large():
        return _scale_run(images[scale.LARGE], trips)

    def small():
        return _scale_run(images[scale.SMALL], trips)
    return large, small, trips


def _scale_run(image, trips):
    try:
        return scale.round_trip_seconds(image, trips)
    except scale.ScaleError as error:
        raise BenchError(str(error)) from None


PLANS = {
    "ipc_round_trip": (plan_round_trip, "bench"),
    "trap_no_switch": (plan_trap, "bench"),
    "guest_compute": (plan_compute, "bench"),
    "boot_first_output": (plan_boot, "stock"),
    "ipc_round_trip_scale": (plan_scale, "scale"),
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
    return {"title": figure.title, "unit": figure.unit, "kind": figure.kind,
            "ours_us": ours_us, "floor_us": floor_us, "ratio": ratio,
            "target": figure.target, "target_is": "min" if figure.higher_is_better else "max",
            "ok": ok, "repetitions": sizes.repetitions, "quick": sizes is QUICK,
            "ours_all_us": ours, "floor_all_us": low}


def measure_memory(figure, image, sizes):
    """The kernel-memory figure (tools.bench_memory): growth after warm-up, in bytes."""
    try:
        result = memory.flood(image, sizes.flood_messages, sizes.flood_samples)
    except memory.FloodError as error:
        raise BenchError(str(error)) from None
    growth = max(result["growth_bytes"], result["peak_growth_bytes"])
    return dict(result, title=f"{figure.title} of {result['messages']:,} messages",
                unit=figure.unit, kind=figure.kind,
                ratio=result["end_bytes"] / result["warmup_bytes"],
                target=figure.target, target_is="max", ok=growth <= figure.target,
                quick=sizes is QUICK)


def measure_campaigns(image, sizes, folder):
    """Both campaign figures, from the same runs (tools.bench_campaign.measure)."""
    small, big = sizes.campaign_faults
    try:
        got = campaign.measure(image, small, big, sizes.campaign_repetitions, folder)
    except campaign.CampaignError as error:
        raise BenchError(str(error)) from None
    common = {"kind": "campaign", "quick": sizes is QUICK, "measured_faults": [small, big],
              "repetitions": sizes.campaign_repetitions}
    scaling, million = (next(f for f in FIGURES if f.key == key)
                        for key in ("campaign_scaling", "campaign_million"))
    rate, fits = got["rate"], got["fits"]
    return {
        "campaign_scaling": dict(
            common, title=scaling.title, unit=scaling.unit, ours=rate[2], floor=rate[1],
            ratio=got["ratio"], target=scaling.target, target_is="min",
            ok=got["ratio"] >= scaling.target,
            rates_1_worker=[r for r, _ in fits[1]], rates_2_workers=[r for r, _ in fits[2]]),
        "campaign_million": dict(
            common, title=million.title, unit=million.unit, seconds=got["seconds"],
            faults_per_second=rate[2], fixed_seconds=got["fixed"],
            ratio=got["seconds"] / million.target, target=million.target, aim=CAMPAIGN_AIM,
            target_is="max", ok=got["seconds"] <= million.target, extrapolated_from=big),
    }


def run_benchmarks(quick: bool, json_path: str | None, only=None) -> int:
    sizes = QUICK if quick else FULL
    figures = [f for f in FIGURES if only is None or f.key in only]
    if json_path and not Path(json_path).resolve().parent.is_dir():
        print(f"emu bench: {json_path}: no such folder", file=sys.stderr)
        return EXIT_BAD_INPUT
    results, notes = {}, []
    with tempfile.TemporaryDirectory(prefix="emu-bench-") as folder:
        try:
            images = _build(folder)
        except BuildError as error:
            print(f"emu bench: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        try:
            for figure in figures:
                if figure.kind == "time":
                    image = images[PLANS[figure.key][1]]
                    results[figure.key] = measure(figure, image, sizes)
                elif figure.kind == "memory":
                    results[figure.key] = measure_memory(figure, images["bench"], sizes)
            if any(f.kind == "campaign" for f in figures):
                if campaign.available():
                    stock = images["stock"].path
                    measured = measure_campaigns(stock, sizes, folder)
                    results.update((k, v) for k, v in measured.items()
                                   if any(f.key == k for f in figures))
                else:
                    notes.append("no emu inject in this checkout: campaign figures skipped")
        except BenchError as error:
            print(f"emu bench: {error}", file=sys.stderr)
            return EXIT_FAILED
    print(report.format_table(FIGURES, results, notes))
    if json_path:
        data = dict(results, machine=report.machine_info(), notes=notes)
        try:
            Path(json_path).write_text(json.dumps(data, indent=2) + "\n")
        except OSError as error:
            print(f"emu bench: {json_path}: {error.strerror or error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return EXIT_OK


def _build(folder):
    folder = Path(folder)
    # each image in its own folder: an image's disk is the disk.img next to it
    return {"bench": build_image(BENCH_SYSTEM, folder / "bench" / "bench.img",
                                 folder / "bench"),
            "stock": build_image(STOCK_SYSTEM, folder / "stock" / "stock.img",
                                 folder / "stock"),
            "scale": scale.build_scale_images(folder)}
