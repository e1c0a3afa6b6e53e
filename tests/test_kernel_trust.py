"""The asymmetric-trust report (SPEC section 5): a SEND or SENDREC from a server to a
driver is a `trust` trace event and is counted on the server; nothing else is.

The server `srv` calls a driver `drv` (which answers by NBSEND) with every primitive,
and another server; a user and the driver call too.  Only the server's SENDREC and SEND
to the driver are reported; a denied call (bad buffer) is not.  The stock system's
servers must never be reported.
"""

from pathlib import Path

from tests.harness import EXIT_WITH_EDX, run_image, run_system
from tools.build import build_image

ROOT = Path(__file__).resolve().parent.parent
ANSWER = """
.text
_start:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, [msg + M_SOURCE]
    lea ebx, [msg]
    mov ecx, NBSEND
    int IPC_VEC
    jmp _start
.bss
msg:
    .space MSG_SIZE
"""


def caller(calls):
    """Each call: (primitive, destination, message address)."""
    body = "\n".join(f"    mov eax, {dst}\n    lea ebx, [{address}]\n    mov ecx, {primitive}\n"
                     "    int IPC_VEC" for primitive, dst, address in calls)
    return f"""
.text
_start:
{body}
    mov edx, 0
{EXIT_WITH_EDX}
.data
table:
    .long AMF_VALID, EP_DRV, 0
msg:
    .space MSG_SIZE
.bss
exit_msg:
    .space MSG_SIZE
"""


def test_only_blocking_sends_from_a_server_to_a_driver_are_reported(tmp_path):
    srv_calls = [("SENDREC", "EP_DRV", "msg"), ("SEND", "EP_DRV", "msg"),
                 ("NBSEND", "EP_DRV", "msg"), ("NOTIFY", "EP_DRV", "msg"),
                 ("ASEND", "1", "table"),
                 ("SENDREC", "EP_DRV", "0"),              # EFAULT: denied, not reported
                 ("SENDREC", "EP_OTHER", "msg")]
    programs = [
        {"label": "drv", "kind": "driver", "priority": 1, "source": ANSWER},
        {"label": "other", "kind": "server", "priority": 1, "source": ANSWER},
        {"label": "srv", "kind": "server", "source": caller(srv_calls)},
        {"label": "usr", "kind": "user", "source": caller([("SENDREC", "EP_DRV", "msg")])},
        {"label": "drv2", "kind": "driver", "source": caller([("SENDREC", "EP_OTHER", "msg"),
                                                               ("SENDREC", "EP_DRV", "msg")])},
    ]
    result = run_system(tmp_path, programs, until_exit="usr", max_ticks=50)
    assert result.end == "exit" and result.of("exit", "srv")[0]["status"] == 0
    events = result.of("trust")
    assert [(e["proc"], e["ep"], e["op"], e["peer"], e["peer_label"]) for e in events] == \
        [("srv", 2, "SENDREC", 0, "drv"), ("srv", 2, "SEND", 0, "drv")]
    sends = [e for e in result.ipc_events(proc="srv") if e["op"] in ("SENDREC", "SEND")
             and e["peer_label"] == "drv" and e["result"] == "OK"]
    assert [e["t"] for e in sends] == [e["t"] for e in events]
    assert result.word("srv", "table") & 2, "the ASEND entry was delivered"
    procs = result.kernel.table.procs
    assert [p.trust_reports for p in procs[:5]] == [0, 0, 2, 0, 0]


def test_the_stock_servers_never_block_on_a_driver(tmp_path):
    image = build_image(ROOT / "guest" / "system.toml", tmp_path / "minix.img", tmp_path)
    result = run_image(image.path, input_bytes=b"hello\nps\n", max_ticks=2000)
    assert result.kernel.panic_report is None
    assert not result.of("trust")
    assert not [p.label for p in result.kernel.table.procs if p.trust_reports]
