"""The boot image (`build/minix.img`): every program's policy and ELF in one checked file.

`write_image(path, config, elfs)` writes the image of a `SystemConfig` and the ELF of each
of its programs (in program order); `read_image(path)` reads one back as a `BootImage`, or
raises `ImageError` with one line naming the file.  `read_image` trusts nothing: it raises
only ImageError, whatever the bytes are; it re-checks every policy as load_system does and
every ELF with emu.elf.read_elf, linked at its program's window (`window_problem`).

Layout (integers little-endian):

    offset   size  field
    0        8     magic b"MNXEMUIM"
    8        4     format version (FORMAT_VERSION)
    12       4     header length H
    16       8     image length T, trailing checksum included
    24       H     header: UTF-8 JSON object
                     "system_path": absolute path of system.toml when built (sources
                                    are relative to its folder)
                     "system_text": the system.toml text
                     "programs":    one object per program, in slot order:
                                    "policy" (ProgramPolicy.to_dict()),
                                    "elf_offset" (from 24+H), "elf_size",
                                    "elf_sha256" (hex)
    24+H     ...   the ELF files, in program order, back to back, up to T-32
    T-32     32    SHA-256 of bytes 0..T-32
"""

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from emu.elf import ElfError, LoadedElf, read_elf
from kernel import abi
from tools.policy import PolicyError, ProgramPolicy, programs_from_dicts

MAGIC = b"MNXEMUIM"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sIIQ")           # magic, version, header length, image length
_CHECKSUM_SIZE = 32
_HEADER_KEYS = {"system_path", "system_text", "programs"}
_PROGRAM_KEYS = {"policy", "elf_offset", "elf_size", "elf_sha256"}


class ImageError(Exception):
    """A boot image that cannot be used; str is one line naming the file."""


@dataclass(frozen=True)
class ImageProgram:
    """Program `index` of an image: its policy, its ELF file and the ELF parsed."""
    index: int
    policy: ProgramPolicy
    elf: bytes
    loaded: LoadedElf


@dataclass(frozen=True)
class BootImage:
    """A checked boot image: its programs in slot order and the system it was built from."""
    path: Path
    programs: list              # ImageProgram, in slot order
    system_text: str
    system_path: str
    digest: str                 # hex SHA-256 of the whole file


def window_problem(loaded, index) -> str | None:
    """What keeps a parsed ELF from running as program `index`, or None if it fits."""
    base = abi.window_base(index)
    data_room = abi.WINDOW_SIZE - abi.STACK_SIZE - abi.DATA_OFFSET
    if loaded.text_base != base + abi.TEXT_OFFSET:
        return f"text linked at 0x{loaded.text_base:08X}, not at its window 0x{base:08X}"
    if loaded.data_base != base + abi.DATA_OFFSET:
        return (f"data linked at 0x{loaded.data_base:08X}, not at its window's "
                f"0x{base + abi.DATA_OFFSET:08X}")
    if len(loaded.text) > abi.TEXT_MAX:
        return f"text of {len(loaded.text)} bytes is over {abi.TEXT_MAX}"
    if len(loaded.data) + loaded.bss_size > data_room:
        return f"data and bss of {len(loaded.data) + loaded.bss_size} bytes are over {data_room}"
    if not loaded.text_base <= loaded.entry < loaded.text_base + len(loaded.text):
        return f"entry 0x{loaded.entry:08X} is outside its text"
    return None


def write_image(path, config, elfs) -> None:
    """Write the image of `config`, `elfs[i]` being the ELF file of program i."""
    if len(elfs) != len(config.programs):
        raise ValueError(f"{len(elfs)} ELF files for {len(config.programs)} programs")
    entries, offset = [], 0
    for program, elf in zip(config.programs, elfs):
        entries.append({"policy": program.to_dict(), "elf_offset": offset,
                        "elf_size": len(elf), "elf_sha256": hashlib.sha256(elf).hexdigest()})
        offset += len(elf)
    header = json.dumps({"system_path": str(Path(config.path).resolve()),
                         "system_text": config.text, "programs": entries}).encode()
    total = _PREFIX.size + len(header) + offset + _CHECKSUM_SIZE
    image = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header), total) + header + b"".join(elfs)
    temporary = Path(f"{path}.tmp")
    temporary.write_bytes(image + hashlib.sha256(image).digest())
    os.replace(temporary, path)


def read_image(path) -> BootImage:
    """Read and check the boot image at `path`; raise ImageError on anything wrong."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ImageError(f"{path}: cannot read: {error.strerror or error}") from None
    header, elf_area = _unwrap(path, data)
    try:
        policies = programs_from_dicts([entry["policy"] for entry in header["programs"]],
                                       Path(header["system_path"]).parent, path)
    except PolicyError as error:
        raise ImageError(str(error)) from None
    programs, offset = [], 0
    for index, (entry, policy) in enumerate(zip(header["programs"], policies)):
        where = f"{path}: program '{policy.label}'"
        if entry["elf_offset"] != offset or offset + entry["elf_size"] > len(elf_area):
            raise ImageError(f"{where}: ELF out of place")
        elf = elf_area[offset:offset + entry["elf_size"]]
        offset += entry["elf_size"]
        if hashlib.sha256(elf).hexdigest() != entry["elf_sha256"]:
            raise ImageError(f"{where}: ELF checksum mismatch")
        try:
            loaded = read_elf(elf)
        except ElfError as error:
            raise ImageError(f"{where}: bad ELF: {error}") from None
        problem = window_problem(loaded, index)
        if problem:
            raise ImageError(f"{where}: ELF does not fit slot {index}: {problem}")
        programs.append(ImageProgram(index, policy, elf, loaded))
    if offset != len(elf_area):
        raise ImageError(f"{path}: {len(elf_area) - offset} stray bytes after the last ELF")
    return BootImage(path=Path(path), programs=programs, system_text=header["system_text"],
                     system_path=header["system_path"],
                     digest=hashlib.sha256(data).hexdigest())


def _unwrap(path, data):
    """Check the frame (magic, version, length, checksum) and the header's shape;
    return the header and the bytes of the ELF area."""
    if not data.startswith(MAGIC) and not (data and MAGIC.startswith(data)):
        raise ImageError(f"{path}: not a minix-emu boot image")
    if len(data) < _PREFIX.size:
        raise ImageError(f"{path}: truncated image ({len(data)} of at least "
                         f"{_PREFIX.size} bytes)")
    _, version, header_size, total = _PREFIX.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ImageError(f"{path}: unsupported image version {version}")
    if len(data) < total:
        raise ImageError(f"{path}: truncated image ({len(data)} of {total} bytes)")
    if len(data) > total:
        raise ImageError(f"{path}: {len(data) - total} bytes after the end of the image")
    end = total - _CHECKSUM_SIZE
    if end < _PREFIX.size + header_size or hashlib.sha256(data[:end]).digest() != data[end:]:
        raise ImageError(f"{path}: checksum mismatch")
    try:
        header = json.loads(data[_PREFIX.size:_PREFIX.size + header_size])
    except (ValueError, RecursionError) as error:
        raise ImageError(f"{path}: bad header: {error}") from None
    if not _header_ok(header):
        raise ImageError(f"{path}: bad header: not the layout of version {FORMAT_VERSION}")
    return header, data[_PREFIX.size + header_size:end]


def _header_ok(header) -> bool:
    if type(header) is not dict or set(header) != _HEADER_KEYS:
        return False
    if type(header["system_path"]) is not str or type(header["system_text"]) is not str:
        return False
    entries = header["programs"]
    return type(entries) is list and all(
        type(entry) is dict and set(entry) == _PROGRAM_KEYS
        and type(entry["elf_offset"]) is int and type(entry["elf_size"]) is int
        and entry["elf_size"] > 0 and type(entry["elf_sha256"]) is str
        for entry in entries)
