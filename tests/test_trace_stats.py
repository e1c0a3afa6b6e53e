"""`emu trace --stats` and `--calls`, and the README's pictures (`make pictures`).

The figures of the seed come from real runs of the stock OS: the messages of one POSIX
read and one write through VFS to the disk driver (`cat motd`, `cp motd copy`), and the
background messages per virtual second of the idle system after them (RS's heartbeats).
Each figure the tools print is checked against a count made from the raw trace lines
(tests/trace_support.py), apart from the tools' model and their attribution of messages
to calls.
"""

import re
import xml.etree.ElementTree as ET

import pytest

from tests.trace_support import (KINDS, STOCK, SVG, boot_with_trace, delivered_messages,
                                 emu, first, is_asend_call, raw, texts)
from tools.trace import pictures
from tools.trace.stats import SECOND


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return boot_with_trace(tmp_path_factory.mktemp("kinds"), KINDS, until_exit="client",
                           max_ticks=50)


@pytest.fixture(scope="module")
def idle(tmp_path_factory):
    """The stock OS: boot, `cat motd`, `cp motd copy`, then idle until tick 250 (RS never
    exits, so the run goes on after init's end)."""
    return boot_with_trace(tmp_path_factory.mktemp("idle"), STOCK,
                           b"cat motd\ncp motd copy\n", until_exit="rs", max_ticks=250)


def row(text, *cells):
    return re.search(r"^\s+" + r"\s+".join(map(re.escape, map(str, cells))) + r"\s*$",
                     text, re.M) is not None


def stats_of(capsys, *args):
    assert emu(*args) == 0
    return capsys.readouterr().out


def test_stats_count_pairs_types_denials_events_calls_and_seconds(kinds, capsys):
    text = stats_of(capsys, kinds, "--stats")
    assert row(text, "client", "server", 4, "ASEND 1, NOTIFY 2, SENDREC 1")
    assert row(text, "SYSTEM", "driver", 3, "REPLY 3")
    assert row(text, "NOTIFY_MESSAGE", 4)           # 2 from client, CLOCK, HARDWARE
    assert row(text, "unauthorized IPC endpoint", 2)    # a SEND, an ASEND entry
    assert row(text, "bad IPC endpoint", 1)             # slot 10: not the woken callers
    assert row(text, "bad IPC primitive", 0)
    assert row(text, "peer not ready (not a denial)", 1)
    assert row(text, "caller woken: peer died (not a denial)", 2)
    assert row(text, "illegal kernel request: ECALLDENIED (call not allowed)", 1)
    assert row(text, "fault", "driver", 1) and row(text, "trust", "bystander", 1)
    assert row(text, "server", 77, "-", 1, 2, "2.0", 2, 2)
    assert row(text, "SYSTEM", "SYS_DIAGCTL", "-", 1, 2, "2.0", 2, 2)
    assert "without a reply: 1 99 (failed)" in text     # the driver crashed
    # in calls: 77 and its reply, 3 kernel calls, 99 and the driver's 3 kernel calls and
    # its interrupt; background: the 2 notifications, the ASEND entry, the alarm
    delivered = delivered_messages(raw(kinds))
    assert row(text, "0..1 s", delivered, 16, 4) and delivered == 20
    calls = stats_of(capsys, kinds, "--calls")
    assert "77 to server: 1 call, 2.0 messages per call (min 2, max 2)" in calls
    assert row(calls, "(caller)", "server", "SENDREC 77", "1.0")
    assert row(calls, "server", "(caller)", "SEND (the reply)", "1.0")
    assert row(calls, "SYSTEM", "(caller)", "DIAGCTL reply", "1.0")


def test_stats_is_the_default(kinds, capsys):
    assert "Messages per process pair" in stats_of(capsys, kinds)


def raw_call(events, caller, request):
    """The messages of `caller`'s first `request` to vfs that reached the disk, counted
    from the raw lines between the request and vfs's reply: every message sent by the
    caller, vfs or the disk (kernel calls and their replies), but notifications."""
    for start in (e for e in events if e["ev"] == "ipc" and e["proc"] == caller
                  and e["op"] == "SENDREC" and e["m_type"] == request):
        end = next(e for e in events if e["line"] > start["line"] and e["ev"] == "ipc"
                   and e["proc"] == "vfs" and e["peer_label"] == caller
                   and e["op"] != "RECEIVE")
        span = [e for e in events if start["line"] <= e["line"] <= end["line"]
                and e["proc"] in (caller, "vfs", "disk")]
        if any(e.get("peer_label") == "disk" for e in span):
            return sum(1 for e in span if e["ev"] == "kcall" or e["ev"] == "ipc"
                       and e["result"] == "OK" and e["op"] not in ("RECEIVE", "NOTIFY")
                       and not is_asend_call(e))
    raise AssertionError(f"no {request} of {caller} reached the disk")


def test_messages_of_a_posix_read_and_write_through_vfs_to_the_disk(idle, capsys):
    text = stats_of(capsys, idle, "--calls")
    events = raw(idle)
    read, write = raw_call(events, "cat", "VFS_READ"), raw_call(events, "cp", "VFS_WRITE")
    assert re.search(rf"^VFS_READ to vfs via disk: \d+ calls?, {read}\.0 messages per call "
                     rf"\(min {read}, max {read}\)$", text, re.M), text
    assert re.search(rf"^VFS_WRITE to vfs via disk: 1 call, {write}\.0 messages per call",
                     text, re.M), text
    section = text.split("VFS_READ to vfs via disk")[1].split("\n\n")[0]
    for cells in [("(caller)", "vfs", "SENDREC VFS_READ", "1.0"),
                  ("vfs", "disk", "ASEND BDEV_READ", "1.0"),
                  ("disk", "SYSTEM", "SDEVIO", "1.0"), ("SYSTEM", "disk", "SDEVIO reply", "1.0"),
                  ("disk", "vfs", "ASEND DEV_REPLY", "1.0"), ("vfs", "SYSTEM", "VIRCOPY", "1.0"),
                  ("vfs", "(caller)", "NBSEND (the reply)", "1.0")]:
        assert row(section, *cells), (cells, section)
    print(f"one read through VFS to the disk: {read} messages, one write: {write}")


def test_background_messages_of_the_idle_system(idle, capsys):
    """After init's end, only RS's heartbeats: its alarm, its kernel calls, its pings to
    the drivers and their answers; all of it background, none in a user call."""
    lo, hi = SECOND, 2 * SECOND
    window = [e for e in raw(idle) if lo <= e["t"] <= hi]
    messages = delivered_messages(window)
    assert messages > 0
    for e in window:
        if e["ev"] in ("ipc", "kcall"):
            assert "rs" in (e["proc"], e.get("peer_label")), e
    text = stats_of(capsys, idle, "--stats", "--from", "1s", "--to", "2s")
    assert row(text, "1..2 s", messages, 0, messages)
    assert f"background: {messages} messages in 1.000000 virtual s, {messages}.0 per " \
        "virtual second" in text
    print(f"idle background: {messages} messages per virtual second")


# -- the README's pictures ---------------------------------------------------------------

def arrows_in_order(svg_path):
    return [texts(g) for g in ET.parse(svg_path).getroot().iter(f"{SVG}g")
            if g.get("class", "").startswith(("msg-arrow", "mark"))]


def in_order(found, wanted):
    position = 0
    for text in found:
        if position < len(wanted) and wanted[position] in text:
            position += 1
    return position == len(wanted)


def test_pictures_are_drawn_from_real_runs(tmp_path, capsys):
    out = tmp_path / "pictures"
    written = pictures.make(out_dir=out, build_dir=tmp_path / "build")
    assert sorted(path.name for path in written) == \
        sorted(f"{picture.name}.svg" for picture in pictures.PICTURES)
    for path in written:
        ET.parse(path)                                   # well-formed SVG
    assert in_order(arrows_in_order(out / "printer-devio.svg"), [
        "SENDREC VFS_WRITE", "ASEND CDEV_WRITE", "SAFECOPYFROM", "DEVIO in port=0xab",
        "OK value=0xcd", "VDEVIO out", "ASEND DEV_REPLY", "NBSEND 215"])
    assert "rows left out" in (out / "printer-devio.svg").read_text()
    assert in_order(arrows_in_order(out / "cat-read.svg"), [
        "SENDREC VFS_READ", "ASEND BDEV_READ", "SDEVIO in port=0x1f0", "ASEND DEV_REPLY",
        "VIRCOPY", "NBSEND 187"])
    crash = arrows_in_order(out / "driver-crash.svg")
    assert in_order(crash, [
        "SENDREC VFS_WRITE", "ASEND CDEV_WRITE", "offset=0x100", "FAULT read_unmapped at "
        "0x100", "NOTIFY", "GETINFO", "start (endpoint 1029) by rs", "restart 1 by rs",
        "SPAWN", "SENDREC DS_PUBLISH", "NOTIFY", "SENDREC DS_CHECK", "NBSEND EIO",
        "SENDREC VFS_WRITE", "ASEND CDEV_WRITE", "DEVIO in port=0xab"]), crash
    kinds = (out / "every-kind.svg").read_text()
    assert 'class="mark trust"' in kinds and 'class="msg-arrow woken refused"' in kinds
    nodes = {g.get("data-name"): texts(g)
             for g in ET.parse(out / "stock-graph.svg").getroot().iter(f"{SVG}g")
             if g.get("data-name")}
    assert set(nodes) == {"rs", "ds", "pm", "vfs", "tty", "printer", "disk", "init",
                          "hello", "lp", "cat", "cp", "ps", "workload", "SYSTEM", "CLOCK",
                          "HARDWARE"}
    trace = tmp_path / "build" / "crash.jsonl"
    text = stats_of(capsys, trace, "--stats")
    assert row(text, "fault", "printer", 1) and row(text, "restart", "printer", 1)
    assert first(raw(trace), ev="restart", proc="printer")["n"] == 1
    assert emu(trace, "--graph", tmp_path / "crash-graph.svg") == 0
    assert ", 1 restart" in (tmp_path / "crash-graph.svg").read_text()
