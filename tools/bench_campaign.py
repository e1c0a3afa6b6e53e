"""The fault-injection figures of `emu bench`: campaign throughput and the time of a
1,000,000-fault printer campaign, measured with the real `emu inject` command.

Contract: `available()` says whether this checkout has `emu inject` (tools/inject).
`campaign_seconds(image, faults, workers, folder)` runs `emu inject IMAGE --target
printer --faults N --workers W --db <new file in folder> --no-progress` in a
subprocess and returns its wall seconds (from the start of the command to its end:
interpreter, golden run, worker boots, trials, database and summary included).  A
campaign whose trials list a flagged outcome (exit status 1) still counts: that is a
result of the campaign, not a failure of the benchmark; anything else, or a database
without every trial, raises `CampaignError`.

`fit(small, big)`: each campaign size is run twice per worker count, `small` and `big`
faults; the slope between the two is the throughput in faults per second (the fixed
costs, which do not grow with the campaign, cancel), and the rest of the small run's
time is the fixed cost.  `extrapolate(fixed, rate, faults)` is the time of a campaign
of `faults` faults at that rate: an extrapolation, and the figure says so.
`measure(...)` runs the campaigns of both figures (its docstring).
"""

import importlib.util
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = "printer"
SEED_CAMPAIGN = 1_000_000          # the seed paper's campaign: faults into the printer
PER_TRIAL = 100                    # emu inject's default faults per trial


class CampaignError(Exception):
    """A campaign run that went wrong; str is one line."""


def available():
    return importlib.util.find_spec("tools.inject.campaign") is not None


def campaign_seconds(image, faults, workers, folder):
    db = Path(folder) / f"bench-{faults}-{workers}-{time.monotonic_ns()}.sqlite"
    command = [sys.executable, "-m", "emu", "inject", str(image), "--target", TARGET,
               "--faults", str(faults), "--workers", str(workers), "--db", str(db),
               "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        lines = done.stderr.strip().splitlines()
        raise CampaignError(f"emu inject ended with status {done.returncode}: "
                            f"{lines[-1] if lines else 'no message'}")
    trials = _stored_trials(db)
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        path.unlink(missing_ok=True)
    expected = -(-faults // PER_TRIAL)
    if trials != expected:
        raise CampaignError(f"emu inject stored {trials} of {expected} trials")
    return elapsed


def _stored_trials(db):
    try:
        connection = sqlite3.connect(db)
        try:
            return connection.execute("SELECT COUNT(*) FROM trial").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise CampaignError(f"{db}: {error}") from None


def fit(small_faults, small_seconds, big_faults, big_seconds):
    """(faults per second, fixed seconds) from two campaign sizes.  When the machine's
    noise swamps the difference (sizes too close: quick runs), the larger campaign's
    average: a rate that counts the fixed costs too, so it can only be lower."""
    extra = big_seconds - small_seconds
    if extra <= 0 or small_seconds - small_faults * extra / (big_faults - small_faults) < 0:
        return big_faults / big_seconds, 0.0
    rate = (big_faults - small_faults) / extra
    return rate, small_seconds - small_faults / rate


def extrapolate(fixed, rate, faults=SEED_CAMPAIGN):
    return fixed + faults / rate


def measure(image, small, big, repetitions, folder):
    """Campaigns of `small` and `big` faults with 1 and 2 workers, the worker counts in
    alternating order from one repetition to the next.  Returns {"rate": {workers:
    median faults per second}, "ratio": median of the repetitions' 2-to-1 ratios,
    "fixed": median fixed seconds with 2 workers, "seconds": the extrapolated time of a
    SEED_CAMPAIGN with 2 workers, "fits": {workers: [(rate, fixed) per repetition]}}."""
    fits = {1: [], 2: []}
    for repetition in range(repetitions):
        for workers in ((1, 2) if repetition % 2 == 0 else (2, 1)):
            seconds = [campaign_seconds(image, faults, workers, folder)
                       for faults in (small, big)]
            fits[workers].append(fit(small, seconds[0], big, seconds[1]))
    rate = {w: statistics.median(r for r, _ in fits[w]) for w in fits}
    fixed = statistics.median(f for _, f in fits[2])
    ratio = statistics.median(two[0] / one[0] for one, two in zip(fits[1], fits[2]))
    return {"rate": rate, "ratio": ratio, "fixed": fixed,
            "seconds": extrapolate(fixed, rate[2]), "fits": fits}
