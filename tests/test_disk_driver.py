"""The disk driver (guest/drivers/disk.asm) on the ATA disk device, driven by a prober.

The prober stands for VFS: it registers its own grant table (grants on its buffers, to
the disk driver's boot endpoint), sends the driver BDEV_READ / BDEV_WRITE requests by
SENDREC and keeps each DEV_REPLY in its step's message slot; the driver answers by
NBSEND, which reaches a prober in SENDREC.  Bad requests come first: each gets its
error with its DEV_ID echoed, and neither the disk nor the prober's memory changes.
The disk is a file built here in our file system's layout (docs/OS.md), also used by
tests/test_vfs.py: `disk_image` writes one, `read_files` reads one back.
"""

import struct
from dataclasses import dataclass, field
from pathlib import Path

from kernel import abi
from kernel.abi import (CPF_READ, CPF_VALID, CPF_WRITE, EBADREQUEST, EINVAL, EIO, EPERM,
                        MSG_SIZE, OK)
from kernel.protocols import (BDEV_READ, BDEV_WRITE, CDEV_WRITE, DEV_REPLY, FS_DISK_SECTORS,
                              FS_ENTRIES_OFFSET, FS_ENTRY_SIZE, FS_FILE_SECTORS,
                              FS_FIRST_SECTOR, FS_MAGIC, FS_MAX_FILES, FS_NAME_MAX,
                              SECTOR_SIZE)
from tests.harness import EXIT_WITH_EDX, run_image, build_system

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = ROOT / "guest" / "drivers"

DISK_POLICY = {"label": "disk", "kind": "driver",
               "ipc": ["RECEIVE", "SENDREC", "NBSEND", "ASEND", "NOTIFY"],
               "targets": ["SYSTEM", "rs"],
               "kernel_calls": ["DEVIO", "VDEVIO", "SDEVIO", "SAFECOPYFROM"],
               "io": ["0x1F0-0x1F7"]}

# An rs that only takes messages (the disk driver needs EP_RS for its heartbeats)
IDLE_RS = """
.text
_start:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    jmp _start
.bss
msg:
    .space MSG_SIZE
"""


def disk_program(**policy):
    program = dict(DISK_POLICY, source=(DRIVERS / "disk.asm").read_text())
    program.update(policy)
    return program


def idle_rs():
    return {"label": "rs", "kind": "server", "ipc": ["RECEIVE"], "targets": [],
            "source": IDLE_RS}


# -- the file system on a disk image ------------------------------------------------------

def disk_image(files=None, sectors=FS_DISK_SECTORS, fill=0):
    """A disk of `sectors` sectors with our file system holding `files` (name -> bytes),
    file k in directory entry k; the rest of the disk is `fill` bytes."""
    data = bytearray([fill]) * (sectors * SECTOR_SIZE)
    directory = bytearray(SECTOR_SIZE)
    struct.pack_into("<I", directory, 0, FS_MAGIC)
    for k, (name, content) in enumerate((files or {}).items()):
        start = FS_FIRST_SECTOR + k * FS_FILE_SECTORS
        entry = FS_ENTRIES_OFFSET + k * FS_ENTRY_SIZE
        directory[entry:entry + FS_NAME_MAX + 1] = name.encode().ljust(FS_NAME_MAX + 1, b"\0")
        struct.pack_into("<II", directory, entry + FS_NAME_MAX + 1, len(content), start)
        data[start * SECTOR_SIZE:start * SECTOR_SIZE + len(content)] = content
    data[:SECTOR_SIZE] = directory
    return bytes(data)


def read_files(data):
    """The files of a disk image: name -> bytes (entries in directory order)."""
    magic, = struct.unpack_from("<I", data, 0)
    assert magic == FS_MAGIC
    files = {}
    for k in range(FS_MAX_FILES):
        entry = FS_ENTRIES_OFFSET + k * FS_ENTRY_SIZE
        name = data[entry:entry + FS_NAME_MAX + 1].rstrip(b"\0")
        size, start = struct.unpack_from("<II", data, entry + FS_NAME_MAX + 1)
        if name:
            assert start == FS_FIRST_SECTOR + k * FS_FILE_SECTORS
            files[name.decode()] = data[start * SECTOR_SIZE:start * SECTOR_SIZE + size]
    return files


def directory_names(data):
    """Names of the directory entries, '' for a free one, in entry order."""
    names = []
    for k in range(FS_MAX_FILES):
        entry = FS_ENTRIES_OFFSET + k * FS_ENTRY_SIZE
        names.append(data[entry:entry + FS_NAME_MAX + 1].rstrip(b"\0").decode())
    return names


def pattern(size, seed=0):
    """`size` bytes that differ from sector to sector and from seed to seed."""
    return bytes((i * 7 + (i >> 9) * 13 + seed * 31 + 1) & 0xFF for i in range(size))


# -- the prober ---------------------------------------------------------------------------

@dataclass
class Grant:
    """A grant of the prober's: on `buffer` (a symbol) for `size` bytes, to `grantee`."""
    buffer: str
    size: int
    access: int = CPF_READ | CPF_WRITE
    grantee: str = "EP_DISK"
    flags: int = CPF_VALID


@dataclass
class Request:
    """One SENDREC of the prober to `dst`: M_TYPE and payload words by index."""
    m_type: int
    words: dict = field(default_factory=dict)
    dst: str = "EP_DISK"


def bdev(m_type, grant, nbytes, block, ident):
    return Request(m_type, {0: grant, 1: nbytes, 2: ident, 3: block})


def prober_source(requests, grants, buffers):
    rows, slots = [], []
    for req in requests:
        rows.append(f"    .long {req.dst}")
        words = [0, req.m_type] + [req.words.get(i, 0) for i in range(14)]
        slots.append("    .long " + ", ".join(str(w) for w in words))
    table = "\n".join(f"    .long {g.flags | g.access}, {g.grantee}, {g.buffer}, {g.size}"
                      for g in grants)
    data = "\n".join(f"{name}:\n    .byte {', '.join(str(b) for b in content)}"
                     for name, content in buffers.items())
    return f"""
.text
_start:
    mov dword ptr [exit_msg + M_TYPE], SYS_SETGRANT
    mov dword ptr [exit_msg + SG_ADDR], grant_table
    mov dword ptr [exit_msg + SG_COUNT], {len(grants)}
    mov eax, SYSTEM
    lea ebx, [exit_msg]
    mov ecx, SENDREC
    int IPC_VEC
    xor esi, esi
next:
    cmp esi, {len(requests)}
    jge done
    mov eax, [dsts + esi*4]
    mov ebx, esi
    shl ebx, 6
    lea ebx, [slots + ebx]
    mov ecx, SENDREC
    int IPC_VEC
    mov [results + esi*4], eax
    inc esi
    jmp next
done:
    mov edx, 0
{EXIT_WITH_EDX}
.data
dsts:
{chr(10).join(rows)}
slots:
{chr(10).join(slots)}
grant_table:
{table}
{data}
    .align 4
.bss
results:
    .space {4 * len(requests)}
exit_msg:
    .space MSG_SIZE
"""


PROBER_POLICY = {"label": "prober", "kind": "server", "ipc": ["SENDREC"],
                 "targets": ["SYSTEM", "disk"], "kernel_calls": ["SETGRANT", "EXIT"]}


def run_prober(tmp_path, requests, grants, buffers, disk, **limits):
    """rs, the disk driver, the prober; the disk file `disk` (bytes) is written to
    tmp_path/disk.bin.  Returns the run, the answers (eax, M_TYPE, DEV_RESULT, DEV_ID)
    and the disk file's bytes after the run."""
    path = tmp_path / "disk.bin"
    path.write_bytes(disk)
    programs = [idle_rs(), disk_program(),
                dict(PROBER_POLICY, source=prober_source(requests, grants, buffers))]
    image = build_system(tmp_path, programs)
    limits.setdefault("max_ticks", 100)
    result = run_image(image, disk=path, until_exit="prober", **limits)
    assert result.kernel.panic_report is None, result.kernel.panic_report
    assert result.end == "exit"
    assert result.of("exit", "prober")[0]["status"] == 0
    answers = []
    for i in range(len(requests)):
        slot = result.bytes_at("prober", "slots", MSG_SIZE, MSG_SIZE * i)
        words = struct.unpack("<16i", slot)
        answers.append((result.word("prober", "results", 4 * i), words[1], words[3],
                        words[4]))
    return result, answers, path.read_bytes()


def sector(data, n, count=1):
    return data[n * SECTOR_SIZE:(n + count) * SECTOR_SIZE]


# -- bad requests -------------------------------------------------------------------------

def test_bad_counts_and_sectors_are_einval_before_the_drive_is_touched(tmp_path):
    disk = disk_image({"a": b"x" * 100}, fill=0x5A)
    cases = [(0, 1), (100, 1), (513, 1), (-512, 1), (129 * SECTOR_SIZE, 1),
             (0x80000000, 1), (SECTOR_SIZE, -1), (SECTOR_SIZE, 0x10000000),
             (2 * SECTOR_SIZE, 0x0FFFFFFF), (SECTOR_SIZE, -0x80000000)]
    requests = []
    for i, (nbytes, block) in enumerate(cases):
        requests.append(bdev(BDEV_READ, 0, nbytes, block, 100 + i))
        requests.append(bdev(BDEV_WRITE, 0, nbytes, block, 200 + i))
    grants = [Grant("buf", 129 * SECTOR_SIZE)]
    buffers = {"buf": b"\xEE" * (129 * SECTOR_SIZE)}
    result, answers, after = run_prober(tmp_path, requests, grants, buffers, disk)
    assert [a[0] for a in answers] == [OK] * len(requests)
    assert [a[1] for a in answers] == [DEV_REPLY] * len(requests)
    assert [a[2] for a in answers] == [EINVAL] * len(requests)
    assert [a[3] for a in answers] == [r.words[2] for r in requests]
    assert after == disk
    assert result.bytes_at("prober", "buf", 129 * SECTOR_SIZE) == buffers["buf"]
    assert not result.of("kcall", "disk")


def test_sectors_past_the_end_of_the_disk_are_eio(tmp_path):
    disk = disk_image({"a": b"x"}, sectors=64, fill=0x11)
    requests = [bdev(BDEV_READ, 0, SECTOR_SIZE, 64, 1),
                bdev(BDEV_READ, 0, 2 * SECTOR_SIZE, 63, 2),
                bdev(BDEV_WRITE, 0, SECTOR_SIZE, 64, 3),
                bdev(BDEV_WRITE, 0, 2 * SECTOR_SIZE, 63, 4),
                bdev(BDEV_READ, 0, SECTOR_SIZE, 63, 5)]           # the last one: fine
    buffers = {"buf": b"\xEE" * (2 * SECTOR_SIZE)}
    result, answers, after = run_prober(tmp_path, requests, [Grant("buf", 1024)], buffers,
                                        disk)
    assert [a[1:] for a in answers] == [(DEV_REPLY, EIO, 1), (DEV_REPLY, EIO, 2),
                                        (DEV_REPLY, EIO, 3), (DEV_REPLY, EIO, 4),
                                        (DEV_REPLY, SECTOR_SIZE, 5)]
    assert after == disk
    assert result.bytes_at("prober", "buf", 1024) == sector(disk, 63) + b"\xEE" * 512


def test_bad_grants_are_eperm_and_a_bad_write_grant_touches_nothing(tmp_path):
    disk = disk_image({"a": b"x"}, fill=0x22)
    grants = [Grant("buf", 2 * SECTOR_SIZE),                        # 0: good
              Grant("buf", 2 * SECTOR_SIZE, flags=0),               # 1: not valid
              Grant("buf", 2 * SECTOR_SIZE, grantee="EP_PROBER"),   # 2: another grantee
              Grant("buf", SECTOR_SIZE + 1),                        # 3: too small for 2
              Grant("buf", 2 * SECTOR_SIZE, access=CPF_READ),       # 4: read-only
              Grant("buf", 2 * SECTOR_SIZE, access=CPF_WRITE),      # 5: write-only
              Grant("_start", SECTOR_SIZE)]                         # 6: text: outside
    two = 2 * SECTOR_SIZE
    requests = [bdev(BDEV_WRITE, 1, two, 20, 1), bdev(BDEV_WRITE, 2, two, 20, 2),
                bdev(BDEV_WRITE, 3, two, 20, 3), bdev(BDEV_WRITE, 5, two, 20, 4),
                bdev(BDEV_WRITE, 6, SECTOR_SIZE, 20, 5), bdev(BDEV_WRITE, 7, two, 20, 6),
                bdev(BDEV_WRITE, -1, two, 20, 7),
                bdev(BDEV_READ, 1, two, 20, 11), bdev(BDEV_READ, 2, two, 20, 12),
                bdev(BDEV_READ, 4, two, 20, 14), bdev(BDEV_READ, 6, SECTOR_SIZE, 20, 15),
                bdev(BDEV_READ, 99, two, 20, 16),
                bdev(BDEV_READ, 3, two, 20, 13)]                   # first sector fits
    buffers = {"buf": b"\xEE" * two}
    result, answers, after = run_prober(tmp_path, requests, grants, buffers, disk)
    assert [a[1:] for a in answers] == [(DEV_REPLY, EPERM, r.words[2]) for r in requests]
    assert after == disk
    # only the read whose first sector fitted its grant moved anything
    assert result.bytes_at("prober", "buf", two) == sector(disk, 20) + b"\xEE" * 512
    reasons = {e.get("reason") for e in result.of("kcall", "disk") if e["result"] == "EPERM"}
    assert reasons == {"grant not valid", "grant of another grantee", "outside the grant",
                       "access not granted", "granted area outside the granter",
                       "grant id out of range"}


def test_unknown_requests_are_ebadrequest(tmp_path):
    disk = disk_image()
    requests = [Request(t, {0: 0, 1: SECTOR_SIZE, 2: 40 + i, 3: 1})
                for i, t in enumerate((CDEV_WRITE, DEV_REPLY, 0, -1, abi.SYS_DEVIO))]
    result, answers, after = run_prober(tmp_path, requests, [Grant("buf", 512)],
                                        {"buf": b"\0" * 512}, disk)
    assert [a[1:] for a in answers] == [(DEV_REPLY, EBADREQUEST, 40 + i) for i in range(5)]
    assert after == disk


# -- transfers ----------------------------------------------------------------------------

def test_write_then_read_back_through_the_device_and_the_file(tmp_path):
    disk = disk_image({"a": b"hello"}, fill=0x33)
    data = pattern(3 * SECTOR_SIZE, seed=5)
    grants = [Grant("out", 3 * SECTOR_SIZE, CPF_READ), Grant("back", 3 * SECTOR_SIZE,
                                                             CPF_WRITE)]
    requests = [bdev(BDEV_WRITE, 0, 3 * SECTOR_SIZE, 100, 1),
                bdev(BDEV_READ, 1, 3 * SECTOR_SIZE, 100, 2),
                bdev(BDEV_WRITE, 0, SECTOR_SIZE, 240, 3),             # the last sector
                bdev(BDEV_READ, 1, SECTOR_SIZE, 0, 4)]                # the directory
    buffers = {"out": data, "back": b"\0" * (3 * SECTOR_SIZE)}
    result, answers, after = run_prober(tmp_path, requests, grants, buffers, disk)
    assert [a[1:] for a in answers] == [(DEV_REPLY, 1536, 1), (DEV_REPLY, 1536, 2),
                                        (DEV_REPLY, 512, 3), (DEV_REPLY, 512, 4)]
    assert result.bytes_at("prober", "back", 512) == sector(disk, 0)
    expected = bytearray(disk)
    expected[100 * SECTOR_SIZE:103 * SECTOR_SIZE] = data
    expected[240 * SECTOR_SIZE:] = data[:SECTOR_SIZE]
    assert after == bytes(expected)
    # each write was flushed, and the taskfile went in one VDEVIO per request
    kcalls = result.of("kcall", "disk")
    flushes = [e for e in kcalls if e["call"] == "DEVIO" and e.get("port") == 0x1F7
               and e.get("value") == 0xE7]
    assert len(flushes) == 2
    assert len([e for e in kcalls if e["call"] == "VDEVIO"]) == 4
    assert len([e for e in kcalls if e["call"] == "SDEVIO"]) == 8


def test_heartbeat_from_rs_is_answered_and_others_are_not(tmp_path):
    rs = {"label": "rs", "kind": "server", "ipc": ["NOTIFY", "RECEIVE", "SENDREC"],
          "targets": ["SYSTEM", "disk"], "kernel_calls": ["EXIT"], "source": f"""
.text
_start:
    mov eax, EP_DISK
    mov ecx, NOTIFY
    int IPC_VEC
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, [msg + M_SOURCE]
    mov [source], eax
    mov eax, [msg + M_TYPE]
    mov [mtype], eax
    mov edx, 0
{EXIT_WITH_EDX}
.bss
source:
    .space 4
mtype:
    .space 4
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""}
    other = {"label": "other", "kind": "server", "ipc": ["NOTIFY"], "targets": ["disk"],
             "source": """
.text
_start:
    mov eax, EP_DISK
    mov ecx, NOTIFY
    int IPC_VEC
spin:
    jmp spin
"""}
    programs = [rs, disk_program(), other]
    path = tmp_path / "disk.bin"
    path.write_bytes(disk_image())
    result = run_image(build_system(tmp_path, programs), disk=path, until_exit="rs",
                       max_ticks=20)
    assert result.kernel.panic_report is None
    assert result.end == "exit"
    assert result.word("rs", "source") == 1       # the disk driver's boot endpoint
    assert result.word("rs", "mtype") == abi.NOTIFY_MESSAGE
    notifies = result.ipc_events(proc="disk", op="NOTIFY")
    assert [e["peer_label"] for e in notifies] == ["rs"]
