"""The pictures of real runs in the README and docs/TRACE.md (`make pictures`).

Contract: `python -m tools.trace.pictures [OUT_DIR]` builds every system that
`PICTURES` names (into `build/pictures/`), boots each once with a trace
(`build/pictures/<system>.jsonl`, kept for `emu trace`), and draws each picture into
`OUT_DIR/<name>.svg` (default `docs/pictures/`).  A picture is a chart or a graph of
one window of one run: the window starts at the event that is the `occurrence`-th to
have all the keys of `start` (the whole run when there is none) and lasts `span`
instructions (to the end when None), among the lifelines `procs` (all when empty).
Adding a picture is adding an entry; a run that no longer has the `start` event or a
label of `procs` fails with one line naming the picture.  Runs are deterministic, so the
files change only when the systems do.
"""

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from emu.session import BootOptions, Session
from tools.build import BuildError, build_image
from tools.image import read_image
from tools.trace.chart import chart
from tools.trace.graph import graph
from tools.trace.load import TraceError, load
from tools.trace.model import build

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "pictures"
OUT = ROOT / "docs" / "pictures"
STOCK = "guest/system.toml"
CRASH = "tools/trace/demos/crash/system.toml"
KINDS = "tools/trace/demos/kinds/system.toml"


@dataclass(frozen=True)
class Picture:
    name: str                   # OUT_DIR/<name>.svg
    title: str
    system: str                 # the system.toml of the run, from the repository's root
    draw: str = "chart"         # "chart" (sequence chart) or "graph" (interaction graph)
    procs: tuple = ()
    start: dict = field(default_factory=dict)
    occurrence: int = 1         # the window starts at this match of `start`
    span: int | None = None
    max_ticks: int = 200        # the run ends when its users did, or at this tick


PICTURES = [
    Picture("printer-devio",
            "lp's DEV_WRITE to the printer driver, and the driver's DEVIO exchange with "
            "SYSTEM (the seed's example: port 0xab, reply OK with 0xcd)",
            STOCK, procs=("lp", "printer", "SYSTEM"),
            start={"ev": "ipc", "proc": "lp", "op": "SENDREC", "peer_label": "printer"},
            span=200),
    Picture("stock-graph", "IPC interactions of the stock system", STOCK, draw="graph"),
    Picture("driver-crash",
            "A driver bug: the second request crashes the printer driver (a CPU fault "
            "ends it; its client's SENDREC fails)",
            CRASH, procs=("writer", "printer", "SYSTEM"),
            start={"ev": "ipc", "proc": "writer", "op": "SENDREC", "peer_label": "printer"},
            occurrence=2),
    Picture("every-kind",
            "Every kind of arrow and mark: a request and its reply, notifications, refused "
            "calls, kernel calls, an ASEND, an alarm, an interrupt and a fault",
            KINDS),
]


class PictureError(Exception):
    """A picture that cannot be made; str is one line naming it."""


def make(pictures=PICTURES, out_dir=OUT, build_dir=BUILD):
    """Draw every picture; returns the paths written."""
    runs, written = {}, []
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for picture in pictures:
        key = (picture.system, picture.max_ticks)
        if key not in runs:
            trace = run(picture.system, picture.max_ticks, Path(build_dir))
            events = load(trace)
            runs[key] = (trace, events, build(events, trace))
        trace, events, model = runs[key]
        t_from = model.t_first
        if picture.start:
            found = [e for e in events if all(e.get(k) == v for k, v in picture.start.items())]
            if len(found) < picture.occurrence:
                raise PictureError(f"{picture.name}: no event {picture.start} (match "
                                   f"{picture.occurrence}) in {trace}")
            t_from = found[picture.occurrence - 1].t
        unknown = [name for name in picture.procs if name not in model.lifelines]
        if unknown:
            raise PictureError(f"{picture.name}: no process {', '.join(unknown)} in {trace}")
        t_to = None if picture.span is None else t_from + picture.span
        window = model.window(t_from, t_to, picture.procs or None)
        draw = chart if picture.draw == "chart" else graph
        path = Path(out_dir) / f"{picture.name}.svg"
        path.write_text(draw(window, picture.title))
        written.append(path)
    return written


def run(system, max_ticks, build_dir):
    """Build `system`, boot it to its end with a trace; returns the trace's path."""
    stem = Path(system).parent.name if Path(system).name == "system.toml" else \
        Path(system).stem
    image_path = build_dir / f"{stem}.img"
    build_image(ROOT / system, image_path, build_dir / stem)
    trace = io.StringIO()
    options = BootOptions(printer=None, console=io.BytesIO(), log=io.StringIO(),
                          max_ticks=max_ticks)
    session = Session(read_image(image_path), options, trace_stream=trace,
                      printer_stream=io.BytesIO())
    end = session.run()
    if end == "panic":
        raise PictureError(f"{system}: kernel panic while making a picture")
    path = build_dir / f"{stem}.jsonl"
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
