"""The semantics of the IPC trap (SPEC section 3), beyond its check table: deadlock
detection, FIFO sender queues, notifications, ASEND tables, peers that die, stale
endpoints after a restart, replies, M_SOURCE stamping and the atomicity of SENDREC.

Every system here is a handful of inline programs that run until nothing can run (they
park in a RECEIVE from CLOCK with no alarm set), so the end state is the state the test
checks: results of each trap (`results`, preset to SENTINEL so "never returned" shows),
which messages landed where (a recorder's `boxes`, each followed by a guard), the trace,
and the kernel's process table.  Scheduling is deterministic: the highest priority runs
first, equal priorities in slot (image) order, and a process runs until it blocks.
"""

import json

import pytest

from emu import faults
from kernel import abi
from kernel.abi import (ANY, ASEND, CLOCK, EBADSRCDST, ECALLDENIED, EDEADSRCDST, EINVAL,
                        ELOCKED, ENOTREADY, ETRAPDENIED, NBSEND, NONBLOCK, NOTIFY,
                        NOTIFY_MESSAGE, OK, RECEIVE, SEND, SENDREC, SYSTEM)
from tests.harness import Run, boot, build_system, run_system

SENTINEL = 0x77777777          # a result slot no trap has written
NR_RESULTS = 16
BOX = 80                       # a recorder's box: 64 message bytes, then a 16-byte guard
BOX_FILL = b"\xee" * abi.MSG_SIZE
GUARD = b"\xa5" * 16
FORGED = 0x11111111
KERNEL_CALLS = ["EXIT", "DIAGCTL", "SETALARM"]

_labels = iter(range(1_000_000))


# -- assembly snippets -----------------------------------------------------------------------
def trap(function, ep, buf=None, result=None):
    """One IPC trap: eax = ep (a number, symbol or memory operand), ebx = buf's address."""
    lines = [f"    mov eax, {ep}",
             f"    lea ebx, [{buf}]" if buf else "    xor ebx, ebx",
             f"    mov ecx, {function}",
             "    int IPC_VEC"]
    if result is not None:
        lines.append(f"    mov [results + {4 * result}], eax")
    return "\n".join(lines) + "\n"


def wait(ticks):
    """Set an alarm and block until CLOCK's notification (into kmsg)."""
    return f"""
    mov dword ptr [kmsg + M_TYPE], SYS_SETALARM
    mov dword ptr [kmsg + ALARM_TICKS], {ticks}
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
""" + trap(RECEIVE, CLOCK, "kmsg")


def park():
    """Block for good: a RECEIVE from CLOCK with no alarm set (no deadlock check)."""
    label = f"park_{next(_labels)}"
    return f"{label}:\n" + trap(RECEIVE, CLOCK, "kmsg") + f"    jmp {label}\n"


def store(value, where):
    return f"    mov dword ptr [{where}], {value}\n"


def message(name, m_type, source=FORGED, tail=True):
    """A 64-byte message whose payload word k is (m_type << 8) + k, then a tail that
    must never move."""
    words = ", ".join(str((m_type << 8) + k) for k in range(abi.NR_PAYLOAD_WORDS))
    text = f"{name}:\n    .long {source}, {m_type}, {words}\n"
    if tail:
        text += "    .long 0xDEADBEEF, 0xDEADBEEF\n"
    return text


def message_bytes(m_type, source=FORGED):
    words = [source, m_type] + [(m_type << 8) + k for k in range(abi.NR_PAYLOAD_WORDS)]
    return b"".join((w & 0xFFFFFFFF).to_bytes(4, "little") for w in words)


def asend_table(name, entries):
    """An ASEND table: entries of (flags, dst, m_type), result preset to SENTINEL."""
    lines = [f"{name}:"]
    for i, (flags, dst, m_type) in enumerate(entries):
        lines.append(f"    .long {flags}, {dst}, {SENTINEL}")
        lines.append(message(f"{name}_{i}", m_type, tail=False))
    return "\n".join(lines) + "\n"


def program(label, text, data="", bss="", **policy):
    source = f"""
.text
_start:
{text}
{park()}
.data
results:
    .long {", ".join([str(SENTINEL)] * NR_RESULTS)}
{data}
.bss
kmsg:
    .space MSG_SIZE
inbox:
    .space MSG_SIZE
{bss}
"""
    policy.setdefault("kernel_calls", KERNEL_CALLS)
    return {"label": label, "source": source, **policy}


def recorder(label, plan=None, wait_ticks=0, reply_types=(), **policy):
    """Receives by `plan` (a list of (function, source); default 8 x RECEIVE from ANY),
    the i-th call into box i; results[i] is the call's result; `count` counts the
    messages received.  A message whose M_TYPE is in `reply_types` is answered with a
    SEND of `reply` (M_TYPE 99, forged M_SOURCE) to its M_SOURCE; replies[i] is that
    SEND's result."""
    plan = plan or [(RECEIVE, ANY)] * 8
    rows = "\n".join(f"    .long {function}, {src}" for function, src in plan)
    checks = "".join(f"    cmp eax, {t}\n    je rec_reply\n" for t in reply_types)
    boxes = "".join("    .space 64, 0xEE\n    .space 16, 0xA5\n" for _ in plan)
    text = (wait(wait_ticks) if wait_ticks else "") + f"""
    xor esi, esi
rec_next:
    cmp esi, {len(plan)}
    jge rec_done
    mov edi, esi
    imul edi, edi, {BOX}
    lea ebx, [boxes + edi]
    mov ecx, [plan + esi*8]
    mov eax, [plan + esi*8 + 4]
    int IPC_VEC
    mov [results + esi*4], eax
    inc esi
    cmp eax, OK
    jne rec_next
    inc dword ptr [count]
    mov eax, [boxes + edi + M_TYPE]
{checks}    jmp rec_next
rec_reply:
    mov eax, [boxes + edi + M_SOURCE]
    lea ebx, [reply]
    mov ecx, SEND
    int IPC_VEC
    mov [replies + esi*4 - 4], eax
    jmp rec_next
rec_done:
"""
    data = f"""
plan:
{rows}
boxes:
{boxes}
count:
    .long 0
replies:
    .long {", ".join([str(SENTINEL)] * len(plan))}
{message("reply", 99, source=0x22222222)}
"""
    return program(label, text, data, **policy)


# -- running and reading ---------------------------------------------------------------------
def run(tmp_path, programs, max_ticks=40):
    result = run_system(tmp_path, programs, until_idle=True, max_ticks=max_ticks)
    assert result.kernel.panic_report is None
    assert result.end == "idle", f"the system did not settle: {result.end}"
    return result


def results(run, label, n):
    return [run.word(label, "results", 4 * i) for i in range(n)]


def box(run, label, i):
    return run.bytes_at(label, "boxes", abi.MSG_SIZE, BOX * i)


def guard(run, label, i):
    return run.bytes_at(label, "boxes", 16, BOX * i + abi.MSG_SIZE)


def source_and_type(data):
    return (int.from_bytes(data[0:4], "little", signed=True),
            int.from_bytes(data[4:8], "little", signed=True))


def received(run, label):
    """(M_SOURCE, M_TYPE) of every message `label`'s recorder received, in order."""
    return [source_and_type(box(run, label, i)) for i in range(run.word(label, "count"))]


def deliveries(run, to):
    """Trace events of messages delivered to `to`, in order."""
    return [e for e in run.ipc_events(proc=to, op="RECEIVE") if e["result"] == "OK"]


def ep(label_index, gen=0):
    return abi.endpoint(gen, label_index)


V, D, N = abi.AMF_VALID, abi.AMF_DONE, abi.AMF_NOTIFY      # ASEND entry flags


def entry(run, label, table, i):
    """(flags, dst, result) of entry i of `label`'s ASEND table."""
    base = i * abi.ASEND_ENTRY_SIZE
    return tuple(run.word(label, table, base + offset)
                 for offset in (abi.ASEND_FLAGS, abi.ASEND_DST, abi.ASEND_RESULT))


def entry_message(run, label, table, i):
    return run.bytes_at(label, table, abi.MSG_SIZE, i * abi.ASEND_ENTRY_SIZE + abi.ASEND_MSG)


def restart(run, label):
    """Kill `label`'s process and start a fresh one of its program in the same slot, as
    RS does with KILL and SPAWN: returns the new process."""
    session, kernel = run.session, run.kernel
    index = kernel.labels[label]
    kernel.end_process(run.proc(label), "kill", by="test")
    return kernel.start_process(index, session.image.programs[index].policy,
                                session.programs[index], slot=index)


def run_in_two_phases(image, between, first_ticks, max_ticks=40):
    """Run to `first_ticks`, call `between(run)` (the kernel is stopped between two
    slices), then go on until idle."""
    session, console, printer, trace = boot(image, max_ticks=first_ticks)
    first = session.run()
    partial = Run(first, [], b"", b"", session)
    assert partial.kernel.panic_report is None
    between(partial)
    session.options.max_ticks = max_ticks
    session.options.until_idle = True
    end = session.run()
    text = trace.getvalue()
    events = [json.loads(line) for line in text.splitlines()]
    result = Run(end, events, console.getvalue(), printer.getvalue(), session, text)
    result.extra["first"] = first
    return result


# -- 1. deadlock -----------------------------------------------------------------------------
def chain(n, ops):
    """Process i (label p<i>, slot i) does ops[i] toward process (i + 1) % n: the last
    one closes the cycle; then it goes on with a SEND to the sink (slot n)."""
    programs = []
    for i, op in enumerate(ops):
        peer = f"EP_P{(i + 1) % n}"
        text = trap(op, peer, "inbox" if op == RECEIVE else "msg", result=0)
        if i == n - 1:
            text += trap(SEND, "EP_SINK", "after", result=1)
        data = message("msg", 10 + i) + message("after", 42)
        programs.append(program(f"p{i}", text, data))
    programs.append(recorder("sink"))
    return programs


@pytest.mark.parametrize("ops", [
    [SEND], [SENDREC], [RECEIVE],                          # to or from oneself
    [SEND, SEND], [SENDREC, SENDREC], [SENDREC, SEND], [SEND, SENDREC],
    [RECEIVE, RECEIVE],                 # receive from one that receives from the caller
    [SEND, SEND, SEND], [SENDREC, SENDREC, SENDREC], [SEND, RECEIVE, SEND],
    [RECEIVE, RECEIVE, RECEIVE], [SENDREC, SEND, RECEIVE],
], ids=lambda ops: "-".join(abi.PRIMITIVE_NAMES[op] for op in ops))
def test_call_that_closes_a_cycle_is_elocked(tmp_path, ops):
    n = len(ops)
    result = run(tmp_path, chain(n, ops))
    closer = f"p{n - 1}"
    # the closing call fails at once, and the caller goes on
    assert results(result, closer, 2) == [ELOCKED, OK]
    assert received(result, "sink") == [(ep(n - 1), 42)]
    assert result.kernel.denials.get((closer, ops[-1], ELOCKED)) == 1
    denied = [e for e in result.ipc_events(proc=closer) if e["result"] == "ELOCKED"]
    assert [(e["op"], e["peer"]) for e in denied] == [(abi.PRIMITIVE_NAMES[ops[-1]], ep(0))]
    # the others stay blocked as they were; nothing was delivered to anyone in the cycle
    for i, op in enumerate(ops[:-1]):
        proc, peer = result.proc(f"p{i}"), result.proc(f"p{(i + 1) % n}")
        assert results(result, f"p{i}", 1) == [SENTINEL]
        if op == RECEIVE:
            assert proc.getfrom == peer.endpoint and proc.sendto is None
        else:
            assert proc.sendto is peer and proc.in_sendrec == (op == SENDREC)
    for i in range(n):
        assert not deliveries(result, f"p{i}")
        assert result.bytes_at(f"p{i}", "inbox", abi.MSG_SIZE) == bytes(abi.MSG_SIZE)
    assert result.proc(closer).getfrom == CLOCK       # parked after going on


@pytest.mark.parametrize("ops", [[SEND, RECEIVE], [RECEIVE, SEND], [SENDREC, RECEIVE]],
                         ids=lambda ops: "-".join(abi.PRIMITIVE_NAMES[op] for op in ops))
def test_a_rendezvous_is_no_deadlock(tmp_path, ops):
    """Two processes that call each other with matching primitives meet: no ELOCKED."""
    result = run(tmp_path, chain(2, ops))
    assert results(result, "p1", 2) == [OK, OK]
    assert results(result, "p0", 1) == ([SENTINEL] if ops[0] == SENDREC else [OK])
    assert not result.kernel.denials
    receiver = "p1" if ops[1] == RECEIVE else "p0"
    sender = 1 - int(receiver[1])
    [delivery] = deliveries(result, receiver)
    assert delivery["peer"] == ep(sender) and delivery["m_type"] == 10 + sender


# -- 2. FIFO order of senders ----------------------------------------------------------------
def fifo_system(plan, wait_ticks=3):
    """r (slot 0, highest priority) waits `wait_ticks`, then receives by `plan`; s1, s2, s3
    (slots 1-3) each SEND one message (M_TYPE 100 + i) to r.  Their priorities make them
    send in the order s2, s3, s1, all before r's alarm."""
    senders = [program(f"s{i}", trap(SEND, "EP_R", "msg", result=0),
                       message("msg", 100 + i), priority=priority)
               for i, priority in ((1, 6), (2, 4), (3, 5))]
    return [recorder("r", plan, wait_ticks=wait_ticks, priority=1)] + senders


def test_senders_are_received_in_the_order_they_sent(tmp_path):
    plan = [(RECEIVE, ANY)] * 3 + [(RECEIVE | NONBLOCK, ANY)]
    result = run(tmp_path, fifo_system(plan))
    assert results(result, "r", 4) == [OK, OK, OK, ENOTREADY]
    assert received(result, "r") == [(ep(2), 102), (ep(3), 103), (ep(1), 101)]
    for i in (1, 2, 3):
        assert results(result, f"s{i}", 1) == [OK]
    # every sender was blocked until r received: all deliveries come after r's alarm
    alarm = [e for e in deliveries(result, "r") if e["peer"] == CLOCK]
    sends = [e for e in result.ipc_events(op="SEND") if e["result"] == "OK"]
    assert len(alarm) == 1 and alarm[0]["t"] >= 3 * abi.TICK_INSNS
    assert [e["proc"] for e in sends] == ["s2", "s3", "s1"]
    assert all(e["t"] >= alarm[0]["t"] for e in sends)
    assert [e["peer"] for e in deliveries(result, "r")] == [CLOCK, ep(2), ep(3), ep(1)]


def test_receive_from_one_sender_takes_it_out_of_the_middle_of_the_queue(tmp_path):
    plan = [(RECEIVE, "EP_S3"), (RECEIVE, ANY), (RECEIVE, ANY), (RECEIVE | NONBLOCK, ANY)]
    result = run(tmp_path, fifo_system(plan))
    assert results(result, "r", 4) == [OK, OK, OK, ENOTREADY]
    assert received(result, "r") == [(ep(3), 103), (ep(2), 102), (ep(1), 101)]


def test_a_killed_sender_leaves_the_queue_with_all_it_had_pending(tmp_path):
    """s3, in the middle of r's queue (s2, s3, s1) with a notification and an ASEND entry
    pending at r too, is killed before r receives: r gets s2 then s1, and nothing of s3."""
    s3_text = (trap(NOTIFY, "EP_R", result=1) + trap(ASEND, 1, "table", result=2)
               + trap(SEND, "EP_R", "msg", result=0))
    programs = fifo_system([(RECEIVE, ANY)] * 2 + [(RECEIVE | NONBLOCK, ANY)], wait_ticks=10)
    programs[3] = program("s3", s3_text, message("msg", 103)
                          + asend_table("table", [(V, "EP_R", 113)]), priority=5)
    image = build_system(tmp_path, programs)

    def kill_s3(run):
        r, s3 = run.proc("r"), run.proc("s3")
        assert s3.sendto is r and r.notify_pending and r.asyn_pending
        run.kernel.end_process(s3, "kill", by="test")

    result = run_in_two_phases(image, kill_s3, first_ticks=5)
    assert result.kernel.panic_report is None and result.end == "idle"
    assert results(result, "r", 3) == [OK, OK, ENOTREADY]
    assert received(result, "r") == [(ep(2), 102), (ep(1), 101)]
    assert results(result, "s3", 3) == [SENTINEL, OK, OK]
    assert [e["peer"] for e in deliveries(result, "r")] == [CLOCK, ep(2), ep(1)]


# -- 3. NOTIFY -------------------------------------------------------------------------------
def assert_notification(data, source):
    assert source_and_type(data) == (source, NOTIFY_MESSAGE)
    ticks = int.from_bytes(data[abi.NOTIFY_TICKS:abi.NOTIFY_TICKS + 4], "little")
    lo = int.from_bytes(data[abi.NOTIFY_TIME_LO:abi.NOTIFY_TIME_LO + 4], "little")
    assert ticks == lo // abi.TICK_INSNS
    assert data[abi.NOTIFY_TIME_HI + 4:] == bytes(abi.MSG_SIZE - abi.NOTIFY_TIME_HI - 4)


def test_repeated_notifications_coalesce_and_notify_never_blocks(tmp_path):
    """n notifies r three times while r waits for CLOCK, and a process blocked sending:
    each NOTIFY returns OK at once; r then finds one notification from n, no more."""
    plan = [(RECEIVE, ANY), (RECEIVE | NONBLOCK, ANY), (RECEIVE, ANY),
            (RECEIVE | NONBLOCK, ANY)]
    notifier = program("n", trap(NOTIFY, "EP_R", result=0) + trap(NOTIFY, "EP_R", result=1)
                       + trap(NOTIFY, "EP_R", result=2) + trap(NOTIFY, "EP_S", result=3)
                       + trap(NOTIFY, "EP_S", result=4) + store(1, "went_on"),
                       bss="went_on:\n    .space 4\n")
    sender = program("s", trap(SEND, "EP_N", "msg", result=0), message("msg", 5),
                     priority=2)
    result = run(tmp_path, [recorder("r", plan, wait_ticks=3, priority=1), notifier, sender])
    assert results(result, "n", 5) == [OK] * 5
    assert result.word("n", "went_on") == 1
    notifies = result.ipc_events(proc="n", op="NOTIFY")
    assert len(notifies) == 5 and all(e["t"] < 3 * abi.TICK_INSNS for e in notifies)
    assert results(result, "r", 4) == [OK, ENOTREADY, SENTINEL, SENTINEL]
    assert_notification(box(result, "r", 0), ep(1))
    assert box(result, "r", 1) == BOX_FILL
    assert result.proc("n").getfrom == CLOCK        # n went on and parked
    # s, blocked sending to n, still has its one pending notification from n
    assert result.proc("s").sendto is result.proc("n")
    assert result.proc("s").notify_pending == 1 << (abi.NR_TASKS + 1)


def test_notifications_first_lowest_source_first_then_queued_senders(tmp_path):
    """While r waits for x: s (slot 1) queues a SEND, n3 then n2 notify, CLOCK's alarm
    and SYSTEM's ASEND notification fall due.  Then r takes CLOCK, SYSTEM, n2, n3 and only
    then s."""
    plan = [(RECEIVE, "EP_X")] + [(RECEIVE, ANY)] * 5 + [(RECEIVE | NONBLOCK, ANY)]
    r = recorder("r", plan, priority=1)
    # before receiving: an alarm, and an ASEND whose only entry fails, with AMF_NOTIFY
    r["source"] = r["source"].replace("_start:\n", "_start:\n" + """
    mov dword ptr [kmsg + M_TYPE], SYS_SETALARM
    mov dword ptr [kmsg + ALARM_TICKS], 3
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
""" + trap(ASEND, 1, "table", result=15), 1)
    r["source"] = r["source"].replace(".data\n", ".data\n" + asend_table(
        "table", [(abi.AMF_VALID | abi.AMF_NOTIFY, 40, 1)]), 1)
    programs = [
        r,
        program("s", trap(SEND, "EP_R", "msg", result=0), message("msg", 7), priority=2),
        program("n2", trap(NOTIFY, "EP_R", result=0), priority=4),
        program("n3", trap(NOTIFY, "EP_R", result=0), priority=3),
        program("x", wait(6) + trap(SEND, "EP_R", "msg", result=0), message("msg", 8),
                priority=5),
    ]
    result = run(tmp_path, programs)
    assert result.word("r", "results", 60) == OK
    assert result.word("r", "table", abi.ASEND_RESULT) == EDEADSRCDST
    assert results(result, "r", 7) == [OK] * 6 + [ENOTREADY]
    assert source_and_type(box(result, "r", 0)) == (ep(4), 8)
    assert_notification(box(result, "r", 1), CLOCK)
    assert_notification(box(result, "r", 2), SYSTEM)
    assert_notification(box(result, "r", 3), ep(2))
    assert_notification(box(result, "r", 4), ep(3))
    assert source_and_type(box(result, "r", 5)) == (ep(1), 7)
    # the notifiers notified n3 first, and s had sent before either
    order = [e["proc"] for e in result.events if e["ev"] == "ipc" and e["proc"] in
             ("n2", "n3") and e["op"] == "NOTIFY"]
    assert order == ["n3", "n2"]
    assert results(result, "s", 1) == [OK]


def test_sendrec_takes_no_notification_until_its_reply(tmp_path):
    """c SENDRECs to s; n0 notifies c during the send half, s itself and n during the
    receive half.  c gets exactly s's reply, then the three notifications (lowest source
    first)."""
    c = program("c", trap(SENDREC, "EP_S", "msg", result=0)
                + "".join(trap(RECEIVE, ANY, f"note{i}", result=1 + i) for i in range(3))
                + trap(RECEIVE | NONBLOCK, ANY, "inbox", result=4),
                message("msg", 7), bss="".join(f"note{i}:\n .space 64\n" for i in range(3)),
                priority=2)
    s = program("s", trap(RECEIVE, ANY, "inbox", result=0) + trap(NOTIFY, "EP_C", result=2)
                + wait(3) + trap(SEND, "[inbox + M_SOURCE]", "reply", result=1),
                message("reply", 77))
    n = program("n", trap(NOTIFY, "EP_C", result=0))
    n0 = program("n0", trap(NOTIFY, "EP_C", result=0), priority=2)
    result = run(tmp_path, [c, s, n, n0])
    assert results(result, "c", 5) == [OK, OK, OK, OK, ENOTREADY]
    assert results(result, "s", 3) == [OK, OK, OK]
    assert results(result, "n", 1) == [OK] and results(result, "n0", 1) == [OK]
    reply = result.bytes_at("c", "msg", abi.MSG_SIZE)
    assert reply == message_bytes(77, ep(1))[:abi.MSG_SIZE]
    for i in range(3):
        assert_notification(result.bytes_at("c", f"note{i}", 64), ep(1 + i))
    # all notifications were sent while c was in its SENDREC, and reached c after it
    to_c = deliveries(result, "c")
    assert [e["peer"] for e in to_c] == [ep(1), ep(1), ep(2), ep(3)]
    assert to_c[0]["m_type"] == 77
    notified = [e["t"] for e in result.ipc_events(op="NOTIFY")]
    assert len(notified) == 3 and all(t < to_c[0]["t"] for t in notified)


def test_sendrec_does_not_take_a_notification_pending_from_its_peer(tmp_path):
    """s notifies c before c's SENDREC to s: c's SENDREC still waits for s's reply, and
    finds the notification after it."""
    s = program("s", trap(NOTIFY, "EP_C", result=0) + trap(RECEIVE, ANY, "inbox", result=1)
                + wait(2) + trap(SEND, "[inbox + M_SOURCE]", "reply", result=2),
                message("reply", 77), priority=1)
    c = program("c", trap(SENDREC, "EP_S", "msg", result=0)
                + trap(RECEIVE, ANY, "inbox", result=1), message("msg", 7))
    result = run(tmp_path, [s, c])
    assert results(result, "s", 3) == [OK, OK, OK]
    assert results(result, "c", 2) == [OK, OK]
    assert result.bytes_at("c", "msg", abi.MSG_SIZE) == message_bytes(77, ep(0))[:64]
    assert_notification(result.bytes_at("c", "inbox", 64), ep(0))
    assert [e["m_type"] for e in deliveries(result, "c")] == [77, "NOTIFY_MESSAGE"]

# -- 4. ASEND --------------------------------------------------------------------------------
ASEND_CASES = [                       # (flags, dst, m_type, expected result, delivered to)
    (V, "EP_B", 100, OK, "b"),
    (V | 8, "EP_B", 101, EINVAL, None),                  # an unknown flag bit
    (V | 0x100, "EP_C", 102, EINVAL, None),
    (V, 40, 103, EDEADSRCDST, None),                     # empty slot
    (V, abi.endpoint(1, 1), 104, EDEADSRCDST, None),     # b's slot, a stale generation
    (V, 70, 105, EBADSRCDST, None),                      # slot out of range
    (V, -7, 106, EBADSRCDST, None),
    (V, ANY, 107, EBADSRCDST, None),
    (V, abi.NONE, 108, EBADSRCDST, None),
    (V, abi.SELF, 109, EBADSRCDST, None),
    (V, SYSTEM, 110, ETRAPDENIED, None),                 # kernel tasks
    (V, CLOCK, 111, ETRAPDENIED, None),
    (V, abi.HARDWARE, 112, ETRAPDENIED, None),
    (V, "EP_D", 113, ECALLDENIED, None),                 # not in a's targets
    (0, "EP_C", 114, SENTINEL, None),                    # not AMF_VALID: ignored
    (N, "EP_C", 115, SENTINEL, None),
    (V | D, "EP_C", 116, SENTINEL, None),                # done already: ignored
    (V, "EP_C", 117, OK, "c"),
    (V, "EP_B", 118, OK, "b"),
]


def test_asend_table_delivers_valid_entries_and_fails_the_others(tmp_path):
    table = [(flags, dst, m_type) for flags, dst, m_type, _, _ in ASEND_CASES]
    a = program("a", trap(ASEND, len(table), "table", result=0) + store(1, "went_on"),
                asend_table("table", table), bss="went_on:\n    .space 4\n",
                targets=["b", "c"], priority=1)
    plan = [(RECEIVE, ANY)] * 2 + [(RECEIVE | NONBLOCK, ANY)]
    programs = [a, recorder("b", plan), recorder("c", plan[1:]), recorder("d")]
    result = run(tmp_path, programs)
    # ASEND returned at once, before anyone received
    assert results(result, "a", 1) == [OK] and result.word("a", "went_on") == 1
    [asend] = [e for e in result.ipc_events(proc="a", op="ASEND") if e.get("count") == len(table)]
    assert asend["result"] == "OK"
    assert all(e["t"] > asend["t"] for e in deliveries(result, "b") + deliveries(result, "c"))
    eps = {"EP_B": ep(1), "EP_C": ep(2), "EP_D": ep(3)}
    for i, (flags, dst, m_type, expected, _) in enumerate(ASEND_CASES):
        done = D if expected != SENTINEL else 0
        assert entry(result, "a", "table", i) == (flags | done, eps.get(dst, dst), expected), i
        assert entry_message(result, "a", "table", i) == message_bytes(m_type)   # untouched
    # what was delivered: only the valid entries, M_SOURCE stamped, the rest verbatim
    for label, types in (("b", [100, 118]), ("c", [117])):
        assert received(result, label) == [(ep(0), t) for t in types]
        for i, t in enumerate(types):
            assert box(result, label, i)[4:] == message_bytes(t)[4:]
            assert guard(result, label, i) == GUARD
    assert results(result, "b", 3) == [OK, OK, ENOTREADY]
    assert results(result, "c", 2) == [OK, ENOTREADY]
    assert result.word("d", "count") == 0
    assert not deliveries(result, "a")
    assert result.kernel.denials.get(("a", ASEND, EINVAL)) == 2


def test_asend_rereads_a_rewritten_message(tmp_path):
    """a rewrites entry 0's message and clears entry 1's AMF_VALID after ASEND, before b
    receives: b gets the new content of entry 0 and nothing of entry 1."""
    text = trap(ASEND, 2, "table", result=0) + """
    mov dword ptr [table_0 + M_TYPE], 200
    mov dword ptr [table_0 + M_W0], 0x2222
    mov dword ptr [table + ASEND_ENTRY_SIZE], 0
"""
    a = program("a", text, asend_table("table", [(V, "EP_B", 1), (V, "EP_B", 3)]),
                priority=1)
    plan = [(RECEIVE, ANY), (RECEIVE | NONBLOCK, ANY)]
    result = run(tmp_path, [a, recorder("b", plan)])
    assert results(result, "a", 1) == [OK]
    assert results(result, "b", 2) == [OK, ENOTREADY]
    assert received(result, "b") == [(ep(0), 200)]
    expected = bytearray(message_bytes(1))
    expected[0:4] = ep(0).to_bytes(4, "little")
    expected[4:8] = (200).to_bytes(4, "little")
    expected[8:12] = (0x2222).to_bytes(4, "little")
    assert box(result, "b", 0) == bytes(expected)
    assert entry(result, "a", "table", 0) == (V | D, ep(1), OK)
    assert entry(result, "a", "table", 1) == (0, ep(1), SENTINEL)


def test_asend_rereads_a_rewritten_destination(tmp_path):
    """a rewrites entry 0's dst from b to c after ASEND and calls ASEND again (as in
    MINIX 3, a changed destination is seen at the sender's next ASEND; the entry itself
    is re-read whenever it is looked at): b, receiving, gets nothing; c gets the entry
    when it receives."""
    text = (trap(ASEND, 1, "table", result=0) + "    mov dword ptr [table + ASEND_DST], EP_C\n"
            + trap(ASEND, 1, "table", result=1))
    a = program("a", text, asend_table("table", [(V, "EP_B", 5)]), priority=1)
    result = run(tmp_path, [a, recorder("b", [(RECEIVE | NONBLOCK, ANY)]),
                            recorder("c", [(RECEIVE, ANY)])])
    assert results(result, "a", 2) == [OK, OK]
    assert results(result, "b", 1) == [ENOTREADY]
    assert results(result, "c", 1) == [OK]
    assert received(result, "c") == [(ep(0), 5)]
    assert entry(result, "a", "table", 0) == (V | D, ep(2), OK)


def test_asend_notify_flag_brings_a_notification_from_system(tmp_path):
    """Entry 0 (no AMF_NOTIFY) goes to b, entry 1 (AMF_NOTIFY) to c, which receives
    later: a, receiving from ANY, is notified by SYSTEM once, after c's delivery."""
    text = (trap(ASEND, 2, "table", result=0) + trap(RECEIVE, ANY, "inbox", result=1)
            + trap(RECEIVE | NONBLOCK, ANY, "kmsg", result=2))
    a = program("a", text, asend_table("table", [(V, "EP_B", 1), (V | N, "EP_C", 2)]),
                priority=1)
    result = run(tmp_path, [a, recorder("b", [(RECEIVE, ANY)], priority=2),
                            recorder("c", [(RECEIVE, ANY)], wait_ticks=2, priority=3)])
    assert results(result, "a", 3) == [OK, OK, ENOTREADY]
    assert_notification(result.bytes_at("a", "inbox", 64), SYSTEM)
    assert entry(result, "a", "table", 0) == (V | D, ep(1), OK)
    assert entry(result, "a", "table", 1) == (V | N | D, ep(2), OK)
    to_c = [e for e in deliveries(result, "c") if e["peer"] == ep(0)]
    [note] = deliveries(result, "a")
    assert note["peer"] == SYSTEM and note["t"] >= to_c[0]["t"] >= 2 * abi.TICK_INSNS


# -- 5. a peer that dies ---------------------------------------------------------------------
EXIT = """
    mov dword ptr [kmsg + M_TYPE], SYS_EXIT
    mov dword ptr [kmsg + EXIT_STATUS], 3
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
"""
FAULT = "    ud2\n"


@pytest.mark.parametrize("death", ["exit", "fault"])
@pytest.mark.parametrize("op, victim_receives", [
    (SEND, False), (RECEIVE, False),
    (SENDREC, False),                # dies before taking the request
    (SENDREC, True),                 # takes the request, dies before replying
], ids=["send", "receive", "sendrec-send-half", "sendrec-receive-half"])
def test_a_peer_that_dies_wakes_the_caller_with_edeadsrcdst(tmp_path, op, victim_receives,
                                                              death):
    """c blocks on v; v dies (SYS_EXIT or ud2): c wakes with EDEADSRCDST and goes on
    (a SEND to the sink); w, blocked receiving from ANY, is not woken."""
    c = program("c", trap(op, "EP_V", "inbox" if op == RECEIVE else "msg", result=0)
                + trap(SEND, "EP_SINK", "after", result=1),
                message("msg", 1) + message("after", 42))
    v_text = (trap(RECEIVE, ANY, "inbox", result=0) if victim_receives else "") + \
        wait(2) + (EXIT if death == "exit" else FAULT)
    v = program("v", v_text)
    result = run(tmp_path, [c, v, recorder("sink"), recorder("w")])
    assert results(result, "c", 2) == [EDEADSRCDST, OK]
    assert received(result, "sink") == [(ep(0), 42)]
    assert result.word("w", "count") == 0 and result.proc("w").getfrom == ANY
    [end] = result.of(death, "v")
    assert end["ep"] == ep(1)
    if death == "exit":
        assert end["status"] == 3
    else:
        assert end["cause"] == faults.INVALID_OPCODE
    assert not result.proc("v").alive
    woken = [e for e in result.events if e["proc"] == "c" and e["ev"] == "ipc"]
    assert woken[-1]["op"] == "SEND" and woken[-1]["peer"] == ep(2)
    if victim_receives:
        assert results(result, "v", 1) == [OK]
        assert [e["peer"] for e in deliveries(result, "v")] == [ep(0), CLOCK]
    else:
        assert [e["peer"] for e in deliveries(result, "v")] == [CLOCK]
    assert not deliveries(result, "c")


# -- 6. a stale endpoint after a restart -----------------------------------------------------
def test_old_endpoint_of_a_restarted_process_is_dead(tmp_path):
    """p waits until t has been killed and restarted in its slot (generation 1), then
    calls t's old endpoint every way: EDEADSRCDST each time, and the new t never sees
    those calls; the new endpoint works."""
    old, new = ep(1), ep(1, gen=1)
    calls = [(SEND, old), (NBSEND, old), (SENDREC, old), (NOTIFY, old),
             (RECEIVE | NONBLOCK, old), (RECEIVE, old), (ASEND, 1), (SEND, new),
             (NOTIFY, new)]
    text = wait(10) + "".join(
        trap(function, target, "table" if function == ASEND else "msg", result=i)
        for i, (function, target) in enumerate(calls))
    p = program("p", text, message("msg", 7) + asend_table("table", [(V, old, 8)]))
    t = recorder("t", [(RECEIVE, ANY)] * 3)
    image = build_system(tmp_path, [p, t])
    fresh = []

    def kill_and_restart(run):
        assert run.end == "max-ticks" and run.kernel.panic_report is None
        assert run.proc("t").getfrom == ANY           # the old t waits for anyone
        fresh.append(restart(run, "t"))

    result = run_in_two_phases(image, kill_and_restart, first_ticks=5)
    assert result.kernel.panic_report is None
    assert result.extra["first"] == "max-ticks" and result.end == "idle"
    assert fresh[0].endpoint == new == abi.ENDPOINT_GEN_MUL + 1
    assert results(result, "p", len(calls)) == [EDEADSRCDST] * 6 + [OK, OK, OK]
    assert entry(result, "p", "table", 0) == (V | D, old, EDEADSRCDST)
    # the new t received exactly the calls to its new endpoint
    assert results(result, "t", 3) == [OK, OK, SENTINEL]
    assert received(result, "t") == [(ep(0), 7), (ep(0), NOTIFY_MESSAGE)]
    assert [(e["ev"], e["ep"]) for e in result.events if e["proc"] == "t"
            and e["ev"] in ("start", "kill")] == [("start", old), ("kill", old), ("start", new)]
    assert [e["peer"] for e in deliveries(result, "t")] == [ep(0), ep(0)]
    assert all(e["ep"] == new for e in deliveries(result, "t"))
    dead = [e for e in result.ipc_events(proc="p") if e["result"] == "EDEADSRCDST"]
    assert len(dead) == 7 and all(e["peer"] == old for e in dead)   # 6 traps, 1 ASEND entry


# -- 7. a reply to a process that sent to us is always allowed ---------------------------------
def test_a_server_without_targets_may_reply_to_its_clients_only(tmp_path):
    """s (targets: SYSTEM only) replies to c2 (SEND then RECEIVE) with NBSEND, to c1
    (SENDREC) with SEND and to c3 (SENDREC) with NBSEND; every call to o, which never sent
    to s, is ECALLDENIED."""
    s_text = (trap(RECEIVE, ANY, "inbox", result=0)
              + trap(NBSEND, "[inbox + M_SOURCE]", "reply1", result=1)
              + trap(RECEIVE, ANY, "inbox", result=2)
              + trap(SEND, "[inbox + M_SOURCE]", "reply2", result=3)
              + trap(RECEIVE, ANY, "inbox", result=9)
              + trap(NBSEND, "[inbox + M_SOURCE]", "reply3", result=10)
              + trap(SEND, "EP_O", "reply1", result=4)
              + trap(NBSEND, "EP_O", "reply1", result=5)
              + trap(NOTIFY, "EP_O", result=6)
              + trap(SENDREC, "EP_O", "reply1", result=7)
              + trap(ASEND, 1, "table", result=8))
    s = program("s", s_text, message("reply1", 201) + message("reply2", 202)
                + message("reply3", 204) + asend_table("table", [(V, "EP_O", 203)]),
                targets=["SYSTEM"])
    c1 = program("c1", trap(SENDREC, "EP_S", "msg", result=0), message("msg", 102),
                 priority=2)
    c2 = program("c2", trap(SEND, "EP_S", "msg", result=0)
                 + trap(RECEIVE, "EP_S", "inbox", result=1), message("msg", 101), priority=1)
    c3 = program("c3", trap(SENDREC, "EP_S", "msg", result=0), message("msg", 103),
                 priority=2)
    result = run(tmp_path, [s, c1, c2, recorder("o"), c3])
    assert results(result, "s", 11) == [OK, OK, OK, OK] + [ECALLDENIED] * 4 + [OK, OK, OK]
    assert source_and_type(result.bytes_at("c3", "msg", 8)) == (ep(0), 204)
    assert results(result, "c3", 1) == [OK]
    assert entry(result, "s", "table", 0) == (V | D, ep(3), ECALLDENIED)
    assert source_and_type(result.bytes_at("c2", "inbox", 8)) == (ep(0), 201)
    assert source_and_type(result.bytes_at("c1", "msg", 8)) == (ep(0), 202)
    assert results(result, "c1", 1) == [OK] and results(result, "c2", 2) == [OK, OK]
    assert result.word("o", "count") == 0 and not deliveries(result, "o")
    assert result.kernel.denials.get(("s", NBSEND, ECALLDENIED)) == 1
    assert result.kernel.denials.get(("s", ASEND, ECALLDENIED)) == 1


def test_a_server_without_targets_cannot_reply_before_the_client_sent(tmp_path):
    """The same server, called by nobody yet, cannot send to c; once c has sent, it can."""
    s_text = (trap(NBSEND, "EP_C", "reply1", result=0) + trap(NOTIFY, "EP_C", result=1)
              + trap(RECEIVE, ANY, "inbox", result=2)
              + trap(SEND, "EP_C", "reply1", result=3))
    s = program("s", s_text, message("reply1", 201), targets=["SYSTEM"], priority=1)
    c = program("c", trap(SENDREC, "EP_S", "msg", result=0), message("msg", 102))
    result = run(tmp_path, [s, c])
    assert results(result, "s", 4) == [ECALLDENIED, ECALLDENIED, OK, OK]
    assert results(result, "c", 1) == [OK]
    assert source_and_type(result.bytes_at("c", "msg", 8)) == (ep(0), 201)
    assert [e["peer"] for e in deliveries(result, "c")] == [ep(0)]


def test_reply_permission_does_not_pass_to_the_next_process_in_the_slot(tmp_path):
    """c SENDRECs to s (targets: SYSTEM only) and is killed before the reply; a fresh c,
    restarted in the slot, never sent to s: s cannot send to it (ECALLDENIED), and the
    old endpoint is dead (EDEADSRCDST)."""
    new = ep(1, gen=1)
    s_text = (trap(RECEIVE, ANY, "inbox", result=0) + wait(10)
              + trap(NBSEND, "EP_C", "reply", result=1) + trap(NBSEND, new, "reply", result=2)
              + trap(NOTIFY, new, result=3) + trap(SEND, new, "reply", result=4))
    s = program("s", s_text, message("reply", 201), targets=["SYSTEM"])
    c_text = """
    mov dword ptr [kmsg + M_TYPE], SYS_TIMES
    mov eax, SYSTEM
    lea ebx, [kmsg]
    mov ecx, SENDREC
    int IPC_VEC
    cmp dword ptr [kmsg + T_TICKS], 3
    jge restarted
""" + trap(SENDREC, "EP_S", "msg", result=0) + "restarted:\n"
    c = program("c", c_text, message("msg", 102), kernel_calls=KERNEL_CALLS + ["TIMES"])
    image = build_system(tmp_path, [s, c])
    result = run_in_two_phases(image, lambda run: restart(run, "c"), first_ticks=5)
    assert result.kernel.panic_report is None and result.end == "idle"
    assert result.proc("c").endpoint == new
    assert results(result, "s", 5) == [OK, EDEADSRCDST] + [ECALLDENIED] * 3
    assert results(result, "c", 1) == [SENTINEL]          # the fresh c never sent
    assert not [e for e in deliveries(result, "c") if e["peer"] == ep(0)]
    assert result.proc("c").notify_pending == 0


# -- 8. M_SOURCE is stamped by the kernel; exactly 64 bytes move -------------------------------
def test_m_source_is_stamped_on_every_delivery_and_64_bytes_move(tmp_path):
    """Senders forge M_SOURCE in every message; r receives them through each path of the
    kernel (queued SEND and SENDREC, pending notification and ASEND entry, then direct
    SEND, NBSEND, SENDREC, NOTIFY and ASEND) and replies to the SENDRECs with a forged
    M_SOURCE too.  Every delivered message is the sender's 64 bytes with M_SOURCE = the
    sender, and nothing after a receiver's buffer changes."""
    plan = [(RECEIVE, ANY)] * 9 + [(RECEIVE | NONBLOCK, ANY)]
    r = recorder("r", plan, wait_ticks=2, reply_types=(12, 23), priority=1)
    q1 = program("q1", trap(SEND, "EP_R", "msg", result=0), message("msg", 11))
    q2 = program("q2", trap(SENDREC, "EP_R", "msg", result=0), message("msg", 12, SYSTEM))
    q3 = program("q3", trap(ASEND, 1, "table", result=0) + trap(NOTIFY, "EP_R", result=1),
                 asend_table("table", [(V, "EP_R", 13)]))
    f = program("f", wait(5) + trap(SEND, "EP_R", "m21", result=0)
                + trap(NBSEND, "EP_R", "m22", result=1)
                + trap(SENDREC, "EP_R", "m23", result=2)
                + trap(NOTIFY, "EP_R", result=3) + trap(ASEND, 1, "table", result=4),
                message("m21", 21, ANY) + message("m22", 22, 0) + message("m23", 23, -1)
                + asend_table("table", [(V, "EP_R", 25)]))
    result = run(tmp_path, [r, q1, q2, q3, f])
    assert results(result, "r", 10) == [OK] * 9 + [ENOTREADY]
    expected = [(3, None), (1, message_bytes(11)), (2, message_bytes(12, SYSTEM)),
                (3, message_bytes(13)), (4, message_bytes(21, ANY)),
                (4, message_bytes(22, 0)), (4, message_bytes(23, -1)), (4, None),
                (4, message_bytes(25))]
    for i, (sender, sent) in enumerate(expected):
        data = box(result, "r", i)
        if sent is None:
            assert_notification(data, ep(sender))
        else:
            assert data == ep(sender).to_bytes(4, "little") + sent[4:], i
        assert guard(result, "r", i) == GUARD, i
    assert box(result, "r", 9) == BOX_FILL
    # the replies: M_SOURCE = r, the rest of r's reply, nothing after the buffer
    assert result.word("r", "replies", 4 * 2) == OK and result.word("r", "replies", 4 * 6) == OK
    for label, name in (("q2", "msg"), ("f", "m23")):
        reply = result.bytes_at(label, name, abi.MSG_SIZE + 8)
        assert reply[:4] == ep(0).to_bytes(4, "little")
        assert reply[4:abi.MSG_SIZE] == message_bytes(99)[4:]
        assert reply[abi.MSG_SIZE:] == b"\xef\xbe\xad\xde" * 2
    assert results(result, "f", 5) == [OK] * 5
    assert entry(result, "q3", "table", 0) == (V | D, ep(0), OK)
    # the trace names the real senders
    assert [e["peer"] for e in deliveries(result, "r")] == \
        [CLOCK] + [ep(s) for s, _ in expected]


# -- 9. SENDREC is atomic ----------------------------------------------------------------------
def test_sendrec_gets_exactly_its_peers_reply_while_a_third_sender_waits(tmp_path):
    """c SENDRECs to s; t1 sends to c during the send half, t2 during the receive half,
    t3 ASENDs, NBSENDs (not ready: c waits for s only) and notifies; s replies 3 ticks
    later.  c gets s's reply, and only then the others (t3's notification, t1 and t2 in
    FIFO order, t3's entry)."""
    c = recorder("c", [(RECEIVE, ANY)] * 4 + [(RECEIVE | NONBLOCK, ANY)], priority=2)
    c["source"] = c["source"].replace("_start:\n", "_start:\n"
                                      + trap(SENDREC, "EP_S", "request", result=15), 1)
    c["source"] = c["source"].replace(".data\n", ".data\n" + message("request", 7), 1)
    s = program("s", trap(RECEIVE, ANY, "inbox", result=0) + wait(3)
                + trap(SEND, "[inbox + M_SOURCE]", "reply", result=1), message("reply", 77))
    t1 = program("t1", trap(SEND, "EP_C", "msg", result=0), message("msg", 31), priority=2)
    t2 = program("t2", trap(SEND, "EP_C", "msg", result=0), message("msg", 32))
    t3 = program("t3", trap(ASEND, 1, "table", result=0) + trap(NBSEND, "EP_C", "msg", result=1)
                 + trap(NOTIFY, "EP_C", result=2),
                 asend_table("table", [(V, "EP_C", 33)]) + message("msg", 34))
    result = run(tmp_path, [c, s, t1, t2, t3])
    assert results(result, "t3", 3) == [OK, ENOTREADY, OK]     # c waits for s only
    assert result.word("c", "results", 60) == OK
    assert result.bytes_at("c", "request", abi.MSG_SIZE) == \
        ep(1).to_bytes(4, "little") + message_bytes(77)[4:]
    assert results(result, "s", 2) == [OK, OK]
    assert source_and_type(result.bytes_at("s", "inbox", 8)) == (ep(0), 7)
    assert results(result, "c", 5) == [OK, OK, OK, OK, ENOTREADY]
    assert received(result, "c") == [(ep(4), NOTIFY_MESSAGE), (ep(2), 31), (ep(3), 32),
                                     (ep(4), 33)]
    assert results(result, "t1", 1) == [OK] and results(result, "t2", 1) == [OK]
    # the reply was c's first delivery, though t1 and t2 were queued before it
    to_c = deliveries(result, "c")
    assert [e["peer"] for e in to_c] == [ep(1), ep(4), ep(2), ep(3), ep(4)]
    queued = [e for e in result.ipc_events(op="SEND") if e["proc"] in ("t1", "t2")]
    assert all(e["t"] >= to_c[0]["t"] >= 3 * abi.TICK_INSNS for e in queued)
    assert entry(result, "t3", "table", 0) == (V | D, ep(0), OK)


def test_sendrec_takes_a_reply_sent_by_asend(tmp_path):
    """SENDREC's receive half is a RECEIVE from the peer, and a RECEIVE takes pending
    asynchronous messages: s answers c's SENDREC with ASEND, and c gets that reply."""
    s = program("s", trap(RECEIVE, ANY, "inbox", result=0) + """
    mov eax, [inbox + M_SOURCE]
    mov [table + ASEND_DST], eax
""" + trap(ASEND, 1, "table", result=1), asend_table("table", [(V, 0, 77)]))
    c = program("c", trap(SENDREC, "EP_S", "msg", result=0), message("msg", 7))
    result = run(tmp_path, [s, c])
    assert results(result, "s", 2) == [OK, OK]
    assert results(result, "c", 1) == [OK]
    assert source_and_type(result.bytes_at("c", "msg", 8)) == (ep(0), 77)
    assert entry(result, "s", "table", 0) == (V | D, ep(1), OK)
