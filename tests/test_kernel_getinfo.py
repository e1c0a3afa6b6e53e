"""GETINFO (SPEC section 4) and the reports of process ends to RS and PM (docs/OS.md).

The prober (program 0, a server) reads PROCINFO entries of itself, of a child blocked in
RECEIVE, of a free slot and of the image's programs.  For the ends, an `rs` and a `pm`
drain GETINFO GI_ENDED into a table at every notification from SYSTEM, while processes
of every kind exit, fault and are killed.
"""

import struct

from kernel import abi
from kernel.abi import (EFAULT, EINVAL, EPERM, GI_ENDED, GI_PROC, GI_PROCTAB,
                        GI_PROGRAM, NONE, NR_PROCS, OK, PROCINFO_SIZE, SYS_GETINFO)
from kernel.system.getinfo import ENTRY
from tests.harness import EXIT_WITH_EDX, boot, build_system, run_system
from tests.test_kernel_calls import STACK_END, call, kcalls, run_steps
from tests.test_spawn import CHILD, child

DATA = """
entry:
    .space PROCINFO_SIZE * 4
"""
BSS_TABLE = "table:\n    .space NR_PROCS * PROCINFO_SIZE\n"


def getinfo(request, which=0, address="entry"):
    return call(SYS_GETINFO, request, which, address)


def entries(data):
    return [ENTRY.unpack_from(data, k) for k in range(0, len(data), PROCINFO_SIZE)]


def label(text):
    return text.encode().ljust(16, b"\0")


def run(tmp_path, steps, **child_policy):
    policy = {"kind": "server", "priority": 9, "kernel_calls": ["GETINFO", "EXIT"]}
    data = DATA + ".bss\n" + BSS_TABLE
    return run_steps(tmp_path, steps, data, others=[child(**child_policy)], policy=policy)


def test_procinfo_layout_matches_the_abi():
    assert ENTRY.size == PROCINFO_SIZE
    offsets = [abi.PI_ENDPOINT, abi.PI_STATE, abi.PI_PROGRAM, abi.PI_PRIORITY, abi.PI_KIND,
               abi.PI_HEARTBEAT, abi.PI_RESTART, abi.PI_FAULTS, abi.PI_LABEL]
    assert offsets == [0, 4, 8, 12, 16, 20, 24, 28, 32]


def test_getinfo_entries(tmp_path):
    steps = [getinfo(GI_PROC, 0), getinfo(GI_PROC, 1, "entry + PROCINFO_SIZE"),
             getinfo(GI_PROC, 5, "entry + 2 * PROCINFO_SIZE"),
             getinfo(GI_PROGRAM, 1, "entry + 3 * PROCINFO_SIZE"),
             getinfo(GI_PROCTAB, 0, "table")]
    result, answers = run(tmp_path, steps, heartbeat=10, restart="backoff")
    assert [(a.eax, a.type) for a in answers] == [(OK, OK)] * 5
    alive_ready = abi.PS_ALIVE | abi.PS_READY
    own, kid, free, program = entries(result.bytes_at("prober", "entry", 4 * PROCINFO_SIZE))
    assert own == (0, alive_ready, 0, 9, abi.KIND_SERVER, 0, abi.RESTART_ALWAYS, 0,
                   label("prober"))
    assert kid == (1, abi.PS_ALIVE | abi.PS_RECEIVING, 1, 7, abi.KIND_USER, 10,
                   abi.RESTART_BACKOFF, 0, label("child"))
    assert free == (NONE, 0, -1, 0, 0, 0, 0, 0, bytes(16))
    assert program == (NONE, 0, 1, 7, abi.KIND_USER, 10, abi.RESTART_BACKOFF, 0,
                       label("child"))
    assert answers[3].words[5] == 2 and answers[4].words[5] == NR_PROCS     # GI_COUNT
    table = entries(result.bytes_at("prober", "table", NR_PROCS * PROCINFO_SIZE))
    assert table[:2] == [own, kid] and table[2:] == [free] * (NR_PROCS - 2)


def test_getinfo_rejections_write_nothing(tmp_path):
    cases = [(getinfo(0), EINVAL, "bad GETINFO request"),
             (getinfo(5), EINVAL, "bad GETINFO request"),
             (getinfo(-1, 0, 0), EINVAL, "bad GETINFO request"),
             (getinfo(GI_PROC, -1), EINVAL, "bad slot"),
             (getinfo(GI_PROC, NR_PROCS, 0), EINVAL, "bad slot"),
             (getinfo(GI_PROGRAM, 2), EINVAL, "bad program index"),
             (getinfo(GI_PROGRAM, -1), EINVAL, "bad program index"),
             (getinfo(GI_PROC, 0, 0), EFAULT, "entries outside the caller"),
             (getinfo(GI_PROC, 0, "_start"), EFAULT, "entries outside the caller"),
             (getinfo(GI_PROGRAM, 0, STACK_END - 40), EFAULT, "entries outside the caller"),
             (getinfo(GI_PROCTAB, 0, STACK_END - 1000), EFAULT, "entries outside the caller"),
             (getinfo(GI_ENDED), EPERM, "ends go to rs and pm only")]
    result, answers = run(tmp_path, [step for step, _, _ in cases])
    assert [(a.eax, a.type) for a in answers] == [(OK, error) for _, error, _ in cases]
    assert [e["reason"] for e in kcalls(result)] == [reason for _, _, reason in cases]
    assert result.bytes_at("prober", "entry", 4 * PROCINFO_SIZE) == bytes(4 * PROCINFO_SIZE)
    assert result.proc("prober").cpu.read(STACK_END - 40, 40) == bytes(40)


# -- the ends ---------------------------------------------------------------------------------

def drainer(name):
    """A server that drains GI_ENDED into `records` at every notification from SYSTEM."""
    return {"label": name, "kind": "server", "priority": 5,
            "kernel_calls": ["GETINFO"], "source": """
.text
_start:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    cmp dword ptr [msg + M_SOURCE], SYSTEM
    jne _start
drain:
    mov dword ptr [gi + M_TYPE], SYS_GETINFO
    mov dword ptr [gi + GI_REQUEST], GI_ENDED
    mov eax, SYSTEM
    lea ebx, [gi]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, [gi + M_TYPE]
    cmp eax, ENOENT
    je drained
    mov edi, [count]
    shl edi, 4
    mov eax, [gi + GI_END_ENDPOINT]
    mov [records + edi], eax
    mov eax, [gi + GI_END_PROGRAM]
    mov [records + edi + 4], eax
    mov eax, [gi + GI_END_HOW]
    mov [records + edi + 8], eax
    mov eax, [gi + GI_END_STATUS]
    mov [records + edi + 12], eax
    inc dword ptr [count]
    jmp drain
drained:
    inc dword ptr [drains]
    jmp _start
.data
count:
    .long 0
drains:
    .long 0
.bss
msg:
    .space MSG_SIZE
gi:
    .space MSG_SIZE
records:
    .space 16 * 64
"""}


def exiter(name, kind, status):
    return {"label": name, "kind": kind, "source": f".text\n_start:\n    mov edx, {status}\n"
            f"{EXIT_WITH_EDX}\n.bss\nexit_msg:\n    .space MSG_SIZE\n"}


def records(result, name):
    count = result.word(name, "count")
    data = result.bytes_at(name, "records", 16 * count)
    return sorted(struct.unpack_from("<4i", data, k) for k in range(0, len(data), 16))


def test_ends_are_reported_once_to_rs_or_pm(tmp_path):
    killer = {"label": "killer", "kind": "server", "priority": 9,
              "kernel_calls": ["KILL", "EXIT"], "source": f"""
.text
_start:
    mov eax, SYSTEM
    lea ebx, [kill_msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov edx, [kill_msg + M_TYPE]
{EXIT_WITH_EDX}
.data
kill_msg:
    .long 0, SYS_KILL, EP_SLEEPER
    .space 52
.bss
exit_msg:
    .space MSG_SIZE
"""}
    sleeper = {"label": "sleeper", "kind": "driver", "source": CHILD,
               "kernel_calls": ["EXIT"]}
    crasher = {"label": "crasher", "kind": "driver",
               "source": ".text\n_start:\n    mov eax, [0]\n"}
    programs = [drainer("rs"), drainer("pm"), killer, sleeper, crasher,
                exiter("quitter", "server", 7), exiter("user1", "user", 3),
                exiter("user2", "user", -5)]
    result = run_system(tmp_path, programs, until_idle=True, max_ticks=100)
    assert result.end == "idle"
    assert records(result, "rs") == sorted([
        (2, 2, abi.END_EXIT, OK), (3, 3, abi.END_KILL, 0), (4, 4, abi.END_FAULT, 0),
        (5, 5, abi.END_EXIT, 7)])
    assert records(result, "pm") == [(6, 6, abi.END_EXIT, 3), (7, 7, abi.END_EXIT, -5)]
    assert result.word("rs", "drains") >= 1 and result.word("pm", "drains") >= 1
    assert not result.kernel.ends.queues["rs"] and not result.kernel.ends.queues["pm"]
    # ENOENT ends each drain: an answer, not an illegal request
    assert not result.kernel.illegal_requests
    enoent = [e for e in result.of("kcall", "rs") if e["result"] == "ENOENT"]
    assert enoent and all("reason" not in e for e in enoent)
    notes = [e for e in result.ipc_events(proc="rs", op="RECEIVE")
             if e["peer_label"] == "SYSTEM"]
    assert notes and all(e["m_type"] == "NOTIFY_MESSAGE" for e in notes)


def test_ends_wait_for_a_server_that_does_not_ask_and_stay_bounded(tmp_path):
    deaf = {"label": "rs", "kind": "server", "source": ".text\n_start:\n    mov eax, CLOCK\n"
            "    lea ebx, [m]\n    mov ecx, RECEIVE\n    int IPC_VEC\n.bss\nm:\n"
            "    .space MSG_SIZE\n"}
    image = build_system(tmp_path, [deaf, dict(child(), kind="driver")])
    session, _, _, _ = boot(image, max_ticks=5)
    session.run()
    kernel = session.kernel
    policy, loaded = kernel.programs[1]
    endpoints = []
    for _ in range(NR_PROCS + 6):
        proc = kernel.table.procs[1]
        endpoints.append(proc.endpoint)
        kernel.end_process(proc, "kill", by="test")
        kernel.start_process(1, policy, loaded, slot=1)
    queue = kernel.ends.queues["rs"]
    assert len(queue) == NR_PROCS
    assert [end[0] for end in queue] == endpoints[6:]          # the oldest were forgotten
    assert kernel.table.procs[0].notify_pending == 1 << (abi.SYSTEM + abi.NR_TASKS)
    assert set(kernel.ends.queues) == {"rs"}
    assert kernel.ends.take("rs")[0] == endpoints[6]
    session.close()


def test_without_rs_or_pm_ends_are_not_kept(tmp_path):
    result = run_system(tmp_path, [exiter("quitter", "server", 1), exiter("u", "user", 2)],
                        max_ticks=10)
    assert result.end == "done"
    assert result.kernel.ends.queues == {}
