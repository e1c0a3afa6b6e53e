"""The built-in debugger and its core: IPC catches, breakpoints, stepping over traps with
the kernel's verdict, messages, `ps`, and that a debugger changes nothing it should not.

The stock image is driven as a user would, through `emu debug IMAGE -x SCRIPT`; a small
demo system (a client that calls a server, then calls a process its policy does not
allow) is driven in-process through the core and the command console.
"""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emu.debug.console import Console
from emu.debug.core import Debugger
from tests.harness import EXIT_WITH_EDX, boot, build_system
from tools.build import build_image

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120

CLIENT = f"""
.text
_start:
    mov dword ptr [request + M_TYPE], 0x1234
    mov dword ptr [request + M_W0], 41
    mov eax, EP_SERVER
    lea ebx, [request]
    mov ecx, SENDREC
    int IPC_VEC
after_call:
    mov [result1], eax
    mov eax, [request + M_TYPE]
    mov [reply_type], eax
denied_call:
    mov eax, EP_OUTSIDER
    lea ebx, [request]
    mov ecx, SENDREC
    int IPC_VEC
    mov [result2], eax
    mov edx, 0
{EXIT_WITH_EDX}
.bss
request: .space MSG_SIZE
result1: .space 4
result2: .space 4
reply_type: .space 4
exit_msg: .space MSG_SIZE
"""

SERVER = """
.text
_start:
    mov eax, ANY
    lea ebx, [inbox]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, [inbox + M_W0]
    inc eax
    mov [reply + M_TYPE], eax
    mov eax, [inbox + M_SOURCE]
    lea ebx, [reply]
    mov ecx, NBSEND
    int IPC_VEC
    jmp _start
.bss
inbox: .space MSG_SIZE
reply: .space MSG_SIZE
"""

OUTSIDER = """
.text
_start:
    mov eax, ANY
    lea ebx, [inbox]
    mov ecx, RECEIVE
    int IPC_VEC
    jmp _start
.bss
inbox: .space MSG_SIZE
"""

DEMO = [
    {"label": "client", "source": CLIENT, "kind": "user", "priority": 1,
     "ipc": ["SENDREC"], "targets": ["server", "SYSTEM"]},
    {"label": "server", "source": SERVER, "ipc": ["RECEIVE", "NBSEND"], "targets": []},
    {"label": "outsider", "source": OUTSIDER, "ipc": ["RECEIVE"], "targets": []},
]


@pytest.fixture(scope="module")
def demo_image(tmp_path_factory):
    return build_system(tmp_path_factory.mktemp("demo"), DEMO)


@pytest.fixture(scope="module")
def stock_image(tmp_path_factory):
    out = tmp_path_factory.mktemp("stock")
    image = out / "minix.img"
    build_image(ROOT / "guest" / "system.toml", image, out)
    return image


def debugger_on(image, **limits):
    limits.setdefault("max_ticks", 1000)           # every run here ends, whatever happens
    session, console, printer, trace = boot(image, **limits)
    return Debugger(session).attach(), trace


def console_on(image):
    dbg, _ = debugger_on(image)
    out = io.StringIO()
    return Console(dbg, out), out


def ps_row(text, label):
    return next(line for line in text.splitlines()
                if re.match(rf"^[ *]\s+\d+\s+\d+\s+{label}\s", line))


def run_commands(console, out, *lines):
    out.seek(0)
    out.truncate()
    for line in lines:
        console.execute(line)
    return out.getvalue()


def emu_debug(image, script, tmp_path):
    path = tmp_path / "script.txt"
    path.write_text("\n".join(script) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "emu", "debug", str(image), "-x", str(path),
         "--printer", str(tmp_path / "printer.out")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    return result


# -- the stock image, as a user drives it --------------------------------------------------
def test_devio_verdict_and_reply_in_the_stock_image(stock_image, tmp_path):
    result = emu_debug(stock_image, [
        "break ipc SENDREC from printer to SYSTEM type SYS_DEVIO",
        "continue",                     # the driver's reset of the control lines
        "continue",                     # its first status poll of port 0xab
        "stepi",
        "msg",
        "ps",
        "trace 4",
        "where",
        "quit",
    ], tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in out + result.stderr
    assert "IPC catch 1, printer at IPC entry: SENDREC to SYSTEM" in out
    assert "(SYS_DEVIO)" in out
    verdict = out[out.index("verdict on printer's SENDREC to SYSTEM"):]
    for number in range(1, 6):
        assert f"check {number} " in verdict
    assert "DENIED" not in verdict
    assert "kernel call DEVIO request=0x11 port=0xab value=0xcd: OK" in verdict
    assert "result: eax = OK (0); the reply's M_TYPE = OK (0)" in verdict
    message = out[out.index("  M_SOURCE"):]
    assert "SYSTEM" in message.splitlines()[0]
    assert "OK (reply to SYS_DEVIO)" in message
    assert "DIO_VALUE       0x000000cd" in message
    assert "DIO_PORT        0x000000ab" in message
    assert "printer    driver  READY" in out
    assert "RECEIVING from" in out
    assert "#0  " in out and "devio_in" in out


def test_the_script_then_stdin_and_the_end_of_the_run(stock_image, tmp_path):
    path = tmp_path / "script.txt"
    path.write_text("break printer:devio_in\ninfo break\n")
    result = subprocess.run(
        [sys.executable, "-m", "emu", "debug", str(stock_image), "-x", str(path),
         "--printer", str(tmp_path / "printer.out")],
        input="continue\ndelete\ncontinue\ncontinue\nbogus\n", capture_output=True,
        text=True, timeout=TIMEOUT, cwd=ROOT)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Breakpoint 1 at 0x" in out and "devio_in" in out
    assert "Breakpoint 1, printer at devio_in" in out
    assert "(emu) delete" in out
    assert "The run has ended: done." in out
    assert "unknown command 'bogus'" in out
    golden = tmp_path / "golden.out"
    subprocess.run([sys.executable, "-m", "emu", "boot", str(stock_image), "--printer",
                    str(golden), "--input", "/dev/null"], capture_output=True, check=True,
                   timeout=TIMEOUT, cwd=ROOT)
    assert (tmp_path / "printer.out").read_bytes() == golden.read_bytes()


def test_bad_input_is_one_line(stock_image, tmp_path):
    missing = subprocess.run([sys.executable, "-m", "emu", "debug", str(tmp_path / "no.img")],
                             capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1
    script = subprocess.run([sys.executable, "-m", "emu", "debug", str(stock_image),
                             "-x", str(tmp_path / "none.txt")],
                            capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert script.returncode == 2
    assert "none.txt" in script.stderr


# -- the demo system, in-process -------------------------------------------------------------
def test_ps_shows_who_is_blocked_on_whom(demo_image):
    console, out = console_on(demo_image)
    text = run_commands(console, out, "break server:_start", "continue", "ps")
    assert "Breakpoint 1, server at _start" in text
    assert "SENDREC: SENDING to server" in ps_row(text, "client")
    assert "at breakpoint" in ps_row(text, "server")
    assert ps_row(text, "server").startswith("*")


def test_a_denied_call_shows_the_check_that_denied_it(demo_image):
    console, out = console_on(demo_image)
    text = run_commands(console, out, "break ipc from client to outsider", "continue",
                        "stepi")
    assert "IPC catch 1, client at IPC entry: SENDREC to outsider" in text
    verdict = text[text.index("verdict on client's SENDREC to outsider"):]
    assert "check 3  endpoint valid, alive and current" in verdict
    denied = next(line for line in verdict.splitlines() if "check 4" in line)
    assert "DENIED: ECALLDENIED (-104)" in denied
    assert "check 5" not in verdict
    assert "result: eax = ECALLDENIED (-104); nothing changed" in verdict
    regs = run_commands(console, out, "regs")
    assert "eax 0xffffff98" in regs


def test_stepping_over_a_call_that_blocks_runs_the_others_until_it_completes(demo_image):
    console, out = console_on(demo_image)
    text = run_commands(console, out, "break client:after_call", "proc client",
                        "disas client:_start 6")
    assert "=> 0x" in text or "_start:" in text
    for _ in range(5):
        run_commands(console, out, "stepi")                 # up to the int 0x21
    text = run_commands(console, out, "stepi", "msg request")
    verdict = text[text.index("verdict on client's SENDREC to server"):]
    assert "(0x1234)" in verdict.splitlines()[0]
    assert "blocked: SENDING to server" in verdict
    assert "check 6  waiting would not deadlock" in verdict
    assert "completed by: client RECEIVE <- server" in verdict
    assert "result: eax = OK (0)" in verdict
    assert "client 0x" in text and "after_call" in text
    message = text[text.index("  M_SOURCE"):]
    assert "server" in message.splitlines()[0]
    assert "0x00000000000000" not in message
    assert "M_TYPE    0x00000002a" in message                   # 41 + 1


def test_step_x_where_trace_info_delete_and_errors(demo_image):
    console, out = console_on(demo_image)
    text = run_commands(console, out, "proc client", "step")
    assert "client 0x" in text
    text = run_commands(console, out, "x/4xw client:request", "x/2db $esp",
                        "x/s client:request", "where", "trace 3", "regs")
    assert "<request>:" in text
    assert "#0  0x" in text
    assert "eip 0x" in text
    text = run_commands(console, out, "break client:denied_call", "hbreak server:_start",
                        "break ipc NOTIFY", "info break")
    assert "Hw breakpoint 2" in text
    assert "IPC NOTIFY (entry)" in text
    assert text.count("\n") >= 6
    text = run_commands(console, out, "delete 2", "info break", "delete", "info break")
    assert "No breakpoints or catches." in text
    text = run_commands(console, out, "break client:no_such_symbol", "x", "stepi zero",
                        "break ipc FROB", "break ipc from nobody", "msg 0x10",
                        "proc #42", "frobnicate")
    lines = [line for line in text.splitlines() if line]
    assert len(lines) == 8
    assert lines[0] == "break: no symbol 'no_such_symbol' in client"
    assert lines[-1].startswith("unknown command 'frobnicate'")


def test_hardware_breakpoint_stops_and_steps_over(demo_image):
    console, out = console_on(demo_image)
    text = run_commands(console, out, "hbreak server:_start", "continue")
    assert "Breakpoint 1, server at _start" in text
    text = run_commands(console, out, "delete", "hbreak client:after_call", "continue")
    assert "Breakpoint 2, client at after_call" in text
    text = run_commands(console, out, "stepi", "continue")
    assert "client 0x" in text and "after_call+0x5" in text
    assert "The run has ended: done." in text
    run_commands(console, out, "delete")
    assert not any(console.dbg.patches.hooks.values())


def test_a_fault_stops_the_debugger(tmp_path):
    crasher = {"label": "crasher", "kind": "user", "source": """
.text
_start:
    nop
    mov eax, [0x10]
    nop
"""}
    console, out = console_on(build_system(tmp_path, [crasher]))
    text = run_commands(console, out, "continue", "where")
    assert "crasher FAULT read_unmapped at 0x10" in text
    assert "_start+0x1" in text


def test_the_catch_on_receive_by_type_stops_at_the_return(demo_image):
    console, out = console_on(demo_image)
    text = run_commands(console, out, "break ipc RECEIVE from server type 0x1234",
                        "continue", "msg $ebx")
    assert "IPC RECEIVE from server type 0x1234 (return)" in text
    assert "IPC catch 1, server's RECEIVE from ANY" in text and "returned OK" in text
    assert "server RECEIVE <- client 0x1234: OK" in text
    message = text[text.index("  M_SOURCE"):]
    assert "client" in message.splitlines()[0]
    assert "M_TYPE    0x000001234" in message
    assert "M_W0            0x00000029" in message


# -- the core --------------------------------------------------------------------------------
def test_hooks_cost_nothing_without_a_debugger(demo_image):
    session, _, _, _ = boot(demo_image, max_ticks=1000)
    kernel = session.kernel
    assert kernel.trap_hook is None and kernel.done_hook is None
    assert session.machine.breakpoint_handler is None
    trace = kernel.trace
    dbg = Debugger(session).attach()
    dbg.add_breakpoint(dbg.places.address("server:_start", None))
    dbg.add_catch(caller="client")
    dbg.detach()
    assert kernel.trap_hook is None and kernel.done_hook is None
    assert session.machine.breakpoint_handler is None
    assert kernel.trace is trace
    assert "pick" not in vars(kernel.sched)
    server = kernel.table.by_label("server")
    address = dbg.places.address("server:_start", None)
    assert server.cpu.read(address, 1) != b"\xcc"


def _ipc_events(text):
    events = [json.loads(line) for line in text.splitlines()]
    return [e for e in events if e["ev"] not in ("slice",)]


def test_a_debugged_run_makes_the_same_ipc_as_a_plain_one(demo_image):
    plain, _, _, trace = boot(demo_image, max_ticks=1000)
    assert plain.run() == "done"
    dbg, debugged_trace = debugger_on(demo_image)
    dbg.add_breakpoint(dbg.places.address("server:_start", None))
    dbg.add_catch(caller="client")
    stops = []
    for _ in range(50):
        batch = dbg.resume()
        stops += batch
        if batch[0].kind == "end":
            break
    assert stops[-1].reason == "done"
    kinds = [stop.kind for stop in stops]
    assert kinds.count("ipc-entry") == 3                  # two calls and the EXIT
    assert "breakpoint" in kinds
    assert _ipc_events(debugged_trace.getvalue()) == _ipc_events(trace.getvalue())
    client = dbg.table.procs[0]
    symbols = dbg.session.programs[client.index].symbols
    word = lambda name: int.from_bytes(client.cpu.read(symbols[name][0], 4), "little",
                                       signed=True)
    assert (word("result1"), word("reply_type"), word("result2")) == (0, 42, -104)


def test_memory_reads_hide_breakpoints_and_writes_keep_them(demo_image):
    dbg, _ = debugger_on(demo_image)
    address = dbg.places.address("server:_start", None)
    server = dbg.table.by_label("server")
    original = server.cpu.read(address, 4)
    bp = dbg.add_breakpoint(address)
    assert server.cpu.read(address, 1) == b"\xcc"
    assert dbg.read_memory(server, address, 4) == original
    assert dbg.write_memory(server, address, b"\x90" + original[1:])
    assert server.cpu.read(address, 1) == b"\xcc"
    assert dbg.read_memory(server, address, 1) == b"\x90"
    dbg.delete(bp)
    assert server.cpu.read(address, 1) == b"\x90"
    assert dbg.add_breakpoint(0x10) is None


def test_a_restarted_driver_keeps_the_breakpoints_of_its_program(stock_image):
    dbg, _ = debugger_on(stock_image, max_ticks=400)
    printer = dbg.table.by_label("printer")
    first = printer.endpoint
    stops = dbg.resume(step=printer, count=3)
    assert stops[0].kind == "step"
    bp = dbg.add_breakpoint(dbg.places.address("printer:_start", None))
    dbg.kill(printer)
    assert any(stop.kind == "ended" for stop in dbg.notices)
    stops = dbg.resume()
    assert stops[0].kind == "breakpoint", stops
    assert stops[0].breakpoint is bp
    assert stops[0].proc.label == "printer" and stops[0].proc.endpoint != first
    assert stops[0].proc.cpu.eip == stops[0].address


def test_inject_a_fault_into_the_current_process(demo_image):
    pytest.importorskip("tools.inject.faults", reason="the fault injector is not there")
    console, out = console_on(demo_image)
    text = run_commands(console, out, "proc client", "inject nop client:denied_call")
    assert text.splitlines()[-1].startswith("Injected into client: nop at 0x")
    client = console.dbg.table.by_label("client")
    address = console.dbg.places.address("client:denied_call", client)
    assert client.cpu.read(address, 5) == b"\x90" * 5       # mov eax, imm32: 5 NOPs
    text = run_commands(console, out, "inject frob", "inject nop 0x10")
    assert "inject TYPE [ADDRESS]" in text and "not in client's text" in text
