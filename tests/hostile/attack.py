"""Hostile guest programs in the stock system: test images, boots and the checks every
threat test makes (tests/test_threat_*.py, docs/THREATS.md).

An attack image is the stock system (guest/system.toml, the sources and files of
guest/) plus hostile programs, each with its own least-privilege policy; a hostile
program with a stock label takes that program's place (a hostile `printer`).
`build(tmp, programs)` writes and builds it; `attack(image, text, guard=labels)` boots
it with `text` as the console input (the shell runs the hostile user programs, then the
stock workload) and returns a `tests.harness.Run` whose `guard` (tests/hostile/guard.py)
watched every trap of the hostile processes.

Hostile programs carry their own expectations: each row of a cases.inc, requests.inc or
script.inc table has the result it expects, so `table(run, label)` gives, per row,
what was expected and what came back, and `expected_denials` the denials the trace
must show.  `assert_stock_ok` checks that the stock workload ran correctly after the
attack: its files on the disk, its lines on the printer, no stock program harmed.

Mutations (tests/hostile/mutations.py) remove one defence in a scratch run: when the
environment variable THREAT_MUTATION names one, the kernel is monkeypatched at import
and the guest is built from an edited copy of guest/.
"""

import json
import os
import shutil
import struct
import tomllib
from pathlib import Path

from kernel import abi
from kernel.abi import IPC_PRIMITIVE_MASK, SENDREC
from kernel.names import result_name
from kernel.outcome import BLOCKED
from tests import harness
from tests.hostile.guard import TrapGuard, kernel_footprint, signed32  # noqa: F401
from tools.build import build_image
from tools.diskimage import read_files

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "hostile"
GUEST = ROOT / "guest"
FILES = GUEST / "files"
GREETING = b"Hello from minix-emu!\n"
BOOT = GREETING + (FILES / "motd").read_bytes()       # what the stock rc shows
PROMPT = b"# "
PAGE_END = b"-- end of page --\n\x0c"
MAX_TICKS = 4000

# The stock workload after the attack: its summary, its files, its printed lines
WORKLOAD = "workload 2\ncat wl2\n"


def workload_file(r):
    """The bytes `workload` writes in round r (file wl<r mod 4>)."""
    return bytes(10 if i % 64 == 63 else ord("a") + (r + i) % 26 for i in range(1000))


def workload_transcript(rounds=2):
    """The workload's lines of the console transcript: its summary, then `cat` of its
    last file."""
    return ((b"workload %d" % rounds, b"workload: %d rounds, 0 errors, 0 retries\n" % rounds),
            (b"cat wl%d" % (rounds & 3), workload_file(rounds)))


def transcript(*commands_and_outputs, boot=BOOT):
    """What the console shows: the boot script, then each command with its output."""
    out = boot
    for command, output in commands_and_outputs:
        out += PROMPT + command + b"\n" + output
    return out + PROMPT + b"\n"


# ---------------------------------------------------------------------------------------
# Images

def stock_programs(guest=GUEST):
    """The stock system's programs, as policy tables with absolute sources."""
    with open(guest / "system.toml", "rb") as f:
        programs = tomllib.load(f)["program"]
    return [dict(p, source=str(guest / p["source"])) for p in programs]


def hostile(label, source, kind, **policy):
    """A hostile program's policy table; `source` is a file of tests/hostile/ or text."""
    if source.endswith(".asm"):
        source = str(HOSTILE / source)
    return dict(label=label, source=source, kind=kind, **policy)


def hostile_printer(source):
    """A `printer` that misbehaves in its first incarnation (tests/hostile/`source`) and
    is the stock printer driver after it: the stock source follows, its `_start` renamed
    `stock_start`.  Its policy is the stock printer's, with TIMES."""
    stock = next(p for p in stock_programs() if p["label"] == "printer")
    body = Path(stock["source"]).read_text().replace("\n_start:\n", "\nstock_start:\n")
    body = "\n".join(line for line in body.splitlines()        # abi and ipc come first
                     if line not in ('.include "abi.inc"', '.include "ipc.inc"'))
    text = ('.include "abi.inc"\n.include "ipc.inc"\n' + (HOSTILE / source).read_text()
            + "\n; ---- the stock printer driver ----\n" + body + "\n")
    return dict(stock, source=text, kernel_calls=stock["kernel_calls"] + ["TIMES"])


def build(tmp_path, programs):
    """Build the stock system plus `programs` in tmp_path; return the image path.  A
    program with a stock label replaces that program; every other driver is added to
    RS's targets, as an integrator does, so RS may ping it.  The disk holds the stock
    files."""
    guest = _mutated_guest(tmp_path)
    stock = stock_programs(guest)
    labels = [p["label"] for p in stock]
    for program in programs:
        program = dict(program)
        if not program["source"].startswith("/"):
            path = tmp_path / f"{program['label']}.asm"
            path.write_text(program["source"])
            program["source"] = str(path)
        if program["label"] in labels:
            stock[labels.index(program["label"])] = program
        else:
            stock.append(program)
            if program["kind"] == "driver":         # RS pings the drivers of the image
                rs = stock[labels.index("rs")]
                rs["targets"] = rs["targets"] + [program["label"]]
    lines = []
    for program in stock:
        lines.append("[[program]]")
        lines += [f"{key} = {harness.toml_value(value)}" for key, value in program.items()]
        lines.append("")
    (tmp_path / "system.toml").write_text("\n".join(lines))
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    for name in ("rc", "motd", "notes.txt"):
        (folder / name).write_bytes((FILES / name).read_bytes())
    image = tmp_path / "minix.img"
    build_image(tmp_path / "system.toml", image, tmp_path / "build")
    return image


def attack(image, text, guard=(), guard_limit=None, max_ticks=MAX_TICKS, until=(), log=False):
    """Boot `image` with console input `text`, watching the traps of the labels in
    `guard` (and, with `log`, logging every trap of every process); run until every
    process labelled in `until` has ended, then to the end (init's, or max_ticks).
    Returns a harness.Run with `guard`."""
    session, console, printer, trace_stream = harness.boot(
        image, text.encode() if isinstance(text, str) else text, max_ticks=max_ticks)
    watch = TrapGuard(session.kernel, guard, guard_limit, log)
    for label in until:
        session.options.until_exit = label
        if session.run() != "exit":
            break
    session.options.until_exit = None
    end = session.run()
    text = trace_stream.getvalue()
    events = [json.loads(line) for line in text.splitlines()]
    run = harness.Run(end, events, console.getvalue(), printer.getvalue(), session, text)
    run.guard = watch
    return run


# ---------------------------------------------------------------------------------------
# What every threat test checks

def assert_no_panic(run):
    assert run.kernel.panic_report is None, run.kernel.panic_report
    assert run.end != "panic"


def assert_guarded(run, traps=1):
    """The guard saw at least `traps` traps and no violation."""
    assert len(run.guard.records) >= traps, "the hostile program did not run"
    assert run.guard.violations == [], run.guard.violations[:5]


def assert_stock_ok(run, rounds=2, killed=()):
    """The stock workload ran after the attack: its files on the disk, its lines on the
    printer (after rc's test page), no stock program faulted or was killed by another
    than PM (but those in `killed`), and init ended the run."""
    assert run.end == "done", f"the run did not end with init: {run.end}"
    files = disk_files(run)
    for r in range(1, rounds + 1):
        assert files[f"wl{r & 3}"] == workload_file(r)
    assert files["notes.txt"] == (FILES / "notes.txt").read_bytes()
    lines = run.printer.split(PAGE_END)[-1]
    assert b"".join(b"workload round %d: ok\n" % r for r in range(1, rounds + 1)) in lines
    stock = {p["label"] for p in stock_programs()}
    assert not [e for e in run.of("fault") if e["proc"] in stock]
    assert not [e for e in run.of("kill") if e["proc"] in stock and e.get("by") != "pm"
                and e["proc"] not in killed]


def disk_files(run):
    return read_files(run.session.machine.disk.data)


def denied(run, label):
    """(op, result name) of every denied IPC call of `label`, from the trace."""
    return [(e["op"], e["result"]) for e in run.ipc_events(proc=label)
            if e["result"] != "OK"]


def table(run, label, name="cases", width=4, expected_at=-1):
    """The hostile's own table `name` (rows of `width` words; cases.inc by default) and
    its `results`: [(row, expected, got)] in row order."""
    n = run.word(label, "nrequests" if name == "requests" else "ncases")
    raw = run.bytes_at(label, name, 4 * width * n)
    rows = [struct.unpack_from(f"<{width}i", raw, 4 * width * i) for i in range(n)]
    return [(row, row[expected_at], run.word(label, "results", 4 * i))
            for i, row in enumerate(rows)]


def requests(run, label):
    """requests.inc's table: [(row, expected, got)]; row = (dst, expected, M_SOURCE,
    M_TYPE, M_W0, ...)."""
    return table(run, label, "requests", 18, 1)


def expected_denials(rows):
    """(primitive name, error name) the trace must show for a cases.inc table, in order:
    one per row expected to fail (a NONBLOCK SEND is an NBSEND)."""
    out = []
    for row, expected, _ in rows:
        if expected < 0:
            ecx = row[0] & 0xFFFFFFFF
            primitive = ecx & IPC_PRIMITIVE_MASK
            if ecx == abi.SEND | abi.NONBLOCK and expected != abi.EBADCALL:
                primitive = abi.NBSEND
            out.append((abi.PRIMITIVE_NAMES.get(primitive, primitive), result_name(expected)))
    return out


def answers(run, label):
    """M_TYPE of every message `label` received, in order (from the trace)."""
    return [e["m_type"] for e in run.ipc_events(proc=label, op="RECEIVE")]


def canary_gaps(run, label="canary"):
    """Virtual ticks between the canary's rounds (each starts with its CLOCK alarm)."""
    times = [e["t"] for e in run.ipc_events(proc=label, op="RECEIVE") if e["peer"] == abi.CLOCK]
    return [(b - a) / abi.TICK_INSNS for a, b in zip(times, times[1:])]


def deliveries(run, server):
    """The SEND and SENDREC messages delivered to `server`, in delivery order, each as
    (sender label, the index of its trap in the guard's log of every trap: the order of
    the traps, the time of the trap, the time of the delivery).  Needs `log=True`."""
    ep = run.proc(server).endpoint
    traps = {}                      # sender endpoint -> its sends to ep: (index, time)
    for i, (t, label, sender, function, eax, result) in enumerate(run.guard.log):
        if function in (abi.SEND, SENDREC) and signed32(eax) == ep and (
                result is BLOCKED or result == abi.OK):
            traps.setdefault(sender, []).append((i, t))
    order = []
    for e in run.events:
        if e["ev"] == "ipc" and e["op"] in ("SEND", "SENDREC") and e["peer"] == ep \
                and e["result"] == "OK":
            i, t = traps[e["ep"]].pop(0)
            order.append((e["proc"], i, t, e["t"]))
    return order


CANARY = dict(label="canary", source=str(HOSTILE / "canary.asm"), kind="server",
              ipc=["SENDREC", "RECEIVE"], targets=["SYSTEM", "rs", "ds", "pm", "vfs"],
              kernel_calls=["SETALARM"])


# ---------------------------------------------------------------------------------------
# Mutations: one defence removed, for a scratch run (tests/hostile/mutations.py)

def _mutated_guest(tmp_path):
    """guest/, or a copy of it with the source edits of the current mutation."""
    from tests.hostile import mutations
    edits = mutations.guest_edits(os.environ.get("THREAT_MUTATION"))
    if not edits:
        return GUEST
    copy = tmp_path / "guest"
    shutil.copytree(GUEST, copy, dirs_exist_ok=True)
    for relative, old, new in edits:
        path = copy / relative
        text = path.read_text()
        assert old in text, f"mutation: {old!r} not in {relative}"
        path.write_text(text.replace(old, new))
    return copy


def _apply_kernel_mutation():
    from tests.hostile import mutations
    mutations.apply_kernel(os.environ.get("THREAT_MUTATION"))


_apply_kernel_mutation()
