"""Grants (SPEC section 4): SETGRANT, SAFECOPYFROM and SAFECOPYTO.

A granter (program 1, a server of the highest priority, so it runs first) registers a
table of grants for the prober (program 0) and then serves two requests: type 1 revokes
grant 0 (clears CPF_VALID in its own memory), type 2 ends it.  The prober copies
through the grants; every rejection is checked for its error, its reason, that nothing
was copied in either direction, and that the prober went on to its end.
"""

from kernel import abi
from kernel.abi import (CPF_READ, CPF_VALID, CPF_WRITE, EFAULT, EINVAL, EPERM, OK,
                        SAFECOPY_MAX, SYS_KILL, SYS_SAFECOPYFROM, SYS_SAFECOPYTO,
                        SYS_SETGRANT, SYS_SPAWN)
from tests.harness import EXIT_WITH_EDX
from tests.test_kernel_calls import OTHER_W, STACK_END, W, Step, call, kcalls, run_steps

GRANTER_TOP = abi.window_base(1) + abi.WINDOW_SIZE
RW = CPF_VALID | CPF_READ | CPF_WRITE
AREA = b"0123456789abcdef" * 4
PATTERN = b"ABCDEFGHIJKLMNOP" + b"." * 48
SOURCE = b"zyxwvutsrqponmlk"
GRANTS = [                                   # (flags, grantee, address, size)
    (RW, "EP_PROBER", "area", 64),                          # 0: read and write
    (CPF_VALID | CPF_READ, "EP_PROBER", "area", 64),        # 1: read only
    (CPF_VALID | CPF_WRITE, "EP_PROBER", "area + 32", 32),  # 2: write only, 2nd half
    (CPF_READ | CPF_WRITE, "EP_PROBER", "area", 64),        # 3: not valid
    (RW, "EP_GRANTER", "area", 64),                         # 4: another grantee
    (RW | 0x100, "EP_PROBER", "area", 64),                  # 5: unknown flag
    (RW, "EP_PROBER", "_start", 16),                        # 6: in the text
    (RW, "EP_PROBER", "area", 0x100000),                    # 7: past the data
    (RW, "EP_PROBER", GRANTER_TOP - 8, 16),                 # 8: past the stack
    (RW, "EP_PROBER + 1024", "area", 64),                   # 9: a stale grantee
    (RW, "EP_PROBER", GRANTER_TOP - 64, 64),                # 10: the stack: good
    (RW, "EP_PROBER", 0, 16),                               # 11: page 0
]


def granter(grants=GRANTS):
    table = "\n".join(f"    .long {f}, {g}, {a}, {s}" for f, g, a, s in grants)
    source = f"""
.text
_start:
    mov eax, SYSTEM
    lea ebx, [setgrant]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, [setgrant + M_TYPE]
    mov [registered], eax
serve:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    mov eax, [msg + M_TYPE]
    cmp eax, 1
    jne not_revoke
    and dword ptr [grants], {~CPF_VALID & 0xFFFFFFFF}
    jmp reply
not_revoke:
    cmp eax, 2
    jne reply
    mov edx, 0
{EXIT_WITH_EDX}
reply:
    mov eax, [msg + M_SOURCE]
    lea ebx, [msg]
    mov ecx, NBSEND
    int IPC_VEC
    jmp serve
.data
setgrant:
    .long 0, SYS_SETGRANT, grants, {len(grants)}
    .space 48
registered:
    .long 0x7777
grants:
{table}
area:
    .ascii "{AREA.decode()}"
.bss
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""
    return {"label": "granter", "kind": "server", "priority": 0, "source": source,
            "kernel_calls": ["SETGRANT", "EXIT"]}


DATA = f"""
buf:
    .ascii "{PATTERN.decode()}"
src:
    .ascii "{SOURCE.decode()}"
own_grants:
    .long {RW}, EP_PROBER, buf, 64
    .long {CPF_VALID | CPF_READ}, EP_PROBER, src, 16
"""
POLICY = {"kernel_calls": ["SETGRANT", "SAFECOPYFROM", "SAFECOPYTO", "EXIT"]}


def copy_from(grant, offset, size, address="buf", granter="EP_GRANTER"):
    return call(SYS_SAFECOPYFROM, granter, grant, offset, size, address)


def copy_to(grant, offset, size, address="src", granter="EP_GRANTER"):
    return call(SYS_SAFECOPYTO, granter, grant, offset, size, address)


def run(tmp_path, steps, others=None):
    result, answers = run_steps(tmp_path, steps, DATA, policy=POLICY,
                                others=[granter()] if others is None else others)
    if others is None:
        assert result.word("granter", "registered") == OK
    return result, answers


def check(result, answers, expected):
    """Each answer came through a successful trap from SYSTEM with its (error, reason)."""
    events = kcalls(result)
    assert [(a.eax, a.source) for a in answers] == [(OK, abi.SYSTEM)] * len(answers)
    assert [(a.type, e.get("reason")) for a, e in zip(answers, events)] == expected
    counted = sum(n for (label, _, err, _), n in result.kernel.illegal_requests.items()
                  if label == "prober")
    assert counted == sum(1 for error, _ in expected if error < 0)


def untouched(result):
    assert result.bytes_at("prober", "buf", 64) == PATTERN
    assert result.bytes_at("granter", "area", 64) == AREA


# -- copies that succeed ----------------------------------------------------------------------

def test_safecopy_from_and_to_through_grants(tmp_path):
    steps = [copy_from(0, 0, 16), copy_from(1, 20, 8, "buf + 16"),
             copy_to(0, 48, 16), copy_to(2, 0, 4, "src + 4"),
             copy_from(10, 0, 64, "buf"),              # a grant of the granter's stack
             copy_from(0, 63, 1, "buf + 63"), copy_to(10, 60, 4)]
    result, answers = run(tmp_path, steps)
    check(result, answers, [(OK, None)] * len(steps))
    area = result.bytes_at("granter", "area", 64)
    assert area == AREA[:32] + b"vuts" + AREA[36:48] + SOURCE
    stack = result.proc("granter").cpu.read(GRANTER_TOP - 64, 64)
    assert stack[60:] == SOURCE[:4]
    buf = result.bytes_at("prober", "buf", 64)
    assert buf == stack[:60] + bytes(3) + area[63:]     # the stack before the last copy
    events = kcalls(result)
    assert [(e["call"], e["granter"], e["grant"], e["offset"], e["size"]) for e in events] \
        == [("SAFECOPYFROM", 1, 0, 0, 16), ("SAFECOPYFROM", 1, 1, 20, 8),
            ("SAFECOPYTO", 1, 0, 48, 16), ("SAFECOPYTO", 1, 2, 0, 4),
            ("SAFECOPYFROM", 1, 10, 0, 64), ("SAFECOPYFROM", 1, 0, 63, 1),
            ("SAFECOPYTO", 1, 10, 60, 4)]


def test_safecopy_through_the_callers_own_grant(tmp_path):
    steps = [call(SYS_SETGRANT, "own_grants", 2),
             copy_from(0, 0, 32, "buf + 8", granter=abi.SELF),      # overlapping
             copy_to(0, 40, 8, "src", granter="EP_PROBER")]
    result, answers = run(tmp_path, steps, others=[])
    check(result, answers, [(OK, None)] * 3)
    assert result.bytes_at("prober", "buf", 64) == \
        PATTERN[:8] + PATTERN[:32] + SOURCE[:8] + PATTERN[48:]


# -- rejections -------------------------------------------------------------------------------

def test_safecopy_bad_size_is_einval(tmp_path):
    sizes = [0, -1, SAFECOPY_MAX + 1, -0x80000000, 0x7FFFFFFF]
    steps = [copy_from(0, 0, s) for s in sizes] + [copy_to(0, 0, s) for s in sizes]
    result, answers = run(tmp_path, steps)
    check(result, answers, [(EINVAL, "bad copy size")] * len(steps))
    untouched(result)


def test_safecopy_own_buffer_outside_the_caller_is_efault(tmp_path):
    places = [(0, 4), (W, 4), ("_start", 8), (W + 0x70000, 4), (OTHER_W + abi.DATA_OFFSET, 4),
              (STACK_END - 8, 16), (STACK_END - abi.STACK_SIZE - 4, 8), (0xFFFFFFF8, 16)]
    steps = [copy_from(0, 0, size, at) for at, size in places] + \
        [copy_to(0, 0, size, at) for at, size in places]
    result, answers = run(tmp_path, steps)
    check(result, answers, [(EFAULT, "buffer outside the caller")] * len(steps))
    untouched(result)


def test_safecopy_bad_grants_are_eperm(tmp_path):
    cases = [
        (copy_from(0, 0, 4, granter=5), "granter not alive"),            # empty slot
        (copy_from(0, 0, 4, granter=1 + 1024), "granter not alive"),     # stale
        (copy_from(0, 0, 4, granter=abi.SYSTEM), "granter not alive"),
        (copy_from(0, 0, 4, granter=abi.ANY), "granter not alive"),
        (copy_to(0, 0, 4, granter=abi.NONE), "granter not alive"),
        (copy_from(0, 0, 4, granter=abi.SELF), "granter has no grant table"),
        (copy_from(0, 0, 4, granter="EP_PROBER"), "granter has no grant table"),
        (copy_from(len(GRANTS), 0, 4), "grant id out of range"),
        (copy_from(-1, 0, 4), "grant id out of range"),
        (copy_to(0x7FFFFFFF, 0, 4), "grant id out of range"),
        (copy_from(3, 0, 4), "grant not valid"),
        (copy_from(5, 0, 4), "grant not valid"),
        (copy_to(5, 0, 4), "grant not valid"),
        (copy_from(4, 0, 4), "grant of another grantee"),
        (copy_to(9, 0, 4), "grant of another grantee"),
        (copy_to(1, 0, 4), "access not granted"),
        (copy_from(2, 0, 4), "access not granted"),
        (copy_from(0, 60, 8), "outside the grant"),
        (copy_to(0, 64, 1), "outside the grant"),
        (copy_from(0, -1, 4), "outside the grant"),
        (copy_to(2, 0, 33), "outside the grant"),
        (copy_from(0, 0x7FFFFFFF, 1), "outside the grant"),
        (copy_from(6, 0, 4), "granted area outside the granter"),
        (copy_from(7, 0, 4), "granted area outside the granter"),
        (copy_to(8, 0, 4), "granted area outside the granter"),
        (copy_to(11, 0, 4), "granted area outside the granter"),
    ]
    result, answers = run(tmp_path, [step for step, _ in cases])
    check(result, answers, [(EPERM, reason) for _, reason in cases])
    untouched(result)


def test_the_grant_is_read_again_at_every_copy(tmp_path):
    steps = [copy_from(0, 0, 4),
             Step(1, (), abi.SENDREC, "EP_GRANTER"),        # the granter revokes grant 0
             copy_from(0, 0, 4, "buf + 4"), copy_to(0, 0, 4),
             copy_from(1, 8, 4, "buf + 8"),                 # grant 1 still good
             Step(2, (), abi.SENDREC, "EP_GRANTER"),        # the granter ends
             copy_from(1, 12, 4, "buf + 12")]
    result, answers = run(tmp_path, steps)
    assert [(a.eax, a.type) for a in answers] == [
        (OK, OK), (OK, 1), (OK, EPERM), (OK, EPERM), (OK, OK), (abi.EDEADSRCDST, 2),
        (OK, EPERM)]
    assert [e.get("reason") for e in kcalls(result)] == \
        [None, "grant not valid", "grant not valid", None, "granter not alive"]
    assert result.bytes_at("prober", "buf", 16) == b"0123EFGH89abMNOP"
    assert result.bytes_at("granter", "area", 64) == AREA


# -- SETGRANT ---------------------------------------------------------------------------------

def test_setgrant_rejections_keep_the_old_table_and_count_0_removes_it(tmp_path):
    steps = [call(SYS_SETGRANT, "own_grants", 1),
             call(SYS_SETGRANT, "own_grants", -1),
             call(SYS_SETGRANT, "own_grants", abi.GRANT_MAX + 1),
             call(SYS_SETGRANT, "own_grants", 0x7FFFFFFF),
             call(SYS_SETGRANT, 0, 1),
             call(SYS_SETGRANT, "_start", 1),
             call(SYS_SETGRANT, STACK_END - 16, 2),
             call(SYS_SETGRANT, STACK_END - 16 * abi.GRANT_MAX + 4, abi.GRANT_MAX),
             copy_from(0, 0, 4, "src", granter=abi.SELF),       # the first table holds
             copy_from(1, 0, 4, granter=abi.SELF),              # ... and only 1 entry
             call(SYS_SETGRANT, 0x1234, 0),                     # removed (address ignored)
             copy_from(0, 0, 4, "src", granter=abi.SELF),
             call(SYS_SETGRANT, "own_grants", 2),
             copy_from(1, 0, 16, "buf", granter=abi.SELF)]
    result, answers = run(tmp_path, steps, others=[])
    bad_size = (EINVAL, "bad grant table size")
    outside = (EFAULT, "grant table outside the caller")
    check(result, answers, [(OK, None), bad_size, bad_size, bad_size, outside, outside,
                            outside, outside, (OK, None), (EPERM, "grant id out of range"),
                            (OK, None), (EPERM, "granter has no grant table"), (OK, None),
                            (OK, None)])
    assert result.bytes_at("prober", "src", 16) == PATTERN[:4] + SOURCE[4:]
    assert result.bytes_at("prober", "buf", 16) == PATTERN[:4] + SOURCE[4:]
    proc = result.proc("prober")
    assert proc.grant_count == 2


def test_a_new_incarnation_starts_without_a_grant_table(tmp_path):
    """The granter (priority 1) registers its table before it answers the prober
    (priority 0); its fresh copy, spawned into the same slot, has not run yet."""
    label = int.from_bytes(b"gran", "little"), int.from_bytes(b"ter", "little")
    steps = [Step(0, (), abi.SENDREC, "EP_GRANTER"),
             copy_from(0, 0, 4), call(SYS_KILL, "EP_GRANTER"),
             call(SYS_SPAWN, *label, 0, 0, 0, 0),
             copy_from(0, 4, 4, "buf + 4", granter=1 + 1024),
             copy_from(0, 4, 4, "buf + 4")]
    policy = {"kind": "server", "priority": 0,
              "kernel_calls": POLICY["kernel_calls"] + ["KILL", "SPAWN"]}
    result, answers = run_steps(tmp_path, steps, DATA, policy=policy,
                                others=[dict(granter(), priority=1)])
    assert [a.type for a in answers] == [0, OK, OK, OK, EPERM, EPERM]
    assert answers[3].words[0] == 1 + 1024
    assert [e.get("reason") for e in kcalls(result)] == \
        [None, None, None, "granter has no grant table", "granter not alive"]
    assert result.bytes_at("prober", "buf", 8) == AREA[:4] + PATTERN[4:8]
