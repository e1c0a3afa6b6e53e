"""Each SWIFI fault type on a known instruction gives the expected bytes."""

import random

import keystone
import pytest

from tools.inject.faults import ALL_TYPES, Text, fault_at, make_fault

BASE = 0x01100000
_ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)


def text_of(assembly):
    code, _ = _ks.asm(assembly, BASE)
    return Text(bytes(code), BASE)


def first_address_of(text, mnemonic):
    return next(i.address for i in text.instructions if i.mnemonic == mnemonic)


def bit_flips(a, b):
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b))


SAMPLE = """
    mov eax, dword ptr [ebp + 8]
    mov dword ptr [ebp - 4], 1
    cmp eax, 3
    jne skip
    mov ecx, dword ptr [0x1180000]
    add ecx, 0x12345
skip:
    mov dword ptr [esp], eax
    je skip
    ret
"""


def test_nop_replaces_the_instruction_with_nops():
    text = text_of(SAMPLE)
    fault = fault_at(text, "nop", BASE, random.Random(1))
    assert fault.original == bytes.fromhex("8b4508")
    assert fault.new == b"\x90\x90\x90" and fault.after == "nop"
    assert fault.before == "mov eax, dword ptr [ebp + 8]"


def test_text_flips_exactly_one_bit():
    text = text_of(SAMPLE)
    for seed in range(20):
        fault = make_fault(text, "text", random.Random(seed))
        assert len(fault.new) == 1 and bit_flips(fault.original, fault.new) == 1
        assert fault.original == text.bytes_at(fault.address, 1)


def test_branch_nops_a_conditional_branch_and_loop_inverts_it():
    text = text_of(SAMPLE)
    jne = first_address_of(text, "jne")
    assert fault_at(text, "branch", jne, random.Random(0)).new == b"\x90\x90"
    inverted = fault_at(text, "loop", jne, random.Random(0))
    assert inverted.original[0] == 0x75 and inverted.new[0] == 0x74
    assert inverted.new[1:] == inverted.original[1:]
    assert inverted.after.startswith("je ")
    assert fault_at(text, "branch", BASE, random.Random(0)) is None     # not a branch


def test_src_flips_a_bit_of_the_immediate():
    text = text_of(SAMPLE)
    add = first_address_of(text, "add")
    fault = fault_at(text, "src", add, random.Random(3))
    insn = next(i for i in text.instructions if i.address == add)
    imm = slice(insn.imm_offset, insn.imm_offset + insn.imm_size)
    assert bit_flips(fault.original, fault.new) == 1
    assert fault.original[imm] != fault.new[imm]


def test_dst_and_ptr_flip_a_bit_of_the_addressing():
    text = text_of(SAMPLE)
    store = BASE + 3                                # mov dword ptr [ebp - 4], 1
    for seed in range(10):
        fault = fault_at(text, "dst", store, random.Random(seed))
        assert bit_flips(fault.original, fault.new) == 1
        assert fault.original[3:] == fault.new[3:]   # the immediate is left alone
        ptr = fault_at(text, "ptr", store, random.Random(seed))
        assert bit_flips(ptr.original, ptr.new) == 1
    assert fault_at(text, "ptr", first_address_of(text, "cmp"), random.Random(0)) is None


def test_interface_and_init_nop_stack_argument_loads_and_local_stores():
    text = text_of(SAMPLE)
    assert fault_at(text, "interface", BASE, random.Random(0)).new == b"\x90" * 3
    assert fault_at(text, "init", BASE + 3, random.Random(0)).new == b"\x90" * 7
    assert fault_at(text, "init", BASE, random.Random(0)) is None
    assert fault_at(text, "interface", BASE + 3, random.Random(0)) is None


@pytest.mark.parametrize("fault_type", ALL_TYPES)
def test_random_scans_forward_to_a_target_and_is_deterministic(fault_type):
    text = text_of(SAMPLE)
    a = make_fault(text, fault_type, random.Random(42))
    b = make_fault(text, fault_type, random.Random(42))
    assert a == b and a is not None
    assert text.base <= a.address < text.base + len(text.code)
    assert a.original == text.bytes_at(a.address, len(a.original))
    assert a.new != a.original or a.type in ("nop", "branch", "interface", "init")


def test_no_target_gives_none():
    text = text_of("nop\nret")
    assert make_fault(text, "branch", random.Random(0)) is None
    assert make_fault(text, "interface", random.Random(0)) is None
