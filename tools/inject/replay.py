"""`emu replay DB TRIAL`: run one trial of a campaign again, exactly.

Contract: `run(args, BadInput)` reads the campaign of the results database, checks that
the image is the one it ran on (its hash), boots it to the golden point and runs trial
TRIAL with the campaign's settings and golden run, in this process (`--trace FILE`
writes the trial's IPC trace).  The trial's random generator depends only on the
campaign's seed and the trial's number, and the machine is deterministic, so the replay
is the trial, bit for bit: it prints the trial's faults and outcome and compares the
digest of everything the trial decided with the stored one.  Exit status 0 when they
are equal (or the trial was never stored), 1 when they differ, 2 for bad input.
`--debug` stops at the first injected fault and hands the machine to the built-in
debugger (commands on stdin), `--gdb PORT` to the GDB stub (`--wait` does not apply:
the stub waits for gdb).
"""

import sys
from pathlib import Path

HELP = "run one trial of a campaign again, bit for bit"


def add_arguments(parser):
    parser.add_argument("db", help="the results database")
    parser.add_argument("trial", type=int, help="the trial's number")
    parser.add_argument("--image", help="the image (default: the one the campaign ran)")
    parser.add_argument("--trace", metavar="FILE", help="write the trial's IPC trace")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--debug", action="store_true",
                      help="stop at the first injected fault in the built-in debugger")
    stop.add_argument("--gdb", type=int, metavar="PORT",
                      help="stop at the first injected fault and serve gdb on PORT")


class _HandedOver(Exception):
    """The trial stopped at its first fault for a debugger, which has now finished."""


def run(args, BadInput):
    from tools.inject.campaign import image_hash
    from tools.inject.db import ResultsDB
    from tools.inject.forkserver import boot_golden_point, digest
    from tools.inject.settings import trial_count
    from tools.inject.system import SystemProblem
    from tools.inject.trial import run_trial
    if not Path(args.db).is_file():
        raise BadInput(f"emu replay: {args.db}: no such file")
    db = ResultsDB(args.db)
    try:
        campaign = db.campaign()
        stored = db.trial(args.trial) if campaign else None
    finally:
        db.close()
    if campaign is None:
        raise BadInput(f"emu replay: {args.db}: holds no campaign")
    settings, golden = campaign["settings"], campaign["golden"]
    if not 0 <= args.trial < trial_count(settings):
        raise BadInput(f"emu replay: the campaign has trials 0..{trial_count(settings) - 1}")
    image = Path(args.image or campaign["image_path"])
    if not image.is_file():
        raise BadInput(f"emu replay: {image}: no such image (pass --image)")
    if image_hash(image) != campaign["image_sha256"]:
        raise BadInput(f"emu replay: {image} is not the image of the campaign (its hash "
                       "differs)")
    try:
        live = boot_golden_point(image, settings)
    except SystemProblem as error:
        raise BadInput(f"emu replay: {error}") from None
    if live.golden_point != golden["point"]:
        raise BadInput("emu replay: the golden point differs from the campaign's "
                       "(another emulator)")
    handover = _handover(args, BadInput) if args.debug or args.gdb is not None else None
    trace = open(args.trace, "w") if args.trace else None
    try:
        result = run_trial(live, settings, golden, args.trial, trace, handover)
    except _HandedOver:
        return 0
    finally:
        if trace is not None:
            trace.close()
    _print(result, args)
    if stored is None:
        print(f"emu replay: trial {args.trial} is not stored in {args.db}: nothing to "
              "compare", file=sys.stderr)
        return 0
    if digest(result) != stored["digest"]:
        print(f"emu replay: trial {args.trial} DIFFERS from the stored one "
              f"({digest(result)[:16]} != {stored['digest'][:16]})", file=sys.stderr)
        return 1
    print(f"emu replay: trial {args.trial} is identical to the stored one "
          f"(digest {stored['digest'][:16]})", file=sys.stderr)
    return 0


def _print(result, args):
    out = sys.stdout
    out.write(f"trial {result['trial']} (seed {result['seed']}), {len(result['faults'])} "
              f"faults, {result['ticks']} ticks\n")
    for i, f in enumerate(result["faults"]):
        state = "activated" if f["activated_at"] is not None else (
            "not injected" if f["injected_at"] is None else "not activated")
        ends = ", ".join(name for name in ("cpu_fault", "hangs", "exits", "stuck")
                         if f.get(name)) or "-"
        out.write(f"  {i:3} {f['type']:9} {f['trigger']:6} {f['symbol']:24} "
                  f"{f['before']} -> {f['after']}  [{state}; {ends}]\n")
    outcome = ", ".join(f"{k} {v}" for k, v in result["outcome"].items() if v)
    out.write(f"outcome: {outcome or 'nothing'}\n")
    if result["details"].get("error") or result["details"].get("panic"):
        out.write(f"error: {result['details'].get('error') or result['details']['panic']}\n")


def _handover(args, BadInput):
    """The on_first_fault callback: the machine goes to the debugger or gdb."""
    def debug(live, record):
        print(f"emu replay: trial {args.trial}: first fault injected: {record['type']} at "
              f"{record['symbol']} ({record['line']}): {record['before']} -> "
              f"{record['after']}", file=sys.stderr)
        if args.gdb is not None:
            try:
                from tools.gdbstub.server import serve
            except ImportError:
                raise BadInput("emu replay: --gdb needs the GDB stub (tools/gdbstub)") \
                    from None
            serve(live.session, args.gdb, wait=True)
        else:
            _debug(live, BadInput)
        raise _HandedOver()
    return debug


def _debug(live, BadInput):
    try:
        from emu.debug.console import Console
        from emu.debug.core import Debugger
    except ImportError:
        raise BadInput("emu replay: --debug needs the built-in debugger (emu/debug)") from None
    debugger = Debugger(live.session).attach()
    console = Console(debugger, sys.stdout)
    console.current = live.target_proc() or console.current
    console.say("(the debugger has the machine, stopped at the fault; `help`, `quit`)")
    console.execute("where")
    for line in sys.stdin:
        console.say("(emu) " + line.rstrip("\n"))
        if not console.execute(line):
            break
