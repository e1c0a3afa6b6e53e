"""`emu trace` (tools/trace): charts, graphs, Perfetto JSON and bad input, on real traces.

Traces come from booting images: the stock OS (the boot script: hello, lp, cat motd),
and the demo system tools/trace/demos/kinds, whose client makes every kind of call once
(a request and its reply, notifications that coalesce, calls the kernel refuses, an
ASEND with an entry refused when read, a kernel-log line, an alarm), whose bystander
blocks on the driver (a trust report) and whose driver takes an interrupt and crashes,
waking both.  What each output must contain is computed from the raw trace lines
(tests/trace_support.py), apart from the tools' model: every message of the window is
an arrow of the chart (`data-line` names its trace line), the JSON follows the
trace-event format (required keys, monotonic time per track, nested slices, every flow
paired and bound to a slice), and bad trace files or options give one line and exit
status 2.  Statistics and pictures: tests/test_trace_stats.py.
"""

import json
import xml.etree.ElementTree as ET

import pytest

from tests.trace_support import (KINDS, STOCK, SVG, TASKS, boot_with_trace,
                                 delivered_messages, drawn, emu, expected_lines, first,
                                 is_asend_call, raw, texts)
from tools.trace.command import virtual_time


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return boot_with_trace(tmp_path_factory.mktemp("kinds"), KINDS, until_exit="client",
                           max_ticks=50)


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    return boot_with_trace(tmp_path_factory.mktemp("stock"), STOCK)


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
    """lp -> vfs -> printer (by ASEND), then the seed's DEVIO exchange with SYSTEM."""
    events = raw(stock)
    request = first(events, ev="ipc", proc="lp", op="SENDREC", m_type="VFS_WRITE")
    procs = ("lp", "vfs", "printer", "SYSTEM")
    window = {"t_from": request["t"], "t_to": request["t"] + 450, "procs": procs}
    out = tmp_path / "printer.svg"
    assert emu(stock, "--chart", out, "--procs", ",".join(procs), "--from", request["t"],
               "--to", request["t"] + 450) == 0
    arrows, marks, groups = drawn(out)
    assert (arrows, marks) == expected_lines(events, **window)
    labels = [texts(g) for line in sorted(arrows) for g in groups[line]]
    assert labels[0] == "SENDREC VFS_WRITE"
    assert "ASEND CDEV_WRITE" in labels
    assert "DEVIO in port=0xab" in labels, "the seed's exchange: printer -> SYSTEM DEVIO"
    assert "OK value=0xcd" in labels
    asend = next(e for e in events if e["line"] > request["line"] and is_asend_call(e))
    assert "ASEND table of 16 entries" in texts(groups[asend["line"]][0])


def test_chart_draws_each_kind_of_call_distinctly(kinds, tmp_path):
    out = tmp_path / "chart.svg"
    assert emu(kinds, "--chart", out) == 0
    events = raw(kinds)
    _, _, groups = drawn(out)

    def group(**keys):
        return groups[first(events, **keys)["line"]][0]
    assert "denied" in group(result="ECALLDENIED").get("class")
    refused = group(result="EDEADSRCDST", proc="client", op="SEND")
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
    call = first(events, ev="ipc", op="ASEND", peer=None)
    assert "ASEND table of 2 entries" in texts(group(ev="ipc", op="ASEND", peer=None))
    entry = group(ev="ipc", op="ASEND", result="ECALLDENIED")
    assert "denied" in entry.get("class") and texts(entry) == "ASEND entry ECALLDENIED"
    delivered = group(ev="ipc", op="ASEND", m_type=88)
    assert texts(delivered) == f"ASEND 88 (posted at t={call['t']})"
    trust = group(ev="trust")
    assert trust.get("class") == "mark trust"
    assert texts(trust) == "TRUST: blocking SEND to driver driver"
    for proc, op in (("client", "SENDREC"), ("bystander", "SEND")):
        woken = group(proc=proc, op=op, result="EDEADSRCDST", peer_label="driver")
        assert "woken" in woken.get("class"), "a failed call, not a refused one"
        assert texts(woken) == f"{op} EDEADSRCDST (driver died)"
        assert any(line.get("class") == "cross" for line in woken.iter(f"{SVG}line"))
    dead = [line for line in ET.parse(out).getroot().iter(f"{SVG}line")
            if line.get("class") == "dead"]
    assert dead, "the driver's lifeline goes faint after its fault"


# -- the graph ---------------------------------------------------------------------------

def edges_of(path):
    root = ET.parse(path).getroot()
    edges = {(g.get("data-src"), g.get("data-dst"), g.get("class")): texts(g)
             for g in root.iter(f"{SVG}g") if g.get("class", "").startswith("edge")}
    nodes = {g.get("data-name"): texts(g) for g in root.iter(f"{SVG}g") if g.get("data-name")}
    return edges, nodes


def test_graph_counts_messages_per_pair(kinds, tmp_path):
    out = tmp_path / "graph.svg"
    assert emu(kinds, "--graph", out) == 0
    edges, nodes = edges_of(out)
    events = raw(kinds)
    kcalls = sum(1 for e in events if e["ev"] == "kcall" and e["proc"] == "driver")
    to_server = sum(1 for e in events if e["ev"] == "ipc" and e["proc"] == "client"
                    and e["peer_label"] == "server" and e["op"] != "RECEIVE"
                    and e["result"] == "OK" and e["peer"] is not None)
    assert edges[("client", "server", "edge")] == str(to_server) == "4"
    assert edges[("driver", "SYSTEM", "edge kernel")] == str(kcalls) == "3"
    assert edges[("SYSTEM", "driver", "edge kernel")] == str(kcalls)
    assert edges[("HARDWARE", "driver", "edge kernel")] == "1"
    assert edges[("client", "bystander", "edge denied")] == "2 refused"   # SEND, ASEND entry
    assert edges[("client", "driver", "edge denied")] == "1 failed: peer died"
    assert edges[("bystander", "driver", "edge denied")] == "1 failed: peer died"
    assert edges[("client", "driver", "edge")] == "1"
    assert set(nodes) == {"client", "server", "bystander", "driver", "SYSTEM", "CLOCK",
                          "HARDWARE"}
    assert nodes["client"] == "client 8 sent, 2 refused"        # slot 10 and ANY
    assert nodes["SYSTEM"] == "SYSTEM 6 sent"


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
    running = sum(e["dur"] for e in doc["traceEvents"] if e.get("name") == "running")
    assert running == sum(e["t"] - e["start"] for e in raw(path) if e["ev"] == "slice")


SLICED = [  # a runs 5..11 and SENDRECs b, which replies at 30; c runs between
    {"t": 0, "ev": "start", "proc": "a", "ep": 0},
    {"t": 0, "ev": "start", "proc": "b", "ep": 1},
    {"t": 5, "ev": "slice", "proc": "b", "ep": 1, "start": 0},
    {"t": 10, "ev": "ipc", "proc": "a", "ep": 0, "op": "SENDREC", "peer": 1,
     "peer_label": "b", "m_type": "DEV_WRITE", "result": "OK"},
    {"t": 10, "ev": "ipc", "proc": "b", "ep": 1, "op": "RECEIVE", "peer": 0,
     "peer_label": "a", "m_type": "DEV_WRITE", "result": "OK"},
    {"t": 11, "ev": "slice", "proc": "a", "ep": 0, "start": 5},
    {"t": 30, "ev": "ipc", "proc": "b", "ep": 1, "op": "NBSEND", "peer": 0,
     "peer_label": "a", "m_type": 4, "result": "OK"},
    {"t": 30, "ev": "ipc", "proc": "a", "ep": 0, "op": "RECEIVE", "peer": 1,
     "peer_label": "b", "m_type": 4, "result": "OK"},
    {"t": 31, "ev": "slice", "proc": "b", "ep": 1, "start": 11},
    {"t": 40, "ev": "slice", "proc": "c", "ep": 2, "start": 31},
    {"t": 45, "ev": "slice", "proc": "a", "ep": 0, "start": 40},
]


@pytest.mark.parametrize("procs, tracks", [(None, "abc"), ("a,c", "ac")])
def test_perfetto_states_are_exact_from_the_kernels_slices(tmp_path, procs, tracks):
    """Running slices from `slice` events; blocked and ready from the deliveries between
    them, from the whole trace even when the window shows fewer processes."""
    trace = tmp_path / "t.jsonl"
    trace.write_text("".join(json.dumps(line) + "\n" for line in SLICED))
    out = tmp_path / "t.json"
    assert emu(trace, "--perfetto", out, *(["--procs", procs] if procs else [])) == 0
    doc = json.loads(out.read_text())
    assert check_trace_event_json(doc) == (2 if procs is None else 0)
    tid = {e["args"]["name"].split()[0]: e["tid"] for e in doc["traceEvents"]
           if e["name"] == "thread_name"}
    states = sorted((name, e["name"], e["ts"], e["ts"] + e["dur"])
                    for name in tracks for e in doc["traceEvents"]
                    if e.get("cat") == "state" and e["tid"] == tid[name])
    expected = [("a", "SENDREC: waiting for b", 11, 30), ("a", "ready", 0, 5),
                ("a", "ready", 30, 40), ("a", "running", 5, 11), ("a", "running", 40, 45),
                ("b", "RECEIVE", 5, 10), ("b", "ready", 10, 11), ("b", "running", 0, 5),
                ("b", "running", 11, 31), ("c", "running", 31, 40)]
    assert states == [s for s in expected if s[0] in tracks]
    assert not [e for e in doc["traceEvents"] if e.get("cat") == "inferred"]


# -- bad input ---------------------------------------------------------------------------

def corrupt(lines, n, text):
    return "\n".join(lines[:n - 1] + [text] + lines[n:]) + "\n"


def edit(lines, n, **changes):
    data = {k: v for k, v in json.loads(lines[n - 1]).items() if k not in changes}
    data.update({k: v for k, v in changes.items() if v is not None})
    return corrupt(lines, n, json.dumps(data))


# The kinds trace's layout: 4 starts, a slice, the trust report (6), two slices, the
# client's SENDREC (9), the server's RECEIVE (10), its SEND (11), ... the ASEND call (22)
LAYOUT = {5: ("slice", None), 6: ("trust", "SEND"), 9: ("ipc", "SENDREC"),
          10: ("ipc", "RECEIVE"), 11: ("ipc", "SEND"), 22: ("ipc", "ASEND")}


@pytest.mark.parametrize("how, where", [
    ("missing", ": No such file"),
    ("empty", ": no events"),
    ("truncated", ":9: not JSON"),
    ("array", ":9: not a JSON object"),
    ("no key", ":9: 'ipc' event has no 'result'"),
    ("wrong type", ":10: 'ipc' event: 'peer' is \"x\", not an integer or null"),
    ("time back", ":11: time goes back: t=1 after t=18"),
    ("slice start", ":5: slice start=99 is not in 0..t=4"),
    ("trust peer", ":6: 'trust' event has no 'peer_label'"),
    ("asend count", ":22: 'ipc' event: 'count' is \"2\", not an integer"),
    ("binary", ":1: not UTF-8 text"),
])
def test_bad_trace_files_give_one_line_errors(kinds, tmp_path, capsys, how, where):
    lines = kinds.read_text().splitlines()
    for n, (ev, op) in LAYOUT.items():
        data = json.loads(lines[n - 1])
        assert (data["ev"], data.get("op")) == (ev, op), f"the layout changed at line {n}"
    path = tmp_path / "bad.jsonl"
    contents = {
        "empty": "\n\n",
        "truncated": corrupt(lines, 9, lines[8][:30]),
        "array": corrupt(lines, 9, "[1, 2]"),
        "no key": edit(lines, 9, result=None),
        "wrong type": edit(lines, 10, peer="x"),
        "time back": edit(lines, 11, t=1),
        "slice start": edit(lines, 5, start=99),
        "trust peer": edit(lines, 6, peer_label=None),
        "asend count": edit(lines, 22, count="2"),
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
