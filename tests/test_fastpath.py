"""The IPC fast path (kernel/fastpath.py) changes speed, never behaviour.

Each test runs the same system with the fast path on and off and compares what the
kernel decided: the IPC trace byte for byte (every message, kernel call, slice and
process event, with its virtual time), the console and the printer; the fuzzer's
outcomes and final kernel state.  Each also checks that the fast path did handle traps,
so the comparison is not between two runs of the general path.
"""

import io
import shutil
from pathlib import Path

import pytest

from emu.session import BootOptions, Session
from kernel import fastpath
from kernel.abi import NBSEND, NOTIFY, RECEIVE, SEND, SENDREC
from kernel.fastpath import SLOW, FastPath
from tools import fuzz
from tools.fuzz import boot as fuzz_boot
from tools.fuzz.state import fingerprint
from tools.build import build_image
from tools.image import read_image

ROOT = Path(__file__).resolve().parent.parent
STOCK_SYSTEM = ROOT / "guest" / "system.toml"
BENCH_SYSTEM = ROOT / "tools" / "bench_guest" / "system.toml"
SHELL_INPUT = b"ps\nhello\nlp notes.txt\ncat motd\ncp motd copy\ncat copy\nworkload 3\nps\n"


@pytest.fixture(scope="module")
def stock_image(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stock")
    build_image(STOCK_SYSTEM, folder / "minix.img", folder)
    return folder / "minix.img"


@pytest.fixture
def counted(monkeypatch):
    """Counts the traps the fast path handled (not SLOW), by kind of trap."""
    handled = {}
    real = FastPath.trap

    def trap(self, caller, function, eax, address):
        result = real(self, caller, function, eax, address)
        if result is not SLOW:
            handled[function] = handled.get(function, 0) + 1
        return result
    monkeypatch.setattr(FastPath, "trap", trap)
    return handled


def boot_stock(image_path, enabled, monkeypatch, tmp_path):
    monkeypatch.setattr(FastPath, "enabled", enabled)
    disk = tmp_path / f"disk-{enabled}.img"        # each run from the same disk (cp writes)
    shutil.copyfile(image_path.parent / "disk.img", disk)
    console, printer, trace = io.BytesIO(), io.BytesIO(), io.StringIO()
    options = BootOptions(printer=None, console=console, log=io.StringIO(), disk=disk,
                          input_bytes=SHELL_INPUT, max_ticks=20000)
    session = Session(read_image(image_path), options, trace_stream=trace,
                      printer_stream=printer)
    end = session.run()
    session.close()
    return end, trace.getvalue(), console.getvalue(), printer.getvalue(), session.kernel


def test_stock_system_runs_the_same_with_and_without_the_fast_path(stock_image, counted,
                                                                    monkeypatch, tmp_path):
    slow = boot_stock(stock_image, False, monkeypatch, tmp_path)
    assert not counted, "the fast path ran while turned off"
    fast = boot_stock(stock_image, True, monkeypatch, tmp_path)
    assert fast[0] == slow[0] == "done"
    assert fast[1] == slow[1], "the traces differ"
    assert fast[2] == slow[2] and b"Hello" in fast[2]
    assert fast[3] == slow[3] and fast[3]
    assert len(fast[1].splitlines()) > 1000
    # kernel calls and calls to servers, blocking receives, non-blocking replies
    for function in (SENDREC, RECEIVE, NBSEND):
        assert counted.get(function, 0) > 100, counted
    assert fast[4].time == slow[4].time


@pytest.fixture(scope="module")
def bench_image(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    build_image(BENCH_SYSTEM, folder / "bench.img", folder)
    return folder / "bench.img"


def boot_bench(image_path, enabled, monkeypatch):
    """The benchmark system: 300 round trips (SENDREC, RECEIVE, SEND) and 300 NOTIFYs."""
    monkeypatch.setattr(FastPath, "enabled", enabled)
    trace = io.StringIO()
    options = BootOptions(printer=None, console=io.BytesIO(), log=io.StringIO(),
                          max_ticks=1000)
    session = Session(read_image(image_path), options, trace_stream=trace)
    counts = {"client": 300, "server": 1, "notifier": 300, "sink": 1}
    for proc in session.kernel.table.procs:
        if proc.alive:
            proc.cpu.set_register("esi", counts.get(proc.label, 0))
    end = session.run()
    session.close()
    statuses = {p.label: p.exit_status for p in session.kernel.table.procs if p.label}
    return end, trace.getvalue(), statuses


def test_round_trips_and_notifies_run_the_same_with_and_without_the_fast_path(
        bench_image, counted, monkeypatch):
    slow = boot_bench(bench_image, False, monkeypatch)
    assert not counted
    fast = boot_bench(bench_image, True, monkeypatch)
    assert fast == slow
    assert fast[2]["client"] == 0 and fast[2]["notifier"] == 0
    for function in (SEND, RECEIVE, SENDREC, NOTIFY):
        assert counted.get(function, 0) >= 300, counted


class _Recorder:
    """The fuzzer's streams: keeps the trace (text), forgets the console (bytes)."""

    def __init__(self):
        self.parts = []

    def write(self, data):
        if isinstance(data, str):
            self.parts.append(data)
        return len(data)

    def flush(self):
        pass


def fuzz_run(enabled, monkeypatch):
    monkeypatch.setattr(FastPath, "enabled", enabled)
    recorder = _Recorder()
    monkeypatch.setattr(fuzz_boot, "SINK", recorder)
    system, _ = fuzz.fuzz(3000, seed=7)
    return system, "".join(recorder.parts)


def test_fuzzed_traps_give_the_same_results_with_and_without_the_fast_path(counted,
                                                                          monkeypatch):
    slow, slow_trace = fuzz_run(False, monkeypatch)
    assert not counted
    fast, fast_trace = fuzz_run(True, monkeypatch)
    assert sum(counted.values()) > 1000, counted
    assert fast.findings == slow.findings == []
    assert fast.outcomes == slow.outcomes
    assert fast.traps == slow.traps
    assert repr(fingerprint(fast.kernel)) == repr(fingerprint(slow.kernel))   # Procs by name
    assert fast_trace == slow_trace and len(fast_trace.splitlines()) > 3000


def test_the_fast_path_is_on_by_default():
    assert fastpath.FastPath.enabled is True
