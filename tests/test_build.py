"""The build step: fixture systems to ELFs at their windows and an image that reads back."""

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("emu.elf", reason="emu.elf (ELF reader) is not there yet")
pytest.importorskip("tools.asm", reason="tools.asm (the assembler) is not there yet")

from emu.elf import read_elf                                   # noqa: E402
from kernel import abi                                         # noqa: E402
from tools.build import BuildError, build_image                # noqa: E402
from tools.image import read_image                             # noqa: E402
from tools.policy import load_system                           # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "policy"
MOV_EAX_1 = b"\xb8\x01\x00\x00\x00"         # mov eax, EP_SECOND
MOV_EBX_0 = b"\xbb\x00\x00\x00\x00"         # mov ebx, EP_FIRST


def build(tmp_path, system):
    return build_image(system, tmp_path / "out" / "minix.img", tmp_path / "build")


def build_error(tmp_path, system) -> str:
    with pytest.raises(BuildError) as caught:
        build(tmp_path, system)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_two_programs(tmp_path):
    image = build(tmp_path, FIXTURES / "two.toml")
    assert [p.policy.label for p in image.programs] == ["first", "second"]
    assert [p.policy for p in image.programs] == load_system(FIXTURES / "two.toml").programs
    for index, label in enumerate(["first", "second"]):
        elf = (tmp_path / "build" / "guest" / f"{label}.elf").read_bytes()
        assert image.programs[index].elf == elf
        loaded = read_elf(elf)
        assert loaded.text_base == abi.window_base(index)
        assert loaded.data_base == abi.window_base(index) + abi.DATA_OFFSET
        assert loaded.entry == loaded.text_base
    first, second = (p.loaded for p in image.programs)
    assert first.text.startswith(MOV_EAX_1) and first.data == b"\x01\x00\x00\x00"
    assert second.text.startswith(MOV_EBX_0)
    again = read_image(tmp_path / "out" / "minix.img")
    assert again.digest == image.digest and again.programs == image.programs


def test_stock_system(tmp_path):
    image = build(tmp_path, FIXTURES.parent.parent.parent / "guest" / "system.toml")
    labels = ["rs", "ds", "pm", "vfs", "tty", "printer", "disk", "init", "hello", "cat", "lp",
              "cp", "ps", "workload"]
    assert [p.policy.label for p in image.programs] == labels
    assert [p.loaded.text_base for p in image.programs] == [abi.window_base(i)
                                                            for i in range(len(labels))]


def test_assembly_error_names_file_and_line(tmp_path):
    message = build_error(tmp_path, FIXTURES / "broken.toml")
    assert message.startswith(f"{FIXTURES / 'broken.asm'}:4: ")


def test_missing_peer_is_an_undefined_symbol(tmp_path):
    shutil.copy(FIXTURES / "first.asm", tmp_path)
    (tmp_path / "alone.toml").write_text(
        '[[program]]\nlabel = "first"\nsource = "first.asm"\nkind = "user"\n')
    message = build_error(tmp_path, tmp_path / "alone.toml")
    assert re.fullmatch(rf"{re.escape(str(tmp_path / 'first.asm'))}:(4|9): .*'EP_SECOND'.*",
                        message)


def test_policy_error_names_file_and_line(tmp_path):
    (tmp_path / "loop.asm").write_text("_start: jmp _start\n")
    (tmp_path / "bad.toml").write_text(
        '[[program]]\nlabel = "loop"\nsource = "loop.asm"\nkind = "user"\nipc = ["FLOOD"]\n')
    message = build_error(tmp_path, tmp_path / "bad.toml")
    assert message.startswith(f"{tmp_path / 'bad.toml'}:5: unknown primitive 'FLOOD'")


def prebuilt_system(tmp_path, elf_index) -> Path:
    """A system of one prebuilt program whose ELF was linked for slot `elf_index`."""
    first = build_image(FIXTURES / "two.toml", tmp_path / "two.img", tmp_path / "two")
    (tmp_path / "given.elf").write_bytes(first.programs[elf_index].elf)
    (tmp_path / "pre.toml").write_text(
        '[[program]]\nlabel = "given"\nsource = "given.elf"\nkind = "user"\n')
    return tmp_path / "pre.toml"


def test_prebuilt_elf_at_its_window(tmp_path):
    image = build(tmp_path, prebuilt_system(tmp_path, 0))
    assert image.programs[0].elf == (tmp_path / "given.elf").read_bytes()
    assert (tmp_path / "build" / "guest" / "given.elf").read_bytes() == image.programs[0].elf


def test_prebuilt_elf_at_another_window(tmp_path):
    message = build_error(tmp_path, prebuilt_system(tmp_path, 1))
    assert message.startswith(f"{tmp_path / 'given.elf'}: text linked at 0x01100000")


def test_prebuilt_not_an_elf(tmp_path):
    (tmp_path / "given.elf").write_bytes(b"not an ELF")
    (tmp_path / "pre.toml").write_text(
        '[[program]]\nlabel = "given"\nsource = "given.elf"\nkind = "user"\n')
    assert build_error(tmp_path, tmp_path / "pre.toml").startswith(
        f"{tmp_path / 'given.elf'}: bad ELF: ")


def test_unwritable_build_dir(tmp_path):
    (tmp_path / "build").write_text("a file, not a folder")
    assert "cannot create folder" in build_error(tmp_path, FIXTURES / "two.toml")
