"""DWARF for a guest Program: what gdb and objdump need to map addresses to source lines.

Contract:
  debug_sections(program) -> {".debug_info": bytes, ".debug_abbrev": ..., ".debug_line": ...,
                              ".debug_aranges": ...}
    One compile unit (DWARF 3, 32-bit format, 4-byte addresses) named after the program's
    main source, language DW_LANG_Mips_Assembler, covering [text_base, text_base + len(text)).
    The line table has one row per entry of `program.lines`; a gap between two entries (for
    example `.align` padding) ends a sequence, so every row's size is the distance to the
    next row or to its sequence's end.  File names are split into a directory (relative to
    program.comp_dir when relative) and a base name.
"""
import os
import struct

DW_TAG_compile_unit = 0x11
DW_AT_name, DW_AT_comp_dir, DW_AT_producer = 0x03, 0x1B, 0x25
DW_AT_language, DW_AT_low_pc, DW_AT_high_pc, DW_AT_stmt_list = 0x13, 0x11, 0x12, 0x10
DW_FORM_addr, DW_FORM_data2, DW_FORM_data4, DW_FORM_string = 0x01, 0x05, 0x06, 0x08
DW_LANG_Mips_Assembler = 0x8001

DW_LNS_copy, DW_LNS_advance_pc, DW_LNS_advance_line, DW_LNS_set_file = 1, 2, 3, 4
DW_LNE_end_sequence, DW_LNE_set_address = 1, 2
LINE_BASE, LINE_RANGE, OPCODE_BASE = -5, 14, 13
STANDARD_OPCODE_LENGTHS = bytes([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1])
PRODUCER = "minix-emu tools.asm"


def uleb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def sleb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def _cstr(text: str) -> bytes:
    return text.encode("utf-8") + b"\0"


def _file_table(lines):
    """(directories, files, index of each path): DWARF file numbers start at 1."""
    directories, files, index = [], [], {}
    for _, _, path, _ in lines:
        if path in index:
            continue
        folder, name = os.path.split(path)
        if folder and folder not in directories:
            directories.append(folder)
        files.append((name, directories.index(folder) + 1 if folder else 0))
        index[path] = len(files)
    return directories, files, index


def line_program(lines) -> bytes:
    """The .debug_line section for `lines` [(address, size, file, line)] sorted by address."""
    directories, files, file_index = _file_table(lines)
    header = bytearray([1, 1, LINE_BASE & 0xFF, LINE_RANGE, OPCODE_BASE])
    header += STANDARD_OPCODE_LENGTHS
    header += b"".join(_cstr(folder) for folder in directories) + b"\0"
    header += b"".join(_cstr(name) + uleb128(folder) + b"\0\0" for name, folder in files)
    header += b"\0"
    program = bytearray()
    end = state_address = state_file = state_line = None
    for address, size, path, line in lines:
        if address != end:
            if end is not None:
                program += _end_sequence(state_address, end)
            program += bytes([0, 5, DW_LNE_set_address]) + struct.pack("<I", address)
            state_file, state_line, state_address = 1, 1, address
        if file_index[path] != state_file:
            state_file = file_index[path]
            program += bytes([DW_LNS_set_file]) + uleb128(state_file)
        if line != state_line:
            program += bytes([DW_LNS_advance_line]) + sleb128(line - state_line)
            state_line = line
        if address != state_address:
            program += bytes([DW_LNS_advance_pc]) + uleb128(address - state_address)
            state_address = address
        program += bytes([DW_LNS_copy])
        end = address + size
    if end is not None:
        program += _end_sequence(state_address, end)
    body = struct.pack("<HI", 3, len(header)) + header + program
    return struct.pack("<I", len(body)) + body


def _end_sequence(address, end) -> bytes:
    return bytes([DW_LNS_advance_pc]) + uleb128(end - address) + bytes([0, 1, DW_LNE_end_sequence])


def _abbrev() -> bytes:
    attributes = [(DW_AT_name, DW_FORM_string), (DW_AT_comp_dir, DW_FORM_string),
                  (DW_AT_producer, DW_FORM_string), (DW_AT_language, DW_FORM_data2),
                  (DW_AT_low_pc, DW_FORM_addr), (DW_AT_high_pc, DW_FORM_addr),
                  (DW_AT_stmt_list, DW_FORM_data4)]
    out = uleb128(1) + uleb128(DW_TAG_compile_unit) + b"\0"
    out += b"".join(uleb128(name) + uleb128(form) for name, form in attributes)
    return out + b"\0\0" + b"\0"


def _info(program) -> bytes:
    low, high = program.text_base, program.text_base + len(program.text)
    die = uleb128(1) + _cstr(program.source) + _cstr(program.comp_dir) + _cstr(PRODUCER)
    die += struct.pack("<HIII", DW_LANG_Mips_Assembler, low, high, 0)
    body = struct.pack("<HIB", 3, 0, 4) + die + b"\0"
    return struct.pack("<I", len(body)) + body


def _aranges(program) -> bytes:
    body = struct.pack("<HIBB", 2, 0, 4, 0) + b"\0" * 4
    body += struct.pack("<IIII", program.text_base, len(program.text), 0, 0)
    return struct.pack("<I", len(body)) + body


def debug_sections(program) -> dict:
    """The DWARF sections of `program`, by section name."""
    return {".debug_info": _info(program), ".debug_abbrev": _abbrev(),
            ".debug_line": line_program(program.lines), ".debug_aranges": _aranges(program)}
