"""What the kernel-call handlers share: argument checks.

Contract: `port_allowed(caller, port, size)` is true when every byte of the access lies
in one of the caller's `io` ranges and the port is aligned to the size; `SIZES` maps the
DEVIO size flag to a byte count.  Checks deny by default.
"""

from kernel.abi import DIO_BYTE, DIO_LONG, DIO_WORD

SIZES = {DIO_BYTE: 1, DIO_WORD: 2, DIO_LONG: 4}


def port_allowed(caller, port, size):
    if port < 0 or port + size > 0x10000 or port % size:
        return False
    last = port + size - 1
    for lo, hi in caller.io_ranges:
        if lo <= port and last <= hi:
            return True
    return False
