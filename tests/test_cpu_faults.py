"""CPU faults (SPEC section 2): each kind ends only the process that caused it.

A faulter runs one bad instruction at its label `boom` (after an optional set-up).  For
every kind the trace has one `fault` event for the faulter with the cause of
`emu.faults`, the data address, the instruction's address and its disassembly; the
faulter's slot is free afterwards; a client and a server that ping-pong over IPC after
the fault still do all their work and the client exits 0; the kernel never panics.
A process blocked on the faulter (queued in SENDREC to it, or waiting for its reply)
wakes with EDEADSRCDST.
"""

import pytest

from emu import faults
from kernel import abi
from tests.harness import EXIT_WITH_EDX, run_system

FAULTER_W = abi.window_base(0)
CLIENT_W = abi.window_base(1)
STACK_LO = FAULTER_W + abi.WINDOW_SIZE - abi.STACK_SIZE
ROUNDS = 5
ANY_INSN = object()             # check_fault: any disassembly will do


def faulter_source(bad, setup=""):
    return f"""
.text
_start:
{setup}
boom:
{bad}
after:
    mov edx, 99                 ; never reached: a fault ends the process
{EXIT_WITH_EDX}
.data
datum:
    .long 0xC3909090
.bss
exit_msg:
    .space MSG_SIZE
"""


# The client sends ROUNDS requests (value i) to the server by SENDREC and checks that
# each reply's M_W0 is 2*i from the server; it exits 0 when all were right, else 1.
CLIENT = f"""
.text
_start:
    mov esi, 1
    xor edx, edx
round:
    cmp esi, {ROUNDS}
    jg done
    mov dword ptr [msg + M_TYPE], 77
    mov [msg + M_W0], esi
    mov eax, EP_SERVER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz wrong
    cmp dword ptr [msg + M_SOURCE], EP_SERVER
    jne wrong
    mov eax, esi
    add eax, eax
    cmp [msg + M_W0], eax
    jne wrong
    inc dword ptr [rounds_done]
    inc esi
    jmp round
wrong:
    mov edx, 1
done:
{EXIT_WITH_EDX}
.bss
rounds_done:
    .space 4
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""

SERVER = """
.text
_start:
    mov eax, ANY
    lea ebx, [msg]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz _start
    mov eax, [msg + M_W0]
    add eax, eax
    mov [msg + M_W0], eax
    mov eax, [msg + M_SOURCE]
    lea ebx, [msg]
    mov ecx, SEND
    int IPC_VEC
    jmp _start
.bss
msg:
    .space MSG_SIZE
"""


def run_with_workers(tmp_path, faulter, **limits):
    """Boot the faulter (slot 0, highest priority: it faults first), a client and a
    server; run until every user program ended."""
    programs = [{"label": "faulter", "kind": "user", "priority": 0, "source": faulter},
                {"label": "client", "kind": "user", "source": CLIENT},
                {"label": "server", "kind": "server", "source": SERVER}]
    limits.setdefault("max_ticks", 100)
    return run_system(tmp_path, programs, **limits)


def the_fault(result, label="faulter"):
    events = result.of("fault", label)
    assert len(events) == 1, f"expected one fault of {label}: {result.of('fault')}"
    return events[0]


def assert_contained(result, label="faulter"):
    """Only `label` ended by a fault; its slot is free; the workers did all their work."""
    assert result.kernel.panic_report is None
    assert result.end == "done"
    assert [e["proc"] for e in result.of("fault")] == [label]
    proc = result.proc(label)
    assert not proc.alive
    assert result.kernel.table.lookup(abi.endpoint(0, proc.slot))[0] == abi.EDEADSRCDST
    assert proc.faults == 1
    exits = result.of("exit", "client")
    assert exits and exits[0]["status"] == 0, "the client did not finish its work"
    assert result.word("client", "rounds_done") == ROUNDS
    fault_t = the_fault(result, label)["t"]
    work = [e for e in result.ipc_events(proc="client", op="SENDREC") if e["result"] == "OK"]
    assert len(work) == ROUNDS and all(e["t"] >= fault_t for e in work)
    assert result.proc("server").alive
    assert not result.of("exit", label), "the faulter ran past its fault"


def check_fault(result, cause, addr, eip, mnemonic):
    event = the_fault(result)
    assert event["cause"] == cause
    assert event["addr"] == addr
    assert event["eip"] == eip
    assert event["ep"] == 0
    if mnemonic is None:
        assert event["insn"] == ""               # nothing mapped at eip to disassemble
    elif mnemonic is not ANY_INSN:
        assert event["insn"].split()[0] == mnemonic, event["insn"]
    assert_contained(result)
    assert result.proc("faulter").last_fault.cause == cause
    return event


def boom(result):
    return result.symbol("faulter", "boom")


# -- invalid opcodes ---------------------------------------------------------------------

def test_ud2_is_an_invalid_opcode(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    ud2"))
    at = boom(result)
    check_fault(result, faults.INVALID_OPCODE, at, at, "ud2")


@pytest.mark.parametrize("code", [
    "0xFE, 0xF8",               # FE /7: no such instruction
    "0x0F, 0x04",               # unassigned two-byte opcode
    "0xC4, 0xC0",               # VEX prefix form: not on this CPU in 32-bit code
])
def test_bytes_that_are_no_instruction(tmp_path, code):
    result = run_with_workers(tmp_path, faulter_source(f"    .byte {code}"))
    at = boom(result)
    event = check_fault(result, faults.INVALID_OPCODE, at, at, ANY_INSN)
    assert event["insn"], "the fault names what is at eip"


@pytest.mark.parametrize("insn", ["syscall", "sysenter"])
def test_syscall_and_sysenter_are_faults(tmp_path, insn):
    result = run_with_workers(tmp_path, faulter_source(f"    {insn}"))
    at = boom(result)
    check_fault(result, faults.INVALID_OPCODE, at, at, insn)


# -- memory: unmapped ---------------------------------------------------------------------

UNMAPPED = [
    pytest.param(0, id="page0"),
    pytest.param(0xFFC, id="page0-end"),
    pytest.param(FAULTER_W + 0x70000, id="gap-after-text"),
    pytest.param(FAULTER_W + 0xE0000, id="gap-before-stack"),
    pytest.param(STACK_LO - 4, id="just-below-stack"),
    pytest.param(CLIENT_W + abi.DATA_OFFSET, id="client-data"),
    pytest.param(CLIENT_W, id="client-text"),
    pytest.param(0xFFFFFFF0, id="top"),
]


@pytest.mark.parametrize("addr", UNMAPPED)
def test_read_unmapped(tmp_path, addr):
    result = run_with_workers(tmp_path, faulter_source(f"    mov eax, dword ptr [{addr}]"))
    check_fault(result, faults.READ_UNMAPPED, addr, boom(result), "mov")


@pytest.mark.parametrize("addr", UNMAPPED)
def test_write_unmapped(tmp_path, addr):
    result = run_with_workers(tmp_path,
                              faulter_source(f"    mov dword ptr [{addr}], 0x41414141"))
    check_fault(result, faults.WRITE_UNMAPPED, addr, boom(result), "mov")


@pytest.mark.parametrize("addr", [0, FAULTER_W + 0x70000, FAULTER_W + 0xE0000,
                                  CLIENT_W, 0x80000000, 0xFFFFFFF0, 0xFFFFFFF4])
def test_fetch_unmapped(tmp_path, addr):
    result = run_with_workers(tmp_path, faulter_source(f"    jmp eax",
                                                       f"    mov eax, {addr}"))
    check_fault(result, faults.FETCH_UNMAPPED, addr, addr, None)


def test_call_far_outside_is_a_fetch_fault(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    call eax",
                                                       "    mov eax, 0xFFFFFFF0"))
    check_fault(result, faults.FETCH_UNMAPPED, 0xFFFFFFF0, 0xFFFFFFF0, None)


def test_read_straddling_the_end_of_data(tmp_path):
    # data+bss is one page: a dword at its last 2 bytes runs into the unmapped gap
    end = FAULTER_W + abi.DATA_OFFSET + abi.PAGE_SIZE
    result = run_with_workers(tmp_path, faulter_source(f"    mov eax, dword ptr [{end - 2}]"))
    event = the_fault(result)
    assert event["cause"] == faults.READ_UNMAPPED
    assert end - 2 <= event["addr"] <= end
    assert event["eip"] == boom(result)
    assert_contained(result)


def test_stack_overflow_below_the_stack_region(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    call boom"))
    check_fault(result, faults.WRITE_UNMAPPED, STACK_LO - 4, boom(result), "call")
    assert result.proc("faulter").cpu.registers()["esp"] == STACK_LO


def test_push_below_the_stack_region(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    push eax",
                                                       f"    mov esp, {STACK_LO}"))
    check_fault(result, faults.WRITE_UNMAPPED, STACK_LO - 4, boom(result), "push")


# -- memory: protection ---------------------------------------------------------------------

def test_write_to_text(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    mov dword ptr [_start], 0x90909090"))
    start = result.symbol("faulter", "_start")
    check_fault(result, faults.WRITE_PROTECTED, start, boom(result), "mov")
    # nothing was written: the text is as built
    assert result.proc("faulter").cpu.read(start, 4) != b"\x90" * 4


def test_write_to_own_code_at_eip(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    mov byte ptr [boom], 0xCC"))
    at = boom(result)
    check_fault(result, faults.WRITE_PROTECTED, at, at, "mov")


def test_execute_data(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    jmp eax", "    lea eax, [datum]"))
    datum = result.symbol("faulter", "datum")
    check_fault(result, faults.FETCH_PROTECTED, datum, datum, "nop")


def test_execute_stack(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    jmp esp",
                                                       "    push 0xC3909090"))
    top = FAULTER_W + abi.WINDOW_SIZE - 16 - 4     # esp starts below the argument string
    check_fault(result, faults.FETCH_PROTECTED, top, top, "nop")


# -- arithmetic and software exceptions ---------------------------------------------------

@pytest.mark.parametrize("setup,insn", [
    ("    xor ecx, ecx\n    mov eax, 5", "div ecx"),
    ("    xor ecx, ecx", "idiv ecx"),
    ("    mov eax, 0x80000000\n    cdq\n    mov ecx, -1", "idiv ecx"),   # overflow
    ("    mov edx, 2\n    mov ecx, 2", "div ecx"),                      # quotient too big
    ("    xor cl, cl", "div cl"),
])
def test_divide_error(tmp_path, setup, insn):
    result = run_with_workers(tmp_path, faulter_source(f"    {insn}", setup))
    at = boom(result)
    check_fault(result, faults.DIVIDE_ERROR, at, at, insn.split()[0])


@pytest.mark.parametrize("vector", [0x80, 0x20, 0x22, 0x2E, 0xFF, 1, 4,
                                    0, 6])       # also the vectors of CPU exceptions
def test_foreign_software_interrupt(tmp_path, vector):
    result = run_with_workers(tmp_path, faulter_source(f"    int {vector}"))
    event = check_fault(result, faults.BAD_INTERRUPT, vector, boom(result), "int")
    mnemonic, operand = event["insn"].split()
    assert int(operand, 0) == vector


def test_int3_without_a_debugger(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    int3"))
    at = boom(result)
    check_fault(result, faults.BREAKPOINT, at, at, "int3")


def test_int_3_long_form_without_a_debugger(tmp_path):
    # `int 3` as CD 03: a breakpoint trap too, at the start of the two-byte instruction
    result = run_with_workers(tmp_path, faulter_source("    .byte 0xCD, 0x03"))
    event = the_fault(result)
    assert event["cause"] == faults.BREAKPOINT
    assert event["eip"] == boom(result)
    assert event["insn"] == "int 3"
    assert_contained(result)


def test_into_with_overflow(tmp_path):
    result = run_with_workers(tmp_path, faulter_source(
        "    into", "    mov eax, 0x7FFFFFFF\n    add eax, 1"))
    event = the_fault(result)
    assert event["cause"] == faults.CPU_EXCEPTION
    assert event["eip"] == boom(result), "the fault names the into instruction"
    assert event["insn"] == "into"
    assert "4" in event.get("detail", "")
    assert_contained(result)


def test_into_without_overflow_is_harmless(tmp_path):
    source = faulter_source("    into\n    ud2", "    xor eax, eax")
    result = run_with_workers(tmp_path, source)
    event = the_fault(result)
    assert event["cause"] == faults.INVALID_OPCODE
    assert event["eip"] == boom(result) + 1            # into ran as a no-op
    assert_contained(result)


def test_bound_out_of_range(tmp_path):
    # the bounds at datum: lower 0xC3909090 (negative), upper 0 (the bss after it)
    result = run_with_workers(tmp_path, faulter_source("    bound eax, [datum]",
                                                       "    mov eax, 5"))
    event = the_fault(result)
    assert event["cause"] == faults.CPU_EXCEPTION
    assert event["eip"] == boom(result)
    assert event["insn"].startswith("bound")
    assert_contained(result)


def test_hlt(tmp_path):
    result = run_with_workers(tmp_path, faulter_source("    hlt"))
    at = boom(result)
    check_fault(result, faults.HALT, at, at, "hlt")


def test_cli_does_not_stop_the_scheduler(tmp_path):
    """`cli` would stop a real kernel's clock; here a spinner with interrupts 'off' is
    still preempted by virtual time, and the workers still run."""
    source = faulter_source("    jmp boom", "    cli")
    programs = [{"label": "faulter", "kind": "user", "source": source},
                {"label": "client", "kind": "user", "source": CLIENT},
                {"label": "server", "kind": "server", "source": SERVER}]
    result = run_system(tmp_path, programs, until_exit="client", max_ticks=100)
    assert result.kernel.panic_report is None
    assert result.end == "exit"
    assert result.of("exit", "client")[0]["status"] == 0


# -- direct port I/O -----------------------------------------------------------------------

@pytest.mark.parametrize("setup,insn,port", [
    ("    mov edx, 0xAB", "in al, dx", 0xAB),
    ("", "in al, 0xAB", 0xAB),
    ("    mov edx, 0x3F8", "in eax, dx", 0x3F8),
    ("    mov edx, 0xAC\n    mov al, 0x41", "out dx, al", 0xAC),
    ("    mov al, 0x41", "out 0xAD, al", 0xAD),
    ("    mov edx, 0x1F0", "out dx, ax", 0x1F0),
    ("    mov edx, 0xAB\n    lea edi, [datum]", "insb", 0xAB),
    ("    mov edx, 0xAC\n    lea esi, [datum]", "outsb", 0xAC),
    ("    mov edx, 0x1F0\n    lea edi, [datum]", "insd", 0x1F0),
    ("    mov edx, 0x3F8\n    lea esi, [datum]\n    mov ecx, 4", "rep outsb", 0x3F8),
])
def test_direct_port_io(tmp_path, setup, insn, port):
    result = run_with_workers(tmp_path, faulter_source(f"    {insn}", setup))
    at = boom(result)
    check_fault(result, faults.PORT_IO, port, at, insn.split()[0])
    assert result.printer == b"" and result.console == b""
    assert result.session.machine.printer.data == 0       # no port was touched


# -- processes blocked on the faulter --------------------------------------------------------

WAITER = f"""
.text
_start:
    mov dword ptr [msg + M_TYPE], 5
    mov eax, EP_FAULTER
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov [result], eax
    mov edx, eax
{EXIT_WITH_EDX}
.bss
result:
    .space 4
msg:
    .space MSG_SIZE
exit_msg:
    .space MSG_SIZE
"""


def test_sender_queued_on_the_faulter_wakes_with_edeadsrcdst(tmp_path):
    """The waiter is queued in SENDREC to the faulter, which never receives."""
    spin = "    mov ecx, 5000\nspin:\n    dec ecx\n    jnz spin"
    programs = [{"label": "faulter", "kind": "user", "priority": 9,
                 "source": faulter_source("    ud2", spin)},
                {"label": "waiter", "kind": "user", "priority": 5, "source": WAITER}]
    result = run_system(tmp_path, programs, max_ticks=50)
    assert result.kernel.panic_report is None
    assert result.end == "done"
    assert the_fault(result)["cause"] == faults.INVALID_OPCODE
    # queued, not denied: a SENDREC to a dead faulter would be traced as a denial
    [woken] = result.ipc_events(proc="waiter", op="SENDREC")       # nothing delivered
    assert woken["result"] == "EDEADSRCDST" and woken["peer_label"] == "faulter"
    assert result.word("waiter", "result") == abi.EDEADSRCDST
    assert result.of("exit", "waiter")[0]["status"] == abi.EDEADSRCDST
    assert result.of("exit", "waiter")[0]["t"] >= the_fault(result)["t"]
    assert result.proc("faulter").q_head is None


def test_client_waiting_for_the_faulters_reply_wakes_with_edeadsrcdst(tmp_path):
    """The faulter receives the waiter's request, then faults instead of replying."""
    receive_then = """
    mov eax, ANY
    lea ebx, [datum]
    mov ecx, RECEIVE
    int IPC_VEC
"""
    source = faulter_source("    div ecx", receive_then + "    xor ecx, ecx")
    source = source.replace("datum:\n    .long 0xC3909090", "datum:\n    .space MSG_SIZE")
    programs = [{"label": "faulter", "kind": "server", "source": source},
                {"label": "waiter", "kind": "user", "source": WAITER}]
    result = run_system(tmp_path, programs, max_ticks=50)
    assert result.kernel.panic_report is None
    assert result.end == "done"
    delivered = result.ipc_events(proc="faulter", op="RECEIVE")
    assert delivered and delivered[0]["peer_label"] == "waiter"
    assert [e["result"] for e in result.ipc_events(proc="waiter", op="SENDREC")] == \
        ["OK", "EDEADSRCDST"]
    assert the_fault(result)["cause"] == faults.DIVIDE_ERROR
    assert result.word("waiter", "result") == abi.EDEADSRCDST
    assert not result.proc("faulter").alive


def test_a_fault_clears_the_faulters_alarm_and_irq(tmp_path):
    """A faulter with an alarm and an IRQ line leaves neither behind."""
    setup = """
    mov dword ptr [datum + M_TYPE], SYS_IRQCTL
    mov dword ptr [datum + IRQ_REQUEST], IRQ_ENABLE
    mov dword ptr [datum + IRQ_LINE], 7
    mov eax, SYSTEM
    lea ebx, [datum]
    mov ecx, SENDREC
    int IPC_VEC
    mov dword ptr [datum + M_TYPE], SYS_SETALARM
    mov dword ptr [datum + ALARM_TICKS], 3
    mov dword ptr [datum + ALARM_FLAGS], 0
    mov eax, SYSTEM
    lea ebx, [datum]
    mov ecx, SENDREC
    int IPC_VEC
"""
    source = faulter_source("    hlt", setup)
    source = source.replace("datum:\n    .long 0xC3909090", "datum:\n    .space MSG_SIZE")
    programs = [{"label": "faulter", "kind": "driver", "priority": 0, "source": source,
                 "kernel_calls": ["IRQCTL", "SETALARM"], "irq": [7]},
                {"label": "client", "kind": "user", "source": CLIENT},
                {"label": "server", "kind": "server", "source": SERVER}]
    result = run_system(tmp_path, programs, max_ticks=100)
    assert [e["result"] for e in result.of("kcall", "faulter")] == ["OK", "OK"]
    assert result.kernel.interrupts.handler(7) is None
    assert result.proc("faulter").alarm is None
    assert result.kernel.clock.next_due is None
    assert_contained(result)


# -- a driver that faults while printing ----------------------------------------------------

PRINTING_DRIVER = """
.text
_start:
    xor esi, esi
next:
    cmp esi, 3
    jge boom
    movzx eax, byte ptr [text + esi]
    mov [vec + 4], eax
    mov dword ptr [msg + M_TYPE], SYS_VDEVIO
    mov dword ptr [msg + VDIO_REQUEST], DIO_OUTPUT | DIO_BYTE
    lea eax, [vec]
    mov [msg + VDIO_VEC_ADDR], eax
    mov dword ptr [msg + VDIO_VEC_COUNT], 3
    mov eax, SYSTEM
    lea ebx, [msg]
    mov ecx, SENDREC
    int IPC_VEC
    mov ecx, 40
wait:
    dec ecx
    jnz wait
    inc esi
    jmp next
boom:
    mov eax, dword ptr [0]
.data
text:
    .ascii "abc"
    .space 1
vec:
    .long 0xAC, 0, 0xAD, 1, 0xAD, 0
.bss
msg:
    .space MSG_SIZE
"""


def test_driver_fault_while_printing_keeps_what_was_printed(tmp_path):
    from emu.cli import main
    from tests.harness import build_system

    programs = [{"label": "printer", "kind": "driver", "priority": 0,
                 "source": PRINTING_DRIVER, "kernel_calls": ["VDEVIO"],
                 "io": ["0xAB-0xAD"]},
                {"label": "client", "kind": "user", "source": CLIENT},
                {"label": "server", "kind": "server", "source": SERVER}]
    result = run_system(tmp_path, programs, max_ticks=100)
    assert result.printer == b"abc"
    event = the_fault(result, "printer")
    assert event["cause"] == faults.READ_UNMAPPED and event["addr"] == 0
    assert_contained(result, "printer")

    (tmp_path / "cli").mkdir()
    image = build_system(tmp_path / "cli", programs)
    out = tmp_path / "printer.out"
    status = main(["boot", str(image), "--max-ticks", "100", "--printer", str(out),
                   "--trace", str(tmp_path / "t.jsonl")])
    assert status == 0
    assert out.read_bytes() == b"abc"
