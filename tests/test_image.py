"""The boot image: round trip, and ImageError (never anything else) on any damage."""

import hashlib
import json
import random
import struct
from pathlib import Path

import pytest

pytest.importorskip("emu.elf", reason="emu.elf (ELF reader) is not there yet")
asm = pytest.importorskip("tools.asm", reason="tools.asm (the assembler) is not there yet: "
                                              "image tests need real ELFs")

from kernel import abi                                                  # noqa: E402
from tools.image import (FORMAT_VERSION, MAGIC, ImageError, read_image,  # noqa: E402
                         write_image)
from tools.build import boot_endpoints                                  # noqa: E402
from tools.policy import load_system                                    # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "policy"
PREFIX = struct.Struct("<8sIIQ")


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """The fixture system two.toml, its two ELFs and its image."""
    folder = tmp_path_factory.mktemp("image")
    config = load_system(FIXTURES / "two.toml")
    elfs = []
    for index, program in enumerate(config.programs):
        base = abi.window_base(index)
        built = asm.assemble(str(program.source), base, base + abi.DATA_OFFSET,
                             boot_endpoints(config))
        asm.write_elf(built, folder / f"{program.label}.elf")
        elfs.append((folder / f"{program.label}.elf").read_bytes())
    write_image(folder / "minix.img", config, elfs)
    return config, elfs, folder / "minix.img"


def unpack(data):
    """The header (as a dict) and the ELF area of a good image."""
    _, _, size, total = PREFIX.unpack_from(data)
    return json.loads(data[PREFIX.size:PREFIX.size + size]), data[PREFIX.size + size:total - 32]


def pack(header, elf_area, version=FORMAT_VERSION) -> bytes:
    """A well-framed image (right lengths, right checksum) of any header and ELF area."""
    encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
    total = PREFIX.size + len(encoded) + len(elf_area) + 32
    body = PREFIX.pack(MAGIC, version, len(encoded), total) + encoded + elf_area
    return body + hashlib.sha256(body).digest()


def error_of(tmp_path, data) -> str:
    path = tmp_path / "bad.img"
    path.write_bytes(data)
    with pytest.raises(ImageError) as caught:
        read_image(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message[len(f"{path}: "):]


def test_round_trip(system):
    config, elfs, path = system
    image = read_image(path)
    assert [p.policy for p in image.programs] == config.programs
    assert [p.elf for p in image.programs] == elfs
    assert [p.index for p in image.programs] == [0, 1]
    for program in image.programs:
        assert program.loaded.text_base == abi.window_base(program.index)
        assert program.loaded.data_base == abi.window_base(program.index) + abi.DATA_OFFSET
    assert image.system_text == config.text
    assert image.system_path == str(config.path.resolve())
    assert image.digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_layout(system):
    config, elfs, path = system
    data = path.read_bytes()
    magic, version, _, total = PREFIX.unpack_from(data)
    assert (magic, version, total) == (MAGIC, FORMAT_VERSION, len(data))
    assert data[-32:] == hashlib.sha256(data[:-32]).digest()
    header, area = unpack(data)
    assert area == b"".join(elfs)
    assert [entry["policy"] for entry in header["programs"]] == \
        [program.to_dict() for program in config.programs]
    assert header["programs"][1]["elf_offset"] == len(elfs[0])


def positions(data):
    """Every position of the prefix and the header, then every 7th of the ELF area (a
    prime stride meets every field's alignment), and the whole trailing checksum."""
    header_end = 24 + struct.unpack_from("<I", data, 12)[0]
    tail = len(data) - 64
    return sorted(set(range(min(header_end, len(data))))
                  | set(range(header_end, len(data), 7)) | set(range(max(tail, 0), len(data))))


def test_every_truncation(system, tmp_path):
    data = system[2].read_bytes()
    for length in positions(data):
        message = error_of(tmp_path, data[:length])
        assert "truncated image" in message or (length == 0 and "not a minix-emu" in message)
    assert f"truncated image ({len(data) - 1} of {len(data)} bytes)" in message


def test_every_byte_flipped(system, tmp_path):
    data = system[2].read_bytes()
    rng = random.Random(2008)
    for position in positions(data):
        damaged = bytearray(data)
        damaged[position] ^= 1 << rng.randrange(8)
        error_of(tmp_path, bytes(damaged))


def test_resigned_header_damage_never_escapes(system, tmp_path):
    """Damage the header and frame it again: read_image accepts it or raises ImageError."""
    data = system[2].read_bytes()
    header, area = unpack(data)
    encoded = json.dumps(header).encode()
    rng = random.Random(1)
    path = tmp_path / "fuzz.img"
    for _ in range(1500):
        damaged = bytearray(encoded)
        for _ in range(rng.randrange(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.choice(b'{}[]",:0123456789-e. aztrufl\\\xff')
        path.write_bytes(pack(bytes(damaged), area))
        try:
            read_image(path)
        except ImageError:
            pass


def test_not_an_image(tmp_path):
    assert error_of(tmp_path, b"") == "not a minix-emu boot image"
    assert error_of(tmp_path, b"\x7fELF" + bytes(100)) == "not a minix-emu boot image"
    assert error_of(tmp_path, MAGIC[:5]).startswith("truncated image (5 of at least 24")


def test_unsupported_version(system, tmp_path):
    header, area = unpack(system[2].read_bytes())
    assert error_of(tmp_path, pack(header, area, version=2)) == "unsupported image version 2"


def test_trailing_bytes(system, tmp_path):
    assert "3 bytes after the end" in error_of(tmp_path, system[2].read_bytes() + b"abc")


def test_checksum(system, tmp_path):
    data = bytearray(system[2].read_bytes())
    data[-1] ^= 0x80
    assert error_of(tmp_path, bytes(data)) == "checksum mismatch"


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="cannot read: No such file"):
        read_image(tmp_path / "none.img")
    with pytest.raises(ImageError, match="cannot read"):
        read_image(tmp_path)


def damaged(system, change):
    """The image with its header changed in place by `change`, which may return a new
    ELF area."""
    header, area = unpack(system[2].read_bytes())
    new_area = change(header, area)
    return pack(header, new_area if isinstance(new_area, bytes) else area)


def set_elf(header, index, elf):
    header["programs"][index].update(elf_size=len(elf),
                                     elf_sha256=hashlib.sha256(elf).hexdigest())


def swap_elfs(header, area, elfs):
    first, second = elfs
    set_elf(header, 0, second)
    set_elf(header, 1, first)
    header["programs"][1]["elf_offset"] = len(second)
    return second + first


def garbage_elf(header, area, elfs):
    garbage = b"\x7fELF" + bytes(60)
    set_elf(header, 1, garbage)
    return elfs[0] + garbage


@pytest.mark.parametrize("change, expected", [
    (lambda h, a, e: h["programs"][0]["policy"].update(ipc=["FLOOD"]),
     "program 'first': unknown primitive 'FLOOD'"),
    (lambda h, a, e: h["programs"][1]["policy"].update(label="first"),
     "duplicate label 'first'"),
    (lambda h, a, e: h["programs"].clear(), "no [[program]] table"),
    (lambda h, a, e: h.update(extra=1), "bad header"),
    (lambda h, a, e: h.update(programs={}), "bad header"),
    (lambda h, a, e: h["programs"][0].update(elf_size=0), "bad header"),
    (lambda h, a, e: h["programs"][0].pop("elf_sha256"), "bad header"),
    (lambda h, a, e: h["programs"][0].update(elf_sha256="0" * 64),
     "program 'first': ELF checksum mismatch"),
    (lambda h, a, e: h["programs"][1].update(elf_offset=1), "program 'second': ELF out of place"),
    (lambda h, a, e: h["programs"][1].update(elf_size=10**6), "ELF out of place"),
    (lambda h, a, e: a + b"x", "1 stray bytes after the last ELF"),
    (swap_elfs, "program 'first': ELF does not fit slot 0: text linked at 0x01100000"),
    (garbage_elf, "program 'second': bad ELF: "),
])
def test_damaged_contents(system, tmp_path, change, expected):
    elfs = system[1]
    assert expected in error_of(tmp_path, damaged(system, lambda h, a: change(h, a, elfs)))


def test_header_not_json(system, tmp_path):
    _, area = unpack(system[2].read_bytes())
    assert error_of(tmp_path, pack(b"{not json", area)).startswith("bad header: ")
    assert error_of(tmp_path, pack(b"\xff\xfe", area)).startswith("bad header: ")
    assert error_of(tmp_path, pack(b"[" * 100000 + b"]" * 100000, area)).startswith("bad header")
