"""Registers in gdb's default i386 layout (SPEC section 9).

Contract: `read_all(cpu)` is the `g` packet: eax ecx edx ebx esp ebp esi edi eip eflags cs
ss ds es fs gs, 4 bytes each, little-endian hex; `write_all(cpu, hex)` takes a `G`.
`read_one(cpu, n)` / `write_one(cpu, n, hex)` serve `p` / `P` for every register of gdb's
i386 (GNU/Linux) description: the 16 above, then st0-st7 (10 bytes), fctrl fstat ftag
fiseg fioff foseg fooff fop (4), xmm0-xmm7 (16), mxcsr (4), orig_eax (4, -1: not in a
system call).  The x87 and SSE state is Unicorn's where it keeps it, else zero; writes
to it are accepted and kept where Unicorn can; the segment registers are the flat
machine's and cannot change.  None for a register gdb does not have.
"""

from unicorn import x86_const as x86

from emu.cpu import GENERAL_REGISTERS

GENERAL = [name for name, _ in GENERAL_REGISTERS]
N_GENERAL = len(GENERAL)                 # 16
SEGMENTS = GENERAL.index("cs")           # cs ss ds es fs gs: fixed, flat
ST0, FCTRL, XMM0, MXCSR, ORIG_EAX = 16, 24, 32, 40, 41
_X87_CONTROL = (x86.UC_X86_REG_FPCW, x86.UC_X86_REG_FPSW, x86.UC_X86_REG_FPTAG,
                None, None, None, None, None)


def _hex(value, size):
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little").hex().encode()


def _int(text):
    return int.from_bytes(bytes.fromhex(text.decode()), "little")


def read_all(cpu):
    regs = cpu.registers()
    return b"".join(_hex(regs[name], 4) for name in GENERAL)


def write_all(cpu, text):
    """Segment registers are the machine's flat ones: their fields are ignored."""
    for i, name in enumerate(GENERAL[:SEGMENTS]):
        chunk = text[8 * i:8 * i + 8]
        if len(chunk) == 8:
            cpu.set_register(name, _int(chunk))


def read_one(cpu, number):
    if number < N_GENERAL:
        return _hex(cpu.registers()[GENERAL[number]], 4)
    uc = cpu.uc
    if ST0 <= number < FCTRL:
        value = _safe(lambda: uc.reg_read(x86.UC_X86_REG_FP0 + number - ST0), (0, 0))
        mantissa, exponent = value if isinstance(value, tuple) else (0, 0)
        return _hex(mantissa, 8) + _hex(exponent, 2)
    if FCTRL <= number < XMM0:
        reg = _X87_CONTROL[number - FCTRL]
        return _hex(_safe(lambda: uc.reg_read(reg), 0) if reg else 0, 4)
    if XMM0 <= number < MXCSR:
        return _hex(_safe(lambda: uc.reg_read(x86.UC_X86_REG_XMM0 + number - XMM0), 0), 16)
    if number == MXCSR:
        return _hex(_safe(lambda: uc.reg_read(x86.UC_X86_REG_MXCSR), 0x1F80), 4)
    if number == ORIG_EAX:
        return _hex(-1, 4)
    return None


def write_one(cpu, number, text):
    """False when gdb has no register `number`."""
    if number < N_GENERAL:
        if number >= SEGMENTS:
            return _int(text) == cpu.registers()[GENERAL[number]]
        cpu.set_register(GENERAL[number], _int(text))
        return True
    uc = cpu.uc
    value = _int(text) if text else 0
    if FCTRL <= number < XMM0 and _X87_CONTROL[number - FCTRL]:
        _safe(lambda: uc.reg_write(_X87_CONTROL[number - FCTRL], value), None)
    elif XMM0 <= number < MXCSR:
        _safe(lambda: uc.reg_write(x86.UC_X86_REG_XMM0 + number - XMM0, value), None)
    elif number == MXCSR:
        _safe(lambda: uc.reg_write(x86.UC_X86_REG_MXCSR, value), None)
    return number <= ORIG_EAX


def _safe(action, default):
    try:
        return action()
    except Exception:               # noqa: BLE001 - Unicorn without that register
        return default
