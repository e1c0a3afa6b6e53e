"""VIRCOPY (SPEC section 4): copies between two processes' addresses, for servers.

The prober (program 0, a server) copies between itself and two idle user programs
(programs 1 and 2), whose data begins with known bytes.  Every rejection is checked for
its error and reason, that nothing changed in any process, and that the prober went on.
"""

import pytest

from kernel import abi
from kernel.abi import (EBADSRCDST, EDEADSRCDST, EFAULT, EINVAL, EPERM, OK, SELF,
                        SYS_VIRCOPY, VIRCOPY_MAX)
from tests.test_kernel_calls import W, call, kcalls, run_steps

OTHER_W = abi.window_base(1)
OTHER_DATA = OTHER_W + abi.DATA_OFFSET
OTHER_TOP = OTHER_W + abi.WINDOW_SIZE
THIRD_DATA = abi.window_base(2) + abi.DATA_OFFSET
OTHER_BYTES = b"other's data: 32 bytes, no more."
THIRD_BYTES = b"the third program's own 32 bytes"
PATTERN = b"ABCDEFGHIJKLMNOP" + b"." * 48
SOURCE = b"zyxwvutsrqponmlk"
DATA = f"""
buf:
    .ascii "{PATTERN.decode()}"
src:
    .ascii "{SOURCE.decode()}"
"""


def idle(label, data):
    return {"label": label, "kind": "user", "source": ".text\n_start:\n    mov eax, ANY\n"
            "    lea ebx, [msg]\n    mov ecx, RECEIVE\n    int IPC_VEC\n    jmp _start\n"
            f'.data\n    .ascii "{data.decode()}"\n.bss\nmsg:\n    .space MSG_SIZE\n'}


OTHERS = [idle("other", OTHER_BYTES), idle("third", THIRD_BYTES)]


def vircopy(src, src_addr, dst, dst_addr, size):
    return call(SYS_VIRCOPY, src, src_addr, dst, dst_addr, size)


def run(tmp_path, steps, kind="server"):
    return run_steps(tmp_path, steps, DATA, others=OTHERS,
                     policy={"kind": kind, "kernel_calls": ["VIRCOPY", "EXIT"]})


def memory(result, label, address, size):
    return result.proc(label).cpu.read(address, size)


def check(result, answers, expected):
    assert [(a.eax, a.source) for a in answers] == [(OK, abi.SYSTEM)] * len(answers)
    assert [(a.type, e.get("reason")) for a, e in zip(answers, kcalls(result))] == expected


def untouched(result):
    assert result.bytes_at("prober", "buf", 64) == PATTERN
    assert memory(result, "other", OTHER_DATA, 32) == OTHER_BYTES
    assert memory(result, "third", THIRD_DATA, 32) == THIRD_BYTES


def test_vircopy_between_processes(tmp_path):
    steps = [vircopy("EP_OTHER", OTHER_DATA, SELF, "buf", 16),
             vircopy(SELF, "src", "EP_OTHER", OTHER_DATA + 16, 16),
             vircopy("EP_OTHER", OTHER_W, "EP_PROBER", "buf + 16", 8),   # from its text
             vircopy("EP_OTHER", OTHER_DATA + 8, "EP_THIRD", THIRD_DATA, 8),  # third party
             vircopy(SELF, "buf", SELF, "buf + 40", 24),                # within itself
             vircopy(SELF, "buf + 40", SELF, "buf + 44", 16),           # overlapping
             vircopy("EP_OTHER", OTHER_TOP - 4, SELF, "buf + 60", 4)]   # its stack top
    result, answers = run(tmp_path, steps)
    check(result, answers, [(OK, None)] * len(steps))
    other_text = memory(result, "other", OTHER_W, 8)
    assert other_text and other_text != bytes(8)
    first = OTHER_BYTES[:16] + other_text + PATTERN[24:40]
    moved = first[:24]
    expected = first + moved[:4] + moved[:16] + bytes(4)      # the stack top: zeros
    assert result.bytes_at("prober", "buf", 64) == expected
    assert memory(result, "other", OTHER_DATA, 32) == OTHER_BYTES[:16] + SOURCE
    assert memory(result, "third", THIRD_DATA, 32) == OTHER_BYTES[8:16] + THIRD_BYTES[8:]
    events = kcalls(result)
    assert (events[0]["src"], events[0]["dst"], events[0]["size"]) == (1, SELF, 16)


def test_vircopy_bad_size_is_einval(tmp_path):
    steps = [vircopy("EP_OTHER", OTHER_DATA, SELF, "buf", size)
             for size in (0, -1, VIRCOPY_MAX + 1, -0x80000000)] + \
        [vircopy(9, OTHER_DATA, SELF, "buf", 0)]            # the size is checked first
    result, answers = run(tmp_path, steps)
    check(result, answers, [(EINVAL, "bad copy size")] * len(steps))
    untouched(result)


def test_vircopy_bad_endpoints(tmp_path):
    cases = [(vircopy(abi.SYSTEM, OTHER_DATA, SELF, "buf", 4), EBADSRCDST),
             (vircopy(abi.ANY, OTHER_DATA, SELF, "buf", 4), EBADSRCDST),
             (vircopy(abi.NONE, OTHER_DATA, SELF, "buf", 4), EBADSRCDST),
             (vircopy(0x7FFFFFFF, OTHER_DATA, SELF, "buf", 4), EBADSRCDST),
             (vircopy(SELF, "src", abi.CLOCK, OTHER_DATA, 4), EBADSRCDST),
             (vircopy(9, OTHER_DATA, SELF, "buf", 4), EDEADSRCDST),           # empty slot
             (vircopy(1 + 1024, OTHER_DATA, SELF, "buf", 4), EDEADSRCDST),    # stale
             (vircopy(SELF, "src", 9, OTHER_DATA, 4), EDEADSRCDST),
             (vircopy(9, 0, SELF, 0, 4), EDEADSRCDST)]                       # before ranges
    result, answers = run(tmp_path, [step for step, _ in cases])
    check(result, answers, [(error, "no such process") for _, error in cases])
    untouched(result)


def test_vircopy_ranges_outside_their_process_are_efault(tmp_path):
    source = "source outside its process"
    destination = "destination outside its process"
    cases = [(vircopy("EP_OTHER", OTHER_W + 0x70000, SELF, "buf", 4), source),
             (vircopy("EP_OTHER", OTHER_TOP - 4, SELF, "buf", 8), source),
             (vircopy("EP_OTHER", 0, SELF, "buf", 4), source),
             (vircopy("EP_OTHER", W + abi.DATA_OFFSET, SELF, "buf", 4), source),
             (vircopy(SELF, "src", "EP_OTHER", OTHER_W, 4), destination),       # its text
             (vircopy(SELF, "src", "EP_OTHER", OTHER_TOP - 2, 4), destination),
             (vircopy(SELF, "src", SELF, W, 4), destination),                   # own text
             (vircopy(SELF, "src", SELF, 0xFFFFFFFE, 4), destination),
             (vircopy(SELF, 0, "EP_OTHER", 0x70000, 4), source)]
    result, answers = run(tmp_path, [step for step, _ in cases])
    check(result, answers, [(EFAULT, reason) for _, reason in cases])
    untouched(result)


@pytest.mark.parametrize("kind", ["driver", "user"])
def test_vircopy_by_a_non_server_is_eperm_whatever_its_policy(tmp_path, kind):
    steps = [vircopy("EP_OTHER", OTHER_DATA, SELF, "buf", 16),
             vircopy(SELF, "src", "EP_OTHER", OTHER_DATA, 16), vircopy(9, 0, 9, 0, 0)]
    result, answers = run(tmp_path, steps, kind=kind)
    check(result, answers, [(EPERM, "VIRCOPY by a non-server")] * 3)
    untouched(result)
