"""The pictures of real runs in the README and docs/TRACE.md (`make pictures`).

Contract: `python -m tools.trace.pictures [OUT_DIR]` boots every `Run` that `PICTURES`
names once, with a trace (the system built into `build/pictures/<run>/`, the trace kept
as `build/pictures/<run>.jsonl` for `emu trace`), and draws each picture into
`OUT_DIR/<name>.svg` (default `docs/pictures/`).  A run is a system (`system.toml`),
its console input and its end (the system's own end, `until_exit`, or `max_ticks`).  A
picture is a graph of a whole run, or a chart of one or more `Part`s of it among the
lifelines `procs` (all when empty): a part starts `before` instructions before the
`occurrence`-th event that has all the keys of `start`, counted after the end of the
part above it and after the first event there with the keys of `after` (the run's
start when `start` is empty), and ends at the first event after that
with all the keys of `end`, else after `span` instructions, else at the run's end.
Between two parts the chart says how many rows it left out.  Adding a picture is
adding an entry; a run that no longer has an event a part asks for, or a label of
`procs`, fails with one line naming the picture.  Runs are deterministic, so the files
change only when the systems do.
"""

import io
import sys
from dataclasses import dataclass
from pathlib import Path

from emu.session import BootOptions, Session
from tools.build import BuildError, build_image
from tools.image import read_image
from tools.trace.chart import chart
from tools.trace.graph import graph
from tools.trace.load import TraceError, load
from tools.trace.pairing import build

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "pictures"
OUT = ROOT / "docs" / "pictures"


@dataclass(frozen=True)
class Run:
    name: str                   # build/pictures/<name>.jsonl
    system: str                 # the system.toml, from the repository's root
    input: str = ""             # the console input
    until_exit: str | None = None
    max_ticks: int = 300


@dataclass(frozen=True)
class Part:
    start: tuple = ()           # (key, value) pairs of the event the part starts at
    occurrence: int = 1         # counted after the end of the part above...
    after: tuple = ()           # ...and after the first event there with these keys
    before: int = 0             # the part starts this many instructions before that event
    end: tuple = ()             # ... of the first event after it where the part ends
    span: int | None = None     # without `end`: instructions from the start


@dataclass(frozen=True)
class Picture:
    name: str                   # OUT_DIR/<name>.svg
    title: str
    run: Run
    draw: str = "chart"         # "chart" (sequence chart) or "graph" (interaction graph)
    procs: tuple = ()
    parts: tuple = (Part(),)


STOCK = Run("stock", "guest/system.toml", "cp motd copy\nps\nworkload 1\n")
CRASH = Run("crash", "tools/trace/demos/crash/system.toml", "lp notes.txt\nlp motd\n")
KINDS = Run("kinds", "tools/trace/demos/kinds/system.toml", until_exit="client", max_ticks=50)


def ipc(proc, **keys):
    return (("ev", "ipc"), ("proc", proc)) + tuple(keys.items())


def kcall(proc, **keys):
    return (("ev", "kcall"), ("proc", proc)) + tuple(keys.items())


PICTURES = [
    Picture("printer-devio",
            "lp prints its test page through vfs and the printer driver: the seed's DEVIO "
            "exchange (port 0xab, OK 0xcd)", STOCK, procs=("lp", "vfs", "printer", "SYSTEM"),
            parts=(Part(ipc("lp", op="SENDREC", m_type="VFS_WRITE"), span=450),
                   Part(ipc("printer", m_type="DEV_REPLY"), before=200,
                        end=ipc("vfs", op="NBSEND", peer_label="lp")))),
    Picture("cat-read",
            "A POSIX read through VFS to the disk driver: cat motd (12 messages)",
            STOCK, procs=("cat", "vfs", "disk", "SYSTEM"),
            parts=(Part(ipc("cat", op="SENDREC", m_type="VFS_READ"),
                        end=ipc("vfs", op="NBSEND", peer_label="cat")),)),
    Picture("driver-crash",
            "The printer driver crashes in lp's write: RS restarts it, DS tells VFS, VFS "
            "answers lp EIO, the next lp prints", CRASH,
            procs=("lp", "vfs", "ds", "rs", "printer", "SYSTEM"),
            parts=(Part(ipc("lp", op="SENDREC", m_type="VFS_WRITE"), occurrence=2,
                        span=400),
                   Part(kcall("printer", call="SAFECOPYFROM", offset=256),
                        end=ipc("vfs", op="NBSEND", peer_label="lp", m_type=-5)),
                   Part(ipc("lp", op="SENDREC", m_type="VFS_WRITE"),
                        after=(("ev", "start"), ("proc", "lp")), span=420))),
    Picture("stock-graph",
            "IPC interactions of the stock OS: boot (hello, lp, cat motd), cp, ps, "
            "workload 1, heartbeats", STOCK, draw="graph"),
    Picture("every-kind",
            "Every kind of arrow and mark: requests, notifications, refused calls, kernel "
            "calls, ASEND, an alarm, an interrupt, a trust report, a fault, woken callers",
            KINDS),
]


class PictureError(Exception):
    """A picture that cannot be made; str is one line naming it."""


def make(pictures=PICTURES, out_dir=OUT, build_dir=BUILD):
    """Draw every picture; returns the paths written."""
    runs, written = {}, []
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for picture in pictures:
        if picture.run not in runs:
            trace = boot(picture.run, Path(build_dir))
            events = load(trace)
            runs[picture.run] = (trace, events, build(events, trace))
        trace, events, model = runs[picture.run]
        unknown = [name for name in picture.procs if name not in model.lifelines]
        if unknown:
            raise PictureError(f"{picture.name}: no process {', '.join(unknown)} in {trace}")
        path = Path(out_dir) / f"{picture.name}.svg"
        if picture.draw == "graph":
            path.write_text(graph(model.window(procs=picture.procs or None), picture.title))
        else:
            window, breaks = _parts(picture, trace, events, model)
            path.write_text(chart(window, picture.title, breaks))
        written.append(path)
    return written


def _parts(picture, trace, events, model):
    """The window of a chart made of the picture's parts, and its breaks
    (row index -> text)."""
    procs = picture.procs or None
    window, breaks, last_to, after = None, {}, None, 0
    for part in picture.parts:
        t_from, t_to, after = _bounds(picture, part, trace, events, model, after)
        if last_to is not None and t_from <= last_to:
            raise PictureError(f"{picture.name}: a part starts at t={t_from}, before the "
                               f"part above it ends (t={last_to})")
        piece = model.window(t_from, t_to, procs)
        if window is None:
            window = piece
        else:
            left_out = model.window(last_to + 1, t_from - 1, procs).items \
                if t_from - 1 > last_to else []
            breaks[len(window.items)] = (f"\u22ee {len(left_out)} rows left out, "
                                         f"t={last_to + 1}..{t_from - 1}")
            window.items = window.items + piece.items
            window.t_last = piece.t_last
        last_to = t_to
    return window, breaks


def _bounds(picture, part, trace, events, model, after):
    """(t_from, t_to, the trace line it ends at) of one part, looking after the trace
    line `after`."""
    if not part.start:
        return model.t_first, model.t_last, events[-1].line
    if part.after:
        after = _find(picture, trace, events, part.after, after, 1).line
    first = _find(picture, trace, events, part.start, after, part.occurrence)
    t_from = max(first.t - part.before, model.t_first)
    if part.end:
        last = _find(picture, trace, events, part.end, first.line, 1)
        return t_from, last.t, last.line
    t_to = model.t_last if part.span is None else first.t + part.span
    return t_from, t_to, max([e.line for e in events if e.t <= t_to], default=first.line)


def _find(picture, trace, events, keys, after, occurrence):
    """The `occurrence`-th event after the trace line `after` that has the `keys`."""
    keys = dict(keys)
    found = [e for e in events if e.line > after and all(e.get(k) == v
                                                         for k, v in keys.items())]
    if len(found) < occurrence:
        raise PictureError(f"{picture.name}: no event {keys} (match {occurrence}) after "
                           f"line {after} of {trace}")
    return found[occurrence - 1]


def boot(run, build_dir):
    """Build the system of `run`, boot it to its end with a trace; the trace's path."""
    image_path = build_dir / run.name / f"{run.name}.img"
    build_image(ROOT / run.system, image_path, build_dir / run.name)
    trace = io.StringIO()
    options = BootOptions(printer=None, console=io.BytesIO(), log=io.StringIO(),
                          input_bytes=run.input.encode(), until_exit=run.until_exit,
                          max_ticks=run.max_ticks)
    session = Session(read_image(image_path), options, trace_stream=trace,
                      printer_stream=io.BytesIO())
    if session.run() == "panic":
        raise PictureError(f"{run.system}: kernel panic while making a picture")
    session.close()
    path = build_dir / f"{run.name}.jsonl"
    path.write_text(trace.getvalue())
    return path


def main(argv):
    out_dir = Path(argv[0]) if argv else OUT
    try:
        for path in make(out_dir=out_dir):
            print(f"wrote {path}")
    except (PictureError, BuildError, TraceError) as error:
        print(f"pictures: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
