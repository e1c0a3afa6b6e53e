"""The ATA disk (SPEC section 2): the device in virtual time, driven through DEVIO, SDEVIO
and IRQ 14 by a small driver; the disk file written at FLUSH and at the end.

The device tests drive `emu.devices.disk.Disk` through the port bus with explicit
times.  The kernel tests run the step prober of test_kernel_calls as a disk driver
(ports 0x1F0-0x1F7, IRQ 14) against a disk file of numbered sectors, with a server
(`vfs`) that grants it a 512-byte buffer, as VFS grants drivers its block buffers.
"""

import pytest

from emu.devices import disk as ata
from emu.devices.disk import FLUSH_INSNS, SECTOR_INSNS, Disk
from emu.ports import PortBus
from kernel import abi
from kernel.abi import (CPF_READ, CPF_VALID, CPF_WRITE, DIO_INPUT, DIO_LONG, DIO_OUTPUT,
                        DIO_WORD, EINVAL, EPERM, OK, SDEVIO_MAX, SELF, SYS_IRQCTL,
                        SYS_SDEVIO, SYS_SETGRANT)
from kernel.protocols import FS_DISK_SECTORS, FS_FILE_SECTORS, FS_MAGIC, FS_MAX_FILES
from tests.harness import build_system, run_image
from tests.test_kernel_calls import IN_B, OUT_B, call, devio, kcalls, prober, receive, replies
from tools.build import BuildError, build_image
from tools.diskimage import DiskImageError, files_of, make_disk, read_files, write_disk

IN_W, OUT_W = DIO_INPUT | DIO_WORD, DIO_OUTPUT | DIO_WORD
IN_L = DIO_INPUT | DIO_LONG
IRQ_BIT = 1 << ata.IRQ_LINE
READY, READY_DRQ, BUSY = 0x40, 0x48, 0x80


def sector(n):
    """Sector n of the test disk: its number, then bytes that differ per sector."""
    return n.to_bytes(4, "little") + bytes((n * 7 + k) & 0xFF for k in range(508))


def disk_bytes(count=16):
    return b"".join(sector(n) for n in range(count))


def setup(bus, t, command, lba, count, drive=0xE0):
    for port, value in ((0x1F6, drive | (lba >> 24 & 0x0F)), (0x1F2, count),
                        (0x1F3, lba & 0xFF), (0x1F4, lba >> 8 & 0xFF),
                        (0x1F5, lba >> 16 & 0xFF), (0x1F7, command)):
        bus.write(port, 1, value, t)


def status(bus, t):
    return bus.read(0x1F7, 1, t)


# -- the device -------------------------------------------------------------------------------

def test_read_sectors_in_virtual_time():
    bus = PortBus([Disk(disk_bytes())])
    setup(bus, 100, 0x20, 3, 2)
    assert status(bus, 100) == BUSY and status(bus, 100 + SECTOR_INSNS - 1) == BUSY
    assert bus.next_due == 100 + SECTOR_INSNS
    assert bus.advance(100 + SECTOR_INSNS - 1) == 0
    assert bus.advance(100 + SECTOR_INSNS) == IRQ_BIT
    assert status(bus, 100 + SECTOR_INSNS) == READY_DRQ
    assert bus.read_string(0x1F0, 2, 512, 300) == sector(3)
    assert status(bus, 300) == BUSY and bus.next_due == 300 + SECTOR_INSNS
    t = 300 + SECTOR_INSNS
    assert bus.advance(t) == IRQ_BIT and status(bus, t) == READY_DRQ
    words = [bus.read(0x1F0, 2, t) for _ in range(128)]       # word, long, byte access
    longs = [bus.read(0x1F0, 4, t) for _ in range(63)]
    rest = bytes(bus.read(0x1F0, 1, t) for _ in range(4))
    data = b"".join(w.to_bytes(2, "little") for w in words) + \
        b"".join(v.to_bytes(4, "little") for v in longs) + rest
    assert data == sector(4)
    assert status(bus, t) == READY and bus.next_due is None
    assert bus.read(0x1F0, 2, t) == 0                          # no DRQ: reads 0


def test_write_sectors_then_flush_writes_the_file(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(disk_bytes())
    device = Disk(path.read_bytes(), path)
    bus = PortBus([device])
    setup(bus, 10, 0x30, 6, 2)
    assert status(bus, 10) == READY_DRQ and bus.next_due is None     # at once, no IRQ
    bus.write_string(0x1F0, 2, b"A" * 512, 20)
    assert status(bus, 20) == BUSY and bus.next_due == 20 + SECTOR_INSNS
    t = 20 + SECTOR_INSNS
    assert bus.advance(t) == IRQ_BIT and status(bus, t) == READY_DRQ
    for k in range(256):
        bus.write(0x1F0, 2, 0x4342, t)                              # "BC" by words
    assert bus.advance(t + SECTOR_INSNS) == IRQ_BIT and status(bus, t + SECTOR_INSNS) == READY
    assert device.data[6 * 512:8 * 512] == b"A" * 512 + b"BC" * 256
    assert path.read_bytes() == disk_bytes(), "not on the file before FLUSH"
    bus.write(0x1F7, 1, 0xE7, 1000)
    assert status(bus, 1000 + FLUSH_INSNS - 1) == BUSY
    assert bus.advance(1000 + FLUSH_INSNS) == IRQ_BIT
    assert status(bus, 1000 + FLUSH_INSNS) == READY
    assert path.read_bytes() == bytes(device.data)
    path.write_bytes(b"changed behind its back")
    device.close()                                     # clean: nothing written
    assert path.read_bytes() == b"changed behind its back"


def test_close_writes_what_was_not_flushed(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(disk_bytes(4))
    device = Disk(path.read_bytes(), path)
    bus = PortBus([device])
    setup(bus, 0, 0x30, 0, 1)
    bus.write_string(0x1F0, 4, b"Z" * 512, 0)
    bus.advance(SECTOR_INSNS)
    device.close()
    assert path.read_bytes() == b"Z" * 512 + disk_bytes(4)[512:]


@pytest.mark.parametrize("command,lba,count,drive,error", [
    (0x91, 0, 1, 0xE0, ata.ERROR_ABRT),          # unknown command
    (0xEC, 0, 1, 0xE0, ata.ERROR_ABRT),          # IDENTIFY is not modelled
    (0x20, 0, 1, 0xA0, ata.ERROR_ABRT),          # CHS mode
    (0x20, 0, 1, 0xF0, ata.ERROR_ABRT),          # drive 1
    (0x30, 0, 1, 0xF0, ata.ERROR_ABRT),
    (0x20, 16, 1, 0xE0, ata.ERROR_IDNF),         # past the end
    (0x30, 15, 2, 0xE0, ata.ERROR_IDNF),
    (0x20, 0, 0, 0xE0, ata.ERROR_IDNF),          # count 0 = 256 sectors
    (0x20, 1 << 24, 1, 0xE0, ata.ERROR_IDNF),    # LBA bits 24-27 from the drive register
])
def test_failed_commands_report_err_and_raise_irq(command, lba, count, drive, error):
    device = Disk(disk_bytes())
    bus = PortBus([device])
    setup(bus, 0, command, lba, count, drive)
    assert status(bus, 0) == BUSY
    assert bus.advance(SECTOR_INSNS) == IRQ_BIT
    assert status(bus, SECTOR_INSNS) == READY | 0x01
    assert bus.read(0x1F1, 1, SECTOR_INSNS) == error
    assert bus.read_string(0x1F0, 2, 512, SECTOR_INSNS) == bytes(512)
    bus.write_string(0x1F0, 2, b"x" * 512, SECTOR_INSNS)
    assert bytes(device.data) == disk_bytes()
    setup(bus, 500, 0x20, 0, 1)                        # the next command clears ERR
    assert status(bus, 500 + SECTOR_INSNS) == READY_DRQ and bus.read(0x1F1, 1, 600) == 0


def test_commands_while_busy_are_ignored_and_a_new_one_ends_a_transfer():
    bus = PortBus([Disk(disk_bytes())])
    setup(bus, 0, 0x20, 1, 1)
    setup(bus, 5, 0x20, 2, 1)                          # busy: ignored
    assert bus.read_string(0x1F0, 2, 4, SECTOR_INSNS) == sector(1)[:4]
    setup(bus, 200, 0x20, 7, 1)                        # ends the transfer of sector 1
    assert status(bus, 200) == BUSY
    assert bus.read_string(0x1F0, 2, 512, 200 + SECTOR_INSNS) == sector(7)


def test_registers_read_back_and_partial_sectors_are_padded():
    device = Disk(b"abc")
    assert device.sectors == 1 and bytes(device.data) == b"abc" + bytes(509)
    bus = PortBus([device])
    setup(bus, 0, 0x20, 0x0102, 0x33)
    assert [bus.read(p, 1, 0) for p in (0x1F2, 0x1F3, 0x1F4, 0x1F6)] == [0x33, 2, 1, 0xE0]
    assert status(bus, 0) == BUSY


# -- through the kernel -----------------------------------------------------------------------

DRIVER = {"kind": "driver", "io": ["0x1F0-0x1F7"], "irq": [14],
          "kernel_calls": ["DEVIO", "SDEVIO", "SETGRANT", "IRQCTL", "EXIT"]}
DATA = f"""
buf:
    .space 1024, 0x2E
own_grants:
    .long {CPF_VALID | CPF_READ | CPF_WRITE}, EP_PROBER, buf, 1024
    .long {CPF_VALID | CPF_READ}, EP_PROBER, buf, 1024
"""
VFS = {"label": "vfs", "kind": "server", "priority": 0, "kernel_calls": ["SETGRANT"],
       "source": f"""
.text
_start:
    mov eax, SYSTEM
    lea ebx, [setgrant]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, ANY
    lea ebx, [setgrant]
    mov ecx, RECEIVE
    int IPC_VEC
.data
setgrant:
    .long 0, SYS_SETGRANT, grants, 1
    .space 48
grants:
    .long {CPF_VALID | CPF_WRITE | CPF_READ}, EP_PROBER, block, 512
block:
    .space 512, 0x2D
"""}


def sdevio(request, port, granter, grant, offset, count):
    return call(SYS_SDEVIO, request, port, granter, grant, offset, count)


def command(cmd, lba, count):
    return [devio(OUT_B, 0x1F6, 0xE0), devio(OUT_B, 0x1F2, count), devio(OUT_B, 0x1F3, lba),
            devio(OUT_B, 0x1F4, 0), devio(OUT_B, 0x1F5, 0), devio(OUT_B, 0x1F7, cmd)]


def wait_irq():
    return [receive(abi.HARDWARE), call(SYS_IRQCTL, abi.IRQ_ACK, 14)]


def run_driver(tmp_path, steps):
    image = build_system(tmp_path, [prober(steps, DATA, **DRIVER), VFS])
    (tmp_path / "disk.img").write_bytes(disk_bytes())
    result = run_image(image, max_ticks=50, until_exit="prober")
    assert result.kernel.panic_report is None and result.end == "exit"
    assert result.of("exit", "prober")[0]["status"] == 0
    return result, replies(result, steps)


def test_a_driver_reads_and_writes_sectors_through_grants(tmp_path):
    steps = [call(SYS_SETGRANT, "own_grants", 2), call(SYS_IRQCTL, abi.IRQ_ENABLE, 14),
             *command(0x20, 1, 2), *wait_irq(),
             devio(IN_B, 0x1F7),                                          # 10
             sdevio(IN_W, 0x1F0, SELF, 0, 0, 512), *wait_irq(),          # 11: sector 1
             sdevio(IN_L, 0x1F0, "EP_VFS", 0, 0, 512),                   # 14: sector 2
             devio(IN_B, 0x1F7),                                          # 15
             *command(0x30, 5, 2), devio(IN_B, 0x1F7),                    # 22
             sdevio(OUT_W, 0x1F0, SELF, 1, 256, 512), *wait_irq(),       # read-only grant
             sdevio(DIO_OUTPUT | DIO_LONG, 0x1F0, "EP_VFS", 0, 0, 512), *wait_irq(),
             devio(OUT_B, 0x1F7, 0xE7), *wait_irq(), devio(IN_B, 0x1F7)]
    result, answers = run_driver(tmp_path, steps)
    assert [a.eax for a in answers] == [OK] * len(steps)
    assert all(a.type == OK for a in answers if a.source == abi.SYSTEM)
    assert answers[10].words[2] == READY_DRQ and answers[15].words[2] == READY
    assert answers[22].words[2] == READY_DRQ and answers[-1].words[2] == READY
    notes = [a for a in answers if a.source == abi.HARDWARE]
    assert len(notes) == 5 and all(a.words[1] == 1 << 14 for a in notes)
    buf = result.bytes_at("prober", "buf", 1024)
    assert buf[:512] == sector(1) and buf[512:] == b"." * 512
    vfs = result.proc("vfs")
    block = vfs.cpu.read(_symbol(result, "vfs", "block"), 512)
    assert block == sector(2)
    written = (tmp_path / "disk.img").read_bytes()
    assert written[5 * 512:7 * 512] == sector(1)[256:] + b"." * 256 + sector(2)
    assert written[:5 * 512] == disk_bytes()[:5 * 512] and written[7 * 512:] == \
        disk_bytes()[7 * 512:]
    sdevios = [e for e in kcalls(result) if e["call"] == "SDEVIO"]
    assert [(e["port"], e["count"], e["result"]) for e in sdevios] == [(0x1F0, 512, "OK")] * 4


def _symbol(result, label, name):
    loaded = result.session.programs[result.kernel.labels[label]]
    value = loaded.symbols[name]
    return value[0] if isinstance(value, tuple) else value


def test_sdevio_rejections_move_nothing(tmp_path):
    cases = [(sdevio(0, 0x1F0, SELF, 0, 0, 512), EINVAL, "bad SDEVIO request or count"),
             (sdevio(DIO_INPUT, 0x1F0, SELF, 0, 0, 512), EINVAL,
              "bad SDEVIO request or count"),
             (sdevio(IN_W | 0x100, 0x1F0, SELF, 0, 0, 512), EINVAL,
              "bad SDEVIO request or count"),
             (sdevio(IN_W, 0x1F0, SELF, 0, 0, 0), EINVAL, "bad SDEVIO request or count"),
             (sdevio(IN_W, 0x1F0, SELF, 0, 0, -2), EINVAL, "bad SDEVIO request or count"),
             (sdevio(IN_W, 0x1F0, SELF, 0, 0, 511), EINVAL, "bad SDEVIO request or count"),
             (sdevio(IN_L, 0x1F0, SELF, 0, 0, 6), EINVAL, "bad SDEVIO request or count"),
             (sdevio(IN_W, 0x1F0, SELF, 0, 0, SDEVIO_MAX + 2), EINVAL,
              "bad SDEVIO request or count"),
             (sdevio(IN_W, 0x170, SELF, 0, 0, 512), EPERM, "port not allowed"),
             (sdevio(IN_W, 0x1F1, SELF, 0, 0, 512), EPERM, "port not allowed"),
             (sdevio(IN_L, 0x1F6, SELF, 0, 0, 512), EPERM, "port not allowed"),
             (sdevio(IN_W, 0x1F0, 9, 0, 0, 512), EPERM, "granter not alive"),
             (sdevio(IN_W, 0x1F0, "EP_VFS", 1, 0, 512), EPERM, "grant id out of range"),
             (sdevio(IN_W, 0x1F0, SELF, 1, 0, 512), EPERM, "access not granted"),
             (sdevio(IN_W, 0x1F0, SELF, 0, 1000, 512), EPERM, "outside the grant"),
             (sdevio(IN_W, 0x1F0, "EP_VFS", 0, 2, 512), EPERM, "outside the grant")]
    steps = [call(SYS_SETGRANT, "own_grants", 2), call(SYS_IRQCTL, abi.IRQ_ENABLE, 14),
             *command(0x20, 3, 1), *wait_irq(),
             *[step for step, _, _ in cases], devio(IN_B, 0x1F7),
             sdevio(IN_W, 0x1F0, SELF, 0, 0, 512)]
    result, answers = run_driver(tmp_path, steps)
    rejected = answers[10:10 + len(cases)]
    assert [(a.eax, a.type) for a in rejected] == [(OK, error) for _, error, _ in cases]
    events = [e for e in kcalls(result) if e["call"] == "SDEVIO"]
    assert [e.get("reason") for e in events[:-1]] == [reason for _, _, reason in cases]
    assert answers[-2].words[2] == READY_DRQ, "the sector is still all there"
    assert result.bytes_at("prober", "buf", 1024) == sector(3) + b"." * 512
    vfs = result.proc("vfs")
    assert vfs.cpu.read(_symbol(result, "vfs", "block"), 512) == b"-" * 512


# -- the disk image ---------------------------------------------------------------------------

def test_disk_image_layout():
    files = [("rc", b"hello\nlp\n"), ("a" * 23, b"x" * (FS_FILE_SECTORS * ata.SECTOR_SIZE)),
             ("empty", b"")]
    image = make_disk(files)
    assert len(image) == FS_DISK_SECTORS * ata.SECTOR_SIZE == (1 + 15 * 16) * 512
    assert int.from_bytes(image[0:4], "little") == FS_MAGIC and image[4:32] == bytes(28)
    for k in range(FS_MAX_FILES):
        entry = image[32 + 32 * k:64 + 32 * k]
        name, size, start = entry[:24], entry[24:28], entry[28:32]
        assert int.from_bytes(start, "little") == 1 + 16 * k
        if k < len(files):
            assert name == files[k][0].encode().ljust(24, b"\0")
            assert int.from_bytes(size, "little") == len(files[k][1])
            extent = image[(1 + 16 * k) * 512:(17 + 16 * k) * 512]
            assert extent == files[k][1].ljust(16 * 512, b"\0")
        else:
            assert name == bytes(24) and size == bytes(4)
    assert read_files(image) == dict(files)
    assert read_files(make_disk([])) == {}


@pytest.mark.parametrize("files,message", [
    ([(f"f{k}", b"") for k in range(FS_MAX_FILES + 1)], "16 files"),
    ([("a" * 24, b"")], "at most 23 characters"),
    ([("two words", b"")], "printable ASCII"),
    ([("caf\u00e9", b"")], "printable ASCII"),
    ([("big", b"x" * (FS_FILE_SECTORS * ata.SECTOR_SIZE + 1))], "8193 bytes"),
])
def test_files_the_file_system_cannot_hold(files, message):
    with pytest.raises(DiskImageError, match=message) as error:
        make_disk(files, "guest/files")
    assert str(error.value).startswith("guest/files") and "\n" not in str(error.value)


def test_a_folder_of_files(tmp_path):
    folder = tmp_path / "files"
    assert files_of(folder) == []
    folder.mkdir()
    (folder / "zeta").write_bytes(b"z")
    (folder / "alpha").write_bytes(b"a")
    (folder / ".gitkeep").write_bytes(b"")
    assert files_of(folder) == [("alpha", b"a"), ("zeta", b"z")]
    write_disk(folder, tmp_path / "disk.img")
    assert read_files((tmp_path / "disk.img").read_bytes()) == {"alpha": b"a", "zeta": b"z"}
    (folder / "sub").mkdir()
    with pytest.raises(DiskImageError, match="not a plain file"):
        files_of(folder)
    with pytest.raises(DiskImageError, match="no FS_MAGIC"):
        read_files(bytes(512))


def test_build_writes_the_disk_next_to_the_image(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "motd").write_bytes(b"hi\n")
    image = build_system(tmp_path, [prober([devio(IN_B, 0x1F7)], DATA, **DRIVER)])
    assert read_files((image.parent / "disk.img").read_bytes()) == {"motd": b"hi\n"}
    (tmp_path / "files" / ("n" * 30)).write_bytes(b"")
    with pytest.raises(BuildError, match="at most 23 characters"):
        build_image(tmp_path / "system.toml", tmp_path / "out" / "x.img", tmp_path / "b")


def test_boot_with_a_disk_file_and_without_one(tmp_path, capsys):
    from emu.cli import main
    steps = [*command(0x30, 0, 1), sdevio(DIO_OUTPUT | DIO_WORD, 0x1F0, SELF, 0, 0, 512),
             devio(IN_B, 0x1F7, spin=50), devio(OUT_B, 0x1F7, 0xE7),
             devio(IN_B, 0x1F7, spin=500), devio(IN_B, 0x1F7)]
    steps.insert(0, call(SYS_SETGRANT, "own_grants", 1))
    image = build_system(tmp_path, [prober(steps, DATA, **DRIVER)])
    built = (tmp_path / "disk.img").read_bytes()
    other = tmp_path / "other.img"
    other.write_bytes(disk_bytes())
    common = ["boot", str(image), "--until-exit", "prober", "--max-ticks", "20",
              "--printer", str(tmp_path / "p.out")]
    assert main(common + ["--disk", str(other)]) == 0
    assert other.read_bytes() == b"." * 512 + disk_bytes()[512:]
    assert (tmp_path / "disk.img").read_bytes() == built
    assert main(common + ["--disk", str(tmp_path / "missing.img")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.img" in err[0] and "Traceback" not in err[0]
    assert main(common) == 0                                   # the disk.img of the build
    assert (tmp_path / "disk.img").read_bytes()[:512] == b"." * 512
    (tmp_path / "disk.img").unlink()
    assert main(common) == 0                                   # no disk: ports float
    assert not (tmp_path / "disk.img").exists()


def test_the_same_run_gives_the_same_trace_and_disk(tmp_path):
    steps = [call(SYS_SETGRANT, "own_grants", 2), call(SYS_IRQCTL, abi.IRQ_ENABLE, 14),
             *command(0x30, 9, 1), sdevio(OUT_W, 0x1F0, SELF, 0, 0, 512), *wait_irq(),
             *command(0x20, 9, 1), *wait_irq(), sdevio(IN_W, 0x1F0, SELF, 0, 512, 512),
             devio(OUT_B, 0x1F7, 0xE7), *wait_irq()]
    runs = []
    for _ in range(2):
        result, _ = run_driver(tmp_path, steps)
        runs.append((result.trace_text, (tmp_path / "disk.img").read_bytes()))
    assert runs[0] == runs[1]
    assert runs[0][1][9 * 512:10 * 512] == b"." * 512
