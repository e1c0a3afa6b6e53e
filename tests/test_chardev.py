"""The character drivers tty and printer (guest/drivers), against a scripted VFS and RS.

The scripted `vfs` registers a grant table, then runs a table of requests: each goes to
its driver by ASEND (as the real VFS sends them), and the script takes the driver's
DEV_REPLY in a RECEIVE ANY loop (notifications are counted and skipped).  Every reply
lands in its own slot, so a test checks DEV_ID, DEV_RESULT, the bytes that reached the
console or the printer, and the trace.  The scripted `rs` pings the drivers like RS.
"""

from pathlib import Path

from kernel import abi
from kernel.abi import (CPF_READ, CPF_VALID, CPF_WRITE, EBADREQUEST, EBUSY, EINVAL, EPERM,
                        NOTIFY_MESSAGE, OK)
from kernel.protocols import CDEV_READ, CDEV_WRITE, BDEV_READ, DEV_REPLY, DEV_WRITE
from tests.harness import run_system

ROOT = Path(__file__).resolve().parent.parent
TTY = {"label": "tty", "source": (ROOT / "guest/drivers/tty.asm").read_text(),
       "kind": "driver", "ipc": ["RECEIVE", "NBSEND", "SENDREC", "NOTIFY", "ASEND"],
       "targets": ["SYSTEM"],
       "kernel_calls": ["DEVIO", "VDEVIO", "IRQCTL", "SETALARM", "SAFECOPYFROM",
                        "SAFECOPYTO"], "io": ["0x3F8-0x3FF"], "irq": [4]}
PRINTER = {"label": "printer", "source": (ROOT / "guest/drivers/printer.asm").read_text(),
           "kind": "driver", "ipc": ["RECEIVE", "NBSEND", "SENDREC", "NOTIFY", "ASEND"],
           "targets": ["SYSTEM"],
           "kernel_calls": ["DEVIO", "VDEVIO", "SAFECOPYFROM"], "io": ["0xAB-0xAD"]}

# The scripted VFS's buffers, each granted to a driver: (name, size, flags, grantee)
OUT_TEXT = b"Through a grant, in chunks of 256: " + bytes(range(32, 127)) * 4 + b"\n"
BUFFERS = [("out", OUT_TEXT, CPF_READ, "EP_TTY"),
           ("inbuf", 64, CPF_WRITE, "EP_TTY"),
           ("page", OUT_TEXT, CPF_READ, "EP_PRINTER"),
           ("out", OUT_TEXT, CPF_WRITE, "EP_TTY")]          # no CPF_READ: EPERM


def vfs_source(requests):
    """`requests`: (driver symbol, M_TYPE, grant, bytes, id)."""
    grants, data = [], []
    for i, (name, content, flags, grantee) in enumerate(BUFFERS):
        size = len(content) if isinstance(content, bytes) else content
        grants.append(f"    .long {CPF_VALID | flags}, {grantee}, {name}, {size}")
    rows = "\n".join(f"    .long {dst}, {m_type}, {grant}, {count}, {ident}"
                     for dst, m_type, grant, count, ident in requests)
    out = ", ".join(str(b) for b in OUT_TEXT)
    return f"""
.text
_start:
    mov dword ptr [kmsg + M_TYPE], SYS_SETGRANT
    lea eax, [grants]
    mov [kmsg + SG_ADDR], eax
    mov dword ptr [kmsg + SG_COUNT], {len(BUFFERS)}
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
    xor esi, esi
next:
    cmp esi, {len(requests)}
    jge done
    mov edi, esi
    imul edi, edi, 20
    lea edi, [requests + edi]
    mov eax, [edi]
    mov [entry + ASEND_DST], eax
    mov eax, [edi + 4]
    mov [entry + ASEND_MSG + M_TYPE], eax
    mov eax, [edi + 8]
    mov [entry + ASEND_MSG + DEV_GRANT], eax
    mov eax, [edi + 12]
    mov [entry + ASEND_MSG + DEV_BYTES], eax
    mov eax, [edi + 16]
    mov [entry + ASEND_MSG + DEV_ID], eax
    mov dword ptr [entry + ASEND_FLAGS], AMF_VALID
    mov eax, 1
    lea ebx, [entry]
    mov ecx, ASEND
    int IPC_VEC
wait_reply:
    mov ebx, esi
    shl ebx, 6
    lea ebx, [replies + ebx]
    mov eax, ANY
    mov ecx, RECEIVE
    int IPC_VEC
    cmp dword ptr [ebx + M_TYPE], NOTIFY_MESSAGE
    jne got_reply
    inc dword ptr [notifications]
    jmp wait_reply
got_reply:
    inc esi
    jmp next
done:
    mov dword ptr [kmsg + M_TYPE], SYS_EXIT
    mov dword ptr [kmsg + EXIT_STATUS], 0
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
.data
requests:
{rows}
grants:
{chr(10).join(grants)}
out:
    .byte {out}
page:
    .byte {out}
.bss
inbuf:
    .space 64
kmsg:
    .space MSG_SIZE
entry:
    .space ASEND_ENTRY_SIZE
notifications:
    .space 4
replies:
    .space {64 * len(requests)}
"""


def fake_vfs(requests):
    return {"label": "vfs", "source": vfs_source(requests), "kind": "server",
            "ipc": ["SENDREC", "RECEIVE", "ASEND"], "targets": ["SYSTEM", "tty", "printer"],
            "kernel_calls": ["SETGRANT", "EXIT"]}


def replies(result, n):
    out = []
    for i in range(n):
        raw = result.bytes_at("vfs", "replies", 64, 64 * i)
        ints = [int.from_bytes(raw[k:k + 4], "little", signed=True) for k in range(0, 64, 4)]
        out.append(ints)
    return out


def run_vfs(tmp_path, requests, input_bytes=b"", others=(), **limits):
    programs = [TTY, PRINTER, fake_vfs(requests), *others]
    limits.setdefault("max_ticks", 300)
    limits.setdefault("until_exit", "vfs")
    result = run_system(tmp_path, programs, input_bytes=input_bytes, **limits)
    assert result.kernel.panic_report is None
    assert result.end == "exit", result.end
    return result, replies(result, len(requests))


def dev_reply(reply):
    """(source endpoint, M_TYPE, DEV_ID, DEV_RESULT)"""
    return reply[0], reply[1], reply[2 + 2], reply[2 + 1]


def test_tty_writes_through_a_grant(tmp_path):
    result, (write,) = run_vfs(tmp_path, [("EP_TTY", CDEV_WRITE, 0, len(OUT_TEXT), 77)])
    assert dev_reply(write) == (0, DEV_REPLY, 77, len(OUT_TEXT))
    assert result.console == OUT_TEXT
    copies = [e for e in result.of("kcall", "tty") if e["call"] == "SAFECOPYFROM"]
    assert [e["size"] for e in copies] == [256, len(OUT_TEXT) - 256]
    assert {e["result"] for e in copies} == {"OK"}


def test_tty_reads_a_line_at_a_time_and_echoes(tmp_path):
    requests = [("EP_TTY", CDEV_READ, 1, 64, 1), ("EP_TTY", CDEV_READ, 1, 64, 2),
                ("EP_TTY", CDEV_READ, 1, 3, 3), ("EP_TTY", CDEV_READ, 1, 64, 4)]
    result, answers = run_vfs(tmp_path, requests, input_bytes=b"first line\nsecond\nabcdef")
    results = [dev_reply(a)[2:] for a in answers]
    assert results == [(1, 11), (2, 7), (3, 3), (4, 3)]
    assert result.bytes_at("vfs", "inbuf", 3) == b"def"        # the last read: "def"
    assert result.console == b"first line\nsecond\nabcdef"      # echoed as read


def test_tty_answers_zero_bytes_at_the_end_of_the_input(tmp_path):
    requests = [("EP_TTY", CDEV_READ, 1, 64, 5), ("EP_TTY", CDEV_READ, 1, 64, 6),
                ("EP_TTY", CDEV_READ, 1, 64, 7)]
    result, answers = run_vfs(tmp_path, requests, input_bytes=b"last\n")
    assert [dev_reply(a)[2:] for a in answers] == [(5, 5), (6, 0), (7, 0)]


def test_tty_rejects_bad_requests_with_a_dev_reply(tmp_path):
    requests = [("EP_TTY", CDEV_WRITE, 3, 10, 11),        # the grant lacks CPF_READ
                ("EP_TTY", CDEV_WRITE, 9, 10, 12),        # no such grant
                ("EP_TTY", CDEV_WRITE, 0, -1, 13),        # negative count
                ("EP_TTY", CDEV_READ, 1, -5, 14),
                ("EP_TTY", BDEV_READ, 1, 512, 15),        # not a block device
                ("EP_TTY", CDEV_WRITE, 0, len(OUT_TEXT) + 1, 16)]   # past the grant
    result, answers = run_vfs(tmp_path, requests)
    assert [dev_reply(a)[1:] for a in answers] == [
        (DEV_REPLY, 11, EPERM), (DEV_REPLY, 12, EPERM), (DEV_REPLY, 13, EINVAL),
        (DEV_REPLY, 14, EINVAL), (DEV_REPLY, 15, EBADREQUEST), (DEV_REPLY, 16, 256)]
    assert result.console == OUT_TEXT[:256]                 # the chunks inside the grant
    assert not result.of("fault") and not result.of("kill")


def test_printer_prints_through_a_grant(tmp_path):
    requests = [("EP_PRINTER", CDEV_WRITE, 2, len(OUT_TEXT), 21),
                ("EP_PRINTER", CDEV_READ, 2, 10, 22),
                ("EP_PRINTER", CDEV_WRITE, 0, 10, 23)]     # a grant to tty, not to it
    result, answers = run_vfs(tmp_path, requests)
    assert [dev_reply(a) for a in answers] == [(1, DEV_REPLY, 21, len(OUT_TEXT)),
                                               (1, DEV_REPLY, 22, EINVAL),
                                               (1, DEV_REPLY, 23, EPERM)]
    assert result.printer == OUT_TEXT


def test_the_inline_dev_write_is_kept(tmp_path):
    hello = {"label": "hello", "kind": "user", "ipc": ["SENDREC"],
             "targets": ["SYSTEM", "tty", "printer"], "kernel_calls": ["EXIT"], "source": """
.text
_start:
    mov dword ptr [msg + M_TYPE], DEV_WRITE
    mov dword ptr [msg + DEV_COUNT], 3
    mov dword ptr [msg + DEV_DATA], 0x0A6968     ; "hi\\n"
    mov eax, EP_TTY
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, [msg + M_TYPE]
    mov [answers], eax
    mov dword ptr [msg + M_TYPE], DEV_WRITE
    mov dword ptr [msg + DEV_COUNT], 41
    mov eax, EP_PRINTER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, [msg + M_TYPE]
    mov [answers + 4], eax
    mov dword ptr [msg + M_TYPE], DEV_WRITE
    mov dword ptr [msg + DEV_COUNT], 2
    mov dword ptr [msg + DEV_DATA], 0x0A6968
    mov eax, EP_PRINTER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, [msg + M_TYPE]
    mov [answers + 8], eax
    mov dword ptr [msg + M_TYPE], SYS_EXIT
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
.bss
msg:
    .space MSG_SIZE
answers:
    .space 12
"""}
    result = run_system(tmp_path, [TTY, PRINTER, hello], until_exit="hello", max_ticks=50)
    assert [result.word("hello", "answers", 4 * i) for i in range(3)] == [3, EINVAL, 2]
    assert result.console == b"hi\n" and result.printer == b"hi"


def test_drivers_answer_heartbeats_even_while_printing(tmp_path):
    rs = {"label": "rs", "kind": "server", "ipc": ["NOTIFY", "RECEIVE", "SENDREC"],
          "targets": ["SYSTEM", "tty", "printer"], "kernel_calls": ["SETALARM", "EXIT"],
          "source": """
.text
_start:
    mov dword ptr [beats], 0
ping:
    mov eax, EP_TTY
    mov ecx, NOTIFY
    int IPC_VEC
    mov eax, EP_PRINTER
    mov ecx, NOTIFY
    int IPC_VEC
    mov dword ptr [kmsg + M_TYPE], SYS_SETALARM
    mov dword ptr [kmsg + ALARM_TICKS], 2
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
collect:
    mov eax, ANY
    lea ebx, [inbox]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, [inbox + M_SOURCE]
    cmp eax, CLOCK
    je tick
    cmp eax, EP_TTY
    jne not_tty
    inc dword ptr [tty_beats]
not_tty:
    cmp eax, EP_PRINTER
    jne collect
    inc dword ptr [printer_beats]
    jmp collect
tick:
    inc dword ptr [beats]
    cmp dword ptr [beats], 20
    jl ping
    mov dword ptr [kmsg + M_TYPE], SYS_EXIT
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
.bss
kmsg:
    .space MSG_SIZE
inbox:
    .space MSG_SIZE
beats:
    .space 4
tty_beats:
    .space 4
printer_beats:
    .space 4
"""}
    requests = [("EP_PRINTER", CDEV_WRITE, 2, len(OUT_TEXT), 31)] * 12
    with_rs = {"targets": ["SYSTEM", "rs"]}
    programs = [{**TTY, **with_rs}, {**PRINTER, **with_rs}, fake_vfs(requests), rs]
    result = run_system(tmp_path, programs, until_exit="rs", max_ticks=400)
    assert result.kernel.panic_report is None and result.end == "exit"
    assert result.word("rs", "tty_beats") == 20
    # the printer answers every beat, though it was printing through most of them
    assert result.word("rs", "printer_beats") >= 19
    printing = [e["t"] for e in result.of("kcall", "printer") if e["call"] == "VDEVIO"]
    assert printing[-1] - printing[0] > 10 * abi.TICK_INSNS
    assert result.printer.startswith(OUT_TEXT)
