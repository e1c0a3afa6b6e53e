"""RS, the reincarnation server (guest/servers/rs.asm), with DS and test drivers.

The systems here are rs (program 0), ds (1), test drivers (2..) and scripted probers
(tests/test_ds.py) standing for VFS and users.  RS and DS run with their least
policies (RS_POLICY, DS_POLICY).  A test driver answers RS's heartbeat pings and obeys
commands sent to it: crash (ud2), hang (spin forever), exit; any other request gets
the reply M_TYPE = ALIVE.  Variants crash or hang at start, or crash from their own
alarm some ticks after they start.  RS runs at priority 1, above the drivers (2), so a
spinning driver cannot delay its pings.  Every run checks that the kernel did not
panic; times are virtual (ticks of TICK_INSNS instructions), read from the trace.
"""

import pytest

from kernel.abi import (EBADREQUEST, EDEADSRCDST, EINVAL, ENDPOINT_GEN_MUL, ENOENT,
                        NONE, NOTIFY, NOTIFY_MESSAGE, OK, SEND, SENDREC, TICK_INSNS)
from kernel.protocols import (DS_CHECK, DS_LOOKUP, DS_SUBSCRIBE, RS_BACKOFF_MAX_TICKS,
                              RS_MISSED_BEATS, RS_STATUS)
from tests.test_ds import (Step, ds_program, notify, pause, prober, receive, replies, req,
                           run, server, table, types)

RS_POLICY = {"label": "rs", "kind": "server", "priority": 1,
             "ipc": ["RECEIVE", "SENDREC", "NOTIFY", "NBSEND"],
             "kernel_calls": ["GETINFO", "SPAWN", "KILL", "SETALARM", "TIMES"]}
CRASH, HANG, EXIT = 1, 2, 3             # commands of the test driver
ALIVE = 42                              # its answer to anything else
GEN = ENDPOINT_GEN_MUL

DRIVER = """
.text
_start:
{start}
main_loop:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz main_loop
    mov eax, [msg + M_TYPE]
    cmp eax, NOTIFY_MESSAGE
    je notified
    cmp eax, {CRASH}
    je crash
    cmp eax, {HANG}
    je hang
    cmp eax, {EXIT}
    je leave
    mov dword ptr [msg + M_TYPE], {ALIVE}
    mov eax, [msg + M_SOURCE]
    lea ebx, [msg]
    mov ecx, NBSEND
    int IPC_VEC
    jmp main_loop
notified:
    mov eax, [msg + M_SOURCE]
    cmp eax, CLOCK
    je crash
    test eax, eax
    js main_loop
    inc dword ptr [pings]
{on_ping}
    mov ecx, NOTIFY
    int IPC_VEC
    jmp main_loop
crash:
    ud2
hang:
    inc dword ptr [spins]
    jmp hang
leave:
    mov edx, [msg + M_W0]
    mov dword ptr [msg + M_TYPE], SYS_EXIT
    mov [msg + EXIT_STATUS], edx
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    ud2
.bss
pings:
    .space 4
spins:
    .space 4
msg:
    .space MSG_SIZE
"""

CRASH_AFTER = """
    mov dword ptr [msg + M_TYPE], SYS_SETALARM
    mov dword ptr [msg + ALARM_TICKS], {ticks}
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
"""


def driver(label, heartbeat=0, restart="always", start="", on_ping="", **policy):
    """A test driver; `start` runs first (e.g. "ud2"), `on_ping` at each ping with eax
    = RS's endpoint (and must keep it)."""
    source = DRIVER.format(start=start, on_ping=on_ping, CRASH=CRASH, HANG=HANG, EXIT=EXIT,
                           ALIVE=ALIVE)
    program = {"label": label, "source": source, "kind": "driver",
               "ipc": ["RECEIVE", "NBSEND", "NOTIFY", "SENDREC"],
               "targets": ["SYSTEM", "rs"], "kernel_calls": ["EXIT", "SETALARM"],
               "heartbeat": heartbeat, "restart": restart}
    program.update(policy)
    return program


def crash_after(label, ticks, **kw):
    return driver(label, start=CRASH_AFTER.format(ticks=ticks), **kw)


def rs_program(drivers):
    policy = dict(RS_POLICY, targets=["SYSTEM", "ds"] + [d["label"] for d in drivers])
    return server("rs", policy)


def system(drivers, probers=(), others=()):
    return [rs_program(drivers), ds_program(), *drivers,
            *[prober(label, steps, **policy) for label, steps, policy in probers],
            *others]


def run_rs(tmp_path, drivers, probers=(), until=None, others=(), **limits):
    programs = system(drivers, probers, others)
    result = run(tmp_path, programs, until, **limits)
    if until is not None:
        assert result.end == "exit", result.end
        assert result.of("exit", until)[0]["status"] == 0
    answers = {label: replies(result, label, len(steps)) for label, steps, _ in probers}
    return result, answers


def status(label, spin=0):
    return req(RS_STATUS, label, spin=spin, endpoint="EP_RS")


def send(m_type, endpoint, function=SEND, **words):
    return Step(m_type, b"", {int(k[1:]): v for k, v in words.items()}, function, endpoint)


def starts(result, label):
    return [e for e in result.events if e["ev"] == "start" and e["proc"] == label]


def rs_entry(result, index):
    """Entry `index` of RS's driver table: (label, endpoint, restarts, state)."""
    raw = result.bytes_at("rs", "drivers", 64, 64 * index)
    word = lambda k: int.from_bytes(raw[k:k + 4], "little", signed=True)  # noqa: E731
    return raw[:16].rstrip(b"\0"), word(16), word(40), word(32)


def ticks(t):
    return t / TICK_INSNS


# -- RS's own requests --------------------------------------------------------------------------

def test_rs_status_rejects_bad_requests_and_labels(tmp_path):
    bad = [b"", b"A" * 16, b"\0drv"]
    steps = [status(label) for label in bad] + [
        status(b"nosuch"), status(b"ds"), status(b"rs"),        # servers are not in charge
        req(0, b"drv", endpoint="EP_RS"), req(-1, endpoint="EP_RS"),
        req(DS_LOOKUP, b"drv", endpoint="EP_RS"), req(RS_STATUS + 1, b"drv", endpoint="EP_RS"),
        status(b"drv"), status(b"drv\0junk")]
    result, answers = run_rs(tmp_path, [driver("drv")], [("user", steps, {})], "user")
    got = types(answers["user"])
    assert got == [(OK, EINVAL)] * 3 + [(OK, ENOENT)] * 3 + [(OK, EBADREQUEST)] * 4 + \
        [(OK, OK)] * 2
    assert all(a.words == (0,) * 14 for a in answers["user"][:10]), "rejections carry nothing"
    drv = answers["user"][-1]
    assert (drv.label, drv.words[4], drv.words[5]) == (b"drv", 2, 0)


def test_rs_publishes_the_drivers_at_start(tmp_path):
    drivers = [driver("tty"), driver("printer"), driver("disk", kind="driver")]
    steps = [pause(20000), req(DS_LOOKUP, b"tty"), req(DS_LOOKUP, b"printer"),
             req(DS_LOOKUP, b"disk"), req(DS_LOOKUP, b"rs"), req(DS_LOOKUP, b"ds"),
             req(DS_LOOKUP, b"user")]
    result, answers = run_rs(tmp_path, drivers, [("user", steps, {})], "user")
    assert [(a.type, a.words[4]) for a in answers["user"][1:]] == \
        [(OK, 2), (OK, 3), (OK, 4), (ENOENT, 0), (ENOENT, 0), (ENOENT, 0)]
    assert table(result) == {b"tty": 2, b"printer": 3, b"disk": 4}
    assert result.kernel.clock.next_due is None, "no heartbeat: no alarm"
    assert not result.of("trust"), "RS never blocked on a driver"


def test_a_hostile_client_does_not_stall_rs(tmp_path):
    hostile = {"label": "hostile", "kind": "user", "ipc": ["SEND"], "targets": ["rs"],
               "priority": 5, "source": """
.text
_start:
    mov eax, EP_RS
    lea ebx, [msg]
    mov ecx, SEND
    int IPC_VEC
spin:
    jmp spin
.data
msg:
    .long 0, RS_STATUS
    .ascii "drv"
    .space 53
"""}
    steps = [pause(20000), send(CRASH, "EP_DRV"), status(b"drv")]
    result, answers = run_rs(tmp_path, [driver("drv")], [("user", steps, {"priority": 7})],
                             "user", others=[hostile])
    assert (answers["user"][2].type, answers["user"][2].words[4:6]) == (OK, (GEN + 2, 1))
    nbsends = [(e["peer_label"], e["result"]) for e in result.ipc_events("rs", "NBSEND")]
    assert nbsends == [("hostile", "ENOTREADY"), ("user", "OK")]


# -- crashes ----------------------------------------------------------------------------------

def test_a_crashed_driver_is_restarted_with_a_new_endpoint(tmp_path):
    """A request makes the driver crash (ud2); RS restarts it at once in its slot with
    generation + 1, DS gives the new endpoint, the old one is dead to everyone, the new
    one answers."""
    user = [send(0, "EP_DRV", SENDREC), send(CRASH, "EP_DRV"), req(DS_LOOKUP, b"drv"),
            status(b"drv"),
            send(0, "EP_DRV", SENDREC), send(0, "EP_DRV", SEND), send(0, "EP_DRV", NOTIFY),
            send(0, "EP_DRV + 1024", SENDREC), notify("other")]
    other = [receive("EP_USER"), send(0, "EP_DRV", SENDREC), send(0, "EP_DRV", NOTIFY),
             send(0, "EP_DRV + 1024", SENDREC)]
    result, answers = run_rs(tmp_path, [driver("drv")],
                             [("user", user, {}), ("other", other, {})], "other")
    u, o = answers["user"], answers["other"]
    assert (u[0].eax, u[0].type) == (OK, ALIVE)
    assert u[1].eax == OK
    assert (u[2].type, u[2].words[4]) == (OK, GEN + 2)
    assert (u[3].type, u[3].words[4], u[3].words[5]) == (OK, GEN + 2, 1)
    assert [a.eax for a in u[4:7]] == [EDEADSRCDST] * 3
    assert (u[7].eax, u[7].type) == (OK, ALIVE)
    assert [a.eax for a in o[1:3]] == [EDEADSRCDST] * 2
    assert (o[3].eax, o[3].type) == (OK, ALIVE)
    fault = result.of("fault", "drv")
    assert len(fault) == 1 and fault[0]["ep"] == 2 and fault[0]["cause"]
    assert [(e["ep"], e.get("by")) for e in starts(result, "drv")] == \
        [(2, None), (GEN + 2, "rs")]
    assert table(result) == {b"drv": GEN + 2}
    assert rs_entry(result, 0) == (b"drv", GEN + 2, 1, 1)
    assert not result.of("trust")


@pytest.mark.parametrize("after", [1, 3, 7, 13])
def test_a_driver_crashing_at_any_moment_is_restarted_each_time(tmp_path, after):
    """Each incarnation crashes `after` ticks after its start, from its own alarm, while
    heartbeats go on: RS restarts it every time, one generation up, and publishes each
    new endpoint; a subscriber is told of each one."""
    sub = [req(DS_SUBSCRIBE, b"drv"), pause(1_000_000)]
    drv = crash_after("drv", after, heartbeat=2)
    result, _ = run_rs(tmp_path, [drv], [("sub", sub, {})], max_ticks=60)
    faults = result.of("fault", "drv")
    began = starts(result, "drv")
    assert len(faults) >= 60 // (after + 1) - 1
    assert len(began) in (len(faults), len(faults) + 1)
    assert [e["ep"] for e in began] == [2 + GEN * k for k in range(len(began))]
    for crash, restart in zip(faults, began[1:]):
        assert restart["t"] - crash["t"] < TICK_INSNS // 2, "restarted at once"
    label, ep, restarts, state = rs_entry(result, 0)
    assert (label, restarts) == (b"drv", len(began) - 1)
    alive = result.kernel.table.by_label("drv")
    assert ep == (alive.endpoint if alive else NONE)
    publishes = [e for e in result.ipc_events("rs", "SENDREC") if e["peer_label"] == "ds"]
    assert len(publishes) == len(began)
    assert not result.of("kill"), "a crashing driver answers its pings: never killed"


def test_restart_never_leaves_the_driver_dead(tmp_path):
    steps = [pause(20000), status(b"drv"), req(DS_LOOKUP, b"drv"), status(b"ok")]
    result, answers = run_rs(tmp_path, [driver("drv", restart="never", start="    ud2"),
                                        driver("ok")],
                             [("user", steps, {})], "user", max_ticks=100)
    a = answers["user"]
    assert (a[1].type, a[1].words[4], a[1].words[5]) == (OK, NONE, 0)
    assert (a[2].type, a[2].words[4]) == (OK, 2), "DS keeps the last (dead) endpoint"
    assert (a[3].type, a[3].words[4], a[3].words[5]) == (OK, 3, 0)
    assert len(starts(result, "drv")) == 1 and len(result.of("fault", "drv")) == 1
    assert rs_entry(result, 0)[3] == 3                     # ST_DEAD


def test_restart_never_after_a_hang_kills_and_leaves_it_dead(tmp_path):
    result, _ = run_rs(tmp_path, [driver("drv", heartbeat=5, restart="never",
                                         start="hang_now:\n    jmp hang_now")],
                       max_ticks=100)
    assert [e["by"] for e in result.of("kill", "drv")] == ["rs"]
    assert len(starts(result, "drv")) == 1
    assert rs_entry(result, 0)[1:] == (NONE, 0, 3)
    assert result.kernel.clock.next_due is None, "nothing left to do: no alarm"


def test_backoff_delays_double_up_to_the_maximum(tmp_path):
    """A driver that crashes at once at every start: the delays before its restarts are
    1, 2, 4, ... ticks, then RS_BACKOFF_MAX_TICKS."""
    result, _ = run_rs(tmp_path, [driver("drv", restart="backoff", start="    ud2")],
                       max_ticks=1100)
    faults = result.of("fault", "drv")
    began = starts(result, "drv")
    delays = [ticks(s["t"] - f["t"]) for f, s in zip(faults, began[1:])]
    expected = [min(1 << k, RS_BACKOFF_MAX_TICKS) for k in range(len(delays))]
    assert len(delays) >= 11
    assert expected[-2:] == [RS_BACKOFF_MAX_TICKS] * 2
    for got, want in zip(delays, expected):
        assert want <= got < want + 1, (delays, expected)
    assert rs_entry(result, 0)[2] == len(began) - 1


def test_backoff_goes_back_to_one_tick_after_a_stable_run(tmp_path):
    """A driver that crashes 150 ticks after each start (longer than a crash loop): each
    restart comes after 1 tick."""
    result, _ = run_rs(tmp_path, [crash_after("drv", 150, restart="backoff")], max_ticks=700)
    faults = result.of("fault", "drv")
    began = starts(result, "drv")
    delays = [ticks(s["t"] - f["t"]) for f, s in zip(faults, began[1:])]
    assert len(delays) >= 3
    assert all(1 <= d < 2 for d in delays), delays


def test_restart_counts_via_rs_status(tmp_path):
    steps = [status(b"drv"), send(CRASH, "EP_DRV"), status(b"drv"),
             send(CRASH, "EP_DRV + 1024"), send(EXIT, "EP_DRV + 2048", w0=7),
             status(b"drv"), status(b"two"), req(DS_LOOKUP, b"drv")]
    result, answers = run_rs(tmp_path, [driver("drv"), driver("two")],
                             [("user", steps, {})], "user")
    a = answers["user"]
    assert [(x.type, x.words[4], x.words[5]) for x in (a[0], a[2], a[5], a[6])] == \
        [(OK, 2, 0), (OK, GEN + 2, 1), (OK, 3 * GEN + 2, 3), (OK, 3, 0)]
    assert [e.get("status") for e in result.of("exit", "drv")] == [7], "an exit too"
    assert (a[7].type, a[7].words[4]) == (OK, 3 * GEN + 2)


# -- hangs ------------------------------------------------------------------------------------

# RS's alarm is relative to the moment RS sets it (SYS_SETALARM counts whole ticks from
# the call), so each ping comes RS's own handling time (about 110 instructions) after the
# previous one's period: over the three periods before a kill, at most this much.  The
# worst case measured: a hang 72 instructions after the driver answered a ping
# (heartbeat 3) is killed 9.018 ticks later.
PING_JITTER_TICKS = 0.05


def hang_and_recover(tmp_path, heartbeat, spin):
    """The driver answers its pings; after `spin` turns a user makes it spin forever.
    Returns (result, the user's answers, ticks from the hang to the kill)."""
    user = [req(DS_SUBSCRIBE, b"drv"), pause(spin), send(HANG, "EP_DRV"), receive("EP_DS"),
            req(DS_CHECK), send(0, "EP_DRV + 1024", SENDREC), status(b"drv")]
    result, answers = run_rs(tmp_path, [driver("drv", heartbeat=heartbeat)],
                             [("user", user, {})], "user", max_ticks=300)
    hung = [e for e in result.ipc_events("drv", "RECEIVE") if e["m_type"] == HANG][0]["t"]
    kill = result.of("kill", "drv")
    assert [(e["ep"], e["by"]) for e in kill] == [(2, "rs")]
    return result, answers["user"], ticks(kill[0]["t"] - hung)


@pytest.mark.parametrize("heartbeat", [3, 10])
def test_a_hung_driver_is_killed_and_restarted_in_time(tmp_path, heartbeat):
    """The driver hangs at 8 moments spread over a heartbeat period: RS kills it within
    (RS_MISSED_BEATS + 1) * heartbeat ticks of the hang, restarts it one generation up,
    and DS tells the subscriber the new endpoint, which answers."""
    period = heartbeat * TICK_INSNS // 2                 # spin turns of 2 instructions
    waits = []
    for k in range(8):
        path = tmp_path / str(k)
        path.mkdir()
        result, a, waited = hang_and_recover(path, heartbeat, 3 * period + k * period // 8)
        waits.append(round(waited, 3))
        assert (a[3].eax, a[3].source, a[3].type) == (OK, 1, NOTIFY_MESSAGE)
        assert (a[4].type, a[4].label, a[4].words[4]) == (OK, b"drv", GEN + 2)
        assert (a[5].eax, a[5].type) == (OK, ALIVE)
        assert (a[6].words[4], a[6].words[5]) == (GEN + 2, 1)
        assert starts(result, "drv")[-1]["ep"] == GEN + 2
        pings = [e for e in result.ipc_events("rs", "NOTIFY") if e["peer_label"] == "drv"]
        assert pings and all(e["result"] == "OK" for e in pings)
    print(f"heartbeat {heartbeat}: killed {min(waits)}..{max(waits)} ticks after the hang")
    assert max(waits) <= (RS_MISSED_BEATS + 1) * heartbeat + PING_JITTER_TICKS, waits
    assert min(waits) >= RS_MISSED_BEATS * heartbeat, waits


def test_a_driver_hung_from_its_start_is_killed_again_and_again(tmp_path):
    result, _ = run_rs(tmp_path, [driver("drv", heartbeat=4, start="spin_now:\n"
                                         "    jmp spin_now")], max_ticks=100)
    kills = result.of("kill", "drv")
    began = starts(result, "drv")
    assert len(kills) >= 100 // ((RS_MISSED_BEATS + 1) * 4) - 1
    assert [e["ep"] for e in kills] == [2 + GEN * k for k in range(len(kills))]
    for start, kill in zip(began, kills):
        assert ticks(kill["t"] - start["t"]) <= (RS_MISSED_BEATS + 1) * 4 + 1
    assert rs_entry(result, 0)[2] == len(kills)


def test_a_driver_that_answers_its_pings_is_never_killed(tmp_path):
    result, _ = run_rs(tmp_path, [driver("drv", heartbeat=1), driver("slow", heartbeat=7)],
                       max_ticks=150)
    assert not result.of("kill") and not result.of("fault")
    assert result.word("drv", "pings") >= 140
    assert 19 <= result.word("slow", "pings") <= 22


def test_a_driver_that_cannot_be_pinged_is_not_killed(tmp_path):
    """RS's policy does not name `mute` as a target: its pings fail (ECALLDENIED), and a
    ping that was never sent is not a missed beat."""
    mute = driver("mute", heartbeat=2)
    programs = system([mute])
    programs[0]["targets"] = ["SYSTEM", "ds"]
    result = run(tmp_path, programs, None, max_ticks=60)
    assert not result.of("kill")
    denied = [e for e in result.ipc_events("rs", "NOTIFY") if e["peer_label"] == "mute"]
    assert denied and {e["result"] for e in denied} == {"ECALLDENIED"}


def test_rs_works_without_ds(tmp_path):
    """An image without `ds`: RS publishes nothing and still restarts."""
    steps = [send(CRASH, "EP_DRV"), status(b"drv"), send(0, "EP_DRV + 1024", SENDREC)]
    drv = driver("drv")
    programs = [dict(rs_program([drv]), targets=["SYSTEM", "drv"]), drv,
                prober("user", steps)]
    result = run(tmp_path, programs, "user")
    a = replies(result, "user", len(steps))
    assert (a[1].type, a[1].words[4], a[1].words[5]) == (OK, GEN + 1, 1)
    assert (a[2].eax, a[2].type) == (OK, ALIVE)
    assert not [e for e in result.ipc_events("rs", "SENDREC") if e["peer_label"] != "SYSTEM"]


# -- the whole -------------------------------------------------------------------------------

def test_rs_runs_the_same_twice(tmp_path):
    traces = []
    for n in range(2):
        path = tmp_path / str(n)
        path.mkdir()
        drivers = [crash_after("a", 5, heartbeat=2),
                   driver("b", heartbeat=3, restart="backoff", start="    ud2"),
                   driver("c", heartbeat=4, start="spin_now:\n    jmp spin_now")]
        result, _ = run_rs(path, drivers, max_ticks=120)
        assert result.of("kill") and result.of("fault")
        traces.append(result.trace_text)
    assert traces[0] == traces[1]


def test_many_ends_at_once_and_ends_of_others(tmp_path):
    """Three drivers crash at the same moment, again and again; a server and a user end
    too: RS restarts each driver every time and ignores the others' ends."""
    drivers = [crash_after(name, 5, heartbeat=3) for name in ("a", "b", "c")]
    srv = {"label": "srv", "kind": "server", "source": ".text\n_start:\n    ud2\n"}
    steps = [pause(100_000), status(b"a"), status(b"b"), status(b"c"), status(b"srv")]
    result, answers = run_rs(tmp_path, drivers, [("user", steps, {"priority": 3})], "user",
                             others=[srv], max_ticks=300)
    now = result.of("exit", "user")[0]["t"]
    for k, name in enumerate(("a", "b", "c")):
        restarts = len(starts(result, name)) - 1
        assert restarts >= ticks(now) // 6 - 1
        assert rs_entry(result, k)[2] == restarts
        assert answers["user"][1 + k].words[5] == restarts
    assert answers["user"][4].type == ENOENT
    assert len(starts(result, "srv")) == 1 and len(result.of("fault", "srv")) == 1
    assert result.kernel.ends.take("rs") is None, "every end was taken"


def test_until_idle_ends_although_rs_keeps_a_heartbeat_alarm(tmp_path):
    steps = [req(DS_LOOKUP, b"drv")]
    result = run(tmp_path, system([driver("drv", heartbeat=5)], [("user", steps, {})]),
                 None, until_idle=True, max_ticks=100)
    assert result.end == "idle"
