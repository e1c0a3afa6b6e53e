"""The `emu` command as a user meets it: the stock image, determinism, bad input.

Bad input of any kind gives exactly one line on stderr and exit status 2, never a
traceback; a boot that ends as asked exits 0.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from emu.cli import main

ROOT = Path(__file__).resolve().parent.parent
STOCK_SYSTEM = ROOT / "guest" / "system.toml"
TEST_PAGE_START = b"minix-emu printer test page\n"
GREETING = b"Hello from minix-emu!\n"
# The boot script (guest/files/rc: hello, lp, cat motd), then the shell's prompt, and
# the newline init prints at the end of its input
BOOT_TRANSCRIPT = GREETING + (ROOT / "guest" / "files" / "motd").read_bytes() + b"# \n"


def emu(*args, cwd=None, stdin=subprocess.DEVNULL):
    return subprocess.run([sys.executable, "-m", "emu", *map(str, args)], cwd=cwd or ROOT,
                          stdin=stdin, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def stock_image(tmp_path_factory):
    out = tmp_path_factory.mktemp("stock") / "minix.img"
    result = emu("build", "--system", STOCK_SYSTEM, "-o", out)
    assert result.returncode == 0, result.stderr.decode()
    return out


def test_stock_image_prints_greeting_and_page(stock_image, tmp_path):
    printer = tmp_path / "printer.out"
    result = emu("boot", stock_image, "--printer", printer, "--trace", tmp_path / "t.jsonl")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == BOOT_TRANSCRIPT
    page = printer.read_bytes()
    assert page.startswith(TEST_PAGE_START)
    assert page.endswith(b"-- end of page --\n\x0c")
    source = (ROOT / "guest" / "user" / "lp.asm").read_text()
    assert b"The quick brown fox jumps over the lazy dog.\n" in page
    assert len(page) == sum(len(line.split('"')[1].encode().decode("unicode_escape"))
                            for line in source.splitlines() if ".ascii" in line) + 1


def test_seed_example_is_in_the_trace(stock_image, tmp_path):
    trace = tmp_path / "t.jsonl"
    emu("boot", stock_image, "--printer", tmp_path / "p", "--trace", trace)
    lines = trace.read_text().splitlines()
    seed = [line for line in lines if '"proc":"printer"' in line and '"call":"DEVIO"' in line
            and '"port":171' in line]
    assert seed and '"value":205' in seed[0] and '"result":"OK"' in seed[0]


def test_two_boots_give_identical_traces(stock_image, tmp_path):
    for run in ("a", "b"):
        result = emu("boot", stock_image, "--printer", tmp_path / f"{run}.out",
                     "--trace", tmp_path / f"{run}.jsonl")
        assert result.returncode == 0
    first = (tmp_path / "a.jsonl").read_bytes()
    assert first == (tmp_path / "b.jsonl").read_bytes()
    assert len(first.splitlines()) > 50
    assert (tmp_path / "a.out").read_bytes() == (tmp_path / "b.out").read_bytes()


def test_until_exit_and_max_ticks(stock_image, tmp_path):
    result = emu("boot", stock_image, "--printer", tmp_path / "p", "--until-exit", "hello")
    assert result.returncode == 0 and result.stdout == GREETING
    result = emu("boot", stock_image, "--printer", tmp_path / "p", "--max-ticks", "1",
                 "--until-idle")
    assert result.returncode == 0


def test_users_own_program_builds_into_an_image_that_boots(tmp_path):
    (tmp_path / "mine.asm").write_text("""
.include "abi.inc"
.text
_start:
    mov dword ptr [kcall + M_TYPE], SYS_DEVIO
    mov dword ptr [kcall + DIO_REQUEST], DIO_INPUT | DIO_BYTE
    mov dword ptr [kcall + DIO_PORT], 0xAB
    mov eax, SYSTEM
    lea ebx, [kcall]
    mov ecx, SENDREC
    int IPC_VEC
    mov edx, [kcall + DIO_VALUE]
    mov dword ptr [kcall + M_TYPE], SYS_EXIT
    mov [kcall + EXIT_STATUS], edx
    mov eax, SYSTEM
    lea ebx, [kcall]
    mov ecx, SENDREC
    int IPC_VEC
.bss
kcall: .space MSG_SIZE
""")
    stock = STOCK_SYSTEM.read_text().replace('source = "', f'source = "{ROOT}/guest/')
    (tmp_path / "my.toml").write_text(stock + """
[[program]]
label = "mine"
source = "mine.asm"
kind = "driver"
ipc = ["SENDREC"]
targets = ["SYSTEM"]
kernel_calls = ["DEVIO", "EXIT"]
io = ["0xAB-0xAD"]
""")
    image = tmp_path / "my.img"
    result = emu("build", "--system", tmp_path / "my.toml", "-o", image)
    assert result.returncode == 0, result.stderr.decode()
    assert (tmp_path / "guest" / "mine.elf").exists()
    trace = tmp_path / "t.jsonl"
    result = emu("boot", image, "--until-exit", "mine", "--trace", trace,
                 "--printer", tmp_path / "p")
    assert result.returncode == 0, result.stderr.decode()
    mine = len(STOCK_SYSTEM.read_text().split("[[program]]")) - 1   # its boot slot
    assert f'"ev":"exit","proc":"mine","ep":{mine},"status":205' in trace.read_text()


def one_line_error(result, *fragments):
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_missing_image(tmp_path):
    one_line_error(emu("boot", tmp_path / "nothing.img"), "nothing.img")


def test_truncated_image(stock_image, tmp_path):
    bad = tmp_path / "bad.img"
    bad.write_bytes(stock_image.read_bytes()[:100])
    one_line_error(emu("boot", bad), "bad.img", "truncated")


def test_not_an_image(tmp_path):
    bad = tmp_path / "bad.img"
    bad.write_text("hello")
    one_line_error(emu("boot", bad), "bad.img")


@pytest.mark.parametrize("args, fragment", [
    (["boot"], "image"),
    (["boot", "x.img", "--frobnicate"], "--frobnicate"),
    (["boot", "x.img", "--max-ticks", "-3"], "max-ticks"),
    (["boot", "x.img", "--max-ticks", "lots"], "max-ticks"),
    (["launch"], "launch"),
    ([], "COMMAND"),
])
def test_bad_flags(args, fragment):
    one_line_error(emu(*args), fragment)


def test_missing_input_file(stock_image, tmp_path):
    one_line_error(emu("boot", stock_image, "--input", tmp_path / "no.txt"), "no.txt")


def test_until_exit_of_unknown_label(stock_image):
    one_line_error(emu("boot", stock_image, "--until-exit", "nobody"), "nobody")


def test_garbage_assembly(tmp_path):
    (tmp_path / "bad.asm").write_text("_start:\n    nop\n    this is not x86\n")
    (tmp_path / "s.toml").write_text('[[program]]\nlabel = "bad"\nsource = "bad.asm"\n'
                                     'kind = "user"\n')
    one_line_error(emu("build", "--system", tmp_path / "s.toml", "-o", tmp_path / "i.img"),
                   "bad.asm:3")


def test_unknown_mnemonic(tmp_path):
    (tmp_path / "bad.asm").write_text("_start:\n    nop\n    frobx eax, 1\n")
    (tmp_path / "s.toml").write_text('[[program]]\nlabel = "bad"\nsource = "bad.asm"\n'
                                     'kind = "user"\n')
    one_line_error(emu("build", "--system", tmp_path / "s.toml", "-o", tmp_path / "i.img"),
                   "bad.asm:3")


def test_nasm_define_is_refused_quickly(tmp_path):
    (tmp_path / "bad.asm").write_text("%define X 1\n_start:\n    nop\n")
    (tmp_path / "s.toml").write_text('[[program]]\nlabel = "bad"\nsource = "bad.asm"\n'
                                     'kind = "user"\n')
    one_line_error(emu("build", "--system", tmp_path / "s.toml", "-o", tmp_path / "i.img"),
                   "bad.asm:1")


def test_toml_with_unknown_key(tmp_path):
    (tmp_path / "ok.asm").write_text("_start:\n    jmp _start\n")
    (tmp_path / "s.toml").write_text('[[program]]\nlabel = "ok"\nsource = "ok.asm"\n'
                                     'kind = "user"\ncolour = "blue"\n')
    one_line_error(emu("build", "--system", tmp_path / "s.toml", "-o", tmp_path / "i.img"),
                   "s.toml:5", "colour")


def test_missing_system_file(tmp_path):
    one_line_error(emu("build", "--system", tmp_path / "none.toml", "-o", tmp_path / "i.img"),
                   "none.toml")


def test_main_returns_status_without_exiting(capsys):
    assert main(["boot"]) == 2
    assert "image" in capsys.readouterr().err


def test_a_closed_console_pipe_ends_nothing_badly(stock_image, tmp_path):
    """`emu boot IMAGE | head -1`: the reader goes away; the run goes on to its end."""
    command = f"{sys.executable} -m emu boot {stock_image} --printer {tmp_path / 'p'} | head -1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT,
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert result.stdout == b"Hello from minix-emu!\n"
    assert result.returncode == 0, result.stderr.decode()
    assert b"PANIC" not in result.stderr and b"Traceback" not in result.stderr
