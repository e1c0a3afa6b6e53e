"""`emu inject IMAGE --target LABEL ...`: a fault-injection campaign (SPEC section 8).

Contract: `run(args, BadInput)` checks the settings, boots the image and runs the golden
run here, records the campaign in the results database (or, with `--resume`, checks it
is the same campaign and skips the trials already stored), then runs the remaining
trials on `--workers` local fork servers (default: every core) or, with `--cluster
ADDRESS`, on a Dask distributed cluster, writing each batch of finished trials to the
database in one transaction as they come.  A progress bar shows the faults done, the
rate and the ETA.  At the end it prints the totals, and every trial with a kernel
panic, a trusted-server failure or an unrecovered system with the command that
replays it.  Exit status 0, 1 when any such trial exists, 2 for bad input.
"""

import datetime
import hashlib
import os
import sys
import time
from pathlib import Path

from tools.inject.faults import ALL_TYPES, has_target
from tools.inject.outcome import MUST_BE_ZERO
from tools.inject.settings import DEFAULTS, TRIGGERS, make_settings, trial_count, \
    trial_faults

HELP = "a fault-injection campaign into a driver (SWIFI), results in SQLite"
COMMIT_EVERY = 0.5            # seconds between commits of finished trials


def add_arguments(parser):
    parser.add_argument("image")
    parser.add_argument("--target", required=True, metavar="LABEL",
                        help="the driver to inject faults into")
    parser.add_argument("--faults", type=int, required=True, metavar="N",
                        help="faults in the whole campaign")
    parser.add_argument("--per-trial", type=int, metavar="M",
                        help=f"faults per trial (default {DEFAULTS['per_trial']})")
    parser.add_argument("--types", metavar="T,T", default="random",
                        help=f"fault types, comma-separated ({', '.join(ALL_TYPES)})")
    parser.add_argument("--trigger", choices=TRIGGERS, default="static",
                        help="when a fault goes in (default static)")
    parser.add_argument("--seed", type=int, default=0, help="the campaign's seed")
    parser.add_argument("--workers", type=int, metavar="W",
                        help="local worker processes (default: every core)")
    parser.add_argument("--db", default="results.sqlite", metavar="FILE",
                        help="the results database (default results.sqlite)")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run the trials on a Dask cluster (tcp://HOST:8786)")
    parser.add_argument("--resume", action="store_true",
                        help="go on with the campaign already in --db")
    parser.add_argument("--window", type=int, metavar="INSNS",
                        help=f"target instructions after each fault "
                             f"(default {DEFAULTS['window']})")
    parser.add_argument("--window-time", type=int, metavar="INSNS",
                        help="the most virtual time a window takes (default 4 windows)")
    parser.add_argument("--workload", metavar="NAME",
                        help="the workload profile (default: the target's)")
    parser.add_argument("--batch", type=int, default=20, metavar="TRIALS",
                        help="trials per Dask task (default 20)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args, BadInput):
    from tools.image import ImageError, read_image
    from tools.inject.db import CampaignMismatch, ResultsDB
    from tools.inject.forkserver import boot_golden_point
    from tools.inject.golden import run_golden
    from tools.inject.system import SystemProblem
    try:
        settings = make_settings(args.target, args.faults, per_trial=args.per_trial,
                                 types=[t.strip() for t in args.types.split(",") if t.strip()],
                                 trigger=args.trigger, seed=args.seed, window=args.window,
                                 window_time=args.window_time, profile=args.workload)
    except ValueError as error:
        raise BadInput(f"emu inject: {error}") from None
    image_path = Path(args.image).resolve()
    try:
        read_image(image_path)
        live = boot_golden_point(image_path, settings)
        golden = run_golden(live, settings)
    except (ImageError, SystemProblem) as error:
        raise BadInput(f"emu inject: {error}") from None
    _check_types(live, settings, golden, BadInput)
    db_path = Path(args.db)
    if db_path.exists() and not args.resume and db_path.stat().st_size:
        raise BadInput(f"emu inject: {args.db} exists: pass --resume to go on with its "
                       f"campaign, or another --db")
    db = ResultsDB(db_path)
    try:
        resumed = db.start_campaign({
            "image_sha256": image_hash(image_path), "image_path": str(image_path),
            "settings": settings, "seed": settings["seed"], "version": version(),
            "golden": golden, "started": datetime.datetime.now().isoformat(timespec="seconds")})
    except CampaignMismatch as error:
        db.close()
        raise BadInput(f"emu inject: {error}") from None
    stored = db.campaign()["golden"]
    if resumed and stored != _json_round_trip(golden):
        db.close()
        raise BadInput(f"emu inject: {args.db}: the golden run differs from the stored one "
                       "(the image or the emulator changed)")
    try:
        return _run_trials(args, db, image_path, settings, golden, resumed)
    finally:
        db.close()


def _run_trials(args, db, image_path, settings, golden, resumed):
    done = db.done_trials()
    trials = [t for t in range(trial_count(settings)) if t not in done]
    done_faults = sum(trial_faults(settings, t) for t in done)
    if resumed:
        print(f"emu inject: resuming {args.db}: {len(done)} trials stored, "
              f"{len(trials)} to run", file=sys.stderr)
    workers = args.workers or os.cpu_count() or 1
    if args.cluster:
        from tools.inject.cluster import run_cluster
        results = run_cluster(args.cluster, image_path, settings, golden, trials, args.batch)
    else:
        from tools.inject.pool import run_local
        results = run_local(image_path, settings, golden, trials, workers)
    started = time.monotonic()
    pending, last_commit = [], time.monotonic()
    with _progress(settings, done_faults, args) as progress:
        try:
            for result in results:
                pending.append(result)
                progress.advance(trial_faults(settings, result["trial"]))
                if time.monotonic() - last_commit >= COMMIT_EVERY:
                    db.add_trials(pending)
                    pending, last_commit = [], time.monotonic()
        finally:
            db.add_trials(pending)
            _close(results)
    elapsed = time.monotonic() - started
    return summary(db, args.db, elapsed, len(trials))


def _progress(settings, done_faults, args):
    from tools.inject.progress import Progress
    enabled = False if args.no_progress else None
    return Progress(settings["faults"], done_faults, enabled)


def _close(results):
    close = getattr(results, "close", None)
    if close is not None:
        close()


def summary(db, db_name, elapsed, ran):
    totals = db.totals()
    print(f"emu inject: {totals['trials']} trials, {totals['faults']} faults in {db_name}; "
          f"this run: {ran} trials in {elapsed:.1f} s", file=sys.stderr)
    print("  " + ", ".join(f"{c} {totals[c]}" for c in
                           ("activated", "cpu_faults", "hangs", "restarts", "wrong_output")
                           + MUST_BE_ZERO), file=sys.stderr)
    flagged = db.flagged()
    for trial, outcome, details in flagged:
        what = ", ".join(f"{k.replace('_', ' ')}" for k, v in outcome.items() if v)
        why = details.get("error") or details.get("panic", {}).get("error", "")
        print(f"emu inject: trial {trial}: {what}{': ' + why.splitlines()[-1] if why else ''}"
              f"\n  replay with: {replay_command(db_name, trial)}", file=sys.stderr)
    return 1 if flagged else 0


def replay_command(db_name, trial):
    return f"emu replay {db_name} {trial}"


def image_hash(image_path):
    """SHA-256 of the image and of the disk next to it (both make the system)."""
    digest = hashlib.sha256(Path(image_path).read_bytes())
    disk = Path(image_path).parent / "disk.img"
    if disk.is_file():
        digest.update(disk.read_bytes())
    return digest.hexdigest()


def version():
    try:
        from importlib.metadata import version as package_version
        return package_version("minix-emu")
    except Exception:                         # noqa: BLE001 - not installed: a checkout
        return "0+unknown"


def _check_types(live, settings, golden, BadInput):
    where = set(golden["coverage"]) if settings["trigger"] == "exec" else None
    missing = [t for t in settings["types"] if t != "random"
               and not has_target(live.text, t, where)]
    if missing:
        raise BadInput(f"emu inject: '{settings['target']}' has no instruction for fault "
                       f"type '{missing[0]}'" + (" among those it executes"
                                                 if where is not None else ""))
    if "random" in settings["types"] and not golden["types"]:
        raise BadInput(f"emu inject: '{settings['target']}' has no target for any type")


def _json_round_trip(value):
    import json
    return json.loads(json.dumps(value, sort_keys=True))
