"""Threats to the IPC subsystem (docs/THREATS.md): call parameters (bad primitive,
nonexisting endpoint, illegal message buffer) and global resources (memory and CPU
exhaustion), each attacked by a hostile guest program (tests/hostile/) in the stock
system.

Every test checks what the hostile program got back (its own table of expected
results), the trace (the error of every denied call), that no trap of the attacker
changed another process's memory (the trap guard), that the stock workload ran
correctly afterwards, and that the kernel never panicked.
"""

import struct

from kernel import abi
from kernel.abi import TICK_INSNS
from kernel.protocols import RS_MISSED_BEATS
from tests import harness
from tests.hostile import attack as A
from tests.hostile.attack import hostile

USER = dict(ipc=["SENDREC"], targets=["pm", "vfs"])               # every stock user's
DRIVER_IPC = ["RECEIVE", "NBSEND", "SENDREC", "NOTIFY", "ASEND"]   # the stock drivers'


def check_table(run, label):
    """The hostile got what each row expected, the trace shows each denial, and no trap
    changed what it must not."""
    rows = A.table(run, label)
    assert [got for _, _, got in rows] == [expected for _, expected, _ in rows]
    assert A.denied(run, label) == A.expected_denials(rows)
    A.assert_guarded(run, len(rows))
    return rows


def test_bad_ipc_primitive_is_ebadcall(tmp_path):
    image = A.build(tmp_path, [hostile("badcall", "badcall.asm", "user", **USER)])
    run = A.attack(image, "badcall\n" + A.WORKLOAD, guard=["badcall"])
    A.assert_no_panic(run)
    rows = check_table(run, "badcall")
    assert sum(1 for _, expected, _ in rows if expected == abi.EBADCALL) == 17
    # only the last row's PM_GETPID (and the PM_EXIT) reached PM
    got = [e for e in run.ipc_events(proc="pm", op="RECEIVE") if e["peer_label"] == "badcall"]
    assert [e["m_type"] for e in got] == ["PM_GETPID", "PM_EXIT"]
    assert run.guard.touched("badcall") == {"pm"}
    assert run.console == A.transcript((b"badcall", b""), *A.workload_transcript())
    A.assert_stock_ok(run)


def test_nonexisting_endpoints_are_ebadsrcdst_or_edeadsrcdst(tmp_path):
    image = A.build(tmp_path, [hostile("badep", "badep.asm", "user", **USER)])
    run = A.attack(image, "badep\n" + A.WORKLOAD, guard=["badep"])
    A.assert_no_panic(run)
    rows = check_table(run, "badep")
    errors = [expected for _, expected, _ in rows]
    assert errors.count(abi.EBADSRCDST) == 10 and errors.count(abi.EDEADSRCDST) == 5
    assert run.guard.touched("badep") == {"pm"}          # the last row and PM_EXIT
    assert run.console == A.transcript((b"badep", b""), *A.workload_transcript())
    A.assert_stock_ok(run)


def test_illegal_message_buffers_are_efault_and_nothing_moves(tmp_path):
    driver = hostile("badbuf", "badbuf.asm", "driver", ipc=DRIVER_IPC,
                     targets=["SYSTEM", "rs"], kernel_calls=["EXIT"], restart="never")
    image = A.build(tmp_path, [driver])
    run = A.attack(image, A.WORKLOAD, guard=["badbuf"], until=["badbuf"])
    A.assert_no_panic(run)
    rows = check_table(run, "badbuf")
    assert sum(1 for _, expected, _ in rows if expected == abi.EFAULT) == 19 * 6 + 4
    # denied traps changed nothing anywhere; RS only got the notice of its exit
    assert all(not r.changes for r in run.guard.of("badbuf") if r.denied)
    assert run.guard.touched("badbuf") <= {"rs"}
    assert not [e for e in run.ipc_events(proc="rs", op="RECEIVE") if e["peer_label"] == "badbuf"]
    assert run.of("exit", "badbuf")[0]["status"] == 0
    assert run.console == A.transcript(*A.workload_transcript())
    A.assert_stock_ok(run)


FLOOD = hostile("flood", "flood.asm", "driver",
                ipc=["SEND", "RECEIVE", "SENDREC", "NOTIFY", "NBSEND", "ASEND"],
                targets=["SYSTEM", "rs", "ds", "pm", "flood"], kernel_calls=["TIMES", "EXIT"],
                restart="never")


def flood_footprints(image):
    """Boot with the flood (no trace: the trace is an output stream, not kernel state);
    at each of the flooder's SYS_TIMES marks take the kernel's footprint.  Returns the
    marks (traps of the flooder so far, footprint) and the session after the run."""
    session, console, printer, _ = harness.boot(image, A.WORKLOAD.encode(), max_ticks=20000,
                                                until_exit="flood")
    kernel = session.kernel
    kernel.trace = None
    real, marks, traps = kernel.ipc.do_ipc, [], [0]
    mark = struct.pack("<i", abi.SYS_TIMES)

    def counting(caller, function, eax, ebx):
        if caller.label == "flood":
            traps[0] += 1
            if function == abi.SENDREC and eax == abi.SYSTEM & 0xFFFFFFFF and \
                    caller.cpu.read(ebx + abi.M_TYPE, 4) == mark:
                marks.append((traps[0], A.kernel_footprint(kernel)))
        return real(caller, function, eax, ebx)

    kernel.ipc.do_ipc = counting
    for proc in kernel.table.live():
        proc.cpu.trap = kernel.make_trap(proc)
    assert session.run() == "exit"
    session.options.until_exit = None
    end = session.run()
    return marks, harness.Run(end, [], console.getvalue(), printer.getvalue(), session)


def test_ipc_floods_do_not_grow_kernel_memory(tmp_path):
    image = A.build(tmp_path, [FLOOD])
    marks, run = flood_footprints(image)
    A.assert_no_panic(run)
    (_, start), (warm, (objects, size)), (end, (objects2, size2)) = marks
    assert end - warm >= 100_000                         # traps between the two marks
    # no per-message state: what grew (a few counters of other processes, the labels
    # of the programs that ended meanwhile) is bounded, not a trace of 100,000 traps
    assert objects2 - objects < 200 and size2 - size < 16384, (objects2 - objects,
                                                               size2 - size)
    flooder = {key: n for key, n in run.kernel.illegal_requests.items() if key[0] == "flood"}
    assert flooder == {("flood", None, abi.EBADREQUEST, "unknown call"): 13000}
    assert run.console == A.transcript(*A.workload_transcript())
    A.assert_stock_ok(run)


def test_a_spinning_driver_is_killed_by_rs_and_slows_no_one_for_long(tmp_path):
    spin = hostile("spin", "spin.asm", "driver", heartbeat=10)
    image = A.build(tmp_path, [spin, A.CANARY])
    run = A.attack(image, A.WORKLOAD)
    A.assert_no_panic(run)
    kills = run.of("kill", "spin")
    assert kills and {e["by"] for e in kills} == {"rs"}
    starts = [e["t"] for e in run.of("start", "spin")]
    for start, kill in zip(starts, kills):               # 2 missed beats of 10 ticks
        assert (kill["t"] - start) / TICK_INSNS <= (RS_MISSED_BEATS + 1) * 10 + 2
    assert len(run.of("restart", "spin")) == len(kills)
    assert max(A.canary_gaps(run)) < 15 and run.word("canary", "failures") == 0
    assert run.console == A.transcript(*A.workload_transcript())
    A.assert_stock_ok(run)


def test_the_scheduler_keeps_others_running_beside_a_driver_rs_cannot_catch(tmp_path):
    busy = hostile("busy", "busy.asm", "driver", ipc=["RECEIVE", "NOTIFY"], targets=["rs"],
                   heartbeat=10)
    image = A.build(tmp_path, [busy, A.CANARY])
    run = A.attack(image, A.WORKLOAD, guard=["busy"], guard_limit=50)
    A.assert_no_panic(run)
    assert run.word("busy", "beats") >= 3 and not run.of("kill", "busy")
    A.assert_guarded(run, 10)
    proc = run.proc("busy")
    assert proc.priority > proc.base_priority               # it sank below the users
    assert proc.insns < run.kernel.time * 0.75              # others had a quarter at least
    assert max(A.canary_gaps(run)) < 15 and run.word("canary", "failures") == 0
    assert run.console == A.transcript(*A.workload_transcript())
    A.assert_stock_ok(run)

