"""32-bit words as the fuzz writes and compares them.

Contract: `MASK` keeps the low 32 bits (what a register or a memory word holds);
`signed(value)` is that word read as a signed int32 (how the kernel reads M_TYPE and
endpoints).
"""

MASK = 0xFFFFFFFF


def signed(value):
    value &= MASK
    return value - 0x100000000 if value & 0x80000000 else value

