"""SYS_VDEVIO: up to VDEVIO_MAX port reads or writes in one call.

Message in: M_TYPE = SYS_VDEVIO, VDIO_REQUEST (M_W0) = direction | size as for DEVIO,
VDIO_VEC_ADDR (M_W1) = address of a vector of (port, value) int32 pairs in the caller's
data, bss or stack, VDIO_VEC_COUNT (M_W2) = pairs, 1..VDEVIO_MAX.  Every port is checked
before any I/O is done (all or nothing); inputs write the values read back into the
vector.  Reply: M_TYPE = OK.  Errors: EINVAL (request or count), EFAULT (vector not in the
caller's memory), EPERM (a port outside `io` or misaligned).
"""

from kernel.abi import (DIO_INPUT, EFAULT, EINVAL, EPERM, OK, VDEVIO_MAX, VDIO_REQUEST,
                        VDIO_VEC_ADDR, VDIO_VEC_COUNT)
from struct import unpack_from

from kernel.message import write_int32
from kernel.system.common import dio_request, port_allowed


def do_vdevio(kernel, caller, msg):
    request = dio_request(msg.get_unsigned(VDIO_REQUEST))
    count = msg.get(VDIO_VEC_COUNT)
    if request is None or not 1 <= count <= VDEVIO_MAX:
        kernel.system.reason = "bad VDEVIO request or count"
        return EINVAL
    direction, size = request
    vector = msg.get_unsigned(VDIO_VEC_ADDR)
    cpu = caller.cpu
    if not cpu.in_rw(vector, 8 * count):
        kernel.system.reason = "vector outside the caller"
        return EFAULT
    words = unpack_from(f"<{2 * count}i", cpu.mem, vector - cpu.window_base)
    ports = words[0::2]                 # (port, value) pairs; devices never write memory
    for port in ports:
        if not port_allowed(caller, port, size):
            kernel.system.reason = "port not allowed"
            return EPERM
    bus, now = kernel.bus, kernel.now()
    if direction == DIO_INPUT:
        for i, port in enumerate(ports):
            write_int32(cpu, vector + 8 * i + 4, bus.read(port, size, now))
    else:
        mask = (1 << (8 * size)) - 1
        for port, value in zip(ports, words[1::2]):
            bus.write(port, size, value & mask, now)
    kernel.event_scheduled(bus.next_due)
    return OK
