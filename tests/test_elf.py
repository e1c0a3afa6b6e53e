"""ELF files of guest programs: write_elf, read_elf, binutils and gdb, and SymbolMap."""
import os
import random
import shutil
import struct
import subprocess

import pytest

from emu.elf import ElfError, read_elf
from emu.symbols import SymbolMap
from kernel import abi
from tools.asm import assemble, write_elf

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "asm")
TEXT = abi.window_base(2)
DATA = TEXT + abi.DATA_OFFSET

SOURCE = """\
.include "abi.inc"
.text
.global _start
_start:
    mov eax, SYSTEM
    mov ebx, msg
    call helper
    jmp _start
    .align 16
helper:
    mov ecx, [counter]
    ret
.data
msg: .long 1, 2
.bss
counter: .space 4
"""


@pytest.fixture
def built(tmp_path):
    """(program, path of its ELF), assembled in tmp_path with a relative source name."""
    (tmp_path / "prog.asm").write_text(SOURCE)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        program = assemble("prog.asm", TEXT, DATA)
    finally:
        os.chdir(cwd)
    path = tmp_path / "prog.elf"
    write_elf(program, path)
    return program, path


def test_round_trip(built):
    program, path = built
    loaded = read_elf(path.read_bytes())
    assert (loaded.text_base, loaded.text) == (program.text_base, program.text)
    assert (loaded.data_base, loaded.data) == (program.data_base, program.data)
    assert loaded.bss_size == program.bss_size == 4
    assert loaded.entry == program.entry == TEXT
    assert loaded.symbols == program.symbols
    assert loaded.lines == program.lines
    assert [line for *_, line in loaded.lines] == [5, 6, 7, 8, 11, 12]


def test_round_trip_with_included_files(tmp_path):
    program = assemble(os.path.join(FIXTURES, "every_directive.asm"), TEXT, DATA,
                       {"EP_PRINTER": 3})
    write_elf(program, tmp_path / "every.elf")
    loaded = read_elf((tmp_path / "every.elf").read_bytes())
    assert loaded.lines == program.lines
    assert loaded.symbols == program.symbols
    assert {os.path.basename(path) for _, _, path, _ in loaded.lines} == {
        "every_directive.asm", "defs.inc"}


def run_tool(*command):
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr.lower() and "error" not in done.stderr.lower(), \
        done.stderr
    return done.stdout


def test_readelf_and_objdump_read_it(built):
    program, path = built
    header = run_tool("readelf", "-h", str(path))
    assert "ELF32" in header and "Intel 80386" in header and "EXEC" in header
    assert f"Entry point address:               {TEXT:#x}" in header
    sections = run_tool("readelf", "-S", "-W", str(path))
    for name in (".text", ".data", ".bss", ".symtab", ".strtab", ".debug_line",
                 ".debug_info", ".debug_abbrev", ".debug_aranges"):
        assert name in sections
    segments = run_tool("readelf", "-l", "-W", str(path))
    assert f"LOAD           0x001000 {TEXT:#010x} {TEXT:#010x} {len(program.text):#07x}" \
        f" {len(program.text):#07x} R E" in segments
    symbols = run_tool("readelf", "-s", "-W", str(path))
    assert "FUNC    GLOBAL DEFAULT    1 _start" in symbols
    assert "OBJECT  LOCAL  DEFAULT    3 counter" in symbols
    lines = run_tool("readelf", "--debug-dump=line", str(path))
    assert "prog.asm" in lines
    disassembly = run_tool("objdump", "-d", str(path))
    assert f"{TEXT:08x} <_start>:" in disassembly and "call" in disassembly


def test_gdb_maps_addresses_to_source_lines(built):
    program, path = built
    call = next(address for address, _, _, line in program.lines if line == 7)
    output = run_tool("gdb", "-nx", "-batch", "-ex", f"info line *{call + 1:#x}",
                      "-ex", f"info symbol {call + 1:#x}", "-ex", "list _start",
                      "-ex", "info line prog.asm:11", str(path))
    assert f'Line 7 of "prog.asm" starts at address {call:#x}' in output
    assert f"_start + {call + 1 - TEXT} in section .text" in output
    assert "5\t    mov eax, SYSTEM" in output
    helper = program.symbols["helper"][0]
    assert f'Line 11 of "prog.asm" starts at address {helper:#x} <helper>' in output


# ---------------------------------------------------------------------------------------
# read_elf refuses bad files with ElfError only

def patched(image, offset, fmt, value):
    image = bytearray(image)
    struct.pack_into(fmt, image, offset, value)
    return bytes(image)


@pytest.mark.parametrize("damage, reason", [
    (lambda image: b"\x7fELG" + image[4:], "magic"),
    (lambda image: patched(image, 4, "B", 2), "32-bit"),
    (lambda image: patched(image, 5, "B", 2), "little-endian"),
    (lambda image: patched(image, 18, "<H", 62), "i386"),
    (lambda image: patched(image, 16, "<H", 1), "executable"),
    (lambda image: patched(image, 28, "<I", len(image)), "program headers"),
    (lambda image: patched(image, 52 + 4, "<I", len(image)), "outside the file"),
    (lambda image: patched(image, 24, "<I", 0), "entry point"),
    (lambda image: patched(image, 52 + 24, "<I", 7), "writable and executable"),
    (lambda image: image[:40], "truncated"),
    (lambda image: b"", "truncated"),
])
def test_read_elf_rejects(built, damage, reason):
    _, path = built
    with pytest.raises(ElfError) as caught:
        read_elf(damage(path.read_bytes()))
    assert reason in str(caught.value) and "\n" not in str(caught.value)


def test_read_elf_never_raises_anything_but_elf_error(built):
    _, path = built
    image = path.read_bytes()
    rng = random.Random(7)
    cases = [image[:size] for size in range(0, len(image), 97)]
    for _ in range(400):
        damaged = bytearray(image)
        for _ in range(rng.randrange(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        cases.append(bytes(damaged))
    for case in cases:
        try:
            read_elf(case)
        except ElfError:
            pass


# ---------------------------------------------------------------------------------------
# SymbolMap

def test_symbol_map(built):
    program, _ = built
    symbols = SymbolMap(program.symbols, program.lines)
    helper = program.symbols["helper"][0]
    assert symbols.describe(TEXT) == "_start"
    assert symbols.describe(TEXT + 5) == "_start+0x5"
    assert symbols.describe(helper + 6) == "helper+0x6"
    assert symbols.describe(DATA + 4) == "msg+0x4"
    assert symbols.describe(TEXT - 1) == f"{TEXT - 1:#x}"
    assert symbols.source_line(TEXT + 6) == ("prog.asm", 6)
    assert symbols.source_line(helper - 1) is None              # .align padding
    assert symbols.source_line(DATA) is None
    assert symbols.address_of("counter") == DATA + 8
    assert symbols.address_of("nothing") is None
    assert symbols.address_of_line("prog.asm", 7) == TEXT + 10
    assert symbols.address_of_line("prog.asm", 9) == helper     # no code: next line with code
    assert symbols.address_of_line("prog.asm", 99) is None
    assert symbols.address_of_line("other.asm", 5) is None


def test_symbol_map_prefers_the_first_of_equal_labels_and_matches_base_names():
    symbols = SymbolMap({"b": (0x100, "text"), "a": (0x100, "text"), "c": (0x108, "text")},
                        [(0x100, 4, "dir/x.asm", 3), (0x104, 4, "dir/x.asm", 4)])
    assert symbols.describe(0x102) == "b+0x2"
    assert symbols.describe(0x108) == "c"
    assert symbols.address_of_line("x.asm", 4) == 0x104
    assert symbols.address_of_line("dir/x.asm", 3) == 0x100
    assert symbols.source_line(0x108) is None
