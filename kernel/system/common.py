"""What the kernel-call handlers share: argument checks and copies between processes.

Contract: `port_allowed(caller, port, size)` is true when every byte of the access lies
in one of the caller's `io` ranges and the port is aligned to the size; `SIZES` maps the
DEVIO size flag to a byte count; `dio_request(request)` is (direction, size) of a valid
DEVIO-family request word, or None.  `copy_bytes` copies between two address spaces
(or within one) ranges the handler has already checked.  Checks deny by default.
"""

from kernel.abi import (DIO_BYTE, DIO_DIR_MASK, DIO_INPUT, DIO_LONG, DIO_OUTPUT,
                        DIO_SIZE_MASK, DIO_WORD)

SIZES = {DIO_BYTE: 1, DIO_WORD: 2, DIO_LONG: 4}


def port_allowed(caller, port, size):
    if port < 0 or port + size > 0x10000 or port % size:
        return False
    last = port + size - 1
    for lo, hi in caller.io_ranges:
        if lo <= port and last <= hi:
            return True
    return False


def dio_request(request):
    """(direction, size) of a request word `DIO_INPUT / DIO_OUTPUT | DIO_BYTE / DIO_WORD /
    DIO_LONG` (unsigned) with no other bit set; None for anything else."""
    direction = request & DIO_DIR_MASK
    size = SIZES.get(request & DIO_SIZE_MASK)
    if size is None or direction not in (DIO_INPUT, DIO_OUTPUT) or \
            request & ~(DIO_DIR_MASK | DIO_SIZE_MASK):
        return None
    return direction, size


def copy_bytes(src_cpu, src, dst_cpu, dst, size):
    """Copy `size` bytes from `src` in one address space to `dst` in another (or the same:
    overlapping ranges copy as if through a buffer)."""
    s = src - src_cpu.window_base
    d = dst - dst_cpu.window_base
    data = src_cpu.mem[s:s + size]
    dst_cpu.mem[d:d + size] = bytes(data) if src_cpu is dst_cpu else data
