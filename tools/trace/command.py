"""`emu trace FILE`: look at an IPC trace (SPEC section 7).

Contract: `add_arguments(parser)` declares the options, `run(args, BadInput)` does them
and returns the exit status (0).  `--chart OUT.svg` writes the message sequence chart,
`--graph OUT.svg` the interaction graph, `--perfetto OUT.json` the trace-event JSON for
the Perfetto UI, `--stats` prints the statistics, `--calls` the messages of each user
call (a POSIX read, a write...) broken down; several may be given at once, and none
means `--stats`.  `--from T` / `--to T` (virtual time: instructions, or a number
with `us`, `ms` or `s`; one instruction is one microsecond) and `--procs a,b,c` (labels
of processes and kernel tasks) narrow every output to that window.  A missing or
malformed trace, an unknown label, an empty window or an unwritable output raises
`BadInput` with one line naming the file (and line).
"""

import argparse
import json
import sys

from tools.trace.chart import chart
from tools.trace.graph import graph
from tools.trace.load import TraceError, load
from tools.trace.pairing import build
from tools.trace.perfetto import perfetto
from tools.trace.stats import calls_text, stats

HELP = ("look at an IPC trace: sequence chart, interaction graph, Perfetto timeline, "
        "statistics")
UNITS = {"us": 1, "ms": 1000, "s": 1_000_000}
TALL_CHART = 2000               # rows past which a chart is hard to read


def virtual_time(text):
    """A time option in instructions: `1500`, `0x5dc`, `1.5ms`, `2s`, `30us`."""
    for unit, scale in sorted(UNITS.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(unit) and text[:-len(unit)]:
            try:
                value = float(text[:-len(unit)]) * scale
            except ValueError:
                break
            if value >= 0:
                return int(value)
            break
    else:
        try:
            value = int(text, 0)
        except ValueError:
            value = -1
        if value >= 0:
            return value
    raise argparse.ArgumentTypeError(f"not a time: {text!r} (instructions, or a number "
                                     "with us, ms or s)")


def add_arguments(parser):
    parser.add_argument("file", help="the trace (emu boot IMAGE --trace FILE)")
    parser.add_argument("--chart", metavar="OUT.svg", help="write the message sequence chart")
    parser.add_argument("--graph", metavar="OUT.svg", help="write the interaction graph")
    parser.add_argument("--perfetto", metavar="OUT.json",
                        help="write Chrome trace-event JSON for ui.perfetto.dev")
    parser.add_argument("--stats", action="store_true", help="print message statistics")
    parser.add_argument("--calls", action="store_true",
                        help="print the messages of each user call (read, write...), by kind")
    parser.add_argument("--from", dest="t_from", type=virtual_time, metavar="T",
                        help="start of the window (instructions, or with us/ms/s)")
    parser.add_argument("--to", dest="t_to", type=virtual_time, metavar="T",
                        help="end of the window (included)")
    parser.add_argument("--procs", metavar="A,B,C",
                        help="only these processes (and kernel tasks, e.g. SYSTEM)")
    parser.add_argument("--title", help="the title of the pictures")


def run(args, BadInput):
    try:
        model = build(load(args.file), args.file)
    except TraceError as error:
        raise BadInput(f"emu trace: {error}") from None
    window = narrow(model, args.t_from, args.t_to, args.procs, BadInput)
    title = args.title or describe(window, args)
    outputs = [(args.chart, lambda: chart(window, title)),
               (args.graph, lambda: graph(window, title)),
               (args.perfetto, lambda: json.dumps(perfetto(window), separators=(",", ":")))]
    if args.chart and len(window.items) > TALL_CHART:
        print(f"emu trace: the chart has {len(window.items)} rows; --from, --to and --procs "
              "narrow it", file=sys.stderr)
    for path, render in outputs:
        if path:
            write(path, render(), BadInput)
            print(f"emu trace: wrote {path} ({len(window.messages)} messages, "
                  f"{len(window.marks)} process events)", file=sys.stderr)
    if args.stats or not (args.calls or any(path for path, _ in outputs)):
        sys.stdout.write(stats(window))
    if args.calls:
        sys.stdout.write(calls_text(window))
    return 0


def narrow(model, t_from, t_to, procs, BadInput):
    """The window of `model` the options ask for; BadInput when it is empty or wrong."""
    if t_from is not None and t_to is not None and t_from > t_to:
        raise BadInput(f"emu trace: --from {t_from} is after --to {t_to}")
    names = None
    if procs is not None:
        names = [name.strip() for name in procs.split(",") if name.strip()]
        unknown = [name for name in names if name not in model.lifelines]
        if unknown or not names:
            raise BadInput(f"emu trace: --procs: no process {', '.join(unknown) or '(none)'} "
                           f"in {model.path}; it has {', '.join(model.lifelines)}")
    window = model.window(t_from, t_to, names)
    if not window.items:
        asked = " ".join(f"{flag} {value}" for flag, value in
                         (("--from", t_from), ("--to", t_to), ("--procs", procs)) if value)
        raise BadInput(f"emu trace: nothing in the window {asked} of {model.path} "
                       f"(it spans t={model.t_first}..{model.t_last})")
    return window


def describe(window, args):
    parts = [f"t={window.t_first}..{window.t_last}"]
    if args.procs:
        parts.append(", ".join(window.lifelines))
    return f"IPC of {args.file} ({'; '.join(parts)})"


def write(path, text, BadInput):
    try:
        with open(path, "w") as stream:
            stream.write(text)
    except OSError as error:
        raise BadInput(f"emu trace: {path}: {error.strerror or error}") from None
