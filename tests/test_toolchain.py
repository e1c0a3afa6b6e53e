"""The guest assembler (tools.asm): layout, directives, sections and every kind of error."""
import os
import struct
import time

import keystone
import pytest

from kernel import abi
from tools.asm import AsmError, assemble

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "asm")
TEXT = abi.window_base(0)
DATA = TEXT + abi.DATA_OFFSET


def keystone_bytes(text, address):
    """What Keystone alone makes of one instruction with plain hex numbers."""
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)
    return ks.asm(text, address, True)[0]


def build(tmp_path, source, name="prog.asm", **options):
    path = tmp_path / name
    path.write_text(source)
    return assemble(str(path), TEXT, DATA, **options)


def text_at(program, address, size):
    offset = address - program.text_base
    return program.text[offset:offset + size]


def line_entries(program, line, file="every_directive.asm"):
    return [entry for entry in program.lines
            if entry[3] == line and os.path.basename(entry[2]) == file]


# ---------------------------------------------------------------------------------------
# A program with every directive and section

@pytest.fixture(scope="module")
def every():
    return assemble(os.path.join(FIXTURES, "every_directive.asm"), TEXT, DATA,
                    {"EP_PRINTER": 3})


def test_every_directive_text_matches_keystone(every):
    msg = every.symbols["msg"][0]
    expected = {13: f"mov eax, {abi.SYSTEM & 0xFFFFFFFF:#x}", 14: f"mov ebx, {msg:#x}",
                15: f"mov ecx, dword ptr [{msg + 4:#x}]", 16: "push -2"}
    for line, text in expected.items():
        (address, size, path, _), = line_entries(every, line)
        assert path.endswith("every_directive.asm")
        assert text_at(every, address, size) == keystone_bytes(text, address)
    counter = every.symbols["counter"][0]
    (address, size, _, _), = line_entries(every, 29)
    assert text_at(every, address, size) == keystone_bytes(
        f"mov dword ptr [{counter:#x}], 0x10", address)


def test_every_directive_data_and_bss(every):
    msg = every.symbols["msg"][0]
    expected = struct.pack("<IIII", 1, 2, msg + 4, 0x12) + struct.pack("<Hh", 0x1234, -1)
    expected += struct.pack("<Hi", 7, -2) + b"x\n\0" + b"abc" + b"a;b#c\0" + b'q"\t\\\0'
    expected += b"\0" + b"\xaa" * 3 + b"\0" * 3 + b"\0\0"      # .balign 4 ... padding to 4
    assert every.data == expected
    assert every.data_base == DATA and len(every.data) % 4 == 0
    assert every.symbols["table"] == (DATA + 44, "data")
    assert every.symbols["counter"] == (DATA + len(every.data), "bss")
    assert every.symbols["buffer"] == (DATA + 64, "bss")       # .align 16 in .bss
    assert every.bss_size == 64 + 16 - len(every.data)


def test_every_directive_symbols_lines_and_entry(every):
    assert every.entry == every.symbols["_start"][0] == TEXT
    assert every.globals == {"_start", "helper"}
    assert not {"MASK", "LIMIT", "BUF_BYTES", "SENDREC"} & set(every.symbols)
    files = {os.path.basename(path) for _, _, path, _ in every.lines}
    assert files == {"every_directive.asm", "defs.inc"}
    addresses = [address for address, _, _, _ in every.lines]
    assert addresses == sorted(addresses)
    (address, size, _, _), = line_entries(every, 26)            # .byte 0x90 in .text
    assert text_at(every, address, size) == b"\x90"
    assert len(line_entries(every, 24)) == 2                    # .rept 2: two entries
    done = every.symbols["done"][0]
    assert done % 8 == 0 and text_at(every, done - 1, 1) == b"\x90"   # .align 8 pads with nop


def test_macro_expansion_uses_arguments_defaults_and_unique_labels(every):
    ipc = [entry for entry in every.lines if entry[2].endswith("defs.inc") and entry[3] <= 10]
    assert [line for *_, line in ipc] == [7, 8, 9, 10]
    first = ipc[0][0]
    code = every.text[first - TEXT:first - TEXT + 17]
    assert code[:5] == b"\xb8\x03\x00\x00\x00"                   # mov eax, EP_PRINTER (3)
    assert code[5:10] == struct.pack("<BI", 0xB9, abi.SENDREC)  # default function
    assert code[15:17] == bytes([0xCD, abi.IPC_VEC])
    assert "spin_2" in every.symbols                            # \@ = the expansion number


# ---------------------------------------------------------------------------------------
# Layout

def test_jumps_settle_short_under_127_and_near_over(tmp_path):
    program = build(tmp_path, """
_start:
    jmp near_target
    jne far_target
    .space 100, 0x90
near_target:
    .space 100, 0x90
far_target:
    jmp _start
    je near_target
    nop
""")
    near, far = program.symbols["near_target"][0], program.symbols["far_target"][0]
    jumps = {line: text_at(program, address, size)
             for address, size, _, line in program.lines if line in (3, 4, 9, 10)}
    assert len(jumps) == 4
    assert jumps[3][0] == 0xEB and TEXT + 2 + jumps[3][1] == near          # short forward
    assert jumps[4][:2] == b"\x0f\x85"                                      # near forward
    assert TEXT + 8 + struct.unpack("<i", jumps[4][2:])[0] == far
    assert jumps[9][0] == 0xE9                                              # near backward
    assert far + 5 + struct.unpack("<i", jumps[9][1:])[0] == TEXT
    assert jumps[10][0] == 0x74                                             # short backward
    assert far + 7 + struct.unpack("<b", jumps[10][1:])[0] == near


def test_include_abi_inc_and_predefined_symbols(tmp_path):
    program = build(tmp_path, """
.include "abi.inc"
_start:
    mov ecx, SENDREC | NONBLOCK
    mov eax, [ebx + M_TYPE]
    mov edx, EP_PRINTER
    mov esi, SYS_DEVIO
""", predefined={"EP_PRINTER": 3})
    assert program.text == (struct.pack("<BI", 0xB9, abi.SENDREC | abi.NONBLOCK)
                            + bytes([0x8B, 0x43, abi.M_TYPE])
                            + struct.pack("<BI", 0xBA, 3) + struct.pack("<BI", 0xBE, abi.SYS_DEVIO))


def test_include_dirs_parameter(tmp_path):
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "mine.inc").write_text(".equ MINE, 7\n")
    program = build(tmp_path, '.include "mine.inc"\n_start: push MINE\n',
                    include_dirs=[tmp_path / "inc"])
    assert program.text == b"\x6a\x07"


def test_equ_expressions(tmp_path):
    program = build(tmp_path, """
.equ A, (1 << 4) | 3
.equ B, A * 2 - ~0
.equ C, -7 / 2
.equ D, -7 % 3
.equ E, 0x10 >> 2 & 0b111 ^ 010
.equ F, 'A' + 0ffh
.equ LEN, msg_end - msg
_start: ret
.data
msg: .ascii "hello"
msg_end:
values: .long A, B, C, D, E, F, LEN
""")
    offset = program.symbols["values"][0] - DATA
    values = struct.unpack("<7i", program.data[offset:offset + 28])
    assert values == (19, 39, -3, -1, (0x10 >> 2) & 0b111 ^ 8, 65 + 255, 5)


def test_rept_nested_and_counted_by_constant(tmp_path):
    program = build(tmp_path, """
.equ TIMES, 2
_start:
.rept TIMES
  .rept 3
    nop
  .endr
    inc eax
.endr
""")
    assert program.text == (b"\x90" * 3 + b"\x40") * 2


def test_labels_on_instruction_lines_and_comments_in_literals(tmp_path):
    program = build(tmp_path, "_start: mov al, ';'  ; comment\nnext: mov al, '#' # c\n")
    assert program.text == b"\xb0;\xb0#"
    assert program.symbols["next"] == (TEXT + 2, "text")


# ---------------------------------------------------------------------------------------
# Errors: each names the file and the line

ERRORS = [
    ("_start:\n    !!\n", 2, "syntax error"),
    ("_start:\n    foo eax\n", 2, "unknown mnemonic 'foo'"),
    ("_start:\n    mov eax, nowhere\n", 2, "undefined symbol 'nowhere'"),
    ("_start:\n.data\n    .long 1, nowhere\n", 3, "undefined symbol 'nowhere'"),
    ("_start:\n    nop\n_start:\n", 3, "duplicate label '_start'"),
    ("_start:\n%define X 1\n", 2, "NASM"),
    ("_start:\n.section .foo\n", 2, ".section"),
    ('_start:\n.include "no_such_file.inc"\n', 2, "not found"),
    ("_start:\n.bss\n    .long 1\n", 3, "only labels"),
    ("_start:\n.bss\n    nop\n", 3, "instructions go in .text"),
    ("_start:\n.macro m\n    nop\n", 2, "unterminated '.macro'"),
    ("_start:\n.rept 2\n    nop\n", 2, "unterminated '.rept'"),
    ('_start:\n.data\n .ascii "abc\n', 3, "unterminated string"),
    ("_start:\n    mov eax, eax, eax\n", 2, "invalid operand"),
    ("_start:\n    mov al, 300\n", 2, "does not fit in 8 bits"),
    ("_start:\n.data\n .byte 256\n", 3, "does not fit in 8 bits"),
    ("_start:\n    loop distant\n    .space 200\ndistant: ret\n", 2, "out of range"),
    ("_start:\n    jmp far\n", 2, "undefined symbol 'far'"),
    ("_start:\n    .space 0x80001\n", 2, "TEXT_MAX"),
    ("_start:\n.frobnicate 1\n", 2, "unknown directive '.frobnicate'"),
    ("_start:\n.rept later\n.endr\n.equ later, 1\n", 2, "not a constant known here"),
    ("_start:\n.equ A, B\n.equ B, A\n", 2, "circular"),
    ("_start:\n.set X, X + 1\n", 2, "circular"),
    ("_start:\n.global nothing\n", 2, "not a label"),
    ("_start:\n.endm\n", 2, "without a matching"),
    ("_start:\n    mov eax, [ebx\n", 2, "unbalanced"),
    ("    nop\n", 0, "_start"),
]


@pytest.mark.parametrize("source, line, message", ERRORS)
def test_errors_name_file_and_line(tmp_path, source, line, message):
    started = time.monotonic()
    with pytest.raises(AsmError) as caught:
        build(tmp_path, source)
    error = caught.value
    where = f"{tmp_path / 'prog.asm'}:{line}: " if line else f"{tmp_path / 'prog.asm'}: "
    assert str(error).startswith(where), str(error)
    assert message in error.message and error.line == line
    assert error.file == str(tmp_path / "prog.asm")
    assert time.monotonic() - started < 10


def test_error_in_included_file_names_that_file():
    with pytest.raises(AsmError) as caught:
        assemble(os.path.join(FIXTURES, "includes_broken.asm"), TEXT, DATA)
    assert caught.value.file == os.path.join(FIXTURES, "broken.inc")
    assert caught.value.line == 3
    assert str(caught.value).endswith("broken.inc:3: undefined symbol 'nowhere_at_all'")


def test_error_in_macro_names_body_line_and_expansion(tmp_path):
    with pytest.raises(AsmError) as caught:
        build(tmp_path, ".macro bad\n    nop\n    frob eax\n.endm\n_start:\n    bad\n")
    assert caught.value.line == 3
    assert f"expanded at {tmp_path / 'prog.asm'}:6" in caught.value.message


def test_include_cycle(tmp_path):
    (tmp_path / "a.inc").write_text('.include "b.inc"\n')
    (tmp_path / "b.inc").write_text('nop\n.include "a.inc"\n')
    with pytest.raises(AsmError) as caught:
        build(tmp_path, '_start:\n.include "a.inc"\n')
    assert caught.value.file == str(tmp_path / "b.inc") and caught.value.line == 2
    assert "include cycle" in caught.value.message


def test_missing_source_file(tmp_path):
    with pytest.raises(AsmError) as caught:
        assemble(str(tmp_path / "absent.asm"), TEXT, DATA)
    assert str(caught.value).startswith(f"{tmp_path / 'absent.asm'}: cannot read")


# ---------------------------------------------------------------------------------------
# Bounded: a hung or dead encoder is reported with the line it was working on

def test_hang_is_cut_at_the_time_bound(tmp_path, monkeypatch):
    real_asm = keystone.Ks.asm

    def hanging_asm(self, text, address=0, as_bytes=False):
        if "cpuid" in text:
            time.sleep(600)
        return real_asm(self, text, address, as_bytes)
    monkeypatch.setattr(keystone.Ks, "asm", hanging_asm)
    started = time.monotonic()
    with pytest.raises(AsmError) as caught:
        build(tmp_path, "_start:\n    nop\n    nop\n    cpuid\n    ret\n", timeout=1.0)
    assert time.monotonic() - started < 8
    assert caught.value.line == 4
    assert caught.value.message.startswith("assembler did not finish")


def test_dead_encoder_is_reported(tmp_path, monkeypatch):
    def dying_asm(self, text, address=0, as_bytes=False):
        os._exit(9)
    monkeypatch.setattr(keystone.Ks, "asm", dying_asm)
    with pytest.raises(AsmError) as caught:
        build(tmp_path, "_start:\n    ret\n")
    assert caught.value.line == 2
    assert "assembler did not finish" in caught.value.message
    assert "exit status 9" in caught.value.message


def test_a_large_program_assembles_quickly(tmp_path):
    body = "".join(f"l{i}:\n    mov eax, [ebx + {i % 60}]\n    add ecx, {i}\n"
                   f"    jne l{max(i - 3, 0)}\n" for i in range(700))
    started = time.monotonic()
    program = build(tmp_path, "_start:\n" + body + "    ret\n")
    assert time.monotonic() - started < 10
    assert len(program.lines) == 2101


def test_string_move_of_dwords_is_not_the_sse_movsd(tmp_path):
    source = tmp_path / "m.asm"
    source.write_text("_start:\n    movsd\n    rep movsd\n    cld\n")
    program = assemble(source, 0x1000000, 0x1080000)
    assert program.text == bytes.fromhex("a5f3a5fc")
