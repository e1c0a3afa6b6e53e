"""SYS_DEVIO: one port read or write for a driver.

Message in: M_TYPE = SYS_DEVIO, DIO_REQUEST (M_W0) = DIO_INPUT or DIO_OUTPUT or-ed with
DIO_BYTE / DIO_WORD / DIO_LONG, DIO_PORT (M_W1) = port, DIO_VALUE (M_W2) = the value to
write.  Reply: M_TYPE = OK, DIO_VALUE = the value read (input).  Errors: EINVAL for a bad
direction or size, EPERM for a port outside the caller's `io` or misaligned.
"""

from kernel.abi import DIO_INPUT, DIO_PORT, DIO_REQUEST, DIO_VALUE, EINVAL, EPERM, OK
from kernel.system.common import dio_request, port_allowed


def do_devio(kernel, caller, msg):
    request = dio_request(msg.get_unsigned(DIO_REQUEST))
    if request is None:
        kernel.system.reason = "bad DEVIO request"
        return EINVAL
    direction, size = request
    port = msg.get(DIO_PORT)
    if not port_allowed(caller, port, size):
        kernel.system.reason = "port not allowed"
        return EPERM
    bus = kernel.bus
    if direction == DIO_INPUT:
        msg.set(DIO_VALUE, bus.read(port, size, kernel.now()))
    else:
        mask = (1 << (8 * size)) - 1
        bus.write(port, size, msg.get_unsigned(DIO_VALUE) & mask, kernel.now())
    kernel.event_scheduled(bus.next_due)
    return OK
