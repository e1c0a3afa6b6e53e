"""The real gdb against the stub, in batch mode with timeouts, on the stock image: it
connects with the script of `emu gdbinit`, lists the processes as inferiors and threads
by label, breaks on a printer driver symbol, steps over the driver's `int 0x21` and
reads the DEVIO reply (0xCD), catches a SENDREC with `catch syscall 3`, reads the
registers and the message, runs `monitor ps`, detaches; the boot then runs to its end
and prints exactly what a boot without gdb prints.

Skipped, with the reason, when gdb (or its Python, which the script's loops use) is
missing; `.ci/run` installs gdb.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emu.elf import read_elf
from tools.build import build_image

ROOT = Path(__file__).resolve().parent.parent
GDB = shutil.which("gdb")
TIMEOUT = 120


def _gdb_has_python():
    if GDB is None:
        return False
    try:
        done = subprocess.run([GDB, "-nx", "-batch", "-ex", "python print(6 * 7)"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.stdout.strip() == "42"


pytestmark = [
    pytest.mark.skipif(GDB is None, reason="gdb is not installed (.ci/run installs it)"),
    pytest.mark.skipif(GDB is not None and not _gdb_has_python(),
                       reason="this gdb has no Python, which the test script's loops use"),
]

# Continue until the current thread stops where `test(frame, inferior)` holds; a process
# that ends meanwhile stops gdb too (as any inferior does): go on from inferior 1 (rs).
HELPERS = """
python
def continue_until(test, limit=40):
    for _ in range(limit):
        if gdb.selected_thread() is None:
            gdb.execute("inferior 1")
        gdb.execute("continue")
        thread = gdb.selected_thread()
        if thread is not None and thread.is_valid() and test(gdb.selected_frame(),
                                                              gdb.selected_inferior()):
            return
    raise gdb.GdbError("never stopped there")

def at_trap(frame, inferior):
    return bytes(inferior.read_memory(frame.pc(), 2)) == b"\\xcd\\x21"
end
"""


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    out = tmp_path_factory.mktemp("stock")
    image = out / "minix.img"
    build_image(ROOT / "guest" / "system.toml", image, out)
    golden = out / "golden.out"
    subprocess.run([sys.executable, "-m", "emu", "boot", str(image), "--printer",
                    str(golden), "--input", "/dev/null"], capture_output=True,
                   timeout=TIMEOUT, cwd=ROOT, check=True)
    return image, golden


def _trap_after(image, symbol):
    """The address of the first `int 0x21` at or after `symbol` in the printer."""
    from tools.image import read_image
    program = next(p for p in read_image(image).programs if p.policy.label == "printer")
    loaded = read_elf(program.elf)
    start = loaded.symbols[symbol][0]
    offset = loaded.text.index(b"\xcd\x21", start - loaded.text_base)
    return loaded.text_base + offset


def test_gdb_debugs_the_stock_system(stock, tmp_path):
    image, golden = stock
    printer_out = tmp_path / "printer.out"
    boot = subprocess.Popen(
        [sys.executable, "-m", "emu", "boot", str(image), "--gdb", "0", "--wait",
         "--printer", str(printer_out), "--input", "/dev/null"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = boot.stderr.readline()
        assert "gdb stub listening on 127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1])
        gdbinit = tmp_path / "gdbinit"
        subprocess.run([sys.executable, "-m", "emu", "gdbinit", str(image), "--port",
                        str(port), "-o", str(gdbinit)], check=True, timeout=TIMEOUT,
                       cwd=ROOT)
        trap = _trap_after(image, "devio_in")
        script = tmp_path / "session.gdb"
        script.write_text(HELPERS + f"""
info inferiors
info threads
break devio_in
python continue_until(lambda frame, inferior: frame.name() == "devio_in")
break *{trap:#x}
python continue_until(lambda frame, inferior: frame.pc() == {trap:#x})
stepi
print/x $eax
x/wx $ebx+16
delete
catch syscall 3
python continue_until(at_trap)
info registers eax ecx ebx eip
x/16wx $ebx
monitor ps
monitor msg $ebx
detach
""")
        gdb = subprocess.run([GDB, "-nx", "-batch", "-x", str(gdbinit), "-x", str(script)],
                             capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
        out = gdb.stdout + gdb.stderr
        assert gdb.returncode == 0, out
        status = boot.wait(timeout=TIMEOUT)
        rest = boot.stderr.read()
    finally:
        if boot.poll() is None:
            boot.kill()
            boot.wait()
    assert status == 0, rest
    for label in ("rs", "ds", "pm", "vfs", "tty", "printer", "disk", "init"):
        assert f"{label}.elf" in out                       # info inferiors
    assert "(printer, " in out and "slot 5" in out         # info threads, by label
    assert "Breakpoint 1, devio_in ()" in out
    assert "Breakpoint 2, " in out
    assert "$1 = 0x0" in out                               # the trap's result: OK
    assert "0x000000cd" in out                             # DIO_VALUE of the reply
    assert "Catchpoint 3 (call to syscall" in out
    assert "ecx            0x3" in out
    assert "SLOT ENDPOINT  LABEL" in out and "RECEIVING from ANY" in out
    assert "M_SOURCE" in out and "M_TYPE" in out
    assert "detached]" in out
    assert "Traceback" not in out + rest
    assert "emu: gdb detached" in rest
    assert printer_out.read_bytes() == golden.read_bytes()
