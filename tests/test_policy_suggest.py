"""`emu policy suggest TRACE [--system FILE] [--toml]` on real runs: what each program
needed, grants never used, needs denied; the suggested policy runs the same system
without a denial; bad files give one line and exit status 2."""

import tomllib

from emu.cli import main
from tests.harness import EXIT_WITH_EDX, run_system, write_system
from tools.policy_suggest import analyse, load_trace

DRIVER = """
.text
_start:
    mov dword ptr [kmsg + M_TYPE], SYS_DEVIO
    mov dword ptr [kmsg + DIO_REQUEST], DIO_INPUT | DIO_BYTE
    mov dword ptr [kmsg + DIO_PORT], 0xAB
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
serve:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, [msg + M_SOURCE]
    lea ebx, [msg]
    mov ecx, NBSEND
    int IPC_VEC
    jmp serve
.bss
kmsg:
    .space MSG_SIZE
msg:
    .space MSG_SIZE
"""

USER = f"""
.text
_start:
    mov dword ptr [msg + M_TYPE], 0x555
    mov eax, EP_DRV
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov edx, 0
{EXIT_WITH_EDX}
.bss
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""

# Tries what it is not granted: a kernel call, a port, a primitive, a target.
GREEDY = f"""
.text
_start:
    mov dword ptr [msg + M_TYPE], SYS_IRQCTL
    mov dword ptr [msg + IRQ_REQUEST], IRQ_ENABLE
    mov dword ptr [msg + IRQ_LINE], 7
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov dword ptr [msg + M_TYPE], SYS_DEVIO
    mov dword ptr [msg + DIO_REQUEST], DIO_OUTPUT | DIO_WORD
    mov dword ptr [msg + DIO_PORT], 0x80
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, EP_DRV
    mov ecx, NOTIFY
    int IPC_VEC
    mov eax, EP_USER
    lea ebx, [msg]
    mov ecx, NBSEND
    int IPC_VEC
    mov edx, 0
{EXIT_WITH_EDX}
.bss
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""

IDLER = """
.text
_start:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    jmp _start
.bss
msg:
    .space MSG_SIZE
"""

PROGRAMS = [
    {"label": "drv", "source": DRIVER, "kind": "driver",
     "ipc": ["RECEIVE", "NBSEND", "SENDREC", "NOTIFY"], "targets": ["SYSTEM"],
     "kernel_calls": ["DEVIO", "IRQCTL", "SETALARM"], "io": ["0xAB-0xAD"], "irq": [7]},
    {"label": "user", "source": USER, "kind": "user", "ipc": ["SENDREC"],
     "targets": ["SYSTEM", "drv", "greedy"], "kernel_calls": ["EXIT", "TIMES"]},
    {"label": "greedy", "source": GREEDY, "kind": "driver", "ipc": ["SENDREC", "NBSEND"],
     "targets": ["SYSTEM"], "kernel_calls": ["DEVIO", "EXIT"], "io": ["0xAB"]},
    {"label": "idler", "source": IDLER, "kind": "server", "ipc": ["RECEIVE", "NOTIFY"],
     "targets": []},
]


def traced_run(tmp_path, programs=PROGRAMS):
    tmp_path.mkdir(parents=True, exist_ok=True)
    run = run_system(tmp_path, programs, until_idle=True)
    assert run.end == "idle" and run.kernel.panic_report is None
    trace = tmp_path / "trace.jsonl"
    trace.write_text(run.trace_text)
    return trace, tmp_path / "system.toml"


def suggest(capsys, *args):
    status = main(["policy", "suggest", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_what_each_program_needed(tmp_path):
    trace, _ = traced_run(tmp_path)
    needs = analyse(load_trace(trace))
    drv, user, greedy = needs["drv"], needs["user"], needs["greedy"]
    assert drv.used["ipc"] == {"RECEIVE", "NBSEND", "SENDREC"}
    assert drv.used["targets"] == {"SYSTEM"}          # its NBSEND answers: no target needed
    assert drv.used["kernel_calls"] == {"DEVIO"}
    assert drv.used["io"] == {0xAB} and drv.used["irq"] == set()
    assert user.used["ipc"] == {"SENDREC"}            # the reply is SENDREC's, no RECEIVE
    assert user.used["targets"] == {"drv", "SYSTEM"}  # SYSTEM for EXIT (from its exit event)
    assert user.used["kernel_calls"] == {"EXIT"}
    assert greedy.denied == {"ipc": {"NOTIFY"}, "targets": {"user"},
                             "kernel_calls": {"IRQCTL"}, "io": {0x80, 0x81}, "irq": set()}


def test_grants_never_used_and_needs_denied(tmp_path, capsys):
    trace, system = traced_run(tmp_path)
    status, out, err = suggest(capsys, trace, "--system", system)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["PROGRAM", "FIELD", "NEEDED", "GRANTED,", "UNUSED", "DENIED"]
    for expected in ["drv: ipc grants NOTIFY, never used",
                     "drv: kernel_calls grants IRQCTL SETALARM, never used",
                     "drv: io grants 0xAC-0xAD, never used",
                     "drv: irq grants 7, never used",
                     "user: targets grants greedy, never used",
                     "user: kernel_calls grants TIMES, never used",
                     "greedy: ipc NOTIFY: needed but denied",
                     "greedy: targets user: needed but denied",
                     "greedy: kernel_calls IRQCTL: needed but denied",
                     "greedy: io 0x80-0x81: needed but denied",
                     "idler: ipc grants NOTIFY, never used",
                     "idler: ipc grants RECEIVE, never completed (a call still blocked when "
                     "the trace ends leaves no event)"]:
        assert expected in lines, f"{expected!r} not in:\n{out}"
    row = next(line.split() for line in lines if line.startswith("drv ") and "io" in line)
    assert row == ["drv", "io", "0xAB", "0xAC-0xAD", "-"]


def test_without_a_system_only_the_needs(tmp_path, capsys):
    trace, _ = traced_run(tmp_path)
    status, out, _ = suggest(capsys, trace)
    assert status == 0
    assert out.splitlines()[0].split() == ["PROGRAM", "FIELD", "NEEDED", "DENIED"]
    assert "never used" not in out and "greedy: ipc NOTIFY: needed but denied" in out


def test_the_suggested_policy_runs_the_system_without_a_denial(tmp_path, capsys):
    polite = [dict(p, targets=["SYSTEM", "drv"]) if p["label"] == "user" else p
              for p in PROGRAMS if p["label"] != "greedy"]
    trace, system = traced_run(tmp_path / "first", polite)
    status, out, _ = suggest(capsys, trace, "--system", system, "--toml")
    assert status == 0
    snippet = out[out.index("[[program]]"):]
    tables = tomllib.loads(snippet)["program"]
    assert [t["label"] for t in tables] == ["drv", "user", "idler"]
    assert tables[2]["ipc"] == ["RECEIVE"]       # kept: blocked in it when the trace ended
    drv = tables[0]
    assert (drv["ipc"], drv["targets"], drv["kernel_calls"], drv["io"], drv["irq"]) == \
        (["RECEIVE", "SENDREC", "NBSEND"], ["SYSTEM"], ["DEVIO"], ["0xAB"], [])
    assert drv["kind"] == "driver" and drv["source"] == "drv.asm"
    least = [dict(p, **{k: t[k] for k in ("ipc", "targets", "kernel_calls", "io", "irq")})
             for p, t in zip(polite, tables)]
    (tmp_path / "second").mkdir()
    again = run_system(tmp_path / "second", least, until_idle=True)
    assert again.end == "idle" and again.kernel.denials == {}
    assert again.of("exit", "user")[0]["status"] == 0
    assert not [e for e in again.events if e.get("result") not in ("OK", None)]


def test_bad_files_give_one_line_and_status_2(tmp_path, capsys):
    trace, system = traced_run(tmp_path)
    bad_trace = tmp_path / "bad.jsonl"
    bad_trace.write_text(trace.read_text().splitlines()[0] + "\n{not json\n")
    bad_system = tmp_path / "bad.toml"
    bad_system.write_text('[[program]]\nlabel = "x"\nsource = "drv.asm"\nkind = "robot"\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    missing_key = tmp_path / "nokey.jsonl"
    missing_key.write_text('{"t": 0, "ev": "ipc", "proc": "a", "ep": 0}\n')
    cases = [([tmp_path / "nope.jsonl"], "nope.jsonl"), ([bad_trace], "bad.jsonl:2:"),
             ([empty], "empty.jsonl: no events"), ([missing_key], "nokey.jsonl:1:"),
             ([trace, "--system", bad_system], "bad.toml:4:"),
             ([trace, "--system", tmp_path / "none.toml"], "none.toml")]
    for args, expected in cases:
        status, out, err = suggest(capsys, *args)
        assert status == 2 and out == "", args
        assert len(err.splitlines()) == 1 and expected in err, (args, err)
        assert "Traceback" not in err
    status, _, err = suggest(capsys)
    assert status == 2 and len(err.splitlines()) == 1


def test_the_stock_system(tmp_path, capsys):
    """The stock system's trace against its own system.toml: every program listed, the
    drivers' VDEVIO ports reported as unknown rather than guessed."""
    from pathlib import Path
    from tests.harness import run_image
    from tools.build import build_image
    root = Path(__file__).resolve().parent.parent
    build_image(root / "guest" / "system.toml", tmp_path / "minix.img", tmp_path)
    run = run_image(tmp_path / "minix.img", max_ticks=2000)
    assert run.kernel.panic_report is None
    trace = tmp_path / "t.jsonl"
    trace.write_text(run.trace_text)
    status, out, _ = suggest(capsys, trace, "--system", root / "guest" / "system.toml")
    assert status == 0
    labels = {line.split()[0] for line in out.splitlines()[1:] if line and ":" not in line}
    started = {e["proc"] for e in run.events if e["ev"] == "start"}
    assert started <= labels
    if any(e.get("call") == "VDEVIO" for e in run.events):
        assert "VDEVIO call(s) whose ports are not in the trace" in out


def test_write_system_is_the_harness_one(tmp_path):
    # the tests above rely on the harness writing system.toml next to the sources
    assert write_system(tmp_path, PROGRAMS[:1]).name == "system.toml"
