"""The I/O port bus: routes port reads and writes to devices, collects their interrupts.

Contract: `PortBus(devices)` maps every port a device lists in `ports` to it; other ports
read as all ones and ignore writes, as on a PC.  Word and long accesses are split into
byte accesses of consecutive ports, little-endian (an ISA bus does the same for 8-bit
devices).  `next_event()` is the earliest virtual time any device will raise an interrupt;
`advance(now)` returns the IRQ lines raised by then as a bit mask.  `next_due` caches
`next_event()`; it changes only when a device is written or advanced.  Guests never reach
this bus directly: only the SYSTEM task's DEVIO family does, after its checks.
"""


class PortBus:
    """Port decoding and interrupt collection for a set of devices."""

    def __init__(self, devices):
        self.devices = tuple(devices)
        self.by_port = {}
        self.next_due = None
        for device in self.devices:
            for port in device.ports:
                self.by_port[port] = device

    def read(self, port, size, now):
        value = 0
        for i in range(size):
            device = self.by_port.get(port + i)
            byte = device.read(port + i, now) if device is not None else 0xFF
            value |= (byte & 0xFF) << (8 * i)
        return value

    def write(self, port, size, value, now):
        for i in range(size):
            device = self.by_port.get(port + i)
            if device is not None:
                device.write(port + i, (value >> (8 * i)) & 0xFF, now)
        self.next_due = self.next_event()

    def next_event(self):
        times = [t for t in (d.next_event() for d in self.devices) if t is not None]
        return min(times) if times else None

    def advance(self, now):
        raised = 0
        for device in self.devices:
            for line in device.advance(now):
                raised |= 1 << line
        self.next_due = self.next_event()
        return raised
