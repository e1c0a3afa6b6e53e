"""Every check of the IPC trap (SPEC section 3), in order, with its error code: the call
is denied, nothing is delivered, the peer's memory is untouched, and the caller and the
system go on.

A table-driven prober makes each trap of a case table (ecx, eax, ebx) and stores eax;
a sink receives from ANY and counts what it gets.  The prober also checks that the trap
preserves every register but eax.
"""

import pytest

from kernel import abi
from tests.harness import EXIT_WITH_EDX, run_system

PROBER_INDEX = 0
SINK_INDEX = 1
OUTSIDER_INDEX = 2
W = abi.window_base(PROBER_INDEX)
SINK_W = abi.window_base(SINK_INDEX)


def prober_source(cases):
    rows = "\n".join(f"    .long {ecx}, {eax}, {ebx}" for ecx, eax, ebx in cases)
    return f"""
.text
_start:
    xor esi, esi
next_case:
    cmp esi, {len(cases)}
    jge all_done
    mov edi, esi
    imul edi, edi, 12
    mov ecx, [cases + edi]
    mov eax, [cases + edi + 4]
    mov ebx, [cases + edi + 8]
    mov edx, 0x5A5A5A5A
    mov ebp, 0x13572468
    int IPC_VEC
    mov [results + esi*4], eax
    cmp ecx, [cases + edi]
    jne clobbered
    cmp ebx, [cases + edi + 8]
    jne clobbered
    cmp edx, 0x5A5A5A5A
    jne clobbered
    cmp ebp, 0x13572468
    jne clobbered
    inc esi
    jmp next_case
clobbered:
    mov dword ptr [preserved], 1
    inc esi
    jmp next_case
all_done:
    mov edx, 0
{EXIT_WITH_EDX}
.data
cases:
{rows}
buffer:
    .long 0x11111111, 77
    .space 56
.bss
preserved:
    .space 4
results:
    .space {4 * len(cases)}
exit_msg:
    .space MSG_SIZE
"""


SINK = """
.text
_start:
    mov eax, ANY
    lea ebx, [inbox]
    mov ecx, RECEIVE
    int IPC_VEC
    inc dword ptr [received]
    jmp _start
.bss
received:
    .space 4
inbox:
    .space MSG_SIZE
"""


def run_cases(tmp_path, cases, prober_policy=None, sink_policy=None):
    prober = {"label": "prober", "source": prober_source(cases), "kind": "user"}
    prober.update(prober_policy or {})
    sink = {"label": "sink", "source": SINK}
    sink.update(sink_policy or {})
    outsider = {"label": "outsider", "source": SINK}
    result = run_system(tmp_path, [prober, sink, outsider], until_exit="prober")
    assert result.end == "exit"
    assert result.kernel.panic_report is None
    exits = result.of("exit", "prober")
    assert exits and exits[0]["status"] == 0, "the prober did not run to its end"
    assert result.word("prober", "preserved") == 0, "the trap changed a register but eax"
    results = [result.word("prober", "results", 4 * i) for i in range(len(cases))]
    return result, results


def assert_nothing_delivered(result):
    assert result.word("sink", "received") == 0
    assert result.bytes_at("sink", "inbox", 64) == bytes(64)
    assert not result.ipc_events(proc="sink", op="RECEIVE")


SEND, RECEIVE, SENDREC, NOTIFY, NBSEND, ASEND = (abi.SEND, abi.RECEIVE, abi.SENDREC,
                                                 abi.NOTIFY, abi.NBSEND, abi.ASEND)
BUF = "buffer"


def test_check1_bad_primitive_or_flags(tmp_path):
    cases = [(0, SINK_INDEX, BUF), (6, SINK_INDEX, BUF), (15, SINK_INDEX, BUF),
             (0xFF, SINK_INDEX, BUF),
             (SENDREC | abi.NONBLOCK, SINK_INDEX, BUF),      # the seed's bug: now denied
             (NOTIFY | abi.NONBLOCK, SINK_INDEX, BUF),
             (NBSEND | abi.NONBLOCK, SINK_INDEX, BUF),
             (ASEND | abi.NONBLOCK, 0, BUF),
             (SEND | 0x200, SINK_INDEX, BUF), (RECEIVE | 0x10000, abi.ANY, BUF),
             (SEND | abi.NONBLOCK | 0x800, SINK_INDEX, BUF)]
    result, results = run_cases(tmp_path, cases)
    assert results == [abi.EBADCALL] * len(cases)
    assert_nothing_delivered(result)
    denied = [e for e in result.ipc_events(proc="prober") if e["result"] == "EBADCALL"]
    assert len(denied) == len(cases)


def test_check2_primitive_not_in_policy(tmp_path):
    cases = [(SEND, SINK_INDEX, BUF), (NOTIFY, SINK_INDEX, BUF), (NBSEND, SINK_INDEX, BUF),
             (SEND | abi.NONBLOCK, SINK_INDEX, BUF), (ASEND, 0, BUF),
             (RECEIVE | abi.NONBLOCK, abi.ANY, BUF),
             (0x99, SINK_INDEX, BUF)]                        # check 1 comes first
    result, results = run_cases(tmp_path, cases, {"ipc": ["SENDREC"]})
    assert results == [abi.ETRAPDENIED] * 6 + [abi.EBADCALL]
    assert_nothing_delivered(result)


def test_check3_bad_endpoints(tmp_path):
    stale = abi.endpoint(1, SINK_INDEX)
    cases = [(SEND, abi.ANY, BUF), (NOTIFY, abi.ANY, BUF), (SENDREC, abi.ANY, BUF),
             (SEND, abi.SELF, BUF), (SEND, abi.NONE, BUF), (RECEIVE, abi.SELF, BUF),
             (RECEIVE, abi.NONE, BUF),
             (SEND, -4, BUF), (SEND, 64, BUF), (SEND, 0x7FFFFFFF, BUF),
             (SEND, abi.endpoint(5, 70), BUF),
             (SEND, 9, BUF), (NOTIFY, 40, BUF),                       # empty slots
             (SEND, stale, BUF), (NBSEND, stale, BUF),               # stale generation
             (RECEIVE | abi.NONBLOCK, stale, BUF)]
    result, results = run_cases(tmp_path, cases)
    bad, dead = abi.EBADSRCDST, abi.EDEADSRCDST
    assert results == [bad] * 11 + [dead] * 5
    assert_nothing_delivered(result)


def test_check3_kernel_tasks_take_only_sendrec(tmp_path):
    cases = [(SEND, abi.SYSTEM, BUF), (NOTIFY, abi.CLOCK, BUF), (NBSEND, abi.HARDWARE, BUF),
             (SEND | abi.NONBLOCK, abi.SYSTEM, BUF),
             (RECEIVE | abi.NONBLOCK, abi.CLOCK, BUF)]                # allowed: nothing yet
    result, results = run_cases(tmp_path, cases)
    assert results == [abi.ETRAPDENIED] * 4 + [abi.ENOTREADY]


def test_check4_destination_not_in_policy(tmp_path):
    cases = [(SEND, OUTSIDER_INDEX, BUF), (NOTIFY, OUTSIDER_INDEX, BUF),
             (SENDREC, OUTSIDER_INDEX, BUF), (NBSEND, OUTSIDER_INDEX, BUF),
             (SENDREC, abi.HARDWARE, BUF),                            # a task not a target
             (RECEIVE | abi.NONBLOCK, OUTSIDER_INDEX, BUF),          # receive: no check 4
             (SEND, 33, BUF)]                                         # check 3 first
    result, results = run_cases(tmp_path, cases, {"targets": ["sink", "SYSTEM"]})
    assert results == [abi.ECALLDENIED] * 5 + [abi.ENOTREADY, abi.EDEADSRCDST]
    assert result.word("outsider", "received") == 0


@pytest.mark.parametrize("where", [
    "0", "4096", f"{W}", f"{W + 0x100}",                     # page 0, text
    f"{W + 0x70000}", f"{W + 0xE0000}",                      # unmapped gaps
    f"{SINK_W + abi.DATA_OFFSET}",                           # another window
    f"{W + abi.WINDOW_SIZE - 32}",                           # straddles the stack's end
    f"{W + abi.WINDOW_SIZE - abi.STACK_SIZE - 8}",           # straddles the stack's start
    "0xFFFFFFF0", "0xFFFFFFFF",                              # wraps around
])
def test_check5_message_outside_data_bss_stack(tmp_path, where):
    cases = [(SEND, SINK_INDEX, where), (SENDREC, SINK_INDEX, where),
             (NBSEND, SINK_INDEX, where), (RECEIVE, abi.ANY, where),
             (SENDREC, abi.SYSTEM, where), (RECEIVE | abi.NONBLOCK, SINK_INDEX, where)]
    result, results = run_cases(tmp_path, cases)
    assert results == [abi.EFAULT] * len(cases)
    assert_nothing_delivered(result)


def test_check5_message_at_the_very_end_of_the_stack_is_accepted(tmp_path):
    end = W + abi.WINDOW_SIZE - abi.MSG_SIZE
    cases = [(RECEIVE | abi.NONBLOCK, abi.ANY, end), (NOTIFY, SINK_INDEX, 0)]
    result, results = run_cases(tmp_path, cases)
    assert results == [abi.ENOTREADY, abi.OK]      # NOTIFY has no message: no check 5


def test_check5_asend_table_and_count(tmp_path):
    cases = [(ASEND, abi.ASEND_MAX + 1, BUF), (ASEND, 0xFFFFFFFF, BUF), (ASEND, 1, 0),
             (ASEND, 1, W), (ASEND, 2, f"{W + abi.WINDOW_SIZE - abi.ASEND_ENTRY_SIZE}"),
             (ASEND, 0, 0)]                              # an empty table: nothing to check
    result, results = run_cases(tmp_path, cases)
    assert results == [abi.EFAULT] * 5 + [abi.OK]


def test_check7_peer_not_ready(tmp_path):
    cases = [(NBSEND, SINK_INDEX, BUF),                 # the sink is receiving: delivered
             (NBSEND, OUTSIDER_INDEX, BUF),             # receiving too
             (RECEIVE | abi.NONBLOCK, abi.ANY, BUF),
             (RECEIVE | abi.NONBLOCK, SINK_INDEX, BUF)]
    result, results = run_cases(tmp_path, cases)
    assert results == [abi.OK, abi.OK, abi.ENOTREADY, abi.ENOTREADY]
    assert result.word("sink", "received") == 1
    inbox = result.bytes_at("sink", "inbox", 8)
    assert int.from_bytes(inbox[:4], "little") == PROBER_INDEX   # M_SOURCE stamped
    assert int.from_bytes(inbox[4:8], "little") == 77


def test_nbsend_to_a_busy_peer_is_not_ready(tmp_path):
    busy = """
.text
_start:
    jmp _start
"""
    prober = {"label": "prober", "kind": "user",
              "source": prober_source([(NBSEND, SINK_INDEX, BUF), (NBSEND, SINK_INDEX, BUF)])}
    result = run_system(tmp_path, [prober, {"label": "sink", "source": busy,
                                            "priority": 9}],
                        until_exit="prober")
    assert [result.word("prober", "results", 4 * i) for i in range(2)] == \
        [abi.ENOTREADY] * 2
    assert result.kernel.panic_report is None


def test_forged_source_is_overwritten(tmp_path):
    cases = [(SEND, SINK_INDEX, BUF)]
    result, results = run_cases(tmp_path, cases)
    assert results == [abi.OK]
    inbox = result.bytes_at("sink", "inbox", 8)
    assert inbox[:4] == PROBER_INDEX.to_bytes(4, "little")      # not 0x11111111
