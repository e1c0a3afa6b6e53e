"""The build step: system.toml -> one ELF per program -> the boot image.

`build_image(system_path, image_path, build_dir)` loads the policy, assembles program i
linked at its window (text at `window_base(i)`, data at `window_base(i) + DATA_OFFSET`),
writes each ELF to `build_dir/guest/<label>.elf`, writes the image, writes the disk
`disk.img` next to the image with every file of the folder `files/` next to system.toml
(`tools.diskimage`; an empty file system when there is no such folder), and returns the
image as read back by `read_image`.  A prebuilt source (`.elf`) is copied after checking
that it fits its window.

Every program is assembled with the predefined symbols `EP_<LABEL>` (label in upper case)
= i for each program i of the image: a boot program starts in slot i with generation 0, so
that is its endpoint, and programs find each other at boot as MINIX's boot processes do.

Any failure (policy, assembly, ELF, file system, image) raises `BuildError`, whose str is
one line naming the file (and line, where there is one); the CLI prints it and exits 2.
"""

from pathlib import Path

from emu.elf import ElfError, read_elf
from kernel import abi
from tools.asm import AsmError, assemble, write_elf
from tools.diskimage import DiskImageError, write_disk
from tools.image import BootImage, ImageError, read_image, window_problem, write_image
from tools.policy import PolicyError, load_system


class BuildError(Exception):
    """A build that failed; str is `file:line: message` or `file: message`."""


def boot_endpoints(config) -> dict:
    """The predefined symbol `EP_<LABEL>` of every program: its boot endpoint."""
    return {f"EP_{program.label.upper()}": abi.endpoint(0, index)
            for index, program in enumerate(config.programs)}


def build_image(system_path, image_path, build_dir) -> BootImage:
    """Build every program of `system_path` and the boot image at `image_path`."""
    try:
        config = load_system(system_path)
    except PolicyError as error:
        raise BuildError(str(error)) from None
    guest_dir = Path(build_dir) / "guest"
    _make_dir(guest_dir)
    _make_dir(Path(image_path).parent)
    symbols = boot_endpoints(config)
    elfs = []
    for index, program in enumerate(config.programs):
        source = config.path.parent / program.source_spec     # as the user names it
        out = guest_dir / f"{program.label}.elf"
        if program.prebuilt:
            elf = _read(source)
            _check_fits(source, elf, index)
            _write(out, elf)
        else:
            elf = _assemble(source, index, symbols, out)
            _check_fits(source, elf, index)
        elfs.append(elf)
    try:
        write_image(image_path, config, elfs)
    except OSError as error:
        raise BuildError(f"{image_path}: cannot write: {error.strerror or error}") from None
    disk_path = Path(image_path).parent / "disk.img"
    try:
        write_disk(config.path.parent / "files", disk_path)
    except DiskImageError as error:
        raise BuildError(str(error)) from None
    except OSError as error:
        raise BuildError(f"{disk_path}: cannot write: {error.strerror or error}") from None
    try:
        return read_image(image_path)
    except ImageError as error:
        raise BuildError(str(error)) from None


def _assemble(source, index, symbols, out) -> bytes:
    """Assemble `source` as program `index`, write its ELF to `out`, return the ELF."""
    base = abi.window_base(index)
    try:
        program = assemble(source, base + abi.TEXT_OFFSET, base + abi.DATA_OFFSET, symbols)
    except AsmError as error:
        raise BuildError(str(error)) from None
    try:
        write_elf(program, out)
    except OSError as error:
        raise BuildError(f"{out}: cannot write: {error.strerror or error}") from None
    return _read(out)


def _check_fits(source, elf, index):
    try:
        problem = window_problem(read_elf(elf), index)
    except ElfError as error:
        problem = f"bad ELF: {error}"
    if problem:
        raise BuildError(f"{source}: {problem} (program {index})")


def _read(path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise BuildError(f"{path}: cannot read: {error.strerror or error}") from None


def _write(path, data):
    try:
        Path(path).write_bytes(data)
    except OSError as error:
        raise BuildError(f"{path}: cannot write: {error.strerror or error}") from None


def _make_dir(path):
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildError(f"{path}: cannot create folder: {error.strerror or error}") from None
