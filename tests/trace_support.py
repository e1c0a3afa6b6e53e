"""Helpers for the tests of `emu trace` (tests/test_trace_tools.py, test_trace_stats.py).

What each output must contain is computed here from the raw trace lines, apart from the
tools' model: `expected_lines` (the arrows and marks of a chart window) and
`delivered_messages` (the flows of a Perfetto file, the messages of the statistics).
"""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from emu.cli import main
from tests.harness import run_image
from tools.build import build_image

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
TASKS = ("SYSTEM", "CLOCK", "HARDWARE")
KINDS = ROOT / "tools" / "trace" / "demos" / "kinds" / "system.toml"
STOCK = ROOT / "guest" / "system.toml"
PROCESS_EVENTS = ("start", "exit", "fault", "kill", "restart", "trust", "diag")


def boot_with_trace(tmp, system, input_bytes=b"", **limits):
    """Build `system` into `tmp`, boot it with a trace; the trace file's path."""
    image = tmp / "test.img"
    build_image(system, image, tmp)
    run = run_image(image, input_bytes, **limits)
    assert run.kernel.panic_report is None
    path = tmp / "trace.jsonl"
    path.write_text(run.trace_text)
    return path


def raw(path):
    return [dict(json.loads(text), line=n)
            for n, text in enumerate(Path(path).read_text().splitlines(), 1)]


def is_asend_call(e):
    """The ASEND call itself (it hands over a table), not one of its entries."""
    return e["ev"] == "ipc" and e["op"] == "ASEND" and e["peer"] is None


def expected_lines(events, t_from=0, t_to=None, procs=None):
    """Trace lines that must be arrows and marks of the window: an arrow for every call a
    process made (a refused one too, an ASEND entry refused when read, and a caller
    woken because its peer died), every kernel call's reply and every notification from
    a kernel task; a mark for every process event and every ASEND call that handed over
    a table."""
    t_to = events[-1]["t"] if t_to is None else t_to
    shown = (lambda name: name in procs) if procs else (lambda name: True)
    known = {e["proc"] for e in events} | set(TASKS)
    arrows, marks = set(), set()
    for e in events:
        if not t_from <= e["t"] <= t_to:
            continue
        ok_call = is_asend_call(e) and e["result"] == "OK"
        if e["ev"] == "ipc" and not ok_call and (e["op"] != "RECEIVE" or e["result"] != "OK"):
            peer = e["peer_label"] if e["peer_label"] in known else None
            if shown(e["proc"]) and (peer is None or shown(peer)):
                arrows.add(e["line"])
        elif e["ev"] == "ipc" and e["peer_label"] in TASKS and not ok_call:
            if shown(e["proc"]) and shown(e["peer_label"]):
                arrows.add(e["line"])
        elif e["ev"] == "kcall":
            if shown(e["proc"]) and shown("SYSTEM"):
                arrows.add(e["line"])
        elif e["ev"] in PROCESS_EVENTS or ok_call:
            if shown(e["proc"]):
                marks.add(e["line"])
    return arrows, marks


def delivered_messages(events):
    """Messages delivered, from the raw events: every call a process made that was
    delivered (its notifications too, once received), every kernel reply, and every
    notification from a kernel task."""
    notified = {(e["peer"], e["ep"]) for e in events if e["ev"] == "ipc"
                and e["op"] == "RECEIVE" and e["m_type"] == "NOTIFY_MESSAGE"}
    count = 0
    for e in events:
        if e["ev"] == "kcall":
            count += 1
        elif e["ev"] == "ipc" and e["result"] == "OK" and not is_asend_call(e):
            if e["op"] == "NOTIFY":
                count += (e["ep"], e["peer"]) in notified
            elif e["op"] != "RECEIVE" or e["peer_label"] in TASKS:
                count += 1
    return count


def drawn(svg_path):
    """(trace lines of arrows, trace lines of marks, {line: [<g>]}) of a chart."""
    groups = {}
    arrows, marks = set(), set()
    for g in ET.parse(svg_path).getroot().iter(f"{SVG}g"):
        if "data-line" not in g.attrib:
            continue
        line = int(g.get("data-line"))
        (marks if g.get("class").startswith("mark") else arrows).add(line)
        groups.setdefault(line, []).append(g)
    return arrows, marks, groups


def texts(g):
    return " ".join(t.text or "" for t in g.iter(f"{SVG}text"))


def emu(*args):
    return main(["trace", *map(str, args)])


def first(events, **keys):
    return next(e for e in events if all(e.get(k) == v for k, v in keys.items()))
