"""The CPU of one process: exact instruction counting, the window layout, code patching
with a flushed translation cache, reset for restarts."""

import keystone
import pytest

from emu import faults
from emu.cpu import Cpu
from kernel import abi

W = abi.window_base(3)
DATA = W + abi.DATA_OFFSET
_ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)


def make_cpu(code, data=b"", bss=0, trap=None):
    encoding, _ = _ks.asm(code, W)
    cpu = Cpu(W, trap or (lambda eax, ebx, ecx: None))
    cpu.load(W, bytes(encoding), DATA, data, bss, W)
    return cpu


def test_budget_is_exact():
    cpu = make_cpu("xor ecx, ecx\nloop: inc ecx\njmp loop")
    assert cpu.run(1) == 1                       # xor
    assert cpu.run(7) == 7                       # inc, jmp, inc, jmp, inc, jmp, inc
    assert cpu.registers()["ecx"] == 4
    total = sum(cpu.run(n) for n in (3, 1000, 17, 1))
    assert total == 1021
    assert cpu.fault is None


def test_counts_are_the_same_whatever_the_slicing():
    def run_sliced(sizes):
        cpu = make_cpu("xor ecx, ecx\nloop: inc ecx\nadd edx, ecx\njmp loop")
        for size in sizes:
            cpu.run(size)
        return cpu.registers()
    assert run_sliced([3000]) == run_sliced([1] * 3000) == run_sliced([999, 1, 2000])


def test_only_the_window_regions_are_mapped():
    cpu = make_cpu("nop", data=b"abcd", bss=100)
    lo, hi, writable = cpu.regions[0]
    assert (lo, writable) == (W, False)
    assert cpu.region_of(DATA, 104) == (DATA, DATA + 0x1000, True)
    assert cpu.region_of(W + abi.WINDOW_SIZE - 4, 4)[2] is True
    assert cpu.region_of(W + 0x70000, 1) is None           # the gap
    assert cpu.region_of(abi.window_base(2), 1) is None     # another window
    assert cpu.in_rw(DATA, 64) and not cpu.in_rw(W, 64)
    assert not cpu.in_rw(W + abi.WINDOW_SIZE - 32, 64)
    assert cpu.read(DATA, 4) == b"abcd"
    assert cpu.registers()["esp"] == W + abi.WINDOW_SIZE


def test_patched_code_is_what_runs():
    cpu = make_cpu("loop: inc ecx\njmp loop")
    cpu.run(100)                                 # the loop is translated and cached
    assert cpu.registers()["ecx"] == 50
    dec, _ = _ks.asm("dec ecx", W)
    assert cpu.patch(W, bytes(dec))
    cpu.run(100)
    assert cpu.registers()["ecx"] == 0           # the new instruction ran, not the cache
    assert cpu.read(W, 1) == bytes(dec)


def test_patch_into_a_faulting_instruction():
    cpu = make_cpu("loop: inc ecx\njmp loop")
    cpu.run(10)
    cpu.patch(W, b"\x0f\x0b")                    # ud2
    cpu.run(10)
    assert cpu.fault.cause == faults.INVALID_OPCODE and cpu.fault.eip == W


def test_guest_cannot_write_its_text():
    cpu = make_cpu(f"mov dword ptr [{W}], 0x90909090")
    cpu.run(10)
    assert cpu.fault.cause == faults.WRITE_PROTECTED and cpu.fault.addr == W


def test_reset_restores_the_pristine_image():
    cpu = make_cpu(f"mov dword ptr [{DATA}], 0x12345678\nmov ecx, 9\nloop: jmp loop",
                   data=b"\x01\x02\x03\x04", bss=64)
    cpu.run(50)
    assert cpu.read(DATA, 4) == (0x12345678).to_bytes(4, "little")
    cpu.patch(W, b"\x90")
    cpu.reset()
    assert cpu.read(DATA, 4) == b"\x01\x02\x03\x04"
    assert cpu.registers()["ecx"] == 0 and cpu.registers()["eip"] == W
    cpu.run(2)
    assert cpu.registers()["ecx"] == 9


def test_reset_after_patches_runs_the_pristine_code_again():
    """A reset flushes the translations of the patched ranges only: the code patched
    (and run, so translated) in two places runs as it was after the reset, the code never
    patched runs from its earlier translation."""
    cpu = make_cpu("xor ecx, ecx\nloop: inc ecx\ninc ecx\nadd edx, 3\njmp loop")
    cpu.run(401)
    pristine = cpu.registers()
    dec, _ = _ks.asm("dec ecx", W)
    cpu.patch(W + 2, bytes(dec))                 # the first `inc ecx` of the loop
    cpu.patch(W + 3, bytes(dec))                 # and the second
    cpu.run(400)
    assert cpu.registers()["ecx"] == pristine["ecx"] - 200     # 100 turns of dec, dec
    for _ in range(2):
        cpu.reset()
        cpu.run(401)
        assert cpu.registers() == pristine


def test_trap_handler_sees_registers_and_sets_the_result():
    seen = []

    def trap(eax, ebx, ecx):
        seen.append((eax, ebx, ecx))
        cpu.stop()
        return -105
    cpu = make_cpu("mov eax, 7\nmov ebx, 8\nmov ecx, 9\nint 0x21\nmov esi, eax", trap=trap)
    ran = cpu.run(100)
    assert ran == 4 and cpu.stopped and seen == [(7, 8, 9)]
    cpu.run(1)
    assert cpu.registers()["esi"] == (-105) & 0xFFFFFFFF


@pytest.mark.parametrize("code, cause", [
    ("hlt", faults.HALT),
    ("int 0x80", faults.BAD_INTERRUPT),
    ("int3", faults.BREAKPOINT),
    ("in al, 0x60", faults.PORT_IO),
    ("mov dx, 0xab\nout dx, al", faults.PORT_IO),
    ("ud2", faults.INVALID_OPCODE),
])
def test_sandbox_exits_are_faults(code, cause):
    cpu = make_cpu(code + "\nnop\nnop")
    cpu.run(100)
    assert cpu.fault is not None and cpu.fault.cause == cause
