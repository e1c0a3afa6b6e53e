"""Messages in guest memory: reading, writing and copying the 64 bytes of SPEC section 3.

Contract: every function takes a `Cpu` (its `mem` is the window, offset = address -
window_base) and an address the caller has already checked (`Cpu.in_rw` or
`Cpu.region_of`).  Nothing here checks bounds again: the checks live in the IPC module
and at the SYSTEM gate, once each.  `Message` is a reusable 64-byte scratch buffer with
word access, for kernel calls and notifications, so the trap path allocates nothing.
"""

import struct

from kernel.abi import M_SOURCE, M_TYPE, MSG_SIZE

_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
unpack_int32 = _INT32.unpack_from
pack_int32 = _INT32.pack_into
unpack_uint32 = _UINT32.unpack_from
pack_uint32 = _UINT32.pack_into


def read_int32(cpu, address):
    return unpack_int32(cpu.mem, address - cpu.window_base)[0]


def write_int32(cpu, address, value):
    pack_int32(cpu.mem, address - cpu.window_base, _signed(value))


def _signed(value):
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def copy_message(src_cpu, src_address, dst_cpu, dst_address, source_endpoint):
    """Copy one message between address spaces and stamp M_SOURCE (never forgeable)."""
    s = src_address - src_cpu.window_base
    d = dst_address - dst_cpu.window_base
    dst_cpu.mem[d:d + MSG_SIZE] = src_cpu.mem[s:s + MSG_SIZE]
    pack_int32(dst_cpu.mem, d + M_SOURCE, source_endpoint)


def message_type(cpu, address):
    return unpack_int32(cpu.mem, address - cpu.window_base + M_TYPE)[0]


class Message:
    """A 64-byte message buffer with word access by byte offset (M_TYPE, M_W0...)."""

    __slots__ = ("data",)

    def __init__(self):
        self.data = bytearray(MSG_SIZE)

    def load(self, cpu, address):
        offset = address - cpu.window_base
        self.data[:] = cpu.mem[offset:offset + MSG_SIZE]
        return self

    def store(self, cpu, address):
        offset = address - cpu.window_base
        cpu.mem[offset:offset + MSG_SIZE] = self.data

    def clear(self):
        self.data[:] = bytes(MSG_SIZE)
        return self

    def get(self, offset):
        return unpack_int32(self.data, offset)[0]

    def get_unsigned(self, offset):
        return unpack_uint32(self.data, offset)[0]

    def set(self, offset, value):
        pack_int32(self.data, offset, _signed(value))

    @property
    def type(self):
        return unpack_int32(self.data, M_TYPE)[0]
