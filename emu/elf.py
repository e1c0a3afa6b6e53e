"""Read a guest program's ELF32 i386 executable: what the machine loads and what it shows.

Contract:
  read_elf(data: bytes) -> LoadedElf
    Checks the file (ELF magic, 32-bit, little-endian, EM_386, ET_EXEC, program headers and
    segments inside the file) and returns the text segment (the one executable PT_LOAD),
    the data segment (at most one writable PT_LOAD; its memory size beyond the file size is
    the bss; without one, data is empty at text_base + DATA_OFFSET) and the entry point,
    which must lie in the text.  Symbols come from .symtab (labels in executable, writable
    and NOBITS sections as "text", "data", "bss"; the first of equal names wins) and lines
    from .debug_line (DWARF 2 to 4; standard, special and extended opcodes; other versions
    give no lines): [(address, size, file, line)] sorted by address, a row's size being the
    distance to the next row of its sequence.  Both are empty without section headers.
  ElfError: raised with a one-line reason for any malformed input, never another error.
"""
import os
import struct
from dataclasses import dataclass, field

from kernel.abi import DATA_OFFSET

EM_386, ET_EXEC, PT_LOAD = 3, 2, 1
PF_X, PF_W = 1, 2
SHT_SYMTAB, SHT_NOBITS = 2, 8
SHF_WRITE, SHF_EXECINSTR = 1, 4
STT_SECTION, STT_FILE = 3, 4


class ElfError(Exception):
    """A malformed or unsupported ELF file."""


@dataclass
class LoadedElf:
    text_base: int
    text: bytes
    data_base: int
    data: bytes
    bss_size: int
    entry: int
    symbols: dict = field(default_factory=dict)     # name -> (address, section)
    lines: list = field(default_factory=list)       # [(address, size, file, line)]


class _Cursor:
    """Bounds-checked little-endian reads in data[pos:end]."""

    def __init__(self, data, pos, end, what):
        self.data, self.pos, self.end, self.what = data, pos, min(end, len(data)), what

    def take(self, size):
        if size < 0 or self.pos + size > self.end:
            raise ElfError(f"{self.what} is truncated")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def u8(self):
        return self.take(1)[0]

    def uleb(self):
        value = shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    def sleb(self):
        value = shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value - (1 << shift) if byte & 0x40 else value

    def cstr(self):
        stop = self.data.find(b"\0", self.pos, self.end)
        if stop < 0:
            raise ElfError(f"{self.what} has an unterminated string")
        text = self.data[self.pos:stop].decode("utf-8", "replace")
        self.pos = stop + 1
        return text


def read_elf(data: bytes) -> LoadedElf:
    """The loadable parts, symbols and line table of an ELF32 i386 executable."""
    data = bytes(data)
    header = _Cursor(data, 0, len(data), "ELF header")
    ident = header.take(16)
    if ident[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (bad magic)")
    if ident[4] != 1 or ident[5] != 1:
        raise ElfError("not a 32-bit little-endian ELF file")
    (e_type, machine, _, entry, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
     shstrndx) = header.unpack("HHIIIIIHHHHHH")
    if machine != EM_386:
        raise ElfError(f"not an i386 ELF file (machine {machine})")
    if e_type != ET_EXEC:
        raise ElfError(f"not an executable ELF file (type {e_type})")
    if phnum and phentsize != 32:
        raise ElfError(f"bad program header size {phentsize}")
    text, data_segment = _segments(data, phoff, phnum)
    text_base, text_bytes = text
    if not text_base <= entry < text_base + len(text_bytes):
        raise ElfError(f"entry point {entry:#x} is outside the text segment")
    data_base, data_bytes, bss_size = data_segment or (text_base + DATA_OFFSET, b"", 0)
    loaded = LoadedElf(text_base, text_bytes, data_base, data_bytes, bss_size, entry)
    if shoff and shnum:
        sections = _sections(data, shoff, shentsize, shnum, shstrndx)
        loaded.symbols = _symbols(data, sections)
        line_section = next((s for s in sections if s["name"] == ".debug_line"), None)
        if line_section:
            loaded.lines = _lines(data, line_section)
    return loaded


def _segments(data, phoff, phnum):
    """((text_base, text), (data_base, data, bss_size) or None) from the program headers."""
    table = _Cursor(data, phoff, phoff + 32 * phnum, "program header table")
    if phoff + 32 * phnum > len(data):
        raise ElfError("program headers lie outside the file")
    text, data_segment = None, None
    for _ in range(phnum):
        p_type, offset, vaddr, _, filesz, memsz, flags, _ = table.unpack("8I")
        if p_type != PT_LOAD:
            continue
        if offset + filesz > len(data):
            raise ElfError(f"segment at {vaddr:#x} lies outside the file")
        if filesz > memsz:
            raise ElfError(f"segment at {vaddr:#x} has a file size over its memory size")
        contents = data[offset:offset + filesz]
        if flags & PF_X and flags & PF_W:
            raise ElfError(f"segment at {vaddr:#x} is both writable and executable")
        if flags & PF_X:
            if text is not None:
                raise ElfError("more than one text segment")
            if memsz != filesz:
                raise ElfError("the text segment has zero-filled memory")
            text = (vaddr, contents)
        elif flags & PF_W:
            if data_segment is not None:
                raise ElfError("more than one data segment")
            data_segment = (vaddr, contents, memsz - filesz)
        else:
            raise ElfError(f"segment at {vaddr:#x} is neither text (R+X) nor data (R+W)")
    if text is None:
        raise ElfError("no text segment (an executable PT_LOAD)")
    return text, data_segment


def _sections(data, shoff, shentsize, shnum, shstrndx):
    if shentsize != 40:
        raise ElfError(f"bad section header size {shentsize}")
    if shoff + 40 * shnum > len(data) or shstrndx >= shnum:
        raise ElfError("section headers lie outside the file")
    table = _Cursor(data, shoff, shoff + 40 * shnum, "section header table")
    raw = [table.unpack("10I") for _ in range(shnum)]
    for _, kind, _, _, offset, size, *_ in raw:
        if kind != SHT_NOBITS and offset + size > len(data):
            raise ElfError("a section lies outside the file")
    names_at = raw[shstrndx][4]
    names_end = names_at + raw[shstrndx][5]
    sections = []
    for name, kind, flags, addr, offset, size, link, _, _, entsize in raw:
        label = _Cursor(data, names_at + name, names_end, "section name table").cstr()
        sections.append({"name": label, "type": kind, "flags": flags, "offset": offset,
                         "size": size, "link": link, "entsize": entsize})
    return sections


def _symbols(data, sections) -> dict:
    symbols = {}
    for table in (s for s in sections if s["type"] == SHT_SYMTAB):
        if table["link"] >= len(sections) or table["entsize"] != 16:
            raise ElfError("bad .symtab header")
        strings = sections[table["link"]]
        cursor = _Cursor(data, table["offset"], table["offset"] + table["size"], ".symtab")
        for _ in range(table["size"] // 16):
            name, value, _, info, _, shndx = cursor.unpack("IIIBBH")
            if info & 0xF in (STT_SECTION, STT_FILE) or not name or shndx >= len(sections):
                continue
            section = _section_kind(sections[shndx])
            if shndx == 0 or section is None:
                continue
            label = _Cursor(data, strings["offset"] + name,
                            strings["offset"] + strings["size"], ".strtab").cstr()
            symbols.setdefault(label, (value, section))
    return symbols


def _section_kind(section):
    if section["flags"] & SHF_EXECINSTR:
        return "text"
    if section["type"] == SHT_NOBITS:
        return "bss"
    if section["flags"] & SHF_WRITE:
        return "data"
    return None


def _lines(data, section) -> list:
    rows = []
    end = section["offset"] + section["size"]
    cursor = _Cursor(data, section["offset"], end, ".debug_line")
    while cursor.pos < end:
        (length,) = cursor.unpack("I")
        if length >= 0xFFFFFFF0:
            raise ElfError(".debug_line: 64-bit DWARF is not supported")
        unit = _Cursor(data, cursor.pos, cursor.pos + length, ".debug_line")
        cursor.take(length)
        (version,) = unit.unpack("H")
        if 2 <= version <= 4:
            rows += _line_unit(unit, version)
    return sorted(rows)


def _line_unit(unit, version) -> list:
    (header_length,) = unit.unpack("I")
    program_start = unit.pos + header_length
    min_length = unit.u8()
    if version >= 4:
        unit.u8()                                   # maximum operations per instruction
    unit.u8()                                       # default is_stmt
    line_base = unit.unpack("b")[0]
    line_range, opcode_base = unit.u8(), unit.u8()
    if not line_range or not opcode_base:
        raise ElfError(".debug_line: bad header")
    lengths = unit.take(opcode_base - 1)
    folders = []
    while folder := unit.cstr():
        folders.append(folder)
    files = []
    while name := unit.cstr():
        files.append(_file_name(name, unit.uleb(), folders))
        unit.uleb(), unit.uleb()
    unit.pos = program_start
    return _run_line_program(unit, files, folders, min_length, line_base, line_range,
                             opcode_base, lengths)


def _file_name(name, folder, folders):
    if folder > len(folders):
        raise ElfError(".debug_line: bad directory number")
    return os.path.join(folders[folder - 1], name) if folder else name


def _run_line_program(unit, files, folders, min_length, line_base, line_range, opcode_base,
                      lengths) -> list:
    out, sequence = [], []
    address, file, line = 0, 1, 1

    def row():
        if not 1 <= file <= len(files):
            raise ElfError(f".debug_line: bad file number {file}")
        sequence.append((address, files[file - 1], line))

    while unit.pos < unit.end:
        opcode = unit.u8()
        if opcode >= opcode_base:
            step = opcode - opcode_base
            address += step // line_range * min_length
            line += line_base + step % line_range
            row()
        elif opcode == 0:
            size = unit.uleb()
            if size == 0:
                continue
            sub, body = unit.u8(), size - 1
            if sub == 1:                            # end_sequence
                row()
                out += [(a, nxt[0] - a, f, n) for (a, f, n), nxt in zip(sequence, sequence[1:])
                        if nxt[0] > a]
                sequence, address, file, line = [], 0, 1, 1
            elif sub == 2:                          # set_address
                address = int.from_bytes(unit.take(body), "little")
            elif sub == 3:                          # define_file
                name = unit.cstr()
                files.append(_file_name(name, unit.uleb(), folders))
                unit.uleb(), unit.uleb()
            else:
                unit.take(body)
        elif opcode == 1:                           # copy
            row()
        elif opcode == 2:                           # advance_pc
            address += unit.uleb() * min_length
        elif opcode == 3:                           # advance_line
            line += unit.sleb()
        elif opcode == 4:                           # set_file
            file = unit.uleb()
        elif opcode == 8:                           # const_add_pc
            address += (255 - opcode_base) // line_range * min_length
        elif opcode == 9:                           # fixed_advance_pc
            address += unit.unpack("H")[0]
        else:                                       # others: skip their operands
            for _ in range(lengths[opcode - 1]):
                unit.uleb()
    return out
