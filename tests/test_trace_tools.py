"""`emu trace` (tools/trace): charts, graphs, Perfetto JSON and statistics of real traces.

Traces come from booting images: the stock system, and the demo system
tools/trace/demos/kinds, whose client makes every kind of call once (a request and its
reply, notifications that coalesce, calls the kernel refuses, an ASEND, a kernel-log
line, an alarm) and ends with a request to a driver that takes an interrupt and
crashes.  What each output must contain is computed from the raw trace lines, apart
from the tools' model: every message of the window is an arrow of the chart
(`data-line` names its trace line), the JSON follows the trace-event format (required
keys, monotonic time per track, nested slices, every flow paired and bound to a slice),
and bad trace files or options give one line and exit status 2.
"""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emu.cli import main
from tests.harness import run_image
from tools.build import build_image
from tools.trace import pictures
from tools.trace.command import virtual_time

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
TASKS = ("SYSTEM", "CLOCK", "HARDWARE")

KINDS = ROOT / "tools" / "trace" / "demos" / "kinds" / "system.toml"


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return boot_with_trace(tmp_path_factory.mktemp("kinds"), KINDS, until_exit="client",
                           max_ticks=50)


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    return boot_with_trace(tmp_path_factory.mktemp("stock"), ROOT / "guest" / "system.toml")


def boot_with_trace(tmp, system, **limits):
    image = tmp / "test.img"
    build_image(system, image, tmp)
    run = run_image(image, **limits)
    assert run.kernel.panic_report is None
    path = tmp / "trace.jsonl"
    path.write_text(run.trace_text)
    return path


def raw(path):
    return [dict(json.loads(text), line=n)
            for n, text in enumerate(Path(path).read_text().splitlines(), 1)]


def is_asend_post(e):
    return e["op"] == "ASEND" and e["m_type"] is None and e["result"] == "OK"


def expected_lines(events, t_from=0, t_to=None, procs=None):
    """Trace lines that must be arrows and marks of the window, from the raw events: an
    arrow for every call a process made (but the hand-over of an ASEND table, a mark),
    every kernel call's reply and every notification from a kernel task; a mark for
    every process event."""
    t_to = events[-1]["t"] if t_to is None else t_to
    shown = (lambda name: name in procs) if procs else (lambda name: True)
    known = {e["proc"] for e in events} | set(TASKS)
    arrows, marks = set(), set()
    for e in events:
        if not t_from <= e["t"] <= t_to:
            continue
        if e["ev"] == "ipc" and e["op"] != "RECEIVE" and not is_asend_post(e) or \
                e["ev"] == "ipc" and e["result"] != "OK":
            peer = e["peer_label"] if e["peer_label"] in known else None
            if shown(e["proc"]) and (peer is None or shown(peer)):
                arrows.add(e["line"])
        elif e["ev"] == "ipc" and e["peer_label"] in TASKS:
            if shown(e["proc"]) and shown(e["peer_label"]):
                arrows.add(e["line"])
        elif e["ev"] == "kcall":
            if shown(e["proc"]) and shown("SYSTEM"):
                arrows.add(e["line"])
        elif e["ev"] in ("start", "exit", "fault", "kill", "restart", "diag") or \
                e["ev"] == "ipc" and is_asend_post(e):
            if shown(e["proc"]):
                marks.add(e["line"])
    return arrows, marks


def drawn(svg_path):
    """(trace lines of arrows, trace lines of marks, {line: <g>}) of a chart."""
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


def first_request_to(events, label):
    return next(e for e in events if e["ev"] == "ipc" and e["peer_label"] == label
                and e["op"] != "RECEIVE" and e["result"] == "OK" and not is_asend_post(e))


# -- the chart ---------------------------------------------------------------------------

@pytest.mark.parametrize("window", [{}, {"procs": ("client", "server", "SYSTEM")},
                                    {"t_from": 30, "t_to": 10090}])
def test_chart_has_every_message_and_process_event_of_the_window(kinds, tmp_path, window):
    out = tmp_path / "chart.svg"
    args = [kinds, "--chart", out]
    if "procs" in window:
        args += ["--procs", ",".join(window["procs"])]
    if "t_from" in window:
        args += ["--from", window["t_from"], "--to", window["t_to"]]
    assert emu(*args) == 0
    arrows, marks, _ = drawn(out)
    assert (arrows, marks) == expected_lines(raw(kinds), **window)
    assert arrows


def test_chart_of_the_stock_printer_exchange(stock, tmp_path):
    events = raw(stock)
    request = first_request_to(events, "printer")
    procs = (request["proc"], "printer", "SYSTEM")
    window = {"t_from": request["t"], "t_to": request["t"] + 300, "procs": procs}
    out = tmp_path / "printer.svg"
    assert emu(stock, "--chart", out, "--procs", ",".join(procs), "--from", request["t"],
               "--to", request["t"] + 300) == 0
    arrows, marks, groups = drawn(out)
    assert (arrows, marks) == expected_lines(events, **window)
    status = [line for line in arrows for g in groups[line]
              if "DEVIO in port=0xab" in texts(g)]
    assert status, "the seed's exchange: printer -> SYSTEM DEVIO port 0xAB"
    replies = [texts(g) for line in arrows for g in groups[line] if "reply" in g.get("class")]
    assert "OK value=0xcd" in replies


def test_chart_draws_each_kind_of_call_distinctly(kinds, tmp_path):
    out = tmp_path / "chart.svg"
    assert emu(kinds, "--chart", out) == 0
    events = raw(kinds)
    _, _, groups = drawn(out)

    def group(**keys):
        e = next(e for e in events if all(e.get(k) == v for k, v in keys.items()))
        return groups[e["line"]][0]
    assert "denied" in group(result="ECALLDENIED").get("class")
    refused = group(result="EDEADSRCDST")
    assert "denied" in refused.get("class") and "endpoint 10" in texts(refused)
    assert "not-ready" in group(result="ENOTREADY").get("class")
    assert "reply" in group(ev="kcall", result="ECALLDENIED").get("class")
    assert "ECALLDENIED: call not allowed" in texts(group(ev="kcall", result="ECALLDENIED"))
    for crossed in (group(result="ECALLDENIED"), group(result="ENOTREADY")):
        assert any(line.get("class") == "cross" for line in crossed.iter(f"{SVG}line"))
    notify = group(op="NOTIFY")
    assert "notify" in notify.get("class") and "delivered at t=" in texts(notify)
    line = next(notify.iter(f"{SVG}line"))
    assert float(line.get("y2")) > float(line.get("y1")), "delivered later: slanted down"
    assert "notify" in group(peer_label="HARDWARE").get("class")
    fault = group(ev="fault")
    assert "fault" in fault.get("class")
    assert "read_unmapped" in texts(fault) and "dword ptr [0]" in texts(fault)
    assert "client: all calls made" in texts(group(ev="diag"))
    assert "ASEND table of 1 entry" in texts(group(ev="ipc", op="ASEND", m_type=None))
    dead = [line for line in ET.parse(out).getroot().iter(f"{SVG}line")
            if line.get("class") == "dead"]
    assert dead, "the driver's lifeline goes faint after its fault"


# -- the graph ---------------------------------------------------------------------------

def test_graph_counts_messages_per_pair(kinds, tmp_path):
    out = tmp_path / "graph.svg"
    assert emu(kinds, "--graph", out) == 0
    root = ET.parse(out).getroot()
    edges = {(g.get("data-src"), g.get("data-dst"), g.get("class")): texts(g)
             for g in root.iter(f"{SVG}g") if g.get("class", "").startswith("edge")}
    events = raw(kinds)
    kcalls = sum(1 for e in events if e["ev"] == "kcall" and e["proc"] == "driver")
    to_server = sum(1 for e in events if e["ev"] == "ipc" and e["proc"] == "client"
                    and e["peer_label"] == "server" and e["op"] != "RECEIVE"
                    and e["result"] == "OK" and not is_asend_post(e))
    assert edges[("client", "server", "edge")] == str(to_server) == "4"
    assert edges[("driver", "SYSTEM", "edge kernel")] == str(kcalls)
    assert edges[("SYSTEM", "driver", "edge kernel")] == str(kcalls)
    assert edges[("HARDWARE", "driver", "edge kernel")] == "1"
    assert edges[("client", "bystander", "edge denied")] == "1 refused"
    nodes = {g.get("data-name") for g in root.iter(f"{SVG}g") if g.get("data-name")}
    assert nodes == {"client", "server", "bystander", "driver", "SYSTEM", "CLOCK", "HARDWARE"}


# -- Perfetto ----------------------------------------------------------------------------

def check_trace_event_json(doc):
    """Check the trace-event format; returns the number of flows."""
    events = doc["traceEvents"]
    assert isinstance(events, list) and events
    names, last_ts, slices, flows = {}, {}, {}, {}
    for e in events:
        assert {"name", "ph", "pid", "tid", "ts"} <= e.keys(), e
        assert isinstance(e["name"], str) and isinstance(e["pid"], int) \
            and isinstance(e["tid"], int) and isinstance(e["ts"], (int, float)) \
            and e["ts"] >= 0
        assert e["ph"] in "MXsfi", e
        if e["ph"] == "M":
            if e["name"] == "thread_name":
                names[e["tid"]] = e["args"]["name"]
            continue
        assert e["ts"] >= last_ts.get(e["tid"], 0), f"time goes back on track {e['tid']}"
        last_ts[e["tid"]] = e["ts"]
        if e["ph"] == "X":
            assert isinstance(e["dur"], (int, float)) and e["dur"] > 0, e
            slices.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
        elif e["ph"] in "sf":
            flows.setdefault(e["id"], []).append(e)
        else:
            assert e["s"] in "tpg"
    assert set(last_ts) <= set(names), "every track has a name"
    for tid, spans in slices.items():
        stack = []
        for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
            while stack and stack[-1] <= start:
                stack.pop()
            assert not stack or end <= stack[-1], f"slices overlap on track {tid}"
            stack.append(end)
    for flow_id, pair in flows.items():
        assert sorted(e["ph"] for e in pair) == ["f", "s"], f"flow {flow_id} is not a pair"
        start, finish = sorted(pair, key=lambda e: e["ph"] != "s")
        assert (start["name"], start["cat"]) == (finish["name"], finish["cat"])
        assert start["ts"] <= finish["ts"] and finish["bp"] == "e"
        for e in pair:
            assert any(a <= e["ts"] < b for a, b in slices[e["tid"]]), "flow bound to a slice"
    return len(flows)


def delivered_messages(events):
    """Messages delivered (each a flow), from the raw events: every call a process made
    that was delivered (its notifications too), every kernel reply, and every
    notification from a kernel task."""
    notified = {(e["peer"], e["ep"]) for e in events if e["ev"] == "ipc"
                and e["op"] == "RECEIVE" and e["m_type"] == "NOTIFY_MESSAGE"}
    count = 0
    for e in events:
        if e["ev"] == "kcall":
            count += 1
        elif e["ev"] == "ipc" and e["result"] == "OK" and not is_asend_post(e):
            if e["op"] == "NOTIFY":
                count += (e["ep"], e["peer"]) in notified
            elif e["op"] != "RECEIVE" or e["peer_label"] in TASKS:
                count += 1
    return count


@pytest.mark.parametrize("trace", ["kinds", "stock"])
def test_perfetto_json_is_valid_trace_event_format(trace, request, tmp_path):
    path = request.getfixturevalue(trace)
    out = tmp_path / "trace.json"
    assert emu(path, "--perfetto", out) == 0
    doc = json.loads(out.read_text())
    assert check_trace_event_json(doc) == delivered_messages(raw(path))
    tracks = {e["args"]["name"].split()[0] for e in doc["traceEvents"]
              if e["name"] == "thread_name"}
    assert tracks == {e["proc"] for e in raw(path)} | (
        {e["peer_label"] for e in raw(path) if e.get("peer_label") in TASKS})


def test_perfetto_takes_running_slices_from_the_kernel(tmp_path):
    """A kernel that writes `slice` events gives exact running slices (no inference)."""
    lines = [
        {"t": 0, "ev": "start", "proc": "a", "ep": 0},
        {"t": 0, "ev": "start", "proc": "b", "ep": 1},
        {"t": 10, "ev": "ipc", "proc": "a", "ep": 0, "op": "SENDREC", "peer": 1,
         "peer_label": "b", "m_type": "DEV_WRITE", "result": "OK"},
        {"t": 10, "ev": "ipc", "proc": "b", "ep": 1, "op": "RECEIVE", "peer": 0,
         "peer_label": "a", "m_type": "DEV_WRITE", "result": "OK"},
        {"t": 11, "ev": "slice", "proc": "a", "ep": 0, "start": 0},
        {"t": 30, "ev": "ipc", "proc": "b", "ep": 1, "op": "NBSEND", "peer": 0,
         "peer_label": "a", "m_type": 4, "result": "OK"},
        {"t": 30, "ev": "ipc", "proc": "a", "ep": 0, "op": "RECEIVE", "peer": 1,
         "peer_label": "b", "m_type": 4, "result": "OK"},
        {"t": 31, "ev": "slice", "proc": "b", "ep": 1, "start": 11},
    ]
    trace = tmp_path / "t.jsonl"
    trace.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "t.json"
    assert emu(trace, "--perfetto", out) == 0
    doc = json.loads(out.read_text())
    assert check_trace_event_json(doc) == 2
    states = sorted((e["tid"], e["name"], e["ts"], e["ts"] + e["dur"])
                    for e in doc["traceEvents"] if e.get("cat") in ("state", "inferred"))
    assert states == [(1, "SENDREC: waiting for b", 11, 30), (1, "running", 0, 11),
                      (2, "running", 11, 31)]


# -- statistics --------------------------------------------------------------------------

def row(text, *cells):
    return re.search(r"^\s+" + r"\s+".join(map(re.escape, map(str, cells))) + r"\s*$",
                     text, re.M) is not None


def test_stats_count_pairs_types_denials_calls_and_seconds(kinds, capsys):
    assert emu(kinds, "--stats") == 0
    text = capsys.readouterr().out
    assert row(text, "client", "server", 4, "ASEND 1, NOTIFY 2, SENDREC 1")
    assert row(text, "SYSTEM", "driver", 3, "REPLY 3")
    assert row(text, "NOTIFY_MESSAGE", 4)           # 2 from client, CLOCK, HARDWARE
    assert row(text, "unauthorized IPC endpoint", 1)
    assert row(text, "bad IPC endpoint", 1)
    assert row(text, "bad IPC primitive", 0)
    assert row(text, "peer not ready (not a denial)", 1)
    assert row(text, "illegal kernel request: ECALLDENIED (call not allowed)", 1)
    assert row(text, "server", 77, 1, 2, "2.0", 2, 2)
    assert "(1 calls without a reply in the window)" in text   # the driver crashed
    delivered = delivered_messages(raw(kinds))
    assert row(text, "0..1 s", delivered)


def test_stats_is_the_default(kinds, capsys):
    assert emu(kinds) == 0
    assert "Messages per process pair" in capsys.readouterr().out


# -- bad input ---------------------------------------------------------------------------

def corrupt(lines, n, text):
    return "\n".join(lines[:n - 1] + [text] + lines[n:]) + "\n"


@pytest.mark.parametrize("how, where", [
    ("missing", ": No such file"),
    ("empty", ": no events"),
    ("truncated", ":5: not JSON"),
    ("array", ":5: not a JSON object"),
    ("no key", ":5: 'ipc' event has no 'result'"),
    ("wrong type", ":6: 'ipc' event: 'peer' is \"x\""),
    ("time back", ":7: time goes back"),
    ("binary", ":1: not UTF-8 text"),
])
def test_bad_trace_files_give_one_line_errors(kinds, tmp_path, capsys, how, where):
    lines = kinds.read_text().splitlines()
    path = tmp_path / "bad.jsonl"
    first = json.loads(lines[4])
    contents = {
        "empty": "\n\n",
        "truncated": corrupt(lines, 5, lines[4][:30]),
        "array": corrupt(lines, 5, "[1, 2]"),
        "no key": corrupt(lines, 5, json.dumps({k: v for k, v in first.items()
                                                if k != "result"})),
        "wrong type": corrupt(lines, 6, json.dumps(dict(json.loads(lines[5]), peer="x"))),
        "time back": corrupt(lines, 7, json.dumps(dict(json.loads(lines[6]), t=1))),
    }
    if how == "binary":
        path.write_bytes(b"\xff\xfe\x00garbage\n")
    elif how != "missing":
        path.write_text(contents[how])
    assert emu(path, "--chart", tmp_path / "c.svg") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"emu trace: {path}{where}"), err
    assert not (tmp_path / "c.svg").exists()


@pytest.mark.parametrize("args, message", [
    (["--procs", "client,nobody"], "--procs: no process nobody"),
    (["--from", "100", "--to", "50"], "--from 100 is after --to 50"),
    (["--from", "2s"], "nothing in the window --from 2000000"),
    (["--from", "soon"], "argument --from: not a time: 'soon'"),
    (["--chart", "/nonexistent/dir/c.svg"], "/nonexistent/dir/c.svg: No such file"),
])
def test_bad_options_give_one_line_errors(kinds, capsys, args, message):
    assert emu(kinds, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_times_read_in_instructions_or_virtual_units():
    assert [virtual_time(t) for t in ("1500", "0x10", "1.5ms", "2s", "30us")] == \
        [1500, 16, 1500, 2_000_000, 30]


# -- the README's pictures ---------------------------------------------------------------

def test_pictures_are_drawn_from_real_runs(tmp_path):
    written = pictures.make(out_dir=tmp_path / "pictures", build_dir=tmp_path / "build")
    assert sorted(path.name for path in written) == \
        sorted(f"{picture.name}.svg" for picture in pictures.PICTURES)
    for path in written:
        ET.parse(path)                                   # well-formed SVG
    devio = (tmp_path / "pictures" / "printer-devio.svg").read_text()
    assert "DEVIO in port=0xab" in devio and "OK value=0xcd" in devio
    crash = (tmp_path / "pictures" / "driver-crash.svg").read_text()
    assert 'class="mark fault"' in crash and "write_unmapped" in crash
