"""SYS_SDEVIO: string port I/O between one port and a grant (disk sectors).

Message in: M_TYPE = SYS_SDEVIO, SDIO_REQUEST (M_W0) = DIO_INPUT or DIO_OUTPUT or-ed with
DIO_BYTE / DIO_WORD / DIO_LONG, SDIO_PORT (M_W1) = the port, SDIO_GRANTER (M_W2) = the
granter's endpoint or SELF (the caller's own table), SDIO_GRANT (M_W3) = the grant id,
SDIO_OFFSET (M_W4) = the offset in the granted area, SDIO_COUNT (M_W5) = bytes, a
multiple of the access size, 1..SDEVIO_MAX.  Input reads COUNT / size values from the
port into the granted memory (needs CPF_WRITE); output writes them from it (needs
CPF_READ).  Reply: M_TYPE = OK.  Errors, checked in this order, each before any I/O:
EINVAL for a bad request or count, EPERM for a port outside the caller's `io` or
misaligned (as DEVIO), EPERM for a bad grant (`kernel.system.grants`).
"""

from kernel.abi import (CPF_READ, CPF_WRITE, DIO_INPUT, EINVAL, EPERM, OK, SDEVIO_MAX,
                        SDIO_COUNT, SDIO_GRANT, SDIO_GRANTER, SDIO_OFFSET, SDIO_PORT,
                        SDIO_REQUEST)
from kernel.system.common import dio_request, port_allowed
from kernel.system.grants import granted_area


def do_sdevio(kernel, caller, msg):
    request = dio_request(msg.get_unsigned(SDIO_REQUEST))
    count = msg.get(SDIO_COUNT)
    if request is None or not 1 <= count <= SDEVIO_MAX or count % request[1]:
        kernel.system.reason = "bad SDEVIO request or count"
        return EINVAL
    direction, size = request
    port = msg.get(SDIO_PORT)
    if not port_allowed(caller, port, size):
        kernel.system.reason = "port not allowed"
        return EPERM
    access = CPF_WRITE if direction == DIO_INPUT else CPF_READ
    area = granted_area(kernel, caller, msg.get(SDIO_GRANTER), msg.get(SDIO_GRANT),
                        msg.get(SDIO_OFFSET), count, access)
    if area is None:
        return EPERM
    cpu, address = area
    offset = address - cpu.window_base
    bus = kernel.bus
    if direction == DIO_INPUT:
        cpu.mem[offset:offset + count] = bus.read_string(port, size, count, kernel.now())
    else:
        bus.write_string(port, size, bytes(cpu.mem[offset:offset + count]), kernel.now())
    kernel.event_scheduled(bus.next_due)
    return OK
