"""Write an assembled Program as an ELF32 little-endian i386 executable.

Contract:
  elf_image(program) -> bytes and write_elf(program, path): an ET_EXEC file with
  - two PT_LOAD segments: text (R+X) at text_base, data (R+W) at data_base whose memory
    size includes the bss (both present even when empty), e_entry = program.entry;
  - sections .text (AX), .data (WA), .bss (WA, NOBITS, right after the data), the DWARF of
    tools.asm.dwarf (.debug_info, .debug_abbrev, .debug_line, .debug_aranges), .symtab,
    .strtab and .shstrtab;
  - one symbol per label: STT_FUNC in .text (STT_NOTYPE for names starting with '.'),
    STT_OBJECT in .data and .bss, sized up to the next label of its section; global binding
    for the names in program.globals, local otherwise; plus an STT_FILE for the source.
emu.elf.read_elf reads such a file back to the same text, data, bss, symbols and lines.
"""
import bisect
import os
import struct

from tools.asm.dwarf import debug_sections

PAGE = 0x1000
ET_EXEC, EM_386, PT_LOAD = 2, 3, 1
PF_X, PF_W, PF_R = 1, 2, 4
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS = 1, 2, 3, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
STB_LOCAL, STB_GLOBAL = 0, 1
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_FILE = 0, 1, 2, 4
SHN_ABS = 0xFFF1
EHDR_SIZE, PHDR_SIZE, SHDR_SIZE, SYM_SIZE = 52, 32, 40, 16


class _Strings:
    """A string table under construction: offset of each added string."""

    def __init__(self):
        self.blob = bytearray(b"\0")

    def add(self, text: str) -> int:
        offset = len(self.blob)
        self.blob += text.encode("utf-8") + b"\0"
        return offset


def _congruent(offset: int, address: int) -> int:
    """The first file offset >= offset that is equal to address modulo the page size."""
    return offset + (address - offset) % PAGE


def _symbols(program, section_index, strtab) -> tuple:
    """(.symtab bytes, index of the first global symbol)."""
    ends = {"text": program.text_base + len(program.text),
            "data": program.data_base + len(program.data),
            "bss": program.data_base + len(program.data) + program.bss_size}
    by_section = {}
    for name, (address, section) in program.symbols.items():
        by_section.setdefault(section, []).append(address)
    for addresses in by_section.values():
        addresses.sort()
    local, global_ = [], []
    for name, (address, section) in program.symbols.items():
        addresses = by_section[section]
        at = bisect.bisect_right(addresses, address)
        size = (addresses[at] if at < len(addresses) else max(ends[section], address)) - address
        kind = STT_OBJECT if section != "text" else STT_NOTYPE if name.startswith(".") \
            else STT_FUNC
        bind = STB_GLOBAL if name in program.globals else STB_LOCAL
        entry = struct.pack("<IIIBBH", strtab.add(name), address, size, bind << 4 | kind, 0,
                            section_index[section])
        (global_ if bind == STB_GLOBAL else local).append(entry)
    file_symbol = struct.pack("<IIIBBH", strtab.add(os.path.basename(program.source)), 0, 0,
                              STB_LOCAL << 4 | STT_FILE, 0, SHN_ABS)
    table = [bytes(SYM_SIZE), file_symbol] + local + global_
    return b"".join(table), 2 + len(local)


def elf_image(program) -> bytes:
    """The ELF file of `program`, as bytes."""
    text_offset = _congruent(EHDR_SIZE + 2 * PHDR_SIZE, program.text_base)
    data_offset = _congruent(text_offset + len(program.text), program.data_base)
    out = bytearray(data_offset + len(program.data))
    out[text_offset:text_offset + len(program.text)] = program.text
    out[data_offset:] = program.data
    section_index = {"text": 1, "data": 2, "bss": 3}
    strtab, shstrtab = _Strings(), _Strings()
    symtab, first_global = _symbols(program, section_index, strtab)
    bss_address = program.data_base + len(program.data)
    headers = [bytes(SHDR_SIZE),
               (".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, program.text_base,
                text_offset, len(program.text), 0, 0, 16, 0),
               (".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, program.data_base,
                data_offset, len(program.data), 0, 0, 4, 0),
               (".bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE, bss_address,
                data_offset + len(program.data), program.bss_size, 0, 0, 4, 0)]
    extra = list(debug_sections(program).items())
    symtab_index = len(headers) + len(extra)
    extra += [(".symtab", symtab), (".strtab", bytes(strtab.blob))]
    for name, blob in extra:
        offset = len(out) + -len(out) % 4
        out += bytes(offset - len(out)) + blob
        kind = {".symtab": SHT_SYMTAB, ".strtab": SHT_STRTAB}.get(name, SHT_PROGBITS)
        link, info, entsize = ((symtab_index + 1, first_global, SYM_SIZE) if name == ".symtab"
                               else (0, 0, 0))
        headers.append((name, kind, 0, 0, offset, len(blob), link, info, 4 if entsize else 1,
                        entsize))
    shstrndx = len(headers)
    headers.append((".shstrtab", SHT_STRTAB, 0, 0, 0, 0, 0, 0, 1, 0))
    names = [shstrtab.add(header[0]) if isinstance(header, tuple) else 0 for header in headers]
    shstr_offset = len(out)
    out += shstrtab.blob
    headers[-1] = headers[-1][:4] + (shstr_offset, len(shstrtab.blob)) + headers[-1][6:]
    shoff = len(out) + -len(out) % 4
    out += bytes(shoff - len(out))
    for name_offset, header in zip(names, headers):
        out += header if isinstance(header, bytes) else \
            struct.pack("<10I", name_offset, *header[1:])
    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
    out[:EHDR_SIZE] = ident + struct.pack("<HHIIIIIHHHHHH", ET_EXEC, EM_386, 1, program.entry,
                                          EHDR_SIZE, shoff, 0, EHDR_SIZE, PHDR_SIZE, 2,
                                          SHDR_SIZE, len(headers), shstrndx)
    phdrs = struct.pack("<8I", PT_LOAD, text_offset, program.text_base, program.text_base,
                        len(program.text), len(program.text), PF_R | PF_X, PAGE)
    phdrs += struct.pack("<8I", PT_LOAD, data_offset, program.data_base, program.data_base,
                         len(program.data), len(program.data) + program.bss_size,
                         PF_R | PF_W, PAGE)
    out[EHDR_SIZE:EHDR_SIZE + len(phdrs)] = phdrs
    return bytes(out)


def write_elf(program, path) -> None:
    """Write `program` as an ELF32 i386 executable at `path` (folders are created)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(elf_image(program))
