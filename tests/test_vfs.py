"""VFS (guest/servers/vfs.asm) with the disk driver on the ATA disk, DS, and stand-ins.

A system here is ds (the real one), rs (a stand-in that only receives, or the real RS),
vfs, disk (the real driver on a disk file built by tests/test_disk_driver.py's
`disk_image`), tty and printer (stand-in character drivers: a write is copied through
its grant into the driver's `log`, a read is served from its `input`; variants never
answer), then clients.  A client is a scripted user program: each step is one SENDREC
to VFS with a 64-byte message, whose reply lands in the step's slot, so a test reads
every result; it ends with EXIT 0.  Data the clients write or read lives in their own
buffers, checked in their memory and in the disk file after the run.
Unhappy paths come first; every run checks that the kernel did not panic and that VFS
never sent a blocking SEND or SENDREC to a driver.
"""

import json
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

from kernel import abi
from kernel.abi import (EAGAIN, EBADF, EBADREQUEST, EFAULT, EFBIG, EINVAL, EIO,
                        EMFILE, ENAMETOOLONG, ENOENT, ENOSPC, EPERM, MSG_SIZE, OK)
from kernel.protocols import (FS_FILE_SECTORS, FS_MAX_FILES, O_APPEND, O_CREAT, O_RDONLY,
                              O_RDWR, O_TRUNC, O_WRONLY, SECTOR_SIZE, VFS_CLOSE, VFS_IO_MAX,
                              VFS_MAX_FDS, VFS_OPEN, VFS_READ, VFS_UNLINK, VFS_WRITE)
from tests.harness import EXIT_WITH_EDX, Run, boot, build_system, run_image
from tests.test_disk_driver import (DISK_POLICY, disk_image, disk_program, directory_names,
                                    idle_rs, pattern, read_files)

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "guest" / "servers"
FILE_MAX = FS_FILE_SECTORS * SECTOR_SIZE

VFS_POLICY = {"label": "vfs", "kind": "server", "ipc": ["RECEIVE", "SENDREC", "NBSEND", "ASEND"],
              "targets": ["SYSTEM", "ds", "tty", "printer", "disk"],
              "kernel_calls": ["SETGRANT", "VIRCOPY", "GETINFO"]}
DS_POLICY = {"label": "ds", "kind": "server", "priority": 1,
             "ipc": ["RECEIVE", "NBSEND", "NOTIFY"], "targets": [], "kernel_calls": []}
RS_POLICY = {"label": "rs", "kind": "server", "priority": 1,
             "ipc": ["RECEIVE", "SENDREC", "NOTIFY", "NBSEND"], "targets": ["ALL_SYS"],
             "kernel_calls": ["GETINFO", "SPAWN", "KILL", "SETALARM", "TIMES"]}
CHAR_POLICY = {"kind": "driver", "ipc": ["RECEIVE", "NBSEND", "ASEND", "SENDREC", "NOTIFY"],
               "targets": ["SYSTEM", "rs"],
               "kernel_calls": ["SAFECOPYFROM", "SAFECOPYTO", "TIMES"]}
CLIENT_POLICY = {"kind": "user", "ipc": ["SENDREC"], "targets": ["SYSTEM", "vfs"],
                 "kernel_calls": ["EXIT"]}

# A stand-in character driver.  {start} runs first; {on_request} runs for each request
# (M_TYPE in eax), before it is served; `call ticks` gives the uptime in eax.  It answers
# RS's heartbeats, and VFS by NBSEND, else by ASEND.
CHAR_DRIVER = """
.text
_start:
{start}
main_loop:
    mov eax, ANY
    lea ebx, [req]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz main_loop
    mov eax, [req + M_TYPE]
    cmp eax, NOTIFY_MESSAGE
    je notified
    inc dword ptr [requests]
{on_request}
    cmp eax, CDEV_WRITE
    je do_write
    cmp eax, CDEV_READ
    je do_read
    mov eax, EBADREQUEST
    jmp reply
do_write:
    mov ecx, [req + DEV_BYTES]
    mov eax, {log_size}
    sub eax, [log_len]
    cmp ecx, eax
    jbe write_fits
    mov ecx, eax
write_fits:
    mov eax, 0
    test ecx, ecx
    jz reply
    mov [count], ecx
    mov dword ptr [kmsg + M_TYPE], SYS_SAFECOPYFROM
    mov eax, [log_len]
    add eax, log
    mov [kmsg + SC_ADDR], eax
    jmp copy
do_read:
    mov ecx, [req + DEV_BYTES]
    mov eax, input_end - input
    sub eax, [input_pos]
    cmp ecx, eax
    jbe read_fits
    mov ecx, eax
read_fits:
    mov eax, 0
    test ecx, ecx
    jz reply
    mov [count], ecx
    mov dword ptr [kmsg + M_TYPE], SYS_SAFECOPYTO
    mov eax, [input_pos]
    add eax, input
    mov [kmsg + SC_ADDR], eax
copy:
    mov eax, [req + M_SOURCE]
    mov [kmsg + SC_GRANTER], eax
    mov eax, [req + DEV_GRANT]
    mov [kmsg + SC_GRANT], eax
    mov dword ptr [kmsg + SC_OFFSET], 0
    mov eax, [count]
    mov [kmsg + SC_SIZE], eax
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz reply
    mov eax, [kmsg + M_TYPE]
    test eax, eax
    jnz reply
    mov eax, [count]
    cmp dword ptr [req + M_TYPE], CDEV_READ
    je read_done
    add [log_len], eax
    jmp reply
read_done:
    add [input_pos], eax
    jmp reply
notified:
    cmp dword ptr [req + M_SOURCE], EP_RS
    jne main_loop
    mov eax, EP_RS
    mov ecx, NOTIFY
    int IPC_VEC
    jmp main_loop
; ticks: eax = the uptime in ticks (TIMES)
ticks:
    mov dword ptr [kmsg + M_TYPE], SYS_TIMES
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, [kmsg + T_TICKS]
    ret
reply:
    mov dword ptr [ans + M_TYPE], DEV_REPLY
    mov [ans + DEV_RESULT], eax
    mov eax, [req + DEV_ID]
    mov [ans + DEV_ID], eax
    mov eax, [req + M_SOURCE]
    lea ebx, [ans]
    mov ecx, NBSEND
    int IPC_VEC
    cmp eax, ENOTREADY
    jne main_loop
    xor edi, edi                    ; VFS is busy: by ASEND, from a free entry
find_entry:
    mov eax, [later + edi + ASEND_FLAGS]
    test eax, AMF_VALID
    jz fill_entry
    test eax, AMF_DONE
    jnz fill_entry
    add edi, ASEND_ENTRY_SIZE
    cmp edi, 8 * ASEND_ENTRY_SIZE
    jb find_entry
    jmp main_loop
fill_entry:
    mov eax, [req + M_SOURCE]
    mov [later + edi + ASEND_DST], eax
    xor ecx, ecx
copy_answer:
    mov eax, [ans + ecx]
    mov [later + edi + ASEND_MSG + ecx], eax
    add ecx, 4
    cmp ecx, MSG_SIZE
    jb copy_answer
    mov dword ptr [later + edi + ASEND_FLAGS], AMF_VALID
    mov eax, 8
    lea ebx, [later]
    mov ecx, ASEND
    int IPC_VEC
    jmp main_loop
.data
input:
    .ascii "{input}"
input_end:
    .align 4
input_pos:
    .long 0
.bss
requests:
    .space 4
count:
    .space 4
log_len:
    .space 4
log:
    .space {log_size}
req:
    .space MSG_SIZE
ans:
    .space MSG_SIZE
kmsg:
    .space MSG_SIZE
later:
    .space 8 * ASEND_ENTRY_SIZE
"""

# Stand-in behaviours: take requests and never answer them; never receive
NEVER_ANSWER = "    jmp main_loop"
NEVER_RECEIVE = "never:\n    jmp never"


def char_driver(label, start="", on_request="", text="typed input\\n", log_size=16384,
                **policy):
    source = CHAR_DRIVER.format(start=start, on_request=on_request, input=text,
                                log_size=log_size)
    program = dict(CHAR_POLICY, label=label, source=source)
    program.update(policy)
    return program


def vfs_program(**policy):
    program = dict(VFS_POLICY, source=(SERVERS / "vfs.asm").read_text())
    program.update(policy)
    return program


def ds_program():
    return dict(DS_POLICY, source=(SERVERS / "ds.asm").read_text())


def rs_program(**policy):
    return dict(RS_POLICY, source=(SERVERS / "rs.asm").read_text(), **policy)


# -- the client ---------------------------------------------------------------------------

@dataclass
class Call:
    """One SENDREC to VFS: M_TYPE, payload words by index (numbers or assembler
    expressions), or a path (raw bytes, at most 32) with its flags; then a spin."""
    m_type: object
    words: dict = field(default_factory=dict)
    path: bytes | None = None
    spin: int = 0


def open_(path, flags=O_RDONLY, spin=0):
    return Call(VFS_OPEN, {8: flags}, path=path if isinstance(path, bytes) else path.encode(),
                spin=spin)


def read(fd, buffer, count, spin=0):
    return Call(VFS_READ, {0: fd, 1: buffer, 2: count}, spin=spin)


def write(fd, buffer, count, spin=0):
    return Call(VFS_WRITE, {0: fd, 1: buffer, 2: count}, spin=spin)


def close(fd):
    return Call(VFS_CLOSE, {0: fd})


def unlink(path):
    return Call(VFS_UNLINK, path=path if isinstance(path, bytes) else path.encode())


def spin(turns):
    """A step that calls nothing: the client spins `turns` loop turns (2 instructions
    each), to let others go first."""
    return Call(None, spin=turns)


def client_source(calls, data=""):
    rows, slots = [], []
    for call in calls:
        rows.append(f"    .long {0 if call.m_type is None else 1}, {call.spin}")
        words = [call.words.get(i, 0) for i in range(14)]
        slots.append(f"    .long 0, {call.m_type or 0}")
        if call.path is not None:
            raw = call.path.ljust(32, b"\0")
            assert len(raw) == 32
            slots.append("    .byte " + ", ".join(str(b) for b in raw))
            words = words[8:]
        slots.append("    .long " + ", ".join(str(w) for w in words))
    return f"""
.text
_start:
    xor esi, esi
next:
    cmp esi, {len(calls)}
    jge done
    cmp dword ptr [rows + esi*8], 0
    je after
    mov eax, EP_VFS
    mov ebx, esi
    shl ebx, 6
    lea ebx, [slots + ebx]
    mov ecx, SENDREC
    int IPC_VEC
    mov [results + esi*4], eax
after:
    mov ecx, [rows + esi*8 + 4]
    test ecx, ecx
    jz step_done
turn:
    dec ecx
    jnz turn
step_done:
    inc esi
    jmp next
done:
    mov edx, 0
{EXIT_WITH_EDX}
.data
rows:
{chr(10).join(rows)}
slots:
{chr(10).join(slots)}
{data}
    .align 4
.bss
results:
    .space {4 * max(len(calls), 1)}
exit_msg:
    .space MSG_SIZE
"""


def client(label, calls, data="", **policy):
    program = dict(CLIENT_POLICY, label=label, source=client_source(calls, data))
    program.update(policy)
    return program


def buffer(name, content):
    """A client data buffer holding `content` (bytes)."""
    if not content:
        return f"{name}:\n"
    lines = [f"{name}:"]
    for i in range(0, len(content), 64):
        lines.append("    .byte " + ", ".join(str(b) for b in content[i:i + 64]))
    return "\n".join(lines)


def space(name, size, fill=0xEE):
    return buffer(name, bytes([fill]) * size)


# -- running a system ---------------------------------------------------------------------

def standard(clients, tty=None, printer=None, rs=None, disk=None, vfs=None):
    return [ds_program(), rs or idle_rs(), vfs or vfs_program(), disk or disk_program(),
            tty or char_driver("tty"), printer or char_driver("printer"), *clients]


def build(tmp_path, programs):
    for inc in SERVERS.glob("*.inc"):
        shutil.copy(inc, tmp_path / inc.name)
    return build_system(tmp_path, programs)


def run(tmp_path, programs, disk_bytes, until_exit, **limits):
    path = tmp_path / "disk.bin"
    path.write_bytes(disk_bytes)
    limits.setdefault("max_ticks", 400)
    result = run_image(build(tmp_path, programs), disk=path, until_exit=until_exit, **limits)
    check_sane(result)
    result.extra["disk"] = path.read_bytes()
    return result


def check_sane(result):
    assert result.kernel.panic_report is None, result.kernel.panic_report
    drivers = {"disk", "tty", "printer"}
    blocking = [e for e in result.ipc_events(proc="vfs")
                if e["op"] in ("SEND", "SENDREC") and e["peer_label"] in drivers]
    assert not blocking, "VFS blocked on a driver"
    assert not result.of("fault", "vfs") and "vfs" not in result.kernel.ended


def answers(result, label, count):
    """(IPC result, reply M_TYPE) of each step of client `label`."""
    out = []
    for i in range(count):
        slot = result.bytes_at(label, "slots", MSG_SIZE, MSG_SIZE * i)
        out.append((result.word(label, "results", 4 * i), struct.unpack_from("<i", slot, 4)[0]))
    return out


def results(result, label, calls):
    """The reply M_TYPE of each call of client `label` (None for a spin), after checking
    that every trap succeeded and the client went on to its EXIT 0."""
    exits = result.of("exit", label)
    assert exits and exits[0]["status"] == 0, f"{label} did not run to its end"
    out = []
    for (eax, m_type), call in zip(answers(result, label, len(calls)), calls):
        if call.m_type is None:
            out.append(None)
            continue
        assert eax == OK
        out.append(m_type)
    return out


# -- unhappy paths ------------------------------------------------------------------------

def test_bad_requests_each_get_their_error_and_vfs_goes_on(tmp_path):
    w = abi.window_base(6)                       # the client's window
    calls = [
        Call(0x7777), Call(-1), Call(VFS_OPEN - 1), Call(VFS_UNLINK + 1),   # unknown
        open_("motd", 3), open_("motd", 0x8), open_("motd", 0x80000000),
        open_(b"x" * 32),                                       # no NUL in the field
        open_(b"/" + b"n" * 24, O_CREAT | O_RDWR),              # name too long
        open_(""), open_("/"), open_("a/b"), open_("nosuch"),   # no such file
        open_("/dev/printer", O_RDONLY), open_("/dev/printer", O_RDWR),
        read(0, "rbuf", 1), read(-1, "rbuf", 1), read(VFS_MAX_FDS, "rbuf", 1),
        close(3), close(-5),                                    # nothing open yet
        open_("/motd", O_RDONLY),                               # fd 0
        open_("/dev/printer", O_WRONLY),                        # fd 1
        read(1, "rbuf", 1), write(0, "wbuf", 1),                # wrong access
        read(0, "rbuf", VFS_IO_MAX + 1), read(0, "rbuf", -1), write(1, "wbuf", 0x10000),
        read(0, 0, 16), read(0, w + 0x70000, 16), read(0, "_start", 16),  # bad buffers
        read(0, w + abi.WINDOW_SIZE - 8, 16),                   # runs past the stack
        write(1, 0x100, 4), write(1, w + 0x70000, 4),
        read(0, "rbuf", 0), write(1, "wbuf", 0),                # nothing to move
        unlink("/dev/tty"), unlink("dev/printer"), unlink("nosuch"), unlink(b"y" * 32),
        read(0, "rbuf", 5),                                     # still fine: "Hello"
        write(1, "_start", 2),                                  # text is readable
        close(0), close(0), read(0, "rbuf", 1),
    ]
    data = space("rbuf", 64) + "\n" + buffer("wbuf", b"abcd")
    result = run(tmp_path, standard([client("client", calls, data)]),
                 disk_image({"motd": b"Hello, world\n"}), "client")
    got = results(result, "client", calls)
    expected = [EBADREQUEST] * 4 + [EINVAL] * 3 + [ENAMETOOLONG] * 2 + [ENOENT] * 4 + \
        [EPERM] * 2 + [EBADF] * 5 + [0, 1] + [EBADF] * 2 + [EINVAL] * 3 + [EFAULT] * 6 + \
        [0, 0] + [EPERM, EPERM, ENOENT, ENAMETOOLONG] + [5, 2] + [OK, EBADF, EBADF]
    assert got == expected
    assert result.bytes_at("client", "rbuf", 6) == b"Hello\xee"
    assert result.word("tty", "log_len") == 0
    printer_log = result.bytes_at("printer", "log", 2)
    assert result.word("printer", "log_len") == 2
    assert printer_log == result.bytes_at("client", "_start", 2)
    assert read_files(result.extra["disk"]) == {"motd": b"Hello, world\n"}


def test_fds_belong_to_their_process_and_are_limited(tmp_path):
    owner_calls = [open_("motd"), open_("motd")]                 # fds 0, 1; then it waits
    owner = client("owner", owner_calls)
    owner["source"] = owner["source"].replace("    mov edx, 0\n", "forever:\n    jmp forever\n", 1)
    calls = [spin(100000),
             read(0, "rbuf", 4), read(1, "rbuf", 4), close(0), write(1, "rbuf", 1),
             *[open_("motd") for _ in range(VFS_MAX_FDS)], open_("motd"), open_("/dev/tty",
                                                                             O_RDWR),
             close(3), open_("/dev/tty", O_RDWR), read(3, "rbuf", 5), read(7, "rbuf", 4)]
    result = run(tmp_path, standard([owner, client("client", calls, space("rbuf", 16))]),
                 disk_image({"motd": b"Hello, world\n"}), "client")
    got = results(result, "client", calls)
    assert got == [None] + [EBADF] * 4 + list(range(VFS_MAX_FDS)) + [EMFILE, EMFILE] + \
        [OK, 3, 5, 4]
    assert result.bytes_at("client", "rbuf", 6) == b"Helld\xee"  # tty fd 3, then motd fd 7
    assert answers(result, "owner", 2) == [(OK, 0), (OK, 1)]


def test_fds_of_ended_processes_are_reclaimed_when_the_table_is_full(tmp_path):
    # 8 processes take 8 fds each (the whole table) and end without closing them
    hogs = [client(f"hog{i}", [open_("motd") for _ in range(VFS_MAX_FDS)])
            for i in range(8)]
    calls = [spin(400000), open_("motd"), read(0, "rbuf", 5)]
    result = run(tmp_path, standard([*hogs, client("client", calls, space("rbuf", 8))]),
                 disk_image({"motd": b"Hello, world\n"}), "client", max_ticks=1000)
    for i in range(8):
        assert [m for _, m in answers(result, f"hog{i}", VFS_MAX_FDS)] == \
            list(range(VFS_MAX_FDS))
    assert results(result, "client", calls) == [None, 0, 5]
    assert result.bytes_at("client", "rbuf", 5) == b"Hello"
    getinfo = [e for e in result.of("kcall", "vfs") if e["call"] == "GETINFO"]
    assert getinfo and all(e["result"] == "OK" for e in getinfo)


def test_users_that_do_not_wait_for_answers_do_not_stall_vfs(tmp_path):
    """A hostile user SENDs (not SENDREC) and ASENDs requests: VFS's answers to it are
    dropped; while its read waits at the tty, its next requests are EBUSY (one slot per
    user); a normal user is served meanwhile."""
    hostile = {"label": "hostile", "kind": "user", "ipc": ["SEND", "ASEND"],
               "targets": ["vfs"], "kernel_calls": [], "source": """
.text
_start:
    mov eax, EP_VFS
    lea ebx, [open_msg]
    mov ecx, SEND
    int IPC_VEC
    mov eax, 3
    lea ebx, [table]
    mov ecx, ASEND
    int IPC_VEC
forever:
    jmp forever
.data
open_msg:
    .long 0, VFS_OPEN
    .ascii "/dev/tty"
    .space 32 - 8
    .long O_RDWR
    .space 64 - 44
table:
    .long AMF_VALID, EP_VFS, 0, 0, VFS_READ, 0, buf, 100
    .space 64 - 20
    .long AMF_VALID, EP_VFS, 0, 0, VFS_READ, 0, buf, 10
    .space 64 - 20
    .long AMF_VALID, EP_VFS, 0, 0, VFS_CLOSE, 0
    .space 64 - 12
.bss
buf:
    .space 4096
"""}
    calls = [spin(20000), open_("motd"), read(0, "rbuf", 12), close(0)]
    result = run(tmp_path, standard([hostile, client("client", calls, space("rbuf", 16))],
                                    tty=char_driver("tty", on_request=NEVER_ANSWER)),
                 disk_image({"motd": b"Hello, world\n"}), "client")
    assert results(result, "client", calls) == [None, 0, 12, OK]
    received = [e["m_type"] for e in result.ipc_events(proc="vfs", op="RECEIVE")
                if e["peer_label"] == "hostile"]
    assert received == ["VFS_OPEN", "VFS_READ", "VFS_READ", "VFS_CLOSE"]
    answered = [e["result"] for e in result.ipc_events(proc="vfs", op="NBSEND")
                if e["peer_label"] == "hostile"]
    assert answered == ["ENOTREADY"] * 3          # the open, then EBUSY twice
    assert result.word("tty", "requests") == 1
    # the hostile's tty fd is still open: its close came while its read was in progress
    fds = result.bytes_at("vfs", "fds", 64 * 32)
    owned = [struct.unpack_from("<3i", fds, 32 * i) for i in range(64)]
    assert (2, 6, 0) in owned                     # FDS_OPEN, the hostile's endpoint, fd 0


def test_when_every_request_slot_is_taken_requests_needing_one_are_eagain(tmp_path):
    """16 users wait on a tty that never answers: the 17th gets EAGAIN for a request
    that needs a slot (a read, a file open), not for one that needs none."""
    stuck = [client(f"stuck{i}", [open_("/dev/tty", O_RDONLY), read(0, "b", 4)],
                    space("b", 4)) for i in range(16)]
    calls = [spin(200000), open_("/dev/tty", O_RDWR), read(0, "b", 4), open_("motd"),
             write(0, "b", 0), open_("/dev/printer", O_WRONLY), close(1), close(0)]
    result = run(tmp_path, standard([*stuck, client("client", calls, space("b", 4))],
                                    tty=char_driver("tty", on_request=NEVER_ANSWER)),
                 disk_image({"motd": b"Hello"}), "client", max_ticks=1000)
    assert results(result, "client", calls) == [None, 0, EAGAIN, EAGAIN, 0, 1, OK, OK]
    assert result.word("tty", "requests") == 16


def test_a_driver_that_never_answers_stalls_no_other_user(tmp_path):
    """The printer takes requests and never answers; the tty never even receives.  A
    user stuck on each waits; another user's file, device and open requests go on."""
    stuck_printer = client("stuck1", [open_("/dev/printer", O_WRONLY), write(0, "b", 3)],
                           buffer("b", b"abc"))
    stuck_tty = client("stuck2", [open_("/dev/tty", O_RDWR), read(0, "b", 3)],
                       space("b", 4))
    calls = [spin(50000), open_("/dev/printer", O_WRONLY), open_("notes", O_CREAT | O_RDWR),
             write(1, "data", 600), close(1), open_("notes"), read(1, "back", 600),
             open_("/dev/tty", O_WRONLY), close(0), close(1), close(2)]
    data = buffer("data", pattern(600)) + "\n" + space("back", 600)
    result = run(tmp_path, standard([stuck_printer, stuck_tty, client("client", calls, data)],
                                    tty=char_driver("tty", start=NEVER_RECEIVE),
                                    printer=char_driver("printer", on_request=NEVER_ANSWER)),
                 disk_image({"motd": b"Hello"}), "client")
    assert results(result, "client", calls) == [None, 0, 1, 600, OK, 1, 600, 2, OK, OK, OK]
    assert result.bytes_at("client", "back", 600) == pattern(600)
    assert answers(result, "stuck1", 1) == [(OK, 0)]
    assert answers(result, "stuck2", 1) == [(OK, 0)]
    assert "stuck1" not in result.kernel.ended and "stuck2" not in result.kernel.ended
    assert result.word("printer", "requests") == 1
    assert result.word("tty", "requests") == 0
    assert read_files(result.extra["disk"])["notes"] == pattern(600)


# -- files --------------------------------------------------------------------------------

def test_a_file_written_then_read_back_is_byte_identical(tmp_path):
    """Writes of every alignment (read-modify-write of partial sectors), reads in other
    pieces, append to the end of the extent (a short write, then EFBIG), an overwrite
    that does not change the size, truncation; then a second boot reads the disk."""
    src = pattern(FILE_MAX, seed=1)
    fix = pattern(100, seed=2)
    calls = [open_("data", O_CREAT | O_RDWR),                               # 0
             write(0, "src", 1), write(0, "src + 1", 510), write(0, "src + 511", 2),
             write(0, "src + 513", 4096), write(0, "src + 4609", 1000), close(0),
             open_("/data"), read(0, "dst", 700), read(0, "dst + 700", 4096),
             read(0, "dst + 4796", 4096), read(0, "dst + 5609", 10), close(0),
             open_("data", O_WRONLY | O_APPEND), write(0, "src + 5609", 4000),
             write(0, "src", 1), close(0),
             open_("data", O_RDWR), write(0, "fix", 100), read(0, "dst2", 50), close(0),
             open_("t", O_CREAT | O_WRONLY), write(0, "src", 1000), close(0),
             open_("t", O_WRONLY | O_TRUNC), write(0, "fix", 3), close(0)]
    data = "\n".join([buffer("src", src), buffer("fix", fix), space("dst", FILE_MAX),
                      space("dst2", 64)])
    result = run(tmp_path, standard([client("client", calls, data)]),
                 disk_image({"motd": b"Hello"}), "client")
    assert results(result, "client", calls) == [
        0, 1, 510, 2, 4096, 1000, OK, 0, 700, 4096, 813, 0, OK,
        0, FILE_MAX - 5609, EFBIG, OK, 0, 100, 50, OK, 0, 1000, OK, 0, 3, OK]
    assert result.bytes_at("client", "dst", 5610) == src[:5609] + b"\xee"
    assert result.bytes_at("client", "dst2", 51) == src[100:150] + b"\xee"
    expected = fix + src[100:]
    files = read_files(result.extra["disk"])
    assert files == {"motd": b"Hello", "data": expected, "t": fix[:3]}
    # a new boot on the same disk reads the same bytes
    calls = [open_("data"), read(0, "dst", 4096), read(0, "dst + 4096", 4096), close(0)]
    (tmp_path / "again").mkdir()
    again = run(tmp_path / "again", standard([client("client", calls, space("dst", FILE_MAX))]),
                result.extra["disk"], "client")
    assert results(again, "client", calls) == [0, 4096, 4096, OK]
    assert again.bytes_at("client", "dst", FILE_MAX) == expected


def test_create_and_unlink(tmp_path):
    names = [f"f{i}" for i in range(FS_MAX_FILES - 1)]
    calls = [open_("gone", O_CREAT | O_WRONLY), write(0, "b", 10), unlink("/gone"),
             write(0, "b", 1), read(0, "b", 1), close(0), open_("gone"), unlink("gone")]
    for name in names:
        calls += [open_(name, O_CREAT | O_WRONLY), write(0, "b", 3), close(0)]
    calls += [open_("extra", O_CREAT | O_WRONLY), open_("f3"), unlink("f5"),
              open_("extra", O_CREAT | O_WRONLY), write(1, "b", 2), close(1), close(0),
              open_("f5")]
    result = run(tmp_path, standard([client("client", calls, buffer("b", b"0123456789"))]),
                 disk_image({"motd": b"Hello"}), "client", max_ticks=1000)
    got = results(result, "client", calls)
    assert got[:8] == [0, 10, OK, EBADF, EBADF, OK, ENOENT, ENOENT]
    assert got[8:8 + 3 * len(names)] == [0, 3, OK] * len(names)
    assert got[8 + 3 * len(names):] == [ENOSPC, 0, OK, 1, 2, OK, OK, ENOENT]
    disk = result.extra["disk"]
    # "gone" took entry 1 and was freed, f0 took it again; "extra" took f5's entry
    assert directory_names(disk) == ["motd"] + [
        "extra" if name == "f5" else name for name in names]
    files = read_files(disk)
    assert files["extra"] == b"01" and files["f4"] == b"012" and files["motd"] == b"Hello"


def test_an_unformatted_disk_is_an_empty_file_system(tmp_path):
    calls = [open_("motd"), open_("new", O_CREAT | O_RDWR), write(0, "b", 4), close(0),
             open_("new"), read(0, "back", 8)]
    result = run(tmp_path, standard([client("client", calls,
                                            buffer("b", b"abcd") + "\n" + space("back", 8))]),
                 bytes(241 * SECTOR_SIZE), "client")
    assert results(result, "client", calls) == [ENOENT, 0, 4, OK, 0, 4]
    assert read_files(result.extra["disk"]) == {"new": b"abcd"}


def test_devices(tmp_path):
    calls = [open_("/dev/tty", O_RDWR), open_("dev/printer", O_WRONLY), write(0, "hi", 3),
             write(1, "page", 4), read(0, "in", 5), read(0, "in + 5", 100), read(0, "in", 4),
             close(0), close(1)]
    data = buffer("hi", b"hi\n") + "\n" + buffer("page", b"page") + "\n" + space("in", 32)
    result = run(tmp_path, standard([client("client", calls, data)]), disk_image(), "client")
    assert results(result, "client", calls) == [0, 1, 3, 4, 5, 7, 0, OK, OK]
    assert result.bytes_at("client", "in", 13) == b"typed input\n\xee"
    assert result.bytes_at("tty", "log", 3) == b"hi\n"
    assert result.bytes_at("printer", "log", 4) == b"page"


# -- recovery -----------------------------------------------------------------------------

def run_hooked(tmp_path, programs, disk_bytes, until_exit, hook, **limits):
    """Like `run`, with `hook(session)` called after the boot, before the run."""
    path = tmp_path / "disk.bin"
    path.write_bytes(disk_bytes)
    limits.setdefault("max_ticks", 400)
    session, console, printer, trace = boot(build(tmp_path, programs), disk=path,
                                            until_exit=until_exit, **limits)
    hook(session)
    end = session.run()
    text = trace.getvalue()
    result = Run(end, [json.loads(line) for line in text.splitlines()], console.getvalue(),
                 printer.getvalue(), session, text)
    check_sane(result)
    result.extra["disk"] = path.read_bytes()
    return result


def kill_disk_after(session, sectors_written):
    """Kill the disk driver (kernel.end_process, as a crash would) right after it wrote
    `sectors_written` sectors of a BDEV_WRITE to the drive, outside any trap."""
    kernel = session.kernel
    index = abi.SYS_SDEVIO - abi.KERNEL_CALL
    sdevio = kernel.system.table[index]
    state = {"written": 0, "victim": None, "killed": []}

    def counting_sdevio(kernel_, caller, msg):
        result = sdevio(kernel_, caller, msg)
        if caller.label == "disk" and msg.get(abi.SDIO_REQUEST) & abi.DIO_OUTPUT \
                and result == OK and not state["killed"]:
            state["written"] += 1
            if state["written"] == sectors_written:
                state["victim"] = caller
                caller.cpu.stop()               # end its slice after this trap
        return result
    kernel.system.table[index] = counting_sdevio
    expire = kernel.clock.expire

    def expire_and_kill(now):
        victim = state["victim"]
        if victim is not None:
            state["victim"] = None
            state["killed"].append(victim.endpoint)
            kernel.end_process(victim, "kill", by="test")
        return expire(now)
    kernel.clock.expire = expire_and_kill
    session.kill_state = state


def test_disk_driver_killed_in_the_middle_of_a_write_is_restarted_and_vfs_reissues(tmp_path):
    src = pattern(VFS_IO_MAX + 700, seed=9)
    calls = [open_("big", O_CREAT | O_RDWR), write(0, "src", VFS_IO_MAX),
             write(0, "src + 4096", 700), close(0),
             open_("big"), read(0, "dst", VFS_IO_MAX), read(0, "dst + 4096", 1000), close(0),
             spin(200000)]
    data = buffer("src", src) + "\n" + space("dst", VFS_IO_MAX + 1000)
    result = run_hooked(tmp_path, standard([client("client", calls, data)], rs=rs_program(),
                                           disk=disk_program(heartbeat=2)),
                        disk_image({"motd": b"Hello"}, fill=0x77), "client",
                        lambda s: kill_disk_after(s, 3), max_ticks=600)
    assert results(result, "client", calls) == [0, 4096, 700, OK, 0, 4096, 700, OK, None]
    assert result.bytes_at("client", "dst", len(src) + 1) == src + b"\xee"
    assert read_files(result.extra["disk"]) == {"motd": b"Hello", "big": src}
    # the kill came in the middle of the 8-sector write; RS started a new disk driver,
    # and VFS sent that write again to it
    state = result.session.kill_state
    assert state["killed"] == [3]
    pings = [e for e in result.ipc_events(proc="disk", op="NOTIFY") if e["peer_label"] == "rs"]
    assert len(pings) > 10                        # its heartbeats, answered all along
    assert [e["ev"] for e in result.events if e.get("proc") == "disk"
            and e["ev"] in ("kill", "fault", "exit")] == ["kill"]
    assert [(e["ev"], e["ep"]) for e in result.events
            if e.get("proc") == "disk" and e["ev"] in ("start", "kill")] == \
        [("start", 3), ("kill", 3), ("start", 3 + abi.ENDPOINT_GEN_MUL)]
    writes = [(e["peer"], e["t"]) for e in result.ipc_events(proc="vfs", op="ASEND")
              if e["m_type"] == "BDEV_WRITE"]
    kill_time = next(e["t"] for e in result.events if e["ev"] == "kill")
    before = [p for p, t in writes if t < kill_time]
    after = [p for p, t in writes if t > kill_time]
    assert before[-1] == 3 and after[0] == 3 + abi.ENDPOINT_GEN_MUL


TTY_RESTART = "    call ticks\n    cmp eax, {ticks}\n    jae {ok}\n{bad}\n{ok}:\n    mov eax, [req + M_TYPE]"


def test_a_character_request_not_taken_by_a_dead_driver_goes_to_its_successor(tmp_path):
    """The first tty never receives: RS's heartbeat kills it; VFS sends the read it was
    never able to deliver to the new tty, which answers it."""
    start = TTY_RESTART.format(ticks=5, ok="fine", bad="never:\n    jmp never")
    calls = [open_("/dev/tty", O_RDWR), read(0, "in", 5), write(0, "in", 5), close(0)]
    result = run(tmp_path, standard([client("client", calls, space("in", 8))],
                                    rs=rs_program(),
                                    tty=char_driver("tty", start=start, heartbeat=2)),
                 disk_image(), "client")
    assert results(result, "client", calls) == [0, 5, 5, OK]
    assert result.bytes_at("client", "in", 6) == b"typed\xee"
    assert [e["ev"] for e in result.events if e.get("proc") == "tty" and
            e["ev"] in ("start", "kill", "fault", "exit")] == ["start", "kill", "start"]
    assert result.bytes_at("tty", "log", 5) == b"typed"


def test_a_character_request_taken_by_a_driver_that_dies_is_eio(tmp_path):
    """The tty crashes after taking a read: the user gets EIO (it cannot be known what
    the driver did); the new tty serves the next read."""
    on_request = TTY_RESTART.format(ticks=5, ok="fine", bad="    ud2")
    calls = [open_("/dev/tty", O_RDONLY), read(0, "in", 5, spin=100000), read(0, "in", 5),
             close(0)]
    result = run(tmp_path, standard([client("client", calls, space("in", 8))],
                                    rs=rs_program(),
                                    tty=char_driver("tty", on_request=on_request)),
                 disk_image(), "client")
    assert results(result, "client", calls) == [0, EIO, 5, OK]
    assert result.bytes_at("client", "in", 6) == b"typed\xee"
    assert [e["ev"] for e in result.events if e.get("proc") == "tty" and
            e["ev"] in ("start", "kill", "fault", "exit")] == ["start", "fault", "start"]


def test_runs_are_deterministic(tmp_path):
    calls = [open_("f", O_CREAT | O_RDWR), write(0, "b", 700), close(0), open_("f"),
             read(0, "b", 700), open_("/dev/tty", O_WRONLY), write(1, "b", 9)]
    traces = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        result = run(tmp_path / name, standard([client("client", calls,
                                                       buffer("b", pattern(700)))]),
                     disk_image({"motd": b"Hello"}), "client")
        traces.append((result.trace_text, result.extra["disk"]))
    assert traces[0] == traces[1]


# -- replies VFS must not take ------------------------------------------------------------

# The printer first answers with a stale id (an older sequence number of the same slot)
# and with another slot's id, then the real answer (3 bytes) twice: only the first real
# one counts.  A user forges DEV_REPLYs too.
LYING_PRINTER = """
    cmp eax, CDEV_WRITE
    jne honest
    mov eax, [req + DEV_ID]
    push eax
    sub eax, 32
    call answer
    mov eax, [esp]
    xor eax, 1
    call answer
    pop eax
    push eax
    call answer
    pop eax
    call answer
    jmp main_loop
answer:                             ; DEV_REPLY with DEV_ID = eax and DEV_RESULT = 3
    mov [ans + DEV_ID], eax
    mov dword ptr [ans + M_TYPE], DEV_REPLY
    mov dword ptr [ans + DEV_RESULT], 3
    mov eax, EP_VFS
    lea ebx, [ans]
    mov ecx, ASEND
    mov [later + ASEND_DST], eax
    xor ecx, ecx
answer_copy:
    mov eax, [ans + ecx]
    mov [later + ASEND_MSG + ecx], eax
    add ecx, 4
    cmp ecx, MSG_SIZE
    jb answer_copy
    mov dword ptr [later + ASEND_FLAGS], AMF_VALID
    mov eax, 1
    lea ebx, [later]
    mov ecx, ASEND
    int IPC_VEC
wait_taken:                         ; one at a time: until VFS took it
    test dword ptr [later + ASEND_FLAGS], AMF_DONE
    jz wait_taken
    ret
honest:
    mov eax, [req + M_TYPE]
"""


# A driver that asks VFS for a file, as if it were a user (the kernel lets it message VFS
# once VFS has sent it a request): VFS ignores it.
DRIVER_AS_USER = """
    mov dword ptr [later + ASEND_FLAGS], AMF_VALID
    mov dword ptr [later + ASEND_DST], EP_VFS
    mov dword ptr [later + ASEND_MSG + M_TYPE], VFS_OPEN
    mov dword ptr [later + ASEND_MSG + VFS_PATH], 0x64746f6d     ; "motd"
    mov eax, 1
    lea ebx, [later]
    mov ecx, ASEND
    int IPC_VEC
"""


def test_replies_with_a_stale_or_foreign_id_or_from_the_wrong_party_are_ignored(tmp_path):
    forger = {"label": "forger", "kind": "user", "ipc": ["SENDREC", "SEND"],
              "targets": ["vfs", "SYSTEM"], "kernel_calls": ["EXIT"], "source": f"""
.text
_start:
    xor esi, esi
forge:
    mov [fake + DEV_ID], esi
    mov eax, EP_VFS
    lea ebx, [fake]
    mov ecx, SEND
    int IPC_VEC
    inc esi
    cmp esi, 200
    jb forge
    mov edx, 0
{EXIT_WITH_EDX}
.data
fake:
    .long 0, DEV_REPLY, 0, 77, 0
    .space 64 - 20
.bss
exit_msg:
    .space MSG_SIZE
"""}
    calls = [open_("/dev/printer", O_WRONLY), write(0, "b", 10), write(0, "b", 10),
             open_("motd"), read(1, "back", 5)]
    data = buffer("b", b"0123456789") + "\n" + space("back", 8)
    printer = char_driver("printer", on_request=LYING_PRINTER, start=DRIVER_AS_USER)
    printer["ipc"] = printer["ipc"] + ["ASEND"]
    printer["targets"] = printer["targets"] + ["vfs"]
    result = run(tmp_path, standard([forger, client("client", calls, data)], printer=printer),
                 disk_image({"motd": b"Hello"}), "client")
    assert results(result, "client", calls) == [0, 3, 3, 1, 5]
    assert result.bytes_at("client", "back", 5) == b"Hello"
    assert result.of("exit", "forger")[0]["status"] == 0
    # VFS answered nobody but the client (the forger's DEV_REPLYs got nothing)
    answered = {e["peer_label"] for e in result.ipc_events(proc="vfs", op="NBSEND")}
    assert answered == {"client"}
    received = [e["m_type"] for e in result.ipc_events(proc="vfs", op="RECEIVE")
                if e["peer_label"] == "printer"]
    assert received == ["VFS_OPEN"] + ["DEV_REPLY"] * 8
    fds = result.bytes_at("vfs", "fds", 64 * 32)
    owners = {struct.unpack_from("<2i", fds, 32 * i) for i in range(64)}
    assert (2, 5) not in owners                   # no fd of the printer's


FAILING_DISK = """
.text
_start:
    mov eax, ANY
    lea ebx, [req]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz _start
    cmp dword ptr [req + M_TYPE], NOTIFY_MESSAGE
    je _start
    inc dword ptr [requests]
    mov dword ptr [ans + M_TYPE], DEV_REPLY
    mov eax, [req + DEV_ID]
    mov [ans + DEV_ID], eax
    mov eax, [req + DEV_BYTES]
    {result}
    mov [ans + DEV_RESULT], eax
    mov eax, [req + M_SOURCE]
    lea ebx, [ans]
    mov ecx, NBSEND
    int IPC_VEC
    cmp eax, ENOTREADY
    jne _start
    mov dword ptr [later], AMF_VALID
    mov eax, [req + M_SOURCE]
    mov [later + ASEND_DST], eax
    xor ecx, ecx
copy:
    mov eax, [ans + ecx]
    mov [later + ASEND_MSG + ecx], eax
    add ecx, 4
    cmp ecx, MSG_SIZE
    jb copy
    mov eax, 1
    lea ebx, [later]
    mov ecx, ASEND
    int IPC_VEC
    jmp _start
.bss
requests:
    .space 4
req:
    .space MSG_SIZE
ans:
    .space MSG_SIZE
later:
    .space ASEND_ENTRY_SIZE
"""


def test_a_failing_disk_makes_file_requests_eio_and_devices_go_on(tmp_path):
    """A disk driver that answers EIO, or fewer bytes than asked: file requests are EIO
    (the directory is loaded again for each), devices are not affected."""
    calls = [open_("motd"), open_("new", O_CREAT | O_WRONLY), unlink("motd"),
             open_("/dev/tty", O_WRONLY), write(0, "b", 4)]
    for result_code in ("mov eax, EIO", "dec eax"):
        disk = dict(DISK_POLICY, source=FAILING_DISK.format(result=result_code))
        (tmp_path / result_code[-3:]).mkdir()
        result = run(tmp_path / result_code[-3:],
                     standard([client("client", calls, buffer("b", b"tty!"))], disk=disk),
                     disk_image({"motd": b"Hello"}), "client")
        assert results(result, "client", calls) == [EIO, EIO, EIO, 0, 4]
        assert result.word("disk", "requests") == 4       # the load at start, then one each
        assert result.bytes_at("tty", "log", 4) == b"tty!"


# -- the stock build ----------------------------------------------------------------------

def test_files_of_the_build_are_read_and_written_in_its_disk_img(tmp_path):
    """`emu build` writes disk.img from the folder files/; a boot without --disk uses it,
    and what VFS writes is in it after the run."""
    from tools.diskimage import read_files as build_read_files
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "motd").write_bytes(b"built by emu build\n")
    (tmp_path / "files" / "zz").write_bytes(pattern(3000))
    calls = [open_("motd"), read(0, "back", 64), open_("zz"), read(1, "big", 3000),
             open_("out", O_CREAT | O_WRONLY), write(2, "big", 3000), close(2)]
    data = space("back", 64) + "\n" + space("big", 3000)
    result = run_image(build(tmp_path, standard([client("client", calls, data)])),
                       until_exit="client", max_ticks=400)
    check_sane(result)
    assert results(result, "client", calls) == [0, 19, 1, 3000, 2, 3000, OK]
    assert result.bytes_at("client", "back", 20) == b"built by emu build\n\xee"
    assert build_read_files((tmp_path / "disk.img").read_bytes()) == {
        "motd": b"built by emu build\n", "zz": pattern(3000), "out": pattern(3000)}


# -- cost ---------------------------------------------------------------------------------

def messages_of_each_call(result, label):
    """For each call of `label`: (kernel calls, other messages delivered) between its
    SENDREC to VFS and its reply, in the whole system."""
    events = [e for e in result.events if e["ev"] == "ipc"]
    out, start = [], None
    for i, e in enumerate(events):
        if e["proc"] == label and e["op"] == "SENDREC":
            start = i
        elif e["proc"] == label and e["op"] == "RECEIVE" and start is not None:
            sends = [x for x in events[start:i + 1] if x["op"] != "RECEIVE"
                     and x["result"] == "OK" and x["m_type"] is not None]
            kcalls = [x for x in sends if x["peer_label"] == "SYSTEM"]
            out.append((len(kcalls), len(sends) - len(kcalls)))
            start = None
    return out


def test_messages_for_one_read_and_one_write_to_the_disk(tmp_path):
    """One read of a sector: the user's request, VFS's request to the disk driver, its 3
    kernel calls (taskfile, status, data), its answer, VFS's VIRCOPY and VFS's answer:
    12 messages counting a kernel call as 2 (request and reply).  One write of a sector
    inside the file: 18 (VIRCOPY, taskfile, status, data, status, flush, status); one
    that grows the file writes the directory back too: 32.  MINIX 3 (the seed): > 25
    for a read."""
    calls = [open_("f", O_RDWR), read(0, "b", 512), write(0, "b", 512), write(0, "b", 512)]
    result = run(tmp_path, standard([client("client", calls, space("b", 512))]),
                 disk_image({"f": pattern(1024)}), "client")
    assert results(result, "client", calls) == [0, 512, 512, 512]
    counts = messages_of_each_call(result, "client")
    total = [2 * kcalls + others for kcalls, others in counts]
    assert counts[1:] == [(4, 4), (7, 4), (13, 6)]
    assert total[1:] == [12, 18, 32]
