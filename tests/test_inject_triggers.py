"""The triggers put faults into the running printer driver as stated, and the patched
instruction is really the one that runs (the translation cache is flushed)."""

import random

import pytest

from emu import faults as cpu_faults
from kernel.run import RunLimits, run
from tools.inject.faults import ALL_TYPES, TYPES, Fault, fault_from, make_fault
from tools.inject.targets import Targets
from tools.inject.trial import run_trial
from tools.inject.triggers import Injector

from tests.inject_support import golden_system, stock_image

UD2 = b"\x0f\x0b"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return stock_image(tmp_path_factory)


@pytest.fixture(scope="module")
def golden(image):
    return golden_system(image)[1:]


@pytest.fixture
def live(image, golden):
    from tools.inject.forkserver import boot_golden_point
    return boot_golden_point(image, golden[0])


def crash_fault(live, symbol):
    """A fault that puts `ud2` (an invalid opcode) on the instruction at `symbol`."""
    address = live.symbols.address_of(symbol)
    insn = live.text.instructions[live.text.index_at(address)]
    assert insn.address == address
    return Fault("nop", address, bytes(insn.bytes), UD2 + b"\x90" * (insn.size - 2), "", "")


def run_for(live, insns):
    kernel = live.kernel
    kernel.stop_request = None
    return run(kernel, RunLimits(max_time=kernel.time + insns))


def target_fault(injector, live):
    ends = [e for e in injector.ends if e[1] == live.target and e[3] == "fault"]
    return ends[0] if ends else None


def test_targets_give_the_faults_of_the_fault_types_without_disassembling(live):
    text = live.text
    where = {insn.address for insn in text.instructions[::2]}
    everywhere, some = Targets(text), Targets(text, where)
    for seed in range(60):
        for fault_type in ALL_TYPES:
            a, b = random.Random(seed), random.Random(seed)
            slow, fast = make_fault(text, fault_type, a), everywhere.pick(fault_type, b)
            assert (slow is None) == (fast is None)  # interface, init: none in the printer
            if slow is not None:
                assert (slow.type, slow.address, slow.original, slow.new) == \
                    (fast.type, fast.address, fast.original, fast.new)
            assert a.random() == b.random()          # the same draws were made
        for fault_type in TYPES:
            a, b = random.Random(seed), random.Random(seed)
            start = seed * 7 % len(text.instructions)
            slow = fault_from(text, fault_type, start, a, where)
            fast = some.pick_from(fault_type, start, b)
            assert (slow is None) == (fast is None)
            if slow is not None:
                assert (slow.address, slow.new) == (fast.address, fast.new)
                assert slow.address in where or fault_type == "text"


def test_static_fault_in_code_already_translated_is_what_runs(live):
    proc = live.target_proc()
    fault = crash_fault(live, "devio_in")        # runs for every byte printed
    injector = Injector(live)
    record = injector.apply(proc, fault, "static")
    assert live.target_proc().cpu.read(fault.address, 2) == UD2
    assert record["symbol"] == "devio_in" and record["line"].startswith("guest/drivers/")
    assert record["before"].startswith("mov dword ptr") and record["after"] == "ud2"
    run_for(live, 200_000)
    end = target_fault(injector, live)
    assert end is not None and end[4] == cpu_faults.INVALID_OPCODE
    assert proc.last_fault.eip == fault.address
    assert record["injected_at"] < record["activated_at"] <= end[0]


def test_without_the_flush_the_old_translation_would_run(live):
    """Why every patch flushes: bytes written behind Unicorn's back are not executed."""
    proc = live.target_proc()
    fault = crash_fault(live, "devio_in")
    offset = fault.address - proc.cpu.window_base
    proc.cpu.mem[offset:offset + len(fault.new)] = fault.new     # no flush
    insns = proc.insns
    run_for(live, 20_000)
    assert proc.alive and proc.insns > insns + 500 and proc.last_fault is None


def test_a_fault_where_nothing_runs_is_not_activated(live):
    proc = live.target_proc()
    injector = Injector(live)
    record = injector.apply(proc, crash_fault(live, "do_write"), "static")   # DEV_WRITE only
    run_for(live, 100_000)
    assert proc.alive and record["activated_at"] is None


def test_exec_patches_just_before_the_instruction_runs(live):
    proc = live.target_proc()
    fault = crash_fault(live, "print_byte")
    injector = Injector(live)
    record = injector.arm(proc, fault)
    assert proc.cpu.read(fault.address, 1) == b"\xcc" and record["injected_at"] is None
    assert run_for(live, 200_000) == "activated"
    assert record["injected_at"] == record["activated_at"] is not None
    assert proc.cpu.read(fault.address, 2) == UD2 and proc.cpu.eip == fault.address
    run_for(live, 1000)
    end = target_fault(injector, live)
    assert end[4] == cpu_faults.INVALID_OPCODE and proc.last_fault.eip == fault.address
    assert end[0] - record["activated_at"] <= 1          # the very next instruction


def test_exec_faults_are_activated_when_injected(image, golden):
    settings, golden_run = golden
    settings = dict(settings, trigger="exec", per_trial=12, faults=10_000)
    from tools.inject.forkserver import boot_golden_point
    result = run_trial(boot_golden_point(image, settings), settings, golden_run, 3)
    injected = [f for f in result["faults"] if f["injected_at"] is not None]
    assert injected and all(f["activated_at"] == f["injected_at"] for f in injected)
    assert all(f["address"] in golden_run["coverage"] for f in result["faults"])
    assert result["outcome"]["panics"] == 0


def test_time_faults_go_in_at_the_program_counter(image, golden):
    settings, golden_run = golden
    settings = dict(settings, trigger="time", types=["nop"], per_trial=12, faults=10_000)
    from tools.inject.forkserver import boot_golden_point
    result = run_trial(boot_golden_point(image, settings), settings, golden_run, 5)
    assert len(result["faults"]) == 12
    for record in result["faults"]:
        assert record["address"] == record["pc"] and record["after"] == "nop"
        if record["activated_at"] is not None:
            assert record["activated_at"] > record["injected_at"]
    assert any(r["activated_at"] == r["injected_at"] + 1 for r in result["faults"])


def test_a_trial_is_the_same_every_time(image, golden):
    settings, golden_run = golden
    settings = dict(settings, per_trial=15, faults=10_000)
    from tools.inject.forkserver import boot_golden_point
    first = run_trial(boot_golden_point(image, settings), settings, golden_run, 7)
    second = run_trial(boot_golden_point(image, settings), settings, golden_run, 7)
    assert first == second and len(first["faults"]) == 15


def test_a_restarted_driver_starts_pristine_even_when_its_predecessor_loaded_a_segment(live):
    """A fault that loads DS and crashes: RS's restart must not inherit that DS."""
    from unicorn import x86_const
    proc = live.target_proc()
    address = live.symbols.address_of("devio_in")
    insn = live.text.instructions[live.text.index_at(address)]
    code = bytes.fromhex("b803000000" "8ed8") + UD2     # mov eax, 3; mov ds, eax; ud2
    fault = Fault("nop", address, bytes(insn.bytes), code + b"\x90" * (insn.size - 9), "", "")
    injector = Injector(live)
    injector.apply(proc, fault, "static")
    run_for(live, 200_000)
    assert target_fault(injector, live)[4] == cpu_faults.INVALID_OPCODE
    run_for(live, 100_000)                       # RS restarts it
    assert injector.starts == 1
    printed = len(live.printer.getvalue())
    live.shell.type(b"lp\n")                     # a fresh print job, once lp's failed
    run_for(live, 600_000)
    fresh = live.target_proc()
    assert fresh.cpu.uc.reg_read(x86_const.UC_X86_REG_DS) == 0
    assert len(injector.ends) == 1
    assert live.printer.getvalue()[printed:].endswith(b"-- end of page --\n\x0c")
