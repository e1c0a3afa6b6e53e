"""PM, the process manager (docs/OS.md): PM_SPAWN, PM_WAIT, PM_EXIT, PM_GETPID, with
every check, driven by a scripted `init` against the real guest/servers/pm.asm.

The prober is `init` (so the image's other user programs start only through PM).  It
runs a table of steps: each is one SENDREC to PM with its own 64-byte message slot, the
reply lands in the slot, and the trap's result goes to `results`.  A step may take the
M_TYPE of an earlier step's reply (a child's endpoint) as its PM_CHILD, and may spin
afterwards (so a child can end before the wait).  The prober ends with PM_EXIT 0, which
ends the run.  A test reads every reply, and checks the trace: the children's starts,
ends and PM's kills.
"""

from dataclasses import dataclass
from pathlib import Path

from kernel import abi, protocols
from kernel.abi import (ANY, EAGAIN, EBADREQUEST, EINVAL, END_EXIT, END_FAULT, ENOENT,
                        EPERM, ESRCH, OK)
from kernel.protocols import PM_EXIT, PM_GETPID, PM_SPAWN, PM_WAIT
from tests.harness import run_system

ROOT = Path(__file__).resolve().parent.parent
PM_SOURCE = (ROOT / "guest" / "servers" / "pm.asm").read_text()
WAIT_FAULTED = 0x100 + END_FAULT
WAIT_KILLED = 0x100 + abi.END_KILL
SENTINEL = 0x7777

PM = {"label": "pm", "source": PM_SOURCE, "kind": "server",
      "ipc": ["RECEIVE", "NBSEND", "SENDREC"], "targets": ["SYSTEM"],
      "kernel_calls": ["SPAWN", "KILL", "GETINFO"]}
USER = {"kind": "user", "ipc": ["SENDREC"], "targets": ["pm"], "kernel_calls": []}

PM_EXIT_EAX = """
    mov dword ptr [exit_msg + M_TYPE], PM_EXIT
    mov [exit_msg + PM_STATUS], eax
    mov eax, EP_PM
    lea ebx, [exit_msg]
    mov ecx, SENDREC
    int IPC_VEC
    ud2
"""


def user(label, body, bss="", **policy):
    source = f"""
.text
_start:
{body}
.bss
exit_msg:
    .space MSG_SIZE
{bss}
"""
    return {"label": label, "source": source, **USER, **policy}


# Children: what each does is its whole test value
SEVEN = user("seven", "    mov eax, 7\n" + PM_EXIT_EAX)
CRASHER = user("crasher", "    mov eax, [0]\n" + PM_EXIT_EAX)
ECHOARGS = user("echoargs", """
    mov eax, edi                    ; the length of the argument string
    cmp byte ptr [esi + edi], 0     ; NUL-terminated
    je echo_ok
    mov eax, 99
echo_ok:
    cmp byte ptr [esi], 'h'
    je echo_exit
    mov eax, 98
echo_exit:
""" + PM_EXIT_EAX)
SPAWNER = user("spawner", """
    mov dword ptr [spawn_msg + M_TYPE], PM_SPAWN
    mov dword ptr [spawn_msg + PM_LABEL], 0x65766573     ; "seve"
    mov dword ptr [spawn_msg + PM_LABEL + 4], 0x6E       ; "n"
    mov eax, EP_PM
    lea ebx, [spawn_msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, 3                      ; ends without waiting: its child is orphaned
""" + PM_EXIT_EAX, bss="spawn_msg:\n    .space MSG_SIZE")
RUDE = user("rude", """
    mov dword ptr [rude_msg + M_TYPE], PM_GETPID
    mov eax, EP_PM
    lea ebx, [rude_msg]
    mov ecx, SEND                   ; never receives PM's reply
    int IPC_VEC
rude_spin:
    jmp rude_spin
""", bss="rude_msg:\n    .space MSG_SIZE", ipc=["SEND", "SENDREC"])
BLOCKER = user("blocker", """
    mov eax, ANY
    lea ebx, [exit_msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, 0
""" + PM_EXIT_EAX, ipc=["SENDREC", "RECEIVE"])
SERVER = {"label": "srv", "kind": "server", "ipc": ["SENDREC"], "targets": ["SYSTEM", "pm"],
          "kernel_calls": ["EXIT"], "source": """
.text
_start:
    mov dword ptr [msg + M_TYPE], PM_EXIT
    mov eax, EP_PM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov [srv_eax], eax
    mov dword ptr [exit_msg + M_TYPE], SYS_EXIT
    mov eax, SYSTEM
    lea ebx, [exit_msg]
    mov ecx, SENDREC
    int IPC_VEC
.bss
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
srv_eax:
    .space 4
"""}
CHILDREN = [SEVEN, CRASHER, ECHOARGS, SPAWNER, RUDE, BLOCKER]


@dataclass
class Step:
    """One SENDREC to PM: M_TYPE, payload (ints or bytes packed from M_W0), the index
    of an earlier step whose reply M_TYPE becomes this step's PM_CHILD, a spin after."""
    m_type: int
    payload: object = b""
    child_of: int = -1
    spin: int = 0


def spawn(label, args=b"", raw_label=None, spin=0):
    label_bytes = raw_label if raw_label is not None else label.encode().ljust(16, b"\0")
    args_bytes = args if len(args) >= 40 else args.ljust(40, b"\0")
    return Step(PM_SPAWN, label_bytes + args_bytes, spin=spin)


def wait(child=None, child_of=-1):
    return Step(PM_WAIT, (child if child is not None else 0).to_bytes(4, "little", signed=True),
                child_of)


def prober_source(steps):
    headers, slots = [], []
    for step in steps:
        headers.append(f"    .long {step.child_of}, {step.spin}")
        payload = step.payload
        assert len(payload) <= 56
        data = (0).to_bytes(4, "little") + step.m_type.to_bytes(4, "little", signed=True) \
            + payload.ljust(56, b"\0")
        slots.append("    .byte " + ", ".join(str(b) for b in data))
    sentinels = ", ".join([str(SENTINEL)] * len(steps))
    return f"""
.text
_start:
    xor esi, esi
next_step:
    cmp esi, {len(steps)}
    jge all_done
    mov ebx, esi
    shl ebx, 6
    lea ebx, [slots + ebx]
    mov edx, [steps + esi*8]        ; child_of
    test edx, edx
    js send_it
    shl edx, 6
    mov eax, [slots + edx + M_TYPE]
    mov [ebx + PM_CHILD], eax
send_it:
    mov eax, EP_PM
    mov ecx, SENDREC
    int IPC_VEC
    mov [results + esi*4], eax
    mov ecx, [steps + esi*8 + 4]
    test ecx, ecx
    jz step_done
spin:
    dec ecx
    jnz spin
step_done:
    inc esi
    jmp next_step
all_done:
    mov eax, 0
{PM_EXIT_EAX}
.data
steps:
{chr(10).join(headers)}
slots:
{chr(10).join(slots)}
results:
    .long {sentinels}
.bss
exit_msg:
    .space MSG_SIZE
"""


@dataclass
class Reply:
    eax: int
    source: int
    type: int
    words: tuple


def run_pm(tmp_path, steps, children=CHILDREN, others=(), **limits):
    init = {"label": "init", "source": prober_source(steps), **USER}
    programs = [PM, *others, init, *children]
    limits.setdefault("max_ticks", 400)
    result = run_system(tmp_path, programs, **limits)
    assert result.kernel.panic_report is None
    assert result.end == "done", result.end
    out = []
    for i in range(len(steps)):
        slot = result.bytes_at("init", "slots", abi.MSG_SIZE, abi.MSG_SIZE * i)
        ints = [int.from_bytes(slot[k:k + 4], "little", signed=True) for k in range(0, 64, 4)]
        out.append(Reply(result.word("init", "results", 4 * i), ints[0], ints[1],
                         tuple(ints[2:])))
    return result, out


def starts(result, label):
    return [e["ep"] for e in result.of("start", label)]


# -- the tests ----------------------------------------------------------------------------

def test_spawn_wait_exit_and_getpid(tmp_path):
    steps = [Step(PM_GETPID), spawn("seven"), wait(child_of=1),
             spawn("echoargs", b"hello world"), wait(ANY)]
    result, replies = run_pm(tmp_path, steps)
    init_ep = result.of("start", "init")[0]["ep"]
    assert [r.eax for r in replies] == [OK] * len(steps)
    assert {r.source for r in replies} == {0}              # every reply from PM
    assert replies[0].type == init_ep
    child = replies[1].type
    assert starts(result, "seven") == [child]
    assert (replies[2].type, replies[2].words[0], replies[2].words[1]) == (7, child, END_EXIT)
    assert replies[4].type == len(b"hello world")
    assert replies[4].words[0] == replies[3].type
    # PM ended each child for its PM_EXIT, and then the prober itself
    kills = [(e["proc"], e["by"]) for e in result.of("kill")]
    assert kills == [("seven", "pm"), ("echoargs", "pm"), ("init", "pm")]
    # PM never blocked on anyone: its only sends are NBSENDs and kernel calls
    sends = result.ipc_events(proc="pm")
    assert {e["op"] for e in sends} <= {"RECEIVE", "NBSEND", "SENDREC"}
    assert {e["peer_label"] for e in result.ipc_events(proc="pm", op="SENDREC")} == {"SYSTEM"}


def test_spawn_rejects_bad_requests(tmp_path):
    steps = [spawn("nosuch"),
             spawn("", raw_label=b"a" * 16),                   # no NUL in the label
             spawn("seven", b"x" * 40),                         # no NUL in the arguments
             spawn(""),                                         # an empty label
             spawn("pm"), spawn("srv"), spawn("init"),          # not user programs / init
             Step(0x7FF), Step(abi.NOTIFY_MESSAGE + 1), Step(-1)]
    result, replies = run_pm(tmp_path, steps, others=[SERVER])
    assert [r.eax for r in replies] == [OK] * len(steps)
    assert [r.type for r in replies] == [ENOENT, EINVAL, EINVAL, EINVAL, EPERM, EPERM, EPERM,
                                         EBADREQUEST, EBADREQUEST, EBADREQUEST]
    assert not any(result.of("start", label) for label in ("seven", "echoargs"))
    assert len(result.of("start", "pm")) == 1 and len(result.of("start", "srv")) == 1
    assert not [e for e in result.of("kcall", "pm") if e["call"] == "SPAWN"]


def test_wait_rejects_what_is_not_a_child(tmp_path):
    steps = [wait(ANY),                        # no child at all
             wait(0),                          # PM's endpoint
             spawn("seven"), wait(child_of=2),
             wait(child_of=2),                 # that child is gone and reaped
             wait(0x7FFFFFFF), wait(abi.NONE), wait(abi.SELF)]
    result, replies = run_pm(tmp_path, steps)
    assert [r.type for r in replies] == [ESRCH, ESRCH, replies[2].type, 7, ESRCH, ESRCH,
                                         ESRCH, ESRCH]
    assert replies[2].type >= 0


def test_wait_for_a_child_that_another_process_started(tmp_path):
    # spawner starts a `seven` and ends: init may not wait for its grandchild
    steps = [spawn("spawner"), wait(child_of=0), wait(ANY)]
    result, replies = run_pm(tmp_path, steps)
    assert [r.type for r in replies[1:]] == [3, ESRCH]
    grandchild = starts(result, "seven")
    assert len(grandchild) == 1
    assert result.of("kill", "seven")        # the orphan ended by its PM_EXIT


def test_a_child_that_faults_is_reported_to_its_waiting_parent(tmp_path):
    steps = [spawn("crasher"), wait(child_of=0), Step(PM_GETPID)]
    result, replies = run_pm(tmp_path, steps)
    child = replies[0].type
    faults = result.of("fault", "crasher")
    assert len(faults) == 1 and faults[0]["ep"] == child
    assert faults[0]["addr"] == 0
    assert replies[1].type == WAIT_FAULTED
    assert replies[1].words[:2] == (child, END_FAULT)
    assert replies[2].type == result.of("start", "init")[0]["ep"]   # PM goes on


def test_a_child_that_ended_before_the_wait_is_answered_at_once(tmp_path):
    steps = [spawn("seven", spin=50_000), wait(child_of=0)]
    result, replies = run_pm(tmp_path, steps)
    child_end = result.of("kill", "seven")[0]["t"]
    wait_sent = [e for e in result.ipc_events(proc="init", op="SENDREC")
                 if e["m_type"] == "PM_WAIT"][0]["t"]
    assert child_end < wait_sent
    assert replies[1].type == 7


def test_wait_any_takes_each_child_once(tmp_path):
    steps = [spawn("seven"), spawn("echoargs", b"hi"), wait(ANY), wait(ANY), wait(ANY)]
    result, replies = run_pm(tmp_path, steps)
    got = sorted([(replies[2].words[0], replies[2].type), (replies[3].words[0], replies[3].type)])
    assert got == sorted([(replies[0].type, 7), (replies[1].type, 2)])
    assert replies[4].type == ESRCH


def test_pm_never_blocks_on_a_user_that_does_not_receive(tmp_path):
    steps = [spawn("rude", spin=20_000), Step(PM_GETPID), spawn("seven"), wait(child_of=2)]
    result, replies = run_pm(tmp_path, steps)
    assert replies[1].type == result.of("start", "init")[0]["ep"]
    assert replies[3].type == 7
    nbsends = [e for e in result.ipc_events(proc="pm", op="NBSEND") if e["peer_label"] == "rude"]
    assert nbsends and nbsends[0]["result"] == "ENOTREADY"


def test_pm_exit_of_a_server_is_refused(tmp_path):
    steps = [Step(PM_GETPID, spin=20_000)]
    result, replies = run_pm(tmp_path, steps, others=[SERVER])
    assert result.word("srv", "srv_eax") == OK
    assert result.word("srv", "msg", abi.M_TYPE) == EPERM
    assert result.of("exit", "srv") and not result.of("kill", "srv")


def test_pm_table_is_bounded(tmp_path):
    # one parent gets its share of PM's table, PM_CHILD_MAX children, and no more
    steps = [spawn("blocker") for _ in range(protocols.PM_CHILD_MAX + 1)]
    result, replies = run_pm(tmp_path, steps)
    types = [r.type for r in replies]
    assert all(t >= 0 for t in types[:protocols.PM_CHILD_MAX])
    assert types[protocols.PM_CHILD_MAX] == EAGAIN
    assert len(result.of("start", "blocker")) == protocols.PM_CHILD_MAX
