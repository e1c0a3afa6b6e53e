"""The stock system as a user meets it: init's boot script, then its shell on the console,
with the console input given as a script (`--input`).

Each test boots the stock image (guest/system.toml, built once) with its own input and
checks the console transcript, the printed pages, the trace (who started, who ended,
how) and that the run ends when init does: at `exit` or at the end of the input.
"""

from pathlib import Path

import pytest

from tests.harness import run_image
from tools.build import build_image

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = ROOT / "guest" / "system.toml"
FILES = ROOT / "guest" / "files"
MOTD = (FILES / "motd").read_bytes()
NOTES = (FILES / "notes.txt").read_bytes()
GREETING = b"Hello from minix-emu!\n"
BOOT = GREETING + MOTD                  # what the boot script (rc) shows
PROMPT = b"# "
TEST_PAGE_START = b"minix-emu printer test page\n"
TEST_PAGE_END = b"-- end of page --\n\x0c"
MAX_TICKS = 3000


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    out = tmp_path_factory.mktemp("stock") / "minix.img"
    build_image(SYSTEM, out, out.parent / "build")
    return out


def boot(image, text, max_ticks=MAX_TICKS):
    result = run_image(image, text.encode() if isinstance(text, str) else text,
                       max_ticks=max_ticks)
    assert result.kernel.panic_report is None
    assert result.end == "done", f"the run did not end with init: {result.end}"
    return result


def transcript(*commands_and_outputs):
    """BOOT, then for each (command, output): the prompt, the echoed command, its output;
    then the last prompt and the newline init prints at the end of the input."""
    out = BOOT
    for command, output in commands_and_outputs:
        out += PROMPT + command + b"\n" + output
    return out + PROMPT + b"\n"


def started(result):
    return [e["proc"] for e in result.of("start")]


def assert_clean(result):
    """No process faulted, nothing was killed but by PM (its users' PM_EXIT), nothing
    restarted by RS, and no IPC was denied but the ENOTREADY of a non-blocking call."""
    assert not result.of("fault")
    assert {e["by"] for e in result.of("kill")} <= {"pm"}
    assert not [e for e in result.of("restart") if e.get("by") == "rs"]
    denied = {error for (_, _, error) in result.kernel.denials}
    assert denied <= {-106}, denied                        # ENOTREADY only


def test_boot_script_then_end_of_input(stock):
    result = boot(stock, "")
    assert result.console == transcript()
    assert result.printer.startswith(TEST_PAGE_START) and result.printer.endswith(TEST_PAGE_END)
    users = [p for p in started(result) if p not in ("rs", "ds", "pm", "vfs", "tty", "printer",
                                                      "disk")]
    assert users == ["init", "hello", "lp", "cat"]          # rc: hello, lp, cat motd
    ends = [(e["ev"], e["proc"]) for e in result.events if e["ev"] in ("kill", "exit", "fault")]
    assert ends == [("kill", "hello"), ("kill", "lp"), ("kill", "cat"), ("kill", "init")]
    assert_clean(result)


def test_shell_runs_hello_cat_lp_and_ps(stock):
    result = boot(stock, "hello\ncat notes.txt\nlp notes.txt\nps\n")
    console = result.console
    head = transcript((b"hello", GREETING), (b"cat notes.txt", NOTES), (b"lp notes.txt", b""))
    assert console.startswith(head[:-len(PROMPT + b"\n")])
    listing = console[len(head) - len(PROMPT + b"\n"):].split(b"\n")
    assert listing[0] == PROMPT + b"ps"
    assert listing[1].split() == [b"SLOT", b"ENDPOINT", b"LABEL", b"STATE"]
    rows = [line.split() for line in listing[2:-2]]
    assert [row[2] for row in rows] == [b"rs", b"ds", b"pm", b"vfs", b"tty", b"printer",
                                        b"disk", b"init", b"ps"]
    assert rows[:7] == [[str(i).encode(), str(i).encode(), label, b"receiving"] for i, label in
                        enumerate([b"rs", b"ds", b"pm", b"vfs", b"tty", b"printer", b"disk"])]
    assert rows[7][3] == b"receiving"                      # init, in its PM_WAIT
    assert rows[8][3] == b"ready"                          # ps itself
    assert listing[-2:] == [PROMPT, b""]
    page_end = result.printer.index(TEST_PAGE_END) + len(TEST_PAGE_END)
    assert result.printer[page_end:] == NOTES
    assert_clean(result)


def test_unknown_programs_are_reported(stock):
    result = boot(stock, "frobnicate now\naverylonglabelthatnoprogramhas\ndisk\n\n   \nhello\n")
    assert result.console == transcript(
        (b"frobnicate now", b"init: frobnicate: no such program\n"),
        (b"averylonglabelthatnoprogramhas",
         b"init: averylonglabelthatnoprogramhas: no such program\n"),
        (b"disk", b"init: disk: not permitted\n"),           # a driver is no user program
        (b"", b""), (b"   ", b""),
        (b"hello", GREETING))
    assert started(result).count("disk") == 1              # only its boot
    assert_clean(result)


def test_programs_report_their_errors(stock):
    result = boot(stock, "cat nosuch\ncp\nlp nosuch\nworkload\ncp notes.txt\n")
    assert result.console == transcript(
        (b"cat nosuch", b"cat: nosuch: no such file or program\ninit: cat: exit status 1\n"),
        (b"cp", b"usage: cp SRC DST\ninit: cp: exit status 1\n"),
        (b"lp nosuch", b"lp: nosuch: no such file or program\ninit: lp: exit status 1\n"),
        (b"workload", b"usage: workload ROUNDS\ninit: workload: exit status 1\n"),
        (b"cp notes.txt", b"usage: cp SRC DST\ninit: cp: exit status 1\n"))
    assert_clean(result)


def test_cp_then_cat_and_workload(stock):
    result = boot(stock, "cp notes.txt copy.txt\ncat copy.txt\nworkload 4\ncat wl3\n")
    wl3 = bytes(10 if i % 64 == 63 else ord("a") + (3 + i) % 26 for i in range(1000))
    assert result.console == transcript(
        (b"cp notes.txt copy.txt", b""), (b"cat copy.txt", NOTES),
        (b"workload 4", b"workload: 4 rounds, 0 errors, 0 retries\n"),
        (b"cat wl3", wl3))
    lines = result.printer.split(TEST_PAGE_END)[1]
    assert lines == b"".join(b"workload round %d: ok\n" % r for r in range(1, 5))
    assert_clean(result)


def test_exit_ends_the_shell_and_the_run(stock):
    result = boot(stock, "hello\nexit\nhello\n")
    assert result.console == BOOT + PROMPT + b"hello\n" + GREETING + PROMPT + b"exit\n"
    assert result.of("kill", "init")[-1] == result.of("kill")[-1]
    assert started(result).count("hello") == 2             # rc's and the shell's one


def test_end_of_input_ends_init_and_the_run(stock):
    result = boot(stock, "hello")                          # no newline at the end
    assert result.console == BOOT + PROMPT + b"hello" + GREETING + PROMPT + b"\n"
    init_end = result.of("kill", "init")
    assert len(init_end) == 1 and init_end[0]["by"] == "pm"
    assert result.events[-1]["t"] - init_end[0]["t"] < 10_000   # the run ends with init


def test_long_lines_are_refused(stock):
    result = boot(stock, "hello " + "x" * 300 + "\nhello " + "y" * 50 + "\n")
    assert result.console == transcript(
        (b"hello " + b"x" * 300, b"init: line too long\n"),
        (b"hello " + b"y" * 50, b"init: hello: argument list too long\n"))


def test_same_input_same_run(stock):
    text = "hello\nps\nlp notes.txt\nworkload 2\n"
    first, second = boot(stock, text), boot(stock, text)
    assert first.trace_text == second.trace_text
    assert first.console == second.console and first.printer == second.printer
    assert len(first.events) > 1000


def custom_image(tmp_path, extra, with_files=True):
    """The stock system plus `extra` (TOML of more programs) in tmp_path."""
    stock = SYSTEM.read_text().replace('source = "', f'source = "{ROOT}/guest/')
    (tmp_path / "system.toml").write_text(stock + extra)
    if with_files:
        (tmp_path / "files").symlink_to(FILES)
    image = tmp_path / "minix.img"
    build_image(tmp_path / "system.toml", image, tmp_path / "build")
    return image


CRASH = """
[[program]]
label = "crash"
source = "crash.asm"
kind = "user"
ipc = ["SENDREC"]
targets = ["pm", "vfs"]
"""


def test_a_program_that_faults_is_reported_by_the_shell(tmp_path):
    (tmp_path / "crash.asm").write_text('.include "abi.inc"\n.text\n_start:\n'
                                        '    mov dword ptr [0x10], 1\n')
    image = custom_image(tmp_path, CRASH)
    result = boot(image, "crash\nhello\n")
    assert result.console == transcript((b"crash", b"init: crash: ended by a fault\n"),
                                         (b"hello", GREETING))
    faults = result.of("fault", "crash")
    assert len(faults) == 1 and faults[0]["addr"] == 0x10


def test_without_a_boot_script_the_shell_still_runs(tmp_path):
    (tmp_path / "crash.asm").write_text('.include "abi.inc"\n.text\n_start:\n    ud2\n')
    image = custom_image(tmp_path, CRASH, with_files=False)
    result = boot(image, "hello\ncat motd\n")
    assert result.console == (b"init: rc: no such file or program\n" + PROMPT + b"hello\n"
                              + GREETING + PROMPT + b"cat motd\n"
                              + b"cat: motd: no such file or program\n"
                              + b"init: cat: exit status 1\n" + PROMPT + b"\n")


KILLER = """
[[program]]
label = "killer"
source = "killer.asm"
kind = "server"
priority = 0
ipc = ["SENDREC", "RECEIVE"]
targets = ["SYSTEM"]
kernel_calls = ["SETALARM", "GETINFO", "KILL"]
"""

# Kills the printer (its current endpoint, from GETINFO) every tick, 40 times
KILLER_SOURCE = """
.include "abi.inc"
.text
_start:
    mov dword ptr [msg + M_TYPE], SYS_SETALARM
    mov dword ptr [msg + ALARM_TICKS], 1
    mov dword ptr [msg + ALARM_FLAGS], 0
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, CLOCK
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov dword ptr [msg + M_TYPE], SYS_GETINFO
    mov dword ptr [msg + GI_REQUEST], GI_PROC
    mov dword ptr [msg + GI_WHICH], EP_PRINTER
    lea eax, [info]
    mov [msg + GI_ADDR], eax
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, [info + PI_ENDPOINT]
    mov [msg + KILL_ENDPOINT], eax
    mov dword ptr [msg + M_TYPE], SYS_KILL
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    inc dword ptr [kills]
    cmp dword ptr [kills], 40
    jl _start
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
.bss
msg:
    .space MSG_SIZE
info:
    .space PROCINFO_SIZE
kills:
    .space 4
"""


def test_workload_keeps_running_across_printer_restarts(tmp_path):
    (tmp_path / "killer.asm").write_text(KILLER_SOURCE)
    image = custom_image(tmp_path, KILLER)
    result = boot(image, "workload 12\n")
    summary = result.console.split(PROMPT + b"workload 12\n")[1]
    assert summary.startswith(b"workload: 12 rounds, 0 errors, ")
    kills = result.of("kill", "printer")
    restarts = result.of("restart", "printer")
    assert len(kills) == 40 and len(restarts) == 40
    assert {e["by"] for e in kills} == {"killer"} and {e["by"] for e in restarts} == {"rs"}
    workload = result.of("start", "workload")[0]["t"], result.of("kill", "workload")[0]["t"]
    assert [k for k in kills if workload[0] < k["t"] < workload[1]]
    printed = result.printer.split(b"-- end of page --\n\x0c")[-1] if b"\x0c" in \
        result.printer else result.printer
    for r in range(1, 13):                     # every round's line got out, whole
        assert b"workload round %d: ok\n" % r in printed
    assert not result.of("fault")
