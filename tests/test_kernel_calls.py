"""Kernel calls (SPEC section 4): the SYSTEM gate, each call's own checks and work, and
the kernel panic that any Python exception inside a trap must become.

A scripted prober runs a table of steps: each is one trap (`ecx`, `eax`) on its own
64-byte message slot, optionally followed by a spin of N loop turns.  A kernel call is
a SENDREC to SYSTEM whose reply lands in the same slot, so a test reads every reply
(M_SOURCE, M_TYPE = result, payload) and the trap's own result in eax.  The prober
also checks that no trap changes a register but eax, and ends with EXIT 0, so a test
sees that the caller went on.  Denials come first: each one returns its error through
a successful trap, leaves a `kcall` trace event with the result's name and a reason,
and does nothing else (no port I/O, no alarm, no IRQ route, no log line).
"""

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel import abi, protocols
from kernel.abi import (DIO_BYTE, DIO_INPUT, DIO_LONG, DIO_OUTPUT, DIO_WORD, KERNEL_CALL,
                        NR_SYS_CALLS, SYS_DEVIO, SYS_DIAGCTL, SYS_EXIT, SYS_IRQCTL,
                        SYS_SETALARM, SYS_TIMES, SYS_VDEVIO, TICK_INSNS)
from tests.harness import EXIT_WITH_EDX, boot, build_system, run_system

ROOT = Path(__file__).resolve().parent.parent
W = abi.window_base(0)                      # the prober is program 0
OTHER_W = abi.window_base(1)
STACK_END = W + abi.WINDOW_SIZE
SENTINEL = 0x7777                           # results of steps that never ran

IMPLEMENTED = ["DEVIO", "VDEVIO", "IRQCTL", "SETALARM", "TIMES", "DIAGCTL", "EXIT"]
PROBER_POLICY = {"kind": "driver", "kernel_calls": IMPLEMENTED, "io": ["0xAB-0xAD"],
                 "irq": [7]}
IN_B, OUT_B = DIO_INPUT | DIO_BYTE, DIO_OUTPUT | DIO_BYTE
IN_W, OUT_W = DIO_INPUT | DIO_WORD, DIO_OUTPUT | DIO_WORD
IN_L, OUT_L = DIO_INPUT | DIO_LONG, DIO_OUTPUT | DIO_LONG


@dataclass
class Step:
    """One trap of the prober: `function` (ecx), `endpoint` (eax), the message's M_TYPE
    and payload words (numbers or assembler expressions), and a spin afterwards."""
    m_type: object
    words: tuple = ()
    function: object = abi.SENDREC
    endpoint: object = abi.SYSTEM
    spin: int = 0


def call(m_type, *words, spin=0):
    return Step(m_type, words, spin=spin)


def receive(source, nonblock=False):
    return Step(0, (), abi.RECEIVE | (abi.NONBLOCK if nonblock else 0), source)


def devio(request, port, value=0, spin=0):
    return call(SYS_DEVIO, request, port, value, spin=spin)


@dataclass
class Reply:
    eax: int
    source: int
    type: int
    words: tuple


def prober_source(steps, extra_data=""):
    headers, slots = [], []
    for step in steps:
        headers.append(f"    .long {step.function}, {step.endpoint}, {step.spin}")
        words = [0, step.m_type, *step.words]
        slots.append("    .long " + ", ".join(str(w) for w in words))
        if len(words) < 16:
            slots.append(f"    .space {4 * (16 - len(words))}")
    sentinels = ", ".join([str(SENTINEL)] * len(steps))
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
    mov edx, 0x5A5A5A5A
    mov ebp, 0x13572468
    int IPC_VEC
    mov [results + esi*4], eax
    cmp ecx, [steps + edi]
    jne clobbered
    mov eax, esi
    shl eax, 6
    lea eax, [slots + eax]
    cmp ebx, eax
    jne clobbered
    cmp edx, 0x5A5A5A5A
    jne clobbered
    cmp ebp, 0x13572468
    jne clobbered
    jmp spin_after
clobbered:
    mov dword ptr [preserved], 1
spin_after:
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
    mov edx, 0
{EXIT_WITH_EDX}
.data
steps:
{chr(10).join(headers)}
slots:
{chr(10).join(slots)}
results:
    .long {sentinels}
{extra_data}
.bss
preserved:
    .space 4
exit_msg:
    .space MSG_SIZE
"""


def prober(steps, extra_data="", **policy):
    program = {"label": "prober", "source": prober_source(steps, extra_data)}
    program.update(PROBER_POLICY)
    program.update(policy)
    return program


def replies(result, steps):
    out = []
    for i in range(len(steps)):
        slot = result.bytes_at("prober", "slots", abi.MSG_SIZE, abi.MSG_SIZE * i)
        ints = [int.from_bytes(slot[k:k + 4], "little", signed=True) for k in range(0, 64, 4)]
        out.append(Reply(result.word("prober", "results", 4 * i), ints[0], ints[1],
                         tuple(ints[2:])))
    return out


def run_steps(tmp_path, steps, extra_data="", others=(), policy=None, **limits):
    """Run the prober (program 0) and `others`; check it went on to its EXIT 0."""
    programs = [prober(steps, extra_data, **(policy or {})), *others]
    limits.setdefault("max_ticks", 50)
    limits.setdefault("until_exit", "prober")
    result = run_system(tmp_path, programs, **limits)
    assert result.kernel.panic_report is None
    assert result.end == "exit"
    exits = result.of("exit", "prober")
    assert exits and exits[0]["status"] == 0, "the prober did not go on to its end"
    assert result.word("prober", "preserved") == 0, "a trap changed a register but eax"
    return result, replies(result, steps)


def kcalls(result):
    return result.of("kcall", "prober")


def assert_rejected(result, answers, error, reason, calls=None):
    """Every answer is `error` from SYSTEM through a successful trap, each with a kcall
    event naming the error and `reason`, and an OK SENDREC to SYSTEM in the trace."""
    name = abi.ERROR_NAMES[error]
    assert [a.eax for a in answers] == [abi.OK] * len(answers)
    assert [a.source for a in answers] == [abi.SYSTEM] * len(answers)
    assert [a.type for a in answers] == [error] * len(answers)
    events = kcalls(result)
    assert len(events) == len(answers)
    assert [e["result"] for e in events] == [name] * len(answers)
    assert [e.get("reason") for e in events] == [reason] * len(answers)
    if calls is not None:
        assert [e["call"] for e in events] == calls
    sendrecs = result.ipc_events(proc="prober", op="SENDREC")
    assert [e["result"] for e in sendrecs] == ["OK"] * len(answers)
    assert {e["peer_label"] for e in sendrecs} == {"SYSTEM"}
    counted = sum(n for (label, _, err, why), n in result.kernel.illegal_requests.items()
                  if label == "prober" and err == error and why == reason)
    assert counted == len(answers)


def assert_nothing_happened(result):
    """No port I/O, no IRQ route, no alarm, no log line."""
    printer = result.session.machine.printer
    assert result.printer == b"" and result.console == b""
    assert (printer.data, printer.control, printer.irq_due) == (0, 0, None)
    assert result.kernel.interrupts.handlers == [None] * abi.NR_IRQS
    assert result.kernel.clock.next_due is None
    assert not result.of("diag")
    assert result.kernel.log_stream.getvalue() == ""
    assert not [e for e in result.ipc_events(op="RECEIVE")
                if e["peer_label"] in ("CLOCK", "HARDWARE") and e["result"] == "OK"]


# -- the gate ---------------------------------------------------------------------------------

def test_gate_unknown_call_numbers(tmp_path):
    numbers = [KERNEL_CALL - 1, KERNEL_CALL + NR_SYS_CALLS, 0, -1, 0x7FFFFFFF, -0x80000000,
               KERNEL_CALL + 0x10000, KERNEL_CALL - 0x10000, abi.NOTIFY_MESSAGE,
               protocols.DEV_WRITE]
    # payloads that would be good DEVIO requests: nothing may come of them
    steps = [call(n, OUT_B, 0xAC, ord("U")) for n in numbers] + \
        [call(n, OUT_B, 0xAD, 1) for n in numbers[:2]]
    result, answers = run_steps(tmp_path, steps)
    assert_rejected(result, answers, abi.EBADREQUEST, "unknown call",
                    [str(n) for n in numbers] + [str(n) for n in numbers[:2]])
    assert [a.words[:3] for a in answers] == [tuple(s.words) for s in steps]
    assert_nothing_happened(result)


def test_gate_unknown_call_comes_before_the_policy_check(tmp_path):
    steps = [call(KERNEL_CALL + NR_SYS_CALLS), call(-1)]
    result, answers = run_steps(tmp_path, steps, policy={"kernel_calls": ["EXIT"]})
    assert_rejected(result, answers, abi.EBADREQUEST, "unknown call")


def test_gate_call_not_in_policy(tmp_path):
    steps = [devio(OUT_B, 0xAC, ord("D")), devio(OUT_B, 0xAD, 1), devio(IN_B, 0xAB),
             call(SYS_VDEVIO, OUT_B, "vec", 2),
             call(SYS_IRQCTL, abi.IRQ_ENABLE, 7),
             call(SYS_SETALARM, 1), call(SYS_TIMES),
             call(SYS_DIAGCTL, "text", 4),
             devio(0x77, 0x3F8),                     # bad arguments too: the gate first
             call(abi.SYS_SAFECOPYFROM), call(abi.SYS_KILL, 1), call(abi.SYS_GETINFO)]
    data = "vec:\n    .long 0xAC, 0x56, 0xAD, 1\ntext:\n    .ascii \"nope\""
    result, answers = run_steps(tmp_path, steps, data, policy={"kernel_calls": ["EXIT"]},
                                max_ticks=20)
    assert_rejected(result, answers, abi.ECALLDENIED, "call not allowed",
                    ["DEVIO"] * 3 + ["VDEVIO", "IRQCTL", "SETALARM", "TIMES", "DIAGCTL",
                                     "DEVIO", "SAFECOPYFROM", "KILL", "GETINFO"])
    assert answers[2].words[2] == 0, "no value was read"
    assert answers[6].words[:4] == (0, 0, 0, 0), "no time was given"
    assert_nothing_happened(result)


def test_gate_a_call_of_another_program_does_not_leak(tmp_path):
    """A second program's DEVIO grant does not reach the prober."""
    steps = [devio(OUT_B, 0xAC, ord("L")), devio(OUT_B, 0xAD, 1)]
    other = {"label": "owner", "kind": "driver", "priority": 9, "kernel_calls": ["DEVIO"],
             "io": ["0xAB-0xAD"], "source": ".text\n_start:\n    jmp _start\n"}
    result, answers = run_steps(tmp_path, steps, policy={"kernel_calls": ["EXIT"]},
                                others=[other])
    assert_rejected(result, answers, abi.ECALLDENIED, "call not allowed")
    assert_nothing_happened(result)


def test_gate_every_call_number_has_its_handler():
    from kernel.system import CALLS
    assert sorted(CALLS) == list(range(KERNEL_CALL, KERNEL_CALL + NR_SYS_CALLS))
    assert {f.__name__ for f in CALLS.values()} == \
        {"do_" + name.lower() for name in abi.KERNEL_CALL_BY_NAME}


# -- DEVIO ------------------------------------------------------------------------------------

def test_devio_bad_request_is_einval(tmp_path):
    requests = [DIO_BYTE, DIO_BYTE | 3, DIO_BYTE | 0xF,        # no or bad direction
                DIO_OUTPUT, DIO_OUTPUT | 0x40, DIO_OUTPUT | 0xF0, DIO_INPUT,  # bad size
                OUT_B | 0x100, OUT_B | 0x80000000, IN_B | 0x1000,  # extra bits
                -1, 0]
    steps = [devio(r, 0xAC, ord("Z")) for r in requests] + [devio(r, 0xAD, 1)
                                                             for r in requests]
    result, answers = run_steps(tmp_path, steps)
    assert_rejected(result, answers, abi.EINVAL, "bad DEVIO request")
    assert all(a.words[2] == s.words[2] for a, s in zip(answers, steps))
    assert_nothing_happened(result)


@pytest.mark.parametrize("request_", [OUT_B, IN_B])
def test_devio_port_outside_io_or_misaligned_is_eperm(tmp_path, request_):
    direction = request_ & abi.DIO_DIR_MASK
    cases = [(DIO_BYTE, port) for port in (0xAA, 0xAE, 0x3F8, 0x1F0, 0, -1, 0x100AB,
                                           0x10000, -0xAB)] + [
             (DIO_WORD, 0xAB),               # misaligned, inside
             (DIO_WORD, 0xAD),               # misaligned, straddles the end
             (DIO_WORD, 0xAA),               # aligned, straddles the start
             (DIO_LONG, 0xAC),               # aligned, straddles the end
             (DIO_LONG, 0xA8),               # aligned, straddles the start
             (DIO_LONG, 0xAA),               # misaligned
             (DIO_WORD, 0xFFFF), (DIO_LONG, 0xFFFE)]   # past the end of port space
    steps = [devio(direction | size, port, 0x01015A5A) for size, port in cases]
    result, answers = run_steps(tmp_path, steps)
    assert_rejected(result, answers, abi.EPERM, "port not allowed")
    assert [a.words[2] for a in answers] == [0x01015A5A] * len(steps), "nothing was read"
    assert_nothing_happened(result)


def test_devio_word_straddling_the_end_of_the_range_is_eperm(tmp_path):
    steps = [devio(OUT_W, 0xAC, 0x0157),      # aligned; 0xAD is outside 0xAB-0xAC
             devio(OUT_B, 0xAD, 1),           # outside
             devio(OUT_L, 0xAC, 0x01010157),
             devio(OUT_B, 0xAC, ord("W"))]    # inside: latched, never strobed
    result, answers = run_steps(tmp_path, steps, policy={"io": ["0xAB-0xAC"]})
    assert [a.type for a in answers] == [abi.EPERM] * 3 + [abi.OK]
    assert [e.get("reason") for e in kcalls(result)] == ["port not allowed"] * 3 + [None]
    printer = result.session.machine.printer
    assert (printer.data, printer.control) == (ord("W"), 0)
    assert result.printer == b""


def test_devio_input_of_the_printer_status(tmp_path):
    """The seed's example: DEVIO input of port 0xAB answers OK with 0xCD."""
    steps = [devio(IN_B, 0xAB, 0x12345678), devio(IN_B, 0xAB)]
    result, answers = run_steps(tmp_path, steps)
    assert [(a.eax, a.source, a.type, a.words[2]) for a in answers] == \
        [(abi.OK, abi.SYSTEM, abi.OK, 0xCD)] * 2
    events = kcalls(result)
    assert [(e["call"], e["port"], e["value"], e["result"]) for e in events] == \
        [("DEVIO", 0xAB, 0xCD, "OK")] * 2
    assert all("reason" not in e for e in events)
    assert [e["request"] for e in events] == [IN_B] * 2
    assert result.printer == b""


def test_devio_output_and_strobe_print(tmp_path):
    steps = [devio(OUT_B, 0xAC, ord("H")), devio(OUT_B, 0xAD, 1), devio(OUT_B, 0xAD, 0),
             devio(IN_B, 0xAC, spin=20),                      # the latched byte
             devio(OUT_B, 0xAC, 0xFFFFFF00 | ord("i")),      # high bits are dropped
             devio(OUT_B, 0xAD, 1), devio(OUT_B, 0xAD, 0, spin=20),
             devio(OUT_W, 0xAC, 0x0100 | ord("!")),          # data then control, one call
             devio(OUT_B, 0xAD, 0, spin=20),
             devio(IN_W, 0xAC)]                              # data | control << 8
    result, answers = run_steps(tmp_path, steps)
    assert [a.type for a in answers] == [abi.OK] * len(steps)
    assert result.printer == b"Hi!"
    assert answers[3].words[2] == ord("H")
    assert answers[-1].words[2] == ord("!")
    printed = [e for e in kcalls(result) if e["port"] == 0xAC and e["request"] == OUT_B]
    assert [e["value"] for e in printed] == [ord("H"), (0xFFFFFF00 | ord("i")) - (1 << 32)]


# -- VDEVIO -----------------------------------------------------------------------------------

VECTORS = """
good_out:
    .long 0xAC, 0x56, 0xAD, 1, 0xAD, 0
good_in:
    .long 0xAB, 0x11111111, 0xAC, -1, 0xAD, 7, 0xAB, 0
one_bad:
    .long 0xAC, 0x51, 0xAD, 1, 0x3F8, 0x52, 0xAD, 0
one_bad_in:
    .long 0xAB, 0x11111111, 0xAC, 0x22222222, 0xAE, 0x33333333
sixteen:
    .space 128
"""


def vdevio(request, vector, count, spin=0):
    return call(SYS_VDEVIO, request, vector, count, spin=spin)


def test_vdevio_bad_request_or_count_is_einval(tmp_path):
    steps = [vdevio(OUT_B, "good_out", 0), vdevio(OUT_B, "good_out", 17),
             vdevio(OUT_B, "good_out", -1), vdevio(OUT_B, "good_out", 0x80000000),
             vdevio(OUT_B, "good_out", 0x7FFFFFFF),
             vdevio(DIO_BYTE | 3, "good_out", 3), vdevio(DIO_OUTPUT, "good_out", 3),
             vdevio(OUT_B | 0x100, "good_out", 3), vdevio(0, 0, 0)]
    result, answers = run_steps(tmp_path, steps, VECTORS)
    assert_rejected(result, answers, abi.EINVAL, "bad VDEVIO request or count")
    assert_nothing_happened(result)


def test_vdevio_vector_outside_the_caller_is_efault(tmp_path):
    steps = [vdevio(OUT_B, 0, 1), vdevio(OUT_B, W, 1),                # page 0, text
             vdevio(OUT_B, "_start", 2),
             vdevio(OUT_B, W + 0x70000, 1), vdevio(OUT_B, W + 0xE0000, 1),   # gaps
             vdevio(OUT_B, OTHER_W + abi.DATA_OFFSET, 1),             # another window
             vdevio(OUT_B, STACK_END - 8, 2),                         # past the stack
             vdevio(OUT_B, STACK_END - abi.STACK_SIZE - 4, 1),        # before the stack
             vdevio(OUT_B, 0xFFFFFFF8, 2), vdevio(IN_B, 0xFFFFFFFC, 16)]   # wrap around
    other = {"label": "other", "source": ".text\n_start:\n    jmp _start\n.data\n"
             "v:\n    .long 0xAC, 0x41, 0xAD, 1\n"}
    result, answers = run_steps(tmp_path, steps, VECTORS, others=[other])
    assert_rejected(result, answers, abi.EFAULT, "vector outside the caller")
    assert_nothing_happened(result)


def test_vdevio_one_bad_port_means_no_io_at_all(tmp_path):
    steps = [vdevio(OUT_B, "one_bad", 4), vdevio(IN_B, "one_bad_in", 3),
             vdevio(OUT_W, "good_out", 3),          # 0xAD as a word: misaligned
             vdevio(OUT_L, "good_out", 1)]          # 0xAC as a long: straddles the end
    result, answers = run_steps(tmp_path, steps, VECTORS)
    assert_rejected(result, answers, abi.EPERM, "port not allowed")
    assert_nothing_happened(result)
    vector = result.bytes_at("prober", "one_bad_in", 24)
    assert [int.from_bytes(vector[k:k + 4], "little") for k in range(0, 24, 4)] == \
        [0xAB, 0x11111111, 0xAC, 0x22222222, 0xAE, 0x33333333], "no value was written back"


def test_vdevio_reads_write_the_values_back(tmp_path):
    steps = [vdevio(IN_B, "good_in", 4), vdevio(IN_B, "sixteen", 16)]
    data = VECTORS.replace("sixteen:\n    .space 128",
                           "sixteen:\n" + "\n".join(["    .long 0xAB, 0x5555"] * 16))
    result, answers = run_steps(tmp_path, steps, data)
    assert [a.type for a in answers] == [abi.OK, abi.OK]
    words = [result.word("prober", "good_in", 4 * k) for k in range(8)]
    assert words == [0xAB, 0xCD, 0xAC, 0, 0xAD, 0, 0xAB, 0xCD]
    assert [result.word("prober", "sixteen", 8 * k + 4) for k in range(16)] == [0xCD] * 16
    assert result.printer == b""


def test_vdevio_writes_print(tmp_path):
    steps = [vdevio(OUT_B, "good_out", 3, spin=20), vdevio(OUT_B, "good_out", 3)]
    result, answers = run_steps(tmp_path, steps, VECTORS)
    assert [a.type for a in answers] == [abi.OK, abi.OK]
    assert result.printer == b"VV"


def test_vdevio_vector_on_the_stack_is_accepted(tmp_path):
    # the top 8 bytes of the stack: zeros, so port 0 (granted here, no device: 0xFF)
    steps = [vdevio(IN_B, STACK_END - 8, 1)]
    result, answers = run_steps(tmp_path, steps, policy={"io": ["0x0-0x0", "0xAB-0xAD"]})
    assert answers[0].type == abi.OK
    assert result.proc("prober").cpu.read(STACK_END - 4, 4) == b"\xff\0\0\0"


# -- IRQCTL -----------------------------------------------------------------------------------

def irqctl(request, line, spin=0):
    return call(SYS_IRQCTL, request, line, spin=spin)


def test_irqctl_bad_request_or_line_is_einval(tmp_path):
    steps = [irqctl(0, 7), irqctl(4, 7), irqctl(-1, 7), irqctl(0x101, 7),
             irqctl(abi.IRQ_ENABLE, 16), irqctl(abi.IRQ_ENABLE, -1),
             irqctl(abi.IRQ_ACK, 0x80000007), irqctl(abi.IRQ_DISABLE, 23)]
    result, answers = run_steps(tmp_path, steps)
    assert_rejected(result, answers, abi.EINVAL, "bad IRQCTL request or line")
    assert_nothing_happened(result)


def test_irqctl_line_not_in_policy_is_eperm(tmp_path):
    steps = [irqctl(abi.IRQ_ENABLE, 4), irqctl(abi.IRQ_ENABLE, 14),
             irqctl(abi.IRQ_ENABLE, 0), irqctl(abi.IRQ_ACK, 6), irqctl(abi.IRQ_DISABLE, 8)]
    result, answers = run_steps(tmp_path, steps)
    assert_rejected(result, answers, abi.EPERM, "IRQ line not allowed")
    assert_nothing_happened(result)


def test_irqctl_disable_or_ack_of_a_line_not_routed_to_the_caller_is_eperm(tmp_path):
    steps = [irqctl(abi.IRQ_DISABLE, 7), irqctl(abi.IRQ_ACK, 7)]
    result, answers = run_steps(tmp_path, steps)
    assert_rejected(result, answers, abi.EPERM, "IRQ line not routed to the caller")
    assert_nothing_happened(result)


OWNER = """
.text
_start:
    mov dword ptr [msg + M_TYPE], SYS_IRQCTL
    mov dword ptr [msg + IRQ_REQUEST], IRQ_ENABLE
    mov dword ptr [msg + IRQ_LINE], 7
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov eax, [msg + M_TYPE]
    mov [enabled], eax
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    jmp _start
.data
enabled:
    .long 0x7777
.bss
msg:
    .space MSG_SIZE
"""


def test_irqctl_on_a_line_routed_to_another_driver_is_eperm(tmp_path):
    """Two drivers may name line 7; once the owner enabled it, the other can neither
    disable, acknowledge nor take it (IRQCTL's contract: a line routed to another
    process is EPERM)."""
    steps = [irqctl(abi.IRQ_DISABLE, 7), irqctl(abi.IRQ_ACK, 7), irqctl(abi.IRQ_ENABLE, 7)]
    owner = {"label": "owner", "kind": "driver", "priority": 0, "kernel_calls": ["IRQCTL"],
             "irq": [7], "source": OWNER}
    result, answers = run_steps(tmp_path, steps, others=[owner], policy={"priority": 5})
    assert result.word("owner", "enabled") == abi.OK
    assert [a.type for a in answers[:2]] == [abi.EPERM] * 2
    assert answers[2].type == abi.EPERM, "IRQ_ENABLE took over the owner's line"
    assert all(e.get("reason") for e in kcalls(result))
    assert result.kernel.interrupts.handler(7) is result.proc("owner")


def hardware_note(reply, line=7):
    assert (reply.eax, reply.source, reply.type) == (abi.OK, abi.HARDWARE,
                                                     abi.NOTIFY_MESSAGE)
    assert reply.words[(abi.NOTIFY_IRQS - abi.M_W0) // 4] == 1 << line
    return reply.words[2] | reply.words[3] << 32


def test_irqctl_enable_then_a_printer_interrupt_notifies_the_driver(tmp_path):
    """The driver waits for its interrupt: the notification comes from HARDWARE with
    bit 7, once the character is done (PRINT_TIME = 20 instructions after the strobe)."""
    steps = [irqctl(abi.IRQ_ENABLE, 7),
             devio(OUT_B, 0xAC, ord("I")),
             devio(OUT_B, 0xAD, 0x11),                   # strobe with IRQ enable
             receive(abi.ANY),                           # 3: from HARDWARE, bit 7
             irqctl(abi.IRQ_ACK, 7)]
    result, answers = run_steps(tmp_path, steps)
    assert result.printer == b"I"
    when = hardware_note(answers[3])
    strobe_t = kcalls(result)[2]["t"]
    (delivered,) = [e for e in result.ipc_events(proc="prober", op="RECEIVE")
                    if e["peer_label"] == "HARDWARE"]
    assert delivered["t"] == when
    assert strobe_t + 20 <= when < strobe_t + TICK_INSNS
    assert [answers[i].type for i in (0, 4)] == [abi.OK] * 2
    assert result.kernel.interrupts.handler(7) is None      # released at exit


def test_irqctl_interrupt_of_a_busy_driver_comes_without_waiting_a_quantum(tmp_path):
    """The driver computes for 400 instructions after the strobe (20 instructions of
    printing): its interrupt must be pending when it next looks, not a quantum later
    (a slice never runs past the next device event, even one set within the slice)."""
    steps = [irqctl(abi.IRQ_ENABLE, 7),
             devio(OUT_B, 0xAC, ord("B")),
             devio(OUT_B, 0xAD, 0x11, spin=200),
             receive(abi.ANY, nonblock=True)]
    result, answers = run_steps(tmp_path, steps)
    assert result.printer == b"B"
    when = hardware_note(answers[3])           # pending already: not ENOTREADY
    assert when <= kcalls(result)[2]["t"] + 20 + 600


def test_irqctl_masked_line_is_remembered_until_ack_and_disable_masks(tmp_path):
    """After a notification the line stays masked until IRQ_ACK: an interrupt raised in
    between is kept and delivered at the ACK.  After IRQ_DISABLE nothing comes.  The
    driver waits with an alarm (blocking RECEIVE from CLOCK) to let the printer finish."""
    steps = [irqctl(abi.IRQ_ENABLE, 7),
             devio(OUT_B, 0xAC, ord("I")),
             devio(OUT_B, 0xAD, 0x11),
             receive(abi.HARDWARE),                      # 3: the first interrupt
             devio(OUT_B, 0xAD, 0x10),
             devio(OUT_B, 0xAC, ord("J")),
             devio(OUT_B, 0xAD, 0x11),                   # its interrupt: line masked
             alarm(1), receive(abi.CLOCK),               # 7, 8: wait a tick
             receive(abi.ANY, nonblock=True),            # 9: nothing (masked)
             irqctl(abi.IRQ_ACK, 7),                     # 10: unmask: delivered now
             receive(abi.HARDWARE, nonblock=True),       # 11: the remembered interrupt
             irqctl(abi.IRQ_ACK, 7),
             irqctl(abi.IRQ_DISABLE, 7),
             devio(OUT_B, 0xAD, 0x10),
             devio(OUT_B, 0xAC, ord("K")),
             devio(OUT_B, 0xAD, 0x11),                   # masked by DISABLE
             alarm(1), receive(abi.CLOCK),
             receive(abi.ANY, nonblock=True)]            # 19: nothing
    result, answers = run_steps(tmp_path, steps)
    assert result.printer == b"IJK"
    hardware_note(answers[3])
    assert (answers[8].eax, answers[8].source) == (abi.OK, abi.CLOCK)
    assert answers[9].eax == abi.ENOTREADY
    ack_t = kcalls(result)[7]["t"]
    assert kcalls(result)[7]["call"] == "IRQCTL"
    assert hardware_note(answers[11]) >= ack_t
    assert answers[19].eax == abi.ENOTREADY
    assert [answers[i].type for i in (0, 10, 12, 13)] == [abi.OK] * 4
    notes = [e for e in result.ipc_events(proc="prober", op="RECEIVE")
             if e["peer_label"] == "HARDWARE" and e["result"] == "OK"]
    assert len(notes) == 2


def test_printer_interrupt_without_enable_is_dropped(tmp_path):
    steps = [devio(OUT_B, 0xAC, ord("n")), devio(OUT_B, 0xAD, 0x11, spin=100),
             receive(abi.ANY, nonblock=True)]
    result, answers = run_steps(tmp_path, steps)
    assert answers[2].eax == abi.ENOTREADY
    assert result.printer == b"n"


# -- SETALARM ---------------------------------------------------------------------------------

def alarm(ticks, spin=0):
    return call(SYS_SETALARM, ticks, spin=spin)


def notify_time(reply):
    return reply.words[2] | (reply.words[3] & 0xFFFFFFFF) << 32


def test_setalarm_negative_is_einval(tmp_path):
    steps = [alarm(-1), alarm(-0x80000000), alarm(-TICK_INSNS)]
    result, answers = run_steps(tmp_path, steps)
    assert_rejected(result, answers, abi.EINVAL, "negative alarm")
    assert_nothing_happened(result)


def test_setalarm_negative_leaves_the_alarm_alone(tmp_path):
    steps = [alarm(4), alarm(-1), alarm(0)]
    result, answers = run_steps(tmp_path, steps)
    assert [a.type for a in answers] == [abi.OK, abi.EINVAL, abi.OK]
    assert answers[2].words[0] == 4, "the first alarm was still set"


@pytest.mark.parametrize("ticks", [1, 3])
def test_setalarm_notifies_from_clock_after_n_ticks(tmp_path, ticks):
    steps = [alarm(ticks), receive(abi.CLOCK)]
    result, answers = run_steps(tmp_path, steps)
    assert (answers[0].type, answers[0].words[0]) == (abi.OK, 0)
    set_t = kcalls(result)[0]["t"]
    note = answers[1]
    assert (note.eax, note.source, note.type) == (abi.OK, abi.CLOCK, abi.NOTIFY_MESSAGE)
    when = notify_time(note)
    assert set_t + ticks * TICK_INSNS <= when < set_t + (ticks + 1) * TICK_INSNS
    assert note.words[0] == when // TICK_INSNS              # NOTIFY_TICKS
    (event,) = [e for e in result.ipc_events(proc="prober", op="RECEIVE")
                if e["peer_label"] == "CLOCK"]
    assert event["t"] == when and event["m_type"] == "NOTIFY_MESSAGE"


def test_setalarm_while_busy_arrives_at_the_next_receive(tmp_path):
    steps = [alarm(1, spin=15000), receive(abi.ANY, nonblock=True)]     # ~3 ticks later
    result, answers = run_steps(tmp_path, steps)
    note = answers[1]
    assert (note.eax, note.source) == (abi.OK, abi.CLOCK)
    assert notify_time(note) >= kcalls(result)[0]["t"] + TICK_INSNS


def test_setalarm_zero_cancels_and_reports_the_ticks_left(tmp_path):
    steps = [alarm(5), alarm(0, spin=40000),                # 8 ticks: past the alarm
             receive(abi.CLOCK, nonblock=True), alarm(0)]
    result, answers = run_steps(tmp_path, steps, max_ticks=100)
    assert answers[1].words[0] == 5
    assert answers[2].eax == abi.ENOTREADY
    assert answers[3].words[0] == 0
    assert_nothing_happened(result)


def test_setalarm_replaces_the_previous_alarm(tmp_path):
    steps = [alarm(6), alarm(2), receive(abi.CLOCK),
             alarm(0, spin=40000), receive(abi.CLOCK, nonblock=True)]
    result, answers = run_steps(tmp_path, steps, max_ticks=100)
    assert answers[1].words[0] == 6
    second_t = kcalls(result)[1]["t"]
    assert second_t + 2 * TICK_INSNS <= notify_time(answers[2]) < \
        kcalls(result)[0]["t"] + 6 * TICK_INSNS
    assert answers[3].words[0] == 0
    assert answers[4].eax == abi.ENOTREADY                  # one alarm, one notification


# -- TIMES ------------------------------------------------------------------------------------

def test_times_agrees_with_the_trace(tmp_path):
    steps = [call(SYS_TIMES, -1, -1, -1, -1, spin=7000), call(SYS_TIMES)]
    result, answers = run_steps(tmp_path, steps)
    events = kcalls(result)
    for answer, event in zip(answers, events):
        ticks, lo, hi, user = answer.words[:4]
        assert (answer.eax, answer.source, answer.type) == (abi.OK, abi.SYSTEM, abi.OK)
        assert lo | hi << 32 == event["t"]
        assert ticks == event["t"] // TICK_INSNS
        assert user == event["t"]                            # the only process that ran
        assert (event["ticks"], event["time_lo"], event["user_insns"]) == (ticks, lo, user)
        assert event["result"] == "OK" and "reason" not in event
    assert answers[1].words[0] >= 1
    assert events[1]["t"] - events[0]["t"] > 2 * 7000


def test_times_counts_only_the_callers_instructions(tmp_path):
    burner = {"label": "burner", "kind": "user", "source": ".text\n_start:\n    jmp _start\n"}
    steps = [call(SYS_TIMES, spin=30000), call(SYS_TIMES)]
    result, answers = run_steps(tmp_path, steps, others=[burner], policy={"priority": 7,
                                                                          "kind": "user"})
    first, second = answers
    assert second.words[3] < second.words[1], "the burner's time is not the prober's"
    assert second.words[3] - first.words[3] > 2 * 30000
    assert result.proc("burner").insns > 0


# -- DIAGCTL ----------------------------------------------------------------------------------

TEXTS = """
hello:
    .ascii "hello, log"
newline:
    .ascii "line\\n"
longest:
    .space 256, 0x78
"""


def diag(address, length):
    return call(SYS_DIAGCTL, address, length)


def test_diagctl_bad_length_is_einval(tmp_path):
    steps = [diag("hello", 0), diag("hello", abi.DIAG_MAX + 1), diag("hello", -1),
             diag("hello", 0x80000000), diag(0, 0)]
    result, answers = run_steps(tmp_path, steps, TEXTS)
    assert_rejected(result, answers, abi.EINVAL, "bad DIAGCTL length")
    assert_nothing_happened(result)


def test_diagctl_text_outside_the_caller_is_efault(tmp_path):
    steps = [diag(0, 4), diag(W + 0x70000, 4), diag(OTHER_W + abi.DATA_OFFSET, 4),
             diag(STACK_END - 4, 8), diag(0xFFFFFFFC, 8), diag(W - 4, 8)]
    other = {"label": "other", "source": ".text\n_start:\n    jmp _start\n.data\n"
             "secret:\n    .ascii \"secret\"\n"}
    result, answers = run_steps(tmp_path, steps, TEXTS, others=[other])
    assert_rejected(result, answers, abi.EFAULT, "text outside the caller")
    assert_nothing_happened(result)


def test_diagctl_writes_a_diag_event_and_a_log_line(tmp_path):
    steps = [diag("hello", 10), diag("newline", 5), diag("longest", abi.DIAG_MAX)]
    result, answers = run_steps(tmp_path, steps, TEXTS)
    assert [a.type for a in answers] == [abi.OK] * 3
    texts = [e["text"] for e in result.of("diag", "prober")]
    assert texts == ["hello, log", "line", "x" * 256]
    assert result.kernel.log_stream.getvalue() == \
        "prober: hello, log\nprober: line\nprober: " + "x" * 256 + "\n"
    assert [e["result"] for e in kcalls(result)] == ["OK"] * 3
    assert result.printer == b"" and result.console == b""


# -- EXIT -------------------------------------------------------------------------------------

EXITER_WAITER = f"""
.text
_start:
    mov dword ptr [msg + M_TYPE], 5
    mov eax, EP_PROBER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov [result], eax
    mov edx, 0
{EXIT_WITH_EDX}
.data
result:
    .long 0x7777
.bss
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""


@pytest.mark.parametrize("status", [-7, 0x7FFFFFFF, -0x80000000, 1])
def test_exit_ends_the_caller_for_good(tmp_path, status):
    steps = [call(SYS_TIMES), call(SYS_EXIT, status), call(SYS_TIMES), call(SYS_EXIT, 0)]
    waiter = {"label": "waiter", "kind": "user", "priority": 0, "source": EXITER_WAITER}
    programs = [prober(steps), waiter]
    result = run_system(tmp_path, programs, max_ticks=50)
    assert result.kernel.panic_report is None
    assert result.end == "done"
    (event,) = result.of("exit", "prober")
    assert event["status"] == status
    assert result.proc("prober").exit_status == status
    later = [e for e in result.events if e["proc"] == "prober" and e["t"] >= event["t"]
             and e is not event and not (e["ev"] == "slice" and e["t"] == event["t"])]
    assert later == [], "the prober ran again after its EXIT"
    assert [e["call"] for e in kcalls(result)] == ["TIMES"]
    assert [result.word("prober", "results", 4 * i) for i in range(4)] == \
        [abi.OK] + [SENTINEL] * 3
    assert not result.of("fault")
    assert not result.proc("prober").alive
    assert result.word("waiter", "result") == abi.EDEADSRCDST


# -- kernel panics ----------------------------------------------------------------------------

PANIC_STEPS = [call(SYS_TIMES), call(SYS_TIMES)]


def injected(*args):
    raise RuntimeError("injected for the test")


def booted(tmp_path, steps=PANIC_STEPS):
    worker = {"label": "worker", "kind": "user",
              "source": f".text\n_start:\n    mov edx, 3\n{EXIT_WITH_EDX}\n.bss\n"
                        "exit_msg:\n    .space MSG_SIZE\n"}
    image = build_system(tmp_path, [prober(steps, priority=0), worker])
    session, console, printer, trace = boot(image, max_ticks=50)
    return image, session, trace


def check_report(report, session, m_type):
    assert report["proc"] == "prober" and report["ep"] == 0
    assert report["error"] == "RuntimeError: injected for the test"
    assert Path(report["at"].rsplit(":", 1)[0]).name == "test_kernel_calls.py"
    registers = report["registers"]
    assert {"eax", "ebx", "ecx", "edx", "esp", "eip", "eflags"} <= set(registers)
    slots = session.programs[0].symbols["slots"]
    slots = slots[0] if isinstance(slots, tuple) else slots
    assert registers["ebx"] == slots
    assert (registers["ecx"], registers["eax"]) == (abi.SENDREC, abi.SYSTEM & 0xFFFFFFFF)
    assert registers["edx"] == 0x5A5A5A5A
    message = bytes.fromhex(report["message"])
    assert len(message) == abi.MSG_SIZE
    assert int.from_bytes(message[4:8], "little") == m_type
    assert report["t"] == session.kernel.now()


def test_panic_in_a_kernel_call_handler(tmp_path):
    image, session, trace = booted(tmp_path)
    session.kernel.system.table[SYS_TIMES - KERNEL_CALL] = injected
    end = session.run()
    assert end == "panic"
    check_report(session.kernel.panic_report, session, SYS_TIMES)
    events = trace.getvalue()
    assert '"ev":"kcall"' not in events
    assert '"proc":"worker","ep":1,"status"' not in events, "the machine ran on"


def test_panic_in_the_ipc_trap(tmp_path, monkeypatch):
    import kernel.ipc
    monkeypatch.setattr(kernel.ipc.Ipc, "do_ipc", injected)     # bound at boot
    image, session, trace = booted(tmp_path)
    assert session.run() == "panic"
    check_report(session.kernel.panic_report, session, SYS_TIMES)


def test_panic_on_a_later_trap_stops_at_that_trap(tmp_path):
    image, session, trace = booted(tmp_path)
    table = session.kernel.system.table
    real = table[SYS_TIMES - KERNEL_CALL]
    calls = []

    def second_fails(kernel, caller, msg):
        calls.append(kernel.now())
        if len(calls) == 2:
            raise RuntimeError("injected for the test")
        return real(kernel, caller, msg)

    table[SYS_TIMES - KERNEL_CALL] = second_fails
    assert session.run() == "panic"
    report = session.kernel.panic_report
    assert report["t"] == calls[1] > calls[0]
    slots = session.programs[0].symbols["slots"]
    slots = slots[0] if isinstance(slots, tuple) else slots
    assert report["registers"]["ebx"] == slots + abi.MSG_SIZE


def cli_boot(image, tmp_path, *extra):
    from emu.cli import main
    return main(["boot", str(image), "--max-ticks", "50",
                 "--printer", str(tmp_path / "printer.out"), *extra])


def test_panic_through_the_cli_exits_1_with_a_report(tmp_path, monkeypatch, capsys):
    import kernel.system
    image = build_system(tmp_path, [prober(PANIC_STEPS)])
    monkeypatch.setitem(kernel.system.CALLS, SYS_TIMES, injected)
    status = cli_boot(image, tmp_path, "--trace", str(tmp_path / "t.jsonl"))
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert "KERNEL PANIC" in lines[0] and "prober" in lines[0]
    assert "RuntimeError: injected for the test" in lines[0]
    assert any("registers:" in line and "ebx=" in line for line in lines)
    assert any("message at ebx:" in line for line in lines)
    (command,) = [line.split("reproduce with:", 1)[1].strip() for line in lines
                  if "reproduce with:" in line]
    argv = shlex.split(command)
    assert argv[:3] == ["emu", "boot", str(image)]
    # the command reproduces the same panic
    again = cli_boot(image, tmp_path, *argv[3:])
    err2 = capsys.readouterr().err
    assert again == 1
    assert err2.splitlines()[0] == lines[0]


def test_panic_through_the_cli_in_a_real_process(tmp_path):
    image = build_system(tmp_path, [prober(PANIC_STEPS)])
    script = (
        "import sys\n"
        "import kernel.system\n"
        "def injected(*args):\n"
        "    raise RuntimeError('injected for the test')\n"
        "kernel.system.CALLS[kernel.system.SYS_TIMES] = injected\n"
        "from emu.cli import main\n"
        f"sys.exit(main(['boot', {str(image)!r}, '--max-ticks', '50',"
        f" '--printer', {str(tmp_path / 'p.out')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "KERNEL PANIC" in done.stderr and "prober" in done.stderr
    assert "reproduce with: emu boot" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_panic_means_exit_status_0(tmp_path, capsys):
    image = build_system(tmp_path, [prober(PANIC_STEPS)])
    assert cli_boot(image, tmp_path, "--until-exit", "prober") == 0
    assert "PANIC" not in capsys.readouterr().err
