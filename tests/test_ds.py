"""DS, the name server (guest/servers/ds.asm), with the real assembly in small systems.

DS is program 0 with its least policy (RECEIVE, NBSEND, NOTIFY; no targets, no kernel
calls; priority 1, above the drivers, since RS waits on it): it may only answer and
notify those that sent to it.  Clients are scripted
probers: each step is one trap (function, endpoint, a 64-byte message slot whose reply
lands in the same slot) and a spin afterwards; the prober stores each trap's eax and
ends with EXIT 0.  A prober labelled `rs` stands for RS, the only one allowed to
publish.  Unhappy paths first: every rejection is checked by its error code in the
reply, the table is checked unchanged, and DS is checked still serving afterwards.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from kernel import abi, protocols
from kernel.abi import (EBADREQUEST, EINVAL, ENOENT, ENOMEM, ENOTREADY, EPERM,
                        NOTIFY_MESSAGE, OK, RECEIVE, SENDREC)
from kernel.protocols import (DS_CHECK, DS_LOOKUP, DS_MAX_ENTRIES, DS_MAX_SUBSCRIBERS,
                              DS_PUBLISH, DS_SUB_MAX, DS_SUBSCRIBE)
from tests.harness import EXIT_WITH_EDX, build_system, run_image

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "guest" / "servers"
SENTINEL = 0x7777                           # the result of a step that never ran

DS_POLICY = {"label": "ds", "kind": "server", "priority": 1,
             "ipc": ["RECEIVE", "NBSEND", "NOTIFY"], "targets": [], "kernel_calls": []}


def server(label, policy=None):
    """A stock server's program entry, from its real source."""
    program = {"label": label, "source": (SERVERS / f"{label}.asm").read_text()}
    program.update(policy or {})
    return program


def ds_program():
    return server("ds", DS_POLICY)


# -- the scripted prober ------------------------------------------------------------------

@dataclass
class Step:
    """One trap: `function` (ecx) to `endpoint` (eax) with a message of `m_type`, the
    label bytes at M_W0 (raw: may be unterminated) and payload words {index: value}."""
    m_type: object = 0
    label: bytes = b""
    words: dict = field(default_factory=dict)
    function: int = SENDREC
    endpoint: object = "EP_DS"
    spin: int = 0


def req(m_type, label=b"", spin=0, endpoint="EP_DS", **words):
    return Step(m_type, label, {int(k[1:]): v for k, v in words.items()}, spin=spin,
                endpoint=endpoint)


def publish(label, ep, spin=0):
    return req(DS_PUBLISH, label, spin=spin, w4=ep)


def receive(source="ANY", spin=0):
    return Step(function=RECEIVE, endpoint=source, spin=spin)


def notify(label):
    return Step(function=abi.NOTIFY, endpoint=f"EP_{label.upper()}")


def pause(spin):
    """A step that only spins: a NONBLOCK RECEIVE whose result is ignored."""
    return Step(function=RECEIVE | abi.NONBLOCK, endpoint="ANY", spin=spin)


def slot_lines(step):
    payload = bytearray(56)
    payload[:len(step.label)] = step.label
    for index, value in step.words.items():
        payload[4 * index:4 * index + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    return [f"    .long 0, {step.m_type}",
            "    .byte " + ", ".join(str(b) for b in payload)]


def prober_source(steps, extra=""):
    headers = [f"    .long {s.function}, {s.endpoint}, {s.spin}" for s in steps]
    slots = [line for s in steps for line in slot_lines(s)]
    return f"""
.text
_start:
    xor esi, esi
next_step:
    cmp esi, {len(steps)}
    jge all_done
    mov edi, esi
    imul edi, edi, 12
    mov ecx, [steps + edi]
    mov eax, [steps + edi + 4]
    mov ebx, esi
    shl ebx, 6
    lea ebx, [slots + ebx]
    int IPC_VEC
    mov [results + esi*4], eax
    mov ecx, [steps + edi + 8]
    test ecx, ecx
    jz step_done
spin:
    dec ecx
    jnz spin
step_done:
    inc esi
    jmp next_step
all_done:
{extra}
    mov edx, 0
{EXIT_WITH_EDX}
.data
steps:
{chr(10).join(headers) if headers else ""}
slots:
{chr(10).join(slots) if slots else ""}
results:
    .long {", ".join([str(SENTINEL)] * max(len(steps), 1))}
.bss
exit_msg:
    .space MSG_SIZE
"""


def prober(label, steps, **policy):
    program = {"label": label, "source": prober_source(steps), "kind": "user",
               "ipc": ["SENDREC", "SEND", "RECEIVE", "NOTIFY"], "targets": ["ALL"],
               "kernel_calls": ["EXIT"]}
    program.update(policy)
    return program


@dataclass
class Reply:
    eax: int
    source: int
    type: int
    words: tuple

    @property
    def label(self):
        raw = b"".join((w & 0xFFFFFFFF).to_bytes(4, "little") for w in self.words[:4])
        return raw.rstrip(b"\0")


def replies(result, label, count):
    out = []
    for i in range(count):
        slot = result.bytes_at(label, "slots", abi.MSG_SIZE, abi.MSG_SIZE * i)
        ints = [int.from_bytes(slot[k:k + 4], "little", signed=True) for k in range(0, 64, 4)]
        out.append(Reply(result.word(label, "results", 4 * i), ints[0], ints[1],
                         tuple(ints[2:])))
    return out


def build(tmp_path, programs):
    """Build a system whose sources may include the servers' own .inc files."""
    for inc in SERVERS.glob("*.inc"):
        shutil.copy(inc, tmp_path / inc.name)
    return build_system(tmp_path, programs)


def run(tmp_path, programs, until_exit, **limits):
    limits.setdefault("max_ticks", 200)
    result = run_image(build(tmp_path, programs), until_exit=until_exit, **limits)
    assert result.kernel.panic_report is None, result.kernel.panic_report
    return result


def run_probers(tmp_path, probers, last, others=(), **limits):
    """DS (program 0), then the probers (label, steps, policy), then `others`; runs until
    the prober `last` ends and checks it ran to its EXIT 0."""
    programs = [ds_program()] + [prober(label, steps, **policy)
                                 for label, steps, policy in probers] + list(others)
    result = run(tmp_path, programs, last, **limits)
    assert result.end == "exit"
    assert result.of("exit", last) and result.of("exit", last)[0]["status"] == 0
    answers = {label: replies(result, label, len(steps)) for label, steps, _ in probers}
    return result, answers


def table(result):
    """DS's table as {label: endpoint}, read from its memory."""
    out = {}
    for i in range(DS_MAX_ENTRIES):
        entry = result.bytes_at("ds", "entries", 32, 32 * i)
        if int.from_bytes(entry[20:24], "little"):
            out[entry[:16].rstrip(b"\0")] = int.from_bytes(entry[16:20], "little",
                                                           signed=True)
    return out


def ds_denials(result):
    return {key: n for key, n in result.kernel.denials.items() if key[0] == "ds"}


def types(answers):
    return [(a.eax, a.type) for a in answers]


# -- publish: only RS, only good labels -------------------------------------------------------

def test_publish_from_anyone_but_rs_is_eperm(tmp_path):
    """The check is by endpoint: a server, even one with a higher priority, is denied."""
    steps = [publish(b"tty", 5), publish(b"printer", 6), req(DS_LOOKUP, b"tty"),
             req(DS_LOOKUP, b"printer"), notify("rs")]
    result, answers = run_probers(
        tmp_path, [("intruder", steps, {"kind": "server", "priority": 1}),
                   ("rs", [receive("EP_INTRUDER"), req(DS_LOOKUP, b"tty")], {})], "rs")
    assert types(answers["intruder"][:4]) == [(OK, EPERM), (OK, EPERM), (OK, ENOENT),
                                              (OK, ENOENT)]
    assert types(answers["rs"][1:]) == [(OK, ENOENT)]
    assert all(a.source == 0 for a in answers["intruder"]), "DS is endpoint 0"
    assert table(result) == {}
    assert not ds_denials(result)


def test_publish_bad_labels_is_einval(tmp_path):
    bad = [b"", b"\0tty", b"A" * 16, b"0123456789abcdef", b"\xff" * 16]
    steps = [publish(label, 7) for label in bad] + [
        req(DS_LOOKUP, label) for label in bad] + [
        req(DS_SUBSCRIBE, label) for label in bad] + [
        publish(b"A" * 15, 9), req(DS_LOOKUP, b"A" * 15 + b"\0garbage")]
    result, answers = run_probers(tmp_path, [("rs", steps, {})], "rs")
    n = len(bad)
    assert types(answers["rs"]) == [(OK, EINVAL)] * (3 * n) + [(OK, OK), (OK, OK)]
    assert answers["rs"][-1].words[4] == 9
    assert answers["rs"][-1].label == b"A" * 15
    assert table(result) == {b"A" * 15: 9}
    assert result.bytes_at("ds", "subs", 32 * DS_MAX_SUBSCRIBERS) == \
        bytes(32 * DS_MAX_SUBSCRIBERS)


def test_unknown_requests_are_ebadrequest(tmp_path):
    junk = [0, -1, 0x7FFFFFFF, DS_PUBLISH - 1, DS_CHECK + 1, protocols.RS_STATUS,
            abi.SYS_DEVIO, protocols.DEV_WRITE, -0x80000000]
    steps = [req(m, b"tty", w4=3) for m in junk] + [publish(b"tty", 3),
                                                    req(DS_LOOKUP, b"tty")]
    result, answers = run_probers(tmp_path, [("rs", steps, {})], "rs")
    assert types(answers["rs"]) == [(OK, EBADREQUEST)] * len(junk) + [(OK, OK), (OK, OK)]
    assert all(a.words == (0,) * 14 for a in answers["rs"][:len(junk)]), \
        "a rejection carries nothing"
    assert table(result) == {b"tty": 3}


def test_lookup_of_an_unknown_label_is_enoent(tmp_path):
    steps = [req(DS_LOOKUP, b"tty"), publish(b"tty", 3), req(DS_LOOKUP, b"ttyx"),
             req(DS_LOOKUP, b"tt"), req(DS_LOOKUP, b"TTY"), req(DS_LOOKUP, b"tty")]
    result, answers = run_probers(tmp_path, [("rs", steps, {})], "rs")
    assert types(answers["rs"]) == [(OK, ENOENT), (OK, OK)] + [(OK, ENOENT)] * 3 + \
        [(OK, OK)]
    assert answers["rs"][-1].words[4] == 3 and answers["rs"][-1].label == b"tty"
    assert answers["rs"][0].words == (0,) * 14


def test_full_table_is_enomem_and_republish_still_works(tmp_path):
    labels = [f"d{i}".encode() for i in range(DS_MAX_ENTRIES)]
    steps = [publish(label, 100 + i) for i, label in enumerate(labels)] + [
        publish(b"onemore", 1), publish(b"d7", 2007), req(DS_LOOKUP, b"onemore"),
        req(DS_LOOKUP, b"d7"), req(DS_LOOKUP, labels[-1])]
    result, answers = run_probers(tmp_path, [("rs", steps, {})], "rs")
    got = types(answers["rs"])
    assert got[:DS_MAX_ENTRIES] == [(OK, OK)] * DS_MAX_ENTRIES
    assert got[DS_MAX_ENTRIES:] == [(OK, ENOMEM), (OK, OK), (OK, ENOENT), (OK, OK), (OK, OK)]
    assert answers["rs"][-2].words[4] == 2007
    assert answers["rs"][-1].words[4] == 100 + DS_MAX_ENTRIES - 1
    expected = {label: 100 + i for i, label in enumerate(labels)}
    expected[b"d7"] = 2007
    assert table(result) == expected


def test_full_subscription_table_is_enomem(tmp_path):
    # one subscriber gets DS_SUB_MAX subscriptions, not the table; the subscribers that
    # fill it together leave no room for another
    fillers = [f"f{i}" for i in range(DS_MAX_SUBSCRIBERS // DS_SUB_MAX)]
    probers = []
    for i, label in enumerate(fillers):
        steps = [receive(f"EP_{fillers[i - 1].upper()}")] if i else []
        steps += [req(DS_SUBSCRIBE, f"{label}s{j}".encode()) for j in range(DS_SUB_MAX)]
        if not i:
            steps += [req(DS_SUBSCRIBE, f"{label}s0".encode()),   # the same again: fine
                      req(DS_SUBSCRIBE, b"extra")]                # past its share
        steps.append(notify(fillers[i + 1] if i + 1 < len(fillers) else "rs"))
        probers.append((label, steps, {}))
    other = [receive(f"EP_{fillers[-1].upper()}"), req(DS_SUBSCRIBE, b"s0")]   # no room
    result, answers = run_probers(tmp_path, probers + [("rs", other, {})], "rs")
    assert types(answers["f0"][:-1]) == [(OK, OK)] * (DS_SUB_MAX + 1) + [(OK, ENOMEM)]
    for label in fillers[1:]:
        assert types(answers[label][1:-1]) == [(OK, OK)] * DS_SUB_MAX
    assert types(answers["rs"][1:]) == [(OK, ENOMEM)]


# -- subscriptions ----------------------------------------------------------------------------
# Probers take turns by NOTIFY and RECEIVE from each other; `rs` has a higher priority
# than the subscribers, so it runs its publications in one go once it is woken.

def test_subscribe_notify_and_check_sequence(tmp_path):
    """The subscriber subscribes to tty and disk, RS publishes tty, printer, disk, tty:
    the subscriber has a NOTIFY from DS and DS_CHECK hands it each changed label once
    (tty with its latest endpoint), then ENOENT; an unsubscribed label never shows."""
    sub_steps = [req(DS_CHECK), req(DS_SUBSCRIBE, b"tty"), req(DS_SUBSCRIBE, b"disk"),
                 req(DS_CHECK), notify("rs"),
                 receive("EP_DS"),                          # the NOTIFY from DS
                 req(DS_CHECK), req(DS_CHECK), req(DS_CHECK), notify("rs"),
                 receive("EP_DS"),                          # the second round
                 req(DS_CHECK), req(DS_CHECK)]
    rs_steps = [receive("EP_SUB"), publish(b"tty", 11), publish(b"printer", 12),
                publish(b"disk", 13), publish(b"tty", 1035), receive("EP_SUB"),
                publish(b"disk", 2061)]
    result, answers = run_probers(
        tmp_path, [("rs", rs_steps, {"priority": 5}), ("sub", sub_steps, {})], "sub")
    sub = answers["sub"]
    assert types(sub[:4]) == [(OK, ENOENT), (OK, OK), (OK, OK), (OK, ENOENT)]
    assert (sub[5].eax, sub[5].source, sub[5].type) == (OK, 0, NOTIFY_MESSAGE)
    assert types(sub[6:9]) == [(OK, OK), (OK, OK), (OK, ENOENT)]
    assert [(a.label, a.words[4]) for a in sub[6:8]] == [(b"tty", 1035), (b"disk", 13)]
    assert (sub[10].eax, sub[10].source, sub[10].type) == (OK, 0, NOTIFY_MESSAGE)
    assert types(sub[11:]) == [(OK, OK), (OK, ENOENT)]
    assert (sub[11].label, sub[11].words[4]) == (b"disk", 2061)
    notifies = result.ipc_events(proc="ds", op="NOTIFY")
    assert [(e["peer_label"], e["result"]) for e in notifies] == [("sub", "OK")] * 4
    assert types([answers["rs"][i] for i in (1, 2, 3, 4, 6)]) == [(OK, OK)] * 5


def test_each_subscriber_sees_its_own_changes(tmp_path):
    a_steps = [req(DS_SUBSCRIBE, b"tty"), notify("rs"), receive("EP_DS"), req(DS_CHECK),
               req(DS_CHECK), notify("rs")]
    b_steps = [req(DS_SUBSCRIBE, b"tty"), req(DS_SUBSCRIBE, b"printer"), notify("rs"),
               receive("EP_DS"), req(DS_CHECK), req(DS_CHECK), req(DS_CHECK), notify("rs")]
    rs_steps = [receive("EP_A"), receive("EP_B"), publish(b"printer", 4),
                publish(b"tty", 3), receive("EP_A"), receive("EP_B")]
    result, answers = run_probers(tmp_path, [("a", a_steps, {}), ("b", b_steps, {}),
                                             ("rs", rs_steps, {"priority": 5})], "rs")
    a, b = answers["a"], answers["b"]
    assert types(a[3:5]) == [(OK, OK), (OK, ENOENT)] and a[3].label == b"tty"
    assert types(b[4:7]) == [(OK, OK), (OK, OK), (OK, ENOENT)]
    assert [x.label for x in b[4:6]] == [b"tty", b"printer"]


def test_a_dead_subscriber_loses_its_subscriptions(tmp_path):
    """A subscriber that ended is found dead at the next publication (EDEADSRCDST) and
    its subscriptions are freed for others."""
    earlies = [f"early{i}" for i in range(DS_MAX_SUBSCRIBERS // DS_SUB_MAX)]   # fill it
    early = [(label, [req(DS_SUBSCRIBE, f"l{DS_SUB_MAX * i + j}".encode())
                      for j in range(DS_SUB_MAX)], {}) for i, label in enumerate(earlies)]
    late = [receive("EP_RS"), req(DS_SUBSCRIBE, b"l0"), req(DS_SUBSCRIBE, b"l1"),
            notify("rs"), receive("EP_DS"), req(DS_CHECK), req(DS_CHECK)]
    rs_steps = [receive(f"EP_{earlies[-1].upper()}"),   # woken by its end: EDEADSRCDST
                publish(b"l0", 1), notify("late"),
                receive("EP_LATE"), publish(b"l0", 3), publish(b"l1", 4)]
    result, answers = run_probers(tmp_path, early + [("rs", rs_steps, {"priority": 5}),
                                                     ("late", late, {})], "late")
    first_publish = result.ipc_events("rs", "SENDREC")[0]["t"]
    for label in earlies:
        assert result.of("exit", label)[0]["t"] < first_publish
        assert types(answers[label]) == [(OK, OK)] * DS_SUB_MAX
    assert answers["rs"][0].eax == abi.EDEADSRCDST
    assert types(answers["rs"][1:2]) == [(OK, OK)]
    # l0's subscription was freed at its publication; l1's dead one is not found yet
    assert types(answers["late"][1:3]) == [(OK, OK), (OK, ENOMEM)]
    assert types(answers["late"][5:]) == [(OK, OK), (OK, ENOENT)]
    assert answers["late"][5].words[4] == 3
    notifies = [(e["peer"], e["result"]) for e in result.ipc_events("ds", "NOTIFY")]
    early_ep = result.kernel.labels["early0"]
    assert notifies == [(early_ep, "EDEADSRCDST"), (result.proc("late").endpoint, "OK"),
                        (early_ep, "EDEADSRCDST")]


# -- DS never blocks --------------------------------------------------------------------------

HOSTILE = """
.text
_start:
    mov eax, EP_DS
    lea ebx, [msg]
    mov ecx, SEND
    int IPC_VEC
    mov [sent], eax
spin:
    inc dword ptr [turns]
    jmp spin
.data
msg:
    .long 0, DS_LOOKUP
    .ascii "tty"
    .space 53
.bss
sent:
    .space 4
turns:
    .space 4
"""


def test_a_hostile_client_that_never_receives_does_not_stall_ds(tmp_path):
    hostile = {"label": "hostile", "source": HOSTILE, "kind": "user", "ipc": ["SEND"],
               "targets": ["ds"], "priority": 5}
    steps = [pause(20000), publish(b"tty", 3), req(DS_LOOKUP, b"tty"), req(DS_LOOKUP, b"x")]
    result, answers = run_probers(tmp_path, [("rs", steps, {"priority": 7})], "rs",
                                  others=[hostile])
    assert types(answers["rs"][1:]) == [(OK, OK), (OK, OK), (OK, ENOENT)]
    assert result.word("hostile", "sent") == OK
    assert result.word("hostile", "turns") > 0
    nbsends = [(e["peer_label"], e["result"]) for e in result.ipc_events("ds", "NBSEND")]
    assert ("hostile", "ENOTREADY") in nbsends
    assert nbsends.count(("rs", "OK")) == 3
    assert ds_denials(result) == {("ds", abi.NBSEND, ENOTREADY): 1}
    assert result.kernel.table.by_label("ds").state_text(result.kernel.table) == \
        "RECEIVING from ANY"


def test_ds_takes_and_ignores_notifications(tmp_path):
    steps = [Step(function=abi.NOTIFY, endpoint="EP_DS"), publish(b"tty", 3),
             req(DS_LOOKUP, b"tty")]
    result, answers = run_probers(tmp_path, [("rs", steps, {})], "rs")
    assert types(answers["rs"]) == [(OK, 0), (OK, OK), (OK, OK)]
    assert len(result.ipc_events("ds", "NBSEND")) == 2, "no reply to a notification"


def test_ds_runs_the_same_twice(tmp_path):
    sub_steps = [req(DS_SUBSCRIBE, b"tty"), notify("rs"), receive("EP_DS"), req(DS_CHECK),
                 req(DS_CHECK)]
    rs_steps = [receive("EP_SUB"), publish(b"tty", 3), req(DS_LOOKUP, b"tty")]
    traces = []
    for n in range(2):
        path = tmp_path / str(n)
        path.mkdir()
        result, _ = run_probers(path, [("sub", sub_steps, {}), ("rs", rs_steps, {})], "sub")
        traces.append(result.trace_text)
    assert traces[0] == traces[1]
