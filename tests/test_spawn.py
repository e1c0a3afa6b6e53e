"""SPAWN and KILL (SPEC section 4, docs/OS.md): slots, generations, the argument string,
the trace events, every rejection; and the boot rule of an image with `init`.

The prober (program 0, a server of priority 9) spawns copies of `child` (program 1, a
user of priority 7): a new child preempts it, records its registers, logs its argument
string with DIAGCTL and waits for a message, whose type it exits with.
"""

from kernel import abi
from kernel.abi import (ARGS_MAX, EAGAIN, EBADSRCDST, EDEADSRCDST, EFAULT, EINVAL, ENOENT,
                        EPERM, NR_PROCS, OK, SELF, SYS_KILL, SYS_SPAWN)
from tests.harness import EXIT_WITH_EDX, run_system
from tests.test_kernel_calls import OTHER_W, STACK_END, Step, call, kcalls, run_steps

CHILD = f"""
.text
_start:
    mov [args_at], esi
    mov [args_len], edi
    mov [esp_at], esp
    test edi, edi
    jz wait
    mov [diag + DIAG_ADDR], esi
    mov [diag + DIAG_LEN], edi
    mov eax, SYSTEM
    lea ebx, [diag]
    mov ecx, SENDREC
    int IPC_VEC
wait:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov edx, [msg + M_TYPE]
{EXIT_WITH_EDX}
.data
diag:
    .long 0, SYS_DIAGCTL
    .space 56
args_at:
    .long 0
args_len:
    .long -1
esp_at:
    .long 0
.bss
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""
CHILD_TOP = abi.window_base(1) + abi.WINDOW_SIZE
DATA = """
args:
    .ascii "two words"
long_args:
    .space 128, 0x61
"""


def child(**policy):
    program = {"label": "child", "kind": "user", "source": CHILD,
               "kernel_calls": ["EXIT", "DIAGCTL"]}
    program.update(policy)
    return program


def label_words(text):
    data = text.encode().ljust(16, b"\0")[:16]
    return tuple(int.from_bytes(data[k:k + 4], "little", signed=True) for k in range(0, 16, 4))


def spawn(label="child", args=0, length=0):
    return call(SYS_SPAWN, *label_words(label), args, length)


def kill(ep):
    return call(SYS_KILL, ep)


def run(tmp_path, steps, others=None, **limits):
    policy = {"kind": "server", "priority": 9,
              "kernel_calls": ["SPAWN", "KILL", "EXIT", "DIAGCTL"]}
    return run_steps(tmp_path, steps, DATA, others=[child()] if others is None else others,
                     policy=policy, **limits)


def child_state(result, slot):
    proc = result.kernel.table.procs[slot]
    loaded = result.session.programs[1]

    def word(name):
        address = loaded.symbols[name]
        address = address[0] if isinstance(address, tuple) else address
        return int.from_bytes(proc.cpu.read(address, 4), "little")
    return proc, word("args_at"), word("args_len"), word("esp_at")


# -- SPAWN ------------------------------------------------------------------------------------

def test_spawn_slots_generations_and_trace(tmp_path):
    steps = [spawn(), spawn(args="args", length=9), kill("EP_CHILD"), spawn(), kill(2),
             spawn()]
    result, answers = run(tmp_path, steps)
    assert [a.type for a in answers] == [OK] * 6
    assert [answers[i].words[0] for i in (0, 1, 3, 5)] == [2, 3, 1 + 1024, 2 + 1024]
    starts = [(e["ep"], e.get("by")) for e in result.of("start", "child")]
    assert starts == [(1, None), (2, "prober"), (3, "prober"), (1025, "prober"),
                      (1026, "prober")]
    restarts = [(e["ep"], e["n"], e["by"]) for e in result.of("restart", "child")]
    assert restarts == [(2, 1, "prober"), (3, 2, "prober"), (1025, 3, "prober"),
                        (1026, 4, "prober")]
    kills = [(e["ep"], e["by"]) for e in result.of("kill", "child")]
    assert kills == [(1, "prober"), (2, "prober")]
    assert [e["text"] for e in result.of("diag", "child")] == ["two words"]
    assert [e["ep"] for e in result.of("diag", "child")] == [3]
    assert result.kernel.starts == [1, 5]


def test_spawned_process_finds_its_arguments_on_its_stack(tmp_path):
    steps = [spawn(args="args", length=9), spawn(args="long_args", length=ARGS_MAX),
             spawn(args="_start", length=3)]               # any mapped region of the caller
    result, answers = run(tmp_path, steps)
    assert [a.type for a in answers] == [OK] * 3
    boot, at, length, esp = child_state(result, 1)
    assert (at, length, esp) == (CHILD_TOP - 1, 0, CHILD_TOP - 16)
    assert boot.cpu.read(at, 1) == b"\0"
    for slot, args in ((2, b"two words"), (3, b"a" * ARGS_MAX)):
        proc, at, length, esp = child_state(result, slot)
        assert (at, length) == (CHILD_TOP - len(args) - 1, len(args))
        assert esp == at & ~15 and esp % 16 == 0
        assert proc.cpu.read(at, len(args) + 1) == args + b"\0"
    text = result.proc("prober").cpu.read(abi.window_base(0), 3)
    assert [e["text"] for e in result.of("diag", "child")] == \
        ["two words", "a" * ARGS_MAX, text.decode("latin-1")]


def test_spawn_rejections_start_nothing(tmp_path):
    cases = [(spawn("nobody"), ENOENT, "no such program"),
             (spawn(""), ENOENT, "no such program"),
             (spawn("CHILD"), ENOENT, "no such program"),
             (spawn("childchildchildc"), ENOENT, "no such program"),      # no NUL
             (spawn("prob"), ENOENT, "no such program"),
             (spawn("nobody", length=-1), ENOENT, "no such program"),     # label first
             (spawn(length=-1), EINVAL, "bad argument length"),
             (spawn(length=ARGS_MAX + 1), EINVAL, "bad argument length"),
             (spawn(args=0, length=-0x80000000), EINVAL, "bad argument length"),
             (spawn(args=0, length=4), EFAULT, "arguments outside the caller"),
             (spawn(args=OTHER_W + abi.DATA_OFFSET, length=4), EFAULT,
              "arguments outside the caller"),
             (spawn(args=STACK_END - 4, length=8), EFAULT, "arguments outside the caller"),
             (spawn(args=abi.window_base(0) + 0x70000, length=1), EFAULT,
              "arguments outside the caller")]
    result, answers = run(tmp_path, [step for step, _, _ in cases])
    assert [(a.eax, a.type) for a in answers] == [(OK, error) for _, error, _ in cases]
    assert [e["reason"] for e in kcalls(result)] == [reason for _, _, reason in cases]
    assert [e["ep"] for e in result.of("start")] == [0, 1]
    assert result.kernel.starts == [1, 1]
    assert [p.slot for p in result.kernel.table.live()] == [1]      # the prober ended


def test_spawn_label_is_read_up_to_its_nul(tmp_path):
    words = label_words("child\0zz")
    result, answers = run(tmp_path, [call(SYS_SPAWN, *words, 0x1234, 0)])
    assert answers[0].type == OK and answers[0].words[0] == 2


def test_spawn_when_every_slot_is_taken_is_eagain(tmp_path):
    steps = [spawn() for _ in range(NR_PROCS - 2)] + [spawn(), kill(40), spawn(), spawn()]
    result, answers = run(tmp_path, steps, max_ticks=200)
    results = [a.type for a in answers]
    assert results == [OK] * (NR_PROCS - 2) + [EAGAIN, OK, OK, EAGAIN]
    assert [a.words[0] for a in answers[:NR_PROCS - 2]] == list(range(2, NR_PROCS))
    assert answers[-2].words[0] == 40 + 1024
    assert kcalls(result)[NR_PROCS - 2]["reason"] == "no free slot"
    assert len(result.of("start", "child")) == NR_PROCS - 1 + 1


def test_a_spawned_driver_gets_its_boot_slot_back_and_preempts(tmp_path):
    driver = {"label": "drv", "kind": "driver", "priority": 1,
              "source": ".text\n_start:\n    mov eax, ANY\n    lea ebx, [m]\n"
                        "    mov ecx, RECEIVE\n    int IPC_VEC\n    jmp _start\n"
                        ".bss\nm:\n    .space MSG_SIZE\n"}
    steps = [kill("EP_DRV"), spawn("drv"), Step(0, (), abi.NOTIFY, 1 + 1024)]
    result, answers = run(tmp_path, steps, others=[driver])
    assert [a.type for a in answers[:2]] == [OK, OK] and answers[1].words[0] == 1025
    assert answers[2].eax == OK
    (receive,) = [e for e in result.ipc_events(proc="drv", op="RECEIVE") if e["ep"] == 1025
                  and e["result"] == "OK"]
    (notify,) = result.ipc_events(proc="prober", op="NOTIFY")
    # the new driver ran at once and was waiting in RECEIVE when the prober notified it
    assert receive["t"] == notify["t"]
    assert result.events.index(receive) == result.events.index(notify) + 1


# -- KILL -------------------------------------------------------------------------------------

SLEEPER = {"label": "sleeper", "kind": "driver", "priority": 12,
           "source": ".text\n_start:\n    jmp _start\n"}
WAITER = {"label": "waiter", "kind": "user", "priority": 0, "source": f"""
.text
_start:
    mov eax, EP_SLEEPER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov edx, eax
{EXIT_WITH_EDX}
.bss
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""}


def test_kill_rejections_change_nothing(tmp_path):
    cases = [(kill(SELF), EPERM, "KILL of the caller itself"),
             (kill("EP_PROBER"), EPERM, "KILL of the caller itself"),
             (kill(9), EDEADSRCDST, "no such process"),
             (kill(1 + 1024), EDEADSRCDST, "no such process"),
             (kill(abi.SYSTEM), EBADSRCDST, "no such process"),
             (kill(abi.ANY), EBADSRCDST, "no such process"),
             (kill(abi.NONE), EBADSRCDST, "no such process"),
             (kill(-0x80000000), EBADSRCDST, "no such process")]
    result, answers = run(tmp_path, [step for step, _, _ in cases])
    assert [(a.eax, a.type) for a in answers] == [(OK, error) for _, error, _ in cases]
    assert [e["reason"] for e in kcalls(result)] == [reason for _, _, reason in cases]
    assert not result.of("kill")
    assert result.proc("child").alive


def test_kill_ends_the_victim_and_wakes_who_waits_on_it(tmp_path):
    steps = [kill("EP_SLEEPER"), kill("EP_SLEEPER"), Step(42, (), abi.SEND, "EP_CHILD")]
    result, answers = run(tmp_path, steps, others=[child(), SLEEPER, WAITER])
    assert [(a.eax, a.type) for a in answers] == [(OK, OK), (OK, EDEADSRCDST), (OK, 42)]
    (event,) = result.of("kill")
    assert (event["proc"], event["ep"], event["by"]) == ("sleeper", 2, "prober")
    assert result.of("exit", "waiter")[0]["status"] == EDEADSRCDST
    assert result.of("exit", "child")[0]["status"] == 42
    assert not result.proc("sleeper").alive


# -- the boot rule ----------------------------------------------------------------------------

INIT = f"""
.text
_start:
    mov eax, SYSTEM
    lea ebx, [spawn_msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov edx, [spawn_msg + SPAWN_ENDPOINT]
{EXIT_WITH_EDX}
.data
spawn_msg:
    .long 0, SYS_SPAWN
    .ascii "child"
    .space 51
.bss
exit_msg:
    .space MSG_SIZE
"""


def test_with_init_the_other_users_wait_for_a_spawn(tmp_path):
    init = {"label": "init", "kind": "user", "priority": 8, "source": INIT,
            "kernel_calls": ["SPAWN", "EXIT"]}
    idle_driver = dict(SLEEPER, label="drv", source=".text\n_start:\n    mov eax, ANY\n"
                       "    lea ebx, [m]\n    mov ecx, RECEIVE\n    int IPC_VEC\n"
                       ".bss\nm:\n    .space MSG_SIZE\n")
    result = run_system(tmp_path, [init, child(), idle_driver], max_ticks=50)
    assert result.end == "done"
    assert [(e["proc"], e["ep"]) for e in result.of("start")] == \
        [("init", 0), ("drv", 2), ("child", 1)]
    assert result.of("start", "child")[0]["by"] == "init"
    assert not result.of("restart")
    assert result.of("exit", "init")[0]["status"] == 1       # EP_CHILD, generation 0


def test_without_init_every_program_starts_at_boot(tmp_path):
    result = run_system(tmp_path, [child(label="a"), child(label="b")], max_ticks=5)
    assert [(e["proc"], e["ep"]) for e in result.of("start")] == [("a", 0), ("b", 1)]
