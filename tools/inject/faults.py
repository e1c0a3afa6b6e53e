"""The SWIFI fault types: where a fault goes in a driver's text and what bytes it writes.

Contract: `Text(code, base)` disassembles a program's text once (Capstone, with detail).
`make_fault(text, fault_type, rng)` picks a random text address and, for the typed
faults, scans forward from it (wrapping around) to the first instruction the type
applies to, as SWIFI does; it returns a `Fault` with the address, the original and new
bytes and the disassembly before and after, or None when the text has no instruction the
type applies to.  `fault_at(text, fault_type, address, rng)` does the same at a given
instruction (`text` faults: any byte).  `fault_from(text, fault_type, start, rng, where)`
scans from instruction number `start` (`Text.index_at(address)`), optionally among
given addresses only; `has_target` tells whether a type applies anywhere.  Nothing is
written here: the injector patches the bytes into the running driver (with the
translation cache flushed).

The types (SPEC section 8): `text` flips one random bit of a random text byte; `nop`
replaces an instruction with NOPs; `dst` / `src` flip a bit in the bytes that encode the
destination / source operand (ModRM, SIB, displacement, or the immediate of the source);
`ptr` flips a bit in the address computation (displacement, SIB or the ModRM r/m field)
of an instruction that accesses memory; `branch` replaces a conditional branch with NOPs;
`loop` inverts a branch condition; `interface` replaces with NOPs a load of a function
argument from the stack (`mov reg, [ebp+n]`, `mov reg, [esp+n]`); `init` replaces with
NOPs the initialisation of a stack variable (a store to `[ebp-n]` or `[esp+n]`);
`random` is one of these, chosen uniformly.  NOPs and the inverted branch are encoded by
Keystone.
"""

import bisect
from dataclasses import dataclass

import capstone
import keystone

TYPES = ("text", "nop", "dst", "src", "ptr", "branch", "loop", "interface", "init")
ALL_TYPES = TYPES + ("random",)

_OP_REG, _OP_IMM, _OP_MEM = 1, 2, 3
_READ, _WRITE = 1, 2
_INVERSE = {"je": "jne", "jne": "je", "jb": "jae", "jae": "jb", "jbe": "ja", "ja": "jbe",
            "jl": "jge", "jge": "jl", "jle": "jg", "jg": "jle", "js": "jns", "jns": "js",
            "jo": "jno", "jno": "jo", "jp": "jnp", "jnp": "jp"}
_STACK_BASES = ("ebp", "esp")


@dataclass
class Fault:
    type: str
    address: int
    original: bytes
    new: bytes
    before: str
    after: str

    def describe(self):
        return (f"{self.type} at 0x{self.address:08x}: {self.original.hex()} -> "
                f"{self.new.hex()} ({self.before} -> {self.after})")


class Text:
    """A program's text, disassembled once."""

    def __init__(self, code, base):
        self.code = bytes(code)
        self.base = base
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self._cs.detail = True
        self._ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)
        self.instructions = list(self._cs.disasm(self.code, base))
        self._starts = [insn.address for insn in self.instructions]

    def index_at(self, address):
        """The number of the first instruction at or after `address` (0 past the end)."""
        at = bisect.bisect_left(self._starts, address)
        return at if at < len(self._starts) else 0

    def bytes_at(self, address, size):
        offset = address - self.base
        return self.code[offset:offset + size]

    def disassemble(self, code, address):
        for insn in self._cs.disasm(code, address, 1):
            return f"{insn.mnemonic} {insn.op_str}".strip()
        return "(bad)"

    def encode(self, assembly, address):
        encoding, _ = self._ks.asm(assembly, address)
        return bytes(encoding or b"")


def make_fault(text, fault_type, rng):
    """A random fault of `fault_type` in `text`, or None when none applies."""
    if not text.instructions:
        return None
    if fault_type == "random":
        fault_type = rng.choice(TYPES)
    if fault_type == "text":
        return _text_fault(text, text.base + rng.randrange(len(text.code)), rng)
    return fault_from(text, fault_type, rng.randrange(len(text.instructions)), rng)


def fault_from(text, fault_type, start, rng, where=None):
    """The first fault of `fault_type` at or after instruction number `start` of `text`
    (wrapping around), among the instructions whose addresses are in `where` when it is
    given; None when none applies.  A `text` fault flips a bit of a random byte of that
    first instruction.  (The fault injector's triggers start from an executed instruction
    or from the program counter; the mutations consume `rng` only where they apply.)"""
    instructions = text.instructions
    count = len(instructions)
    for step in range(count):
        insn = instructions[(start + step) % count]
        if where is not None and insn.address not in where:
            continue
        if fault_type == "text":
            return _text_fault(text, insn.address + rng.randrange(insn.size), rng)
        fault = _MUTATIONS[fault_type](text, insn, rng)
        if fault is not None:
            return fault
    return None


def has_target(text, fault_type, where=None):
    """True when some instruction of `text` (in `where`, if given) takes `fault_type`."""
    if fault_type == "text":
        return bool(text.instructions)
    mutation = _MUTATIONS[fault_type]
    return any(mutation(text, insn, _NO_RANDOM) is not None for insn in text.instructions
               if where is None or insn.address in where)


class _FirstChoice:
    """A stand-in for a random generator when only whether a mutation applies matters."""

    @staticmethod
    def randrange(n):
        return 0

    @staticmethod
    def choice(items):
        return items[0]


_NO_RANDOM = _FirstChoice()


def fault_at(text, fault_type, address, rng):
    """A fault of `fault_type` at the instruction at `address` (None if it does not
    apply there); `text` faults flip a bit of the byte at `address`."""
    if fault_type == "text":
        return _text_fault(text, address, rng)
    for insn in text.instructions:
        if insn.address == address:
            return _MUTATIONS[fault_type](text, insn, rng)
    return None


def _record(text, fault_type, insn, new):
    original = bytes(insn.bytes)
    return Fault(fault_type, insn.address, original, new,
                 f"{insn.mnemonic} {insn.op_str}".strip(),
                 text.disassemble(new + text.bytes_at(insn.address + len(new), 15),
                                  insn.address))


def _text_fault(text, address, rng):
    original = text.bytes_at(address, 1)
    new = bytes((original[0] ^ (1 << rng.randrange(8)),))
    return Fault("text", address, original, new, text.disassemble(
        text.bytes_at(address, 15), address), text.disassemble(
        new + text.bytes_at(address + 1, 14), address))


def _nops(text, insn):
    return text.encode("nop\n" * insn.size, insn.address)


def _flip_in(insn, offsets, rng):
    """Flip one random bit in one of the byte offsets of `insn`."""
    data = bytearray(insn.bytes)
    offset = rng.choice(offsets)
    data[offset] ^= 1 << rng.randrange(8)
    return bytes(data)


def _addressing_offsets(insn):
    offsets = []
    if insn.modrm_offset:
        offsets.append(insn.modrm_offset)
        if _has_sib(insn):
            offsets.append(insn.modrm_offset + 1)
    if insn.disp_size:
        offsets += range(insn.disp_offset, insn.disp_offset + insn.disp_size)
    return offsets


def _has_sib(insn):
    modrm = insn.bytes[insn.modrm_offset]
    return (modrm >> 6) != 3 and (modrm & 7) == 4


def _operand(insn, access):
    for op in insn.operands:
        if op.access & access:
            return op
    return None


def _nop(text, insn, rng):
    return _record(text, "nop", insn, _nops(text, insn))


def _dst(text, insn, rng):
    op = _operand(insn, _WRITE)
    if op is None or op.type not in (_OP_REG, _OP_MEM):
        return None
    offsets = _addressing_offsets(insn) if op.type == _OP_MEM else \
        ([insn.modrm_offset] if insn.modrm_offset else [])
    return _record(text, "dst", insn, _flip_in(insn, offsets, rng)) if offsets else None


def _src(text, insn, rng):
    imm = next((op for op in insn.operands if op.type == _OP_IMM), None)
    source = _operand(insn, _READ)
    if imm is not None and insn.imm_size:
        offsets = list(range(insn.imm_offset, insn.imm_offset + insn.imm_size))
    elif source is not None and source.type == _OP_MEM:
        offsets = _addressing_offsets(insn)
    elif source is not None:
        offsets = [insn.modrm_offset] if insn.modrm_offset else []
    else:
        return None
    return _record(text, "src", insn, _flip_in(insn, offsets, rng)) if offsets else None


def _ptr(text, insn, rng):
    if not any(op.type == _OP_MEM for op in insn.operands) or insn.mnemonic == "lea":
        return None
    offsets = _addressing_offsets(insn)
    return _record(text, "ptr", insn, _flip_in(insn, offsets, rng)) if offsets else None


def _is_conditional_branch(insn):
    return insn.mnemonic in _INVERSE or insn.mnemonic in ("jecxz", "loop", "loope",
                                                          "loopne")


def _branch(text, insn, rng):
    if not _is_conditional_branch(insn):
        return None
    return _record(text, "branch", insn, _nops(text, insn))


def _loop(text, insn, rng):
    inverse = _INVERSE.get(insn.mnemonic)
    if inverse is None:
        return None
    new = text.encode(f"{inverse} {insn.op_str}", insn.address)
    if len(new) != insn.size:                 # keep the length: flip the condition bit
        data = bytearray(insn.bytes)
        data[1 if data[0] == 0x0F else 0] ^= 1
        new = bytes(data)
    return _record(text, "loop", insn, new)


def _stack_memory(op):
    return op.type == _OP_MEM and op.mem.base != 0 and op.mem.index == 0


def _interface(text, insn, rng):
    if insn.mnemonic != "mov" or len(insn.operands) != 2:
        return None
    dst, src = insn.operands
    if dst.type != _OP_REG or not _stack_memory(src):
        return None
    base = insn.reg_name(src.mem.base)
    if base not in _STACK_BASES or src.mem.disp < (4 if base == "ebp" else 0):
        return None
    return _record(text, "interface", insn, _nops(text, insn))


def _init(text, insn, rng):
    if insn.mnemonic != "mov" or len(insn.operands) != 2:
        return None
    dst = insn.operands[0]
    if not _stack_memory(dst):
        return None
    base = insn.reg_name(dst.mem.base)
    if base == "ebp" and dst.mem.disp < 0 or base == "esp" and dst.mem.disp >= 0:
        return _record(text, "init", insn, _nops(text, insn))
    return None


_MUTATIONS = {"nop": _nop, "dst": _dst, "src": _src, "ptr": _ptr, "branch": _branch,
              "loop": _loop, "interface": _interface, "init": _init}
