"""Threats to message delivery (docs/THREATS.md): addressing (unauthorized target and
primitive, unintended target, spoofing) and contents (oversized message, bad message
contents to the kernel, the servers and the drivers), each attacked by a hostile guest
program (tests/hostile/) in the stock system.

Every test checks what the hostile program got back, what the trace shows, that no
trap of the attacker changed another process's memory beyond a delivery (the trap
guard), that the stock workload ran correctly afterwards and that the kernel never
panicked.
"""

from kernel import abi
from kernel.abi import (EDEADSRCDST, ENDPOINT_GEN_MUL, MSG_SIZE, OK)
from kernel.names import result_name, type_name
from tests.hostile import attack as A
from tests.hostile.attack import hostile

USER = dict(ipc=["SENDREC"], targets=["pm", "vfs"])


def test_unauthorized_targets_are_ecalldenied_and_primitives_etrapdenied(tmp_path):
    image = A.build(tmp_path, [hostile("target", "target.asm", "user", **USER)])
    run = A.attack(image, "target\n" + A.WORKLOAD, guard=["target"])
    A.assert_no_panic(run)
    rows = A.table(run, "target")
    assert [got for _, _, got in rows] == [expected for _, expected, _ in rows]
    assert A.denied(run, "target") == A.expected_denials(rows)
    errors = [result_name(expected) for _, expected, _ in rows]
    assert errors.count("ECALLDENIED") == 10 and errors.count("ETRAPDENIED") == 10
    A.assert_guarded(run, len(rows))
    for label in ("rs", "ds", "tty", "printer", "disk", "init"):
        assert not [e for e in run.ipc_events(proc=label, op="RECEIVE")
                    if e["peer_label"] == "target"]
    assert run.guard.touched("target") == {"pm"}
    assert run.console == A.transcript((b"target", b""), *A.workload_transcript())
    A.assert_stock_ok(run)


STALE = [hostile("stale", "stale.asm", "user", ipc=["SENDREC"],
                 targets=["pm", "vfs", "ds", "printer", "crash"]),
         hostile("crash", "crash.asm", "server", ipc=["RECEIVE", "NBSEND", "SENDREC"],
                 targets=["SYSTEM"], kernel_calls=["GETINFO", "KILL"])]


def test_an_old_endpoint_reaches_no_one_and_ds_gives_the_new_one(tmp_path):
    image = A.build(tmp_path, STALE)
    run = A.attack(image, "stale\n" + A.WORKLOAD, guard=["stale"])
    A.assert_no_panic(run)
    old, new = run.word("stale", "old_ep"), run.word("stale", "new_ep")
    slot = run.kernel.labels["printer"]
    assert old == slot and new == ENDPOINT_GEN_MUL + slot     # same slot, generation 1
    assert run.word("stale", "lookups") >= 1 and run.word("stale", "crashed") == OK
    assert run.word("stale", "printed_before") == 8
    assert run.word("stale", "printed_stale") == EDEADSRCDST
    assert run.word("stale", "printed_after") == 8
    stale_calls = [e for e in run.ipc_events(proc="stale") if e["result"] == "EDEADSRCDST"]
    assert [(e["op"], e["peer"]) for e in stale_calls] == [("SENDREC", old)]
    denied = [r for r in run.guard.of("stale") if r.denied]
    assert len(denied) == 1 and not denied[0].changes       # nothing reached the new one
    got = [e["m_type"] for e in run.ipc_events(proc="printer", op="RECEIVE")
           if e["peer_label"] == "stale"]
    assert got == ["DEV_WRITE", "DEV_WRITE"]                  # before (old), after (new)
    A.assert_guarded(run)
    assert b"before!\nafter!!\n" in run.printer and b"stale" not in run.printer
    assert [e["by"] for e in run.of("restart", "printer")] == ["rs"]
    assert run.console == A.transcript((b"stale", b""), *A.workload_transcript())
    A.assert_stock_ok(run, killed={"printer"})


def test_forged_sources_are_overwritten_by_the_kernel(tmp_path):
    spoof = hostile("spoof", "spoof.asm", "user", ipc=["SENDREC"], targets=["pm", "vfs", "ds"])
    image = A.build(tmp_path, [spoof])
    run = A.attack(image, "spoof\n" + A.WORKLOAD, guard=["spoof"])
    A.assert_no_panic(run)
    rows = A.requests(run, "spoof")
    assert [got for _, _, got in rows] == [expected for _, expected, _ in rows]
    me = run.proc("spoof").endpoint
    assert me == run.kernel.labels["spoof"]
    # every request arrived with the attacker's own endpoint, whatever it wrote
    for server in ("ds", "vfs", "pm"):
        got = [e for e in run.ipc_events(proc=server, op="RECEIVE") if e["peer_label"] == "spoof"]
        assert got and {e["peer"] for e in got} == {me}
    A.assert_guarded(run, len(rows))
    # DS still names the real printer (VFS follows DS: the workload prints); init kept
    # its console fds (the shell goes on)
    assert run.console == A.transcript((b"spoof", b""), *A.workload_transcript())
    A.assert_stock_ok(run)


VICTIM = [hostile("victim", "victim.asm", "driver", ipc=["RECEIVE", "SENDREC"],
                  targets=["SYSTEM"], kernel_calls=["TIMES", "SETALARM"]),
          hostile("mail", "mail.asm", "driver",
                  ipc=["SEND", "NOTIFY", "ASEND", "RECEIVE", "SENDREC"],
                  targets=["SYSTEM", "victim"], kernel_calls=["SETALARM", "EXIT"],
                  restart="never")]


def test_a_reused_slot_never_gets_mail_for_its_predecessor(tmp_path):
    image = A.build(tmp_path, VICTIM)
    run = A.attack(image, A.WORKLOAD, guard=["mail"], until=["mail"])
    A.assert_no_panic(run)
    rows = A.table(run, "mail")
    assert [got for _, _, got in rows] == [expected for _, expected, _ in rows]
    slot = run.kernel.labels["victim"]
    assert run.of("fault", "victim") and run.proc("victim").endpoint == ENDPOINT_GEN_MUL + slot
    assert run.word("victim", "received") == 0                  # the successor got nothing
    successor = ENDPOINT_GEN_MUL + slot
    assert not [e for e in run.ipc_events(proc="victim") if e["ep"] == successor
                and e["op"] == "RECEIVE"]
    assert run.word("mail", "entry_result") == EDEADSRCDST      # the ASEND entry failed
    assert run.word("mail", "entry_flags") == abi.AMF_VALID | abi.AMF_DONE
    woken = [e for e in run.ipc_events(proc="mail", op="SEND") if e["result"] != "OK"]
    assert [(e["peer"], e["result"]) for e in woken] == [(slot, "EDEADSRCDST")] * 2
    assert "victim" not in run.guard.touched("mail")
    A.assert_guarded(run, len(rows))
    assert run.console == A.transcript(*A.workload_transcript())
    A.assert_stock_ok(run)


def test_only_64_bytes_move_and_a_message_is_checked_whole(tmp_path):
    image = A.build(tmp_path, [hostile("edge", "edge.asm", "user", **USER)])
    run = A.attack(image, "edge\n" + A.WORKLOAD, guard=["edge"])
    A.assert_no_panic(run)
    rows = A.table(run, "edge")
    assert [got for _, _, got in rows] == [expected for _, expected, _ in rows]
    assert A.denied(run, "edge") == A.expected_denials(rows)
    assert run.word("edge", "marker_ok") == 1               # the reply wrote 64 bytes
    first = run.guard.of("edge")[0]                          # the request with a tail
    changed = first.changes["pm"]                            # PM's receive buffer only
    assert max(hi for _, hi in changed) - min(lo for lo, _ in changed) <= MSG_SIZE
    A.assert_guarded(run, len(rows))
    assert run.console == A.transcript((b"edge", b""), *A.workload_transcript())
    A.assert_stock_ok(run)


KCALLS = hostile("kcalls", "kcalls.asm", "driver", ipc=["SENDREC", "RECEIVE"],
                 targets=["SYSTEM"],
                 kernel_calls=["DEVIO", "VDEVIO", "SDEVIO", "IRQCTL", "SAFECOPYFROM",
                               "SAFECOPYTO", "SETGRANT", "SETALARM", "TIMES", "DIAGCTL", "EXIT"],
                 io=["0x378-0x37A"], irq=[4, 5], restart="never")


def test_garbage_kernel_calls_are_refused_at_the_system_gate(tmp_path):
    image = A.build(tmp_path, [KCALLS])
    run = A.attack(image, A.WORKLOAD, guard=["kcalls"], until=["kcalls"])
    A.assert_no_panic(run)
    rows = A.requests(run, "kcalls")
    assert [got for _, _, got in rows] == [expected for _, expected, _ in rows]
    calls = run.of("kcall", "kcalls")[1:len(rows) + 1]      # after its first alarm
    assert [e["result"] for e in calls] == [result_name(expected) for _, expected, _ in rows]
    assert all(e.get("reason") for e in calls if e["result"] != "OK")
    assert sum(1 for e in calls if e["result"] != "OK") >= 80
    A.assert_guarded(run, len(rows))
    assert run.guard.touched("kcalls") <= {"rs"}         # its EXIT, reported to RS
    assert run.kernel.interrupts.handler(4) is run.proc("tty")
    assert run.console == A.transcript(*A.workload_transcript())
    A.assert_stock_ok(run)


GARBAGE = hostile("garbage", "garbage.asm", "user", ipc=["SENDREC"],
                  targets=["rs", "ds", "pm", "vfs", "tty", "printer", "disk"])


def test_garbage_requests_are_answered_with_errors_and_servers_go_on(tmp_path):
    image = A.build(tmp_path, [GARBAGE])
    run = A.attack(image, "garbage\n" + A.WORKLOAD, guard=["garbage"])
    A.assert_no_panic(run)
    rows = A.requests(run, "garbage")
    assert [got for _, _, got in rows] == [expected for _, expected, _ in rows]
    # the trace shows each answer: M_TYPE, or DEV_REPLY from a driver's device path
    answers = A.answers(run, "garbage")[:len(rows)]
    for (row, expected, _), answer in zip(rows, answers):
        assert answer in (type_name(expected), "DEV_REPLY"), (row, answer)
    A.assert_guarded(run, len(rows))
    # a CDEV_READ on a bad grant took no input: the shell read its next line
    assert run.console == A.transcript((b"garbage", b""), *A.workload_transcript())
    A.assert_stock_ok(run)
