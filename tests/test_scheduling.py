"""Scheduling (SPEC section 5): a driver in an endless loop slows nobody for long.

A driver spins from boot at its default priority (DEFAULT_PRIORITY_DRIVER = 2, quantum
DEFAULT_QUANTUM = 4 ticks), above the server (3) and the user (7).  MLFQ demotes it one
queue per quantum it uses up: the server runs after its first quantum, and the user
after five (priorities 2 to 6: 20 ticks, 0.2 virtual seconds), then shares queue 7 with
it for one more quantum; from there on both run at once whenever they are ready.  The
spinner reaches MIN_USER_Q after 12 quanta (48 ticks) and stays within one queue of it
(the rebalance every REBALANCE_TICKS lifts it one queue, its next quantum drops it back).
"""

from kernel import abi
from kernel.abi import DEFAULT_QUANTUM, MIN_USER_Q, TICK_INSNS
from kernel.sched import REBALANCE_TICKS
from tests.harness import EXIT_WITH_EDX, boot, build_system, run_image

ROUNDS = 20
QUANTUM = DEFAULT_QUANTUM * TICK_INSNS
SPINNER = {"label": "spinner", "kind": "driver", "source": ".text\n_start:\n    jmp _start\n"}
SERVER = {"label": "server", "kind": "server", "source": """
.text
_start:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, [msg + M_SOURCE]
    mov ecx, SEND
    int IPC_VEC
    jmp _start
.bss
msg:
    .space MSG_SIZE
"""}
CLIENT = {"label": "client", "kind": "user", "source": f"""
.text
_start:
    mov esi, {ROUNDS}
again:
    mov dword ptr [msg + M_TYPE], 77
    mov eax, EP_SERVER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz failed
    dec esi
    jnz again
    mov edx, 0
    jmp done
failed:
    mov edx, eax
done:
{EXIT_WITH_EDX}
.bss
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""}


def test_a_spinning_driver_does_not_stop_a_server_and_a_user(tmp_path):
    image = build_system(tmp_path, [SPINNER, SERVER, CLIENT])
    result = run_image(image, until_exit="client", max_ticks=200)
    assert result.end == "exit"
    (exit_event,) = result.of("exit", "client")
    assert exit_event["status"] == 0
    calls = [e for e in result.ipc_events(proc="client", op="SENDREC") if e["result"] == "OK"]
    assert len(calls) == ROUNDS
    # the user waits out five quanta of the spinner (queues 2..6), shares queue 7 for one
    first, last = calls[0]["t"], exit_event["t"]
    assert 5 * QUANTUM <= first < 5 * QUANTUM + TICK_INSNS
    assert 6 * QUANTUM <= last < 6 * QUANTUM + TICK_INSNS
    assert last < 25 * TICK_INSNS                          # 0.25 virtual seconds
    # the server answered every request at once: the spinner was below it by then
    served = [e for e in result.ipc_events(proc="server", op="SEND") if e["result"] == "OK"]
    assert all(0 < e["t"] - c["t"] < 10 for e, c in zip(served, calls))
    spinner = result.proc("spinner")
    assert spinner.alive and spinner.priority == 2 + 6


def test_the_spinner_sinks_to_min_user_q_and_stays_near_it(tmp_path):
    image = build_system(tmp_path, [SPINNER, SERVER, CLIENT])
    session, _, _, _ = boot(image, max_ticks=12 * DEFAULT_QUANTUM - 1,
                            until_exit="server")              # never: run to max_ticks
    session.run()
    spinner = session.kernel.table.procs[0]
    assert spinner.priority == MIN_USER_Q - 1
    session.options.max_ticks = 12 * DEFAULT_QUANTUM + 1
    session.run()
    assert spinner.priority == MIN_USER_Q
    session.options.max_ticks = REBALANCE_TICKS + 1           # the rebalance lifts it
    session.run()
    assert spinner.priority == MIN_USER_Q - 1
    session.options.max_ticks = REBALANCE_TICKS + DEFAULT_QUANTUM + 1
    session.run()
    assert spinner.priority == MIN_USER_Q
    assert spinner.base_priority == abi.DEFAULT_PRIORITY_DRIVER
    session.close()
