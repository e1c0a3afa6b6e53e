"""Threats to group interactions (docs/THREATS.md): flow control (scheduling order,
denial of service) and caller blockage (deadlocks, asymmetric trust), each attacked by
hostile guest programs (tests/hostile/) in the stock system.

Every test checks what the hostile programs got back, what the trace shows, that the
stock workload ran correctly and that the kernel never panicked; the `canary`
(tests/hostile/canary.asm) calls RS, DS, PM and VFS every 5 ticks, so a server that an
attacker blocks shows as a gap in its rounds.
"""

import pytest

from kernel.abi import EAGAIN, ENOMEM, OK, TICK_INSNS
from kernel.protocols import DS_SUB_MAX, PM_CHILD_MAX
from tests.hostile import attack as A
from tests.hostile.attack import hostile

HOGS = ("hog1", "hog2", "hog3")
SERVERS = ("rs", "ds", "pm", "vfs")


@pytest.fixture(scope="module")
def hogged(tmp_path_factory):
    """The stock system with three hogs flooding PM and VFS from boot to the end."""
    tmp = tmp_path_factory.mktemp("hogs")
    hogs = [hostile(label, "hog.asm", "driver", ipc=["SENDREC"], targets=["pm", "vfs"])
            for label in HOGS]
    run = A.attack(A.build(tmp, hogs + [A.CANARY]), A.WORKLOAD, log=True, guard=HOGS,
                   guard_limit=300)
    A.assert_no_panic(run)
    return run


@pytest.mark.parametrize("server", ["pm", "vfs"])
def test_senders_are_served_in_the_order_they_sent(hogged, server):
    A.assert_guarded(hogged, 300)
    delivered = A.deliveries(hogged, server)
    assert len(delivered) > 300
    order = [index for _, index, _, _ in delivered]
    assert order == sorted(order)                       # FIFO: trap order = delivery order
    senders = {label for label, _, _, _ in delivered}
    assert set(HOGS) <= senders and senders - set(HOGS)  # hogs and the others
    rounds = [hogged.word(label, "rounds") for label in HOGS]
    assert min(rounds) >= 100 and max(rounds) - min(rounds) <= 1   # served in turn


@pytest.mark.parametrize("server", ["pm", "vfs"])
def test_a_flooding_client_starves_no_other_client(hogged, server):
    delivered = A.deliveries(hogged, server)
    for label, _, trapped, served in delivered:
        if label in HOGS:
            continue
        ahead = [h for h, _, _, t in delivered if h in HOGS and trapped <= t < served]
        assert len(ahead) <= len(HOGS), (label, trapped, ahead)   # one per hog at most
    assert max(A.canary_gaps(hogged)) < 15 and hogged.word("canary", "failures") == 0
    assert hogged.console == A.transcript(*A.workload_transcript())
    A.assert_stock_ok(hogged)


def test_a_client_cannot_take_all_of_pms_table(tmp_path):
    spawner = hostile("spawner", "spawner.asm", "driver", ipc=["SENDREC", "RECEIVE"],
                      targets=["pm"])
    run = A.attack(A.build(tmp_path, [spawner]), A.WORKLOAD, guard=["spawner"])
    A.assert_no_panic(run)
    answers = [run.word("spawner", "results", 4 * i) for i in range(40)]
    assert all(a >= 0 for a in answers[:PM_CHILD_MAX])          # its share of the table
    assert answers[PM_CHILD_MAX:] == [EAGAIN] * (40 - PM_CHILD_MAX)
    A.assert_guarded(run, 40)
    assert len([e for e in run.of("start", "hello") if e.get("by") == "pm"]) == \
        PM_CHILD_MAX + 1                                        # and rc's hello
    # the shell ran rc and the workload: the spawner's children printed their greetings
    # among rc's lines, but nothing of the shell was refused
    assert b"out of resources" not in run.console
    assert run.console.count(A.GREETING) == PM_CHILD_MAX + 1
    assert run.console.endswith(A.transcript(*A.workload_transcript(), boot=b""))
    A.assert_stock_ok(run)


def test_a_client_cannot_take_all_of_ds_subscriptions(tmp_path):
    hoarder = hostile("hoarder", "hoarder.asm", "driver", ipc=["SENDREC", "RECEIVE"],
                      targets=["ds"])
    image = A.build(tmp_path, [hoarder, A.hostile_printer("deaf.asm")])
    run = A.attack(image, A.WORKLOAD, guard=["hoarder"])
    A.assert_no_panic(run)
    answers = [run.word("hoarder", "results", 4 * i) for i in range(20)]
    assert answers == [OK] * DS_SUB_MAX + [ENOMEM] * (20 - DS_SUB_MAX)
    A.assert_guarded(run, 20)
    subscribed = [e for e in run.ipc_events(proc="ds", op="RECEIVE")
                  if e["m_type"] == "DS_SUBSCRIBE"]
    assert subscribed[0]["peer_label"] == "hoarder"             # it came first
    # VFS subscribed to its drivers all the same, so it followed the printer that RS
    # restarted: the request the dead one never took was re-issued and printed
    assert [e["by"] for e in run.of("restart", "printer")] == ["rs"]
    assert run.console == A.transcript(*A.workload_transcript())
    assert A.PAGE_END in run.printer
    A.assert_stock_ok(run, killed={"printer"})


CYCLE = dict(ipc=["SEND", "RECEIVE", "SENDREC", "NBSEND"],
             kernel_calls=["TIMES", "SETALARM", "EXIT"], restart="never")
CYCLES = ("cycle_a", "cycle_b", "cycle_c")


def test_cycles_of_two_and_three_are_elocked(tmp_path):
    programs = [hostile(label, f"{label}.asm", "driver",
                        targets=["SYSTEM"] + [other for other in CYCLES if other != label],
                        **CYCLE) for label in CYCLES]
    run = A.attack(A.build(tmp_path, programs), A.WORKLOAD, guard=CYCLES, until=CYCLES)
    A.assert_no_panic(run)
    for label in CYCLES:
        assert [e["status"] for e in run.of("exit", label)] == [0], f"{label} is stuck"
        rows = A.table(run, label, "script", 5)
        assert [got for _, _, got in rows] == [expected for _, expected, _ in rows], label
    locked = [(e["proc"], e["op"], e["peer_label"]) for e in run.events
              if e["ev"] == "ipc" and e["result"] == "ELOCKED"]
    assert locked == [("cycle_b", "SENDREC", "cycle_a"),        # A -> B -> A
                      ("cycle_c", "SENDREC", "cycle_a"),        # A -> B -> C -> A
                      ("cycle_c", "RECEIVE", "cycle_a"),        # C <- A <- B <- C
                      ("cycle_b", "SEND", "cycle_a")]           # A -> B -> A by SEND
    A.assert_guarded(run)
    assert all(not r.changes for r in run.guard.records if r.denied)
    assert run.console == A.transcript(*A.workload_transcript())
    A.assert_stock_ok(run)


LP_EIO = A.GREETING + b"lp: /dev/printer: I/O error\ninit: lp: exit status 1\n" + \
    (A.FILES / "motd").read_bytes()


@pytest.mark.parametrize("printer, boot", [("deaf", A.BOOT), ("mute", LP_EIO),
                                           ("liar", LP_EIO)], ids=["deaf", "mute", "liar"])
def test_a_printer_driver_that_misbehaves_blocks_no_server(tmp_path, printer, boot):
    image = A.build(tmp_path, [A.hostile_printer(f"{printer}.asm"), A.CANARY])
    run = A.attack(image, A.WORKLOAD, guard=["printer"], guard_limit=100)
    A.assert_no_panic(run)
    A.assert_guarded(run)                   # its first incarnation's traps, among others
    # no server ever waited on it: no blocking call to it, none reported by the kernel
    assert all(run.proc(label).trust_reports == 0 for label in SERVERS)
    assert not [e for e in run.events if e["ev"] == "ipc" and e["proc"] in SERVERS
                and e["op"] in ("SEND", "SENDREC") and e["peer_label"] == "printer"]
    # the request the first incarnation took was answered EIO (its wrong answers were
    # not taken); one it never took went to its successor; then the workload ran
    assert run.console == A.transcript(*A.workload_transcript(), boot=boot)
    # RS found it hung (no heartbeat) and restarted it, once
    kills = run.of("kill", "printer")
    assert [e["by"] for e in kills] == ["rs"]
    assert [e["by"] for e in run.of("restart", "printer")] == ["rs"]
    # and RS, DS, PM and VFS answered the canary all along, the hang included
    assert max(A.canary_gaps(run)) < 8 and run.word("canary", "failures") == 0
    assert run.word("canary", "rounds") >= kills[0]["t"] // (5 * TICK_INSNS) - 1
    if printer == "liar":
        replies = [e for e in run.ipc_events(proc="vfs", op="RECEIVE")
                   if e["peer"] == kills[0]["ep"] and e["m_type"] == "DEV_REPLY"]
        assert len(replies) == 3                        # wrong DEV_IDs: not taken
        refused = [(e["peer_label"], e["result"]) for e in run.ipc_events(proc="printer")
                   if e["result"] == "ECALLDENIED"]
        assert refused == [("ds", "ECALLDENIED"), ("pm", "ECALLDENIED"),
                           ("init", "ECALLDENIED")]
    A.assert_stock_ok(run, killed={"printer"})
    assert (A.PAGE_END in run.printer) == (printer == "deaf")
