"""The I/O port bus: routes port reads and writes to devices, collects their interrupts.

Contract: `PortBus(devices)` maps every port a device lists in `ports` to it; other ports
read as all ones and ignore writes, as on a PC.  Word and long accesses are split into
byte accesses of consecutive ports, little-endian (an ISA bus does the same for 8-bit
devices), except on a port a device lists in `wide_ports` (the ATA data port), which
takes the whole access: `read_wide(port, size, now)` / `write_wide(port, size, value,
now)`.  `read_string(port, size, count, now)` / `write_string(port, size, data, now)`
move `count` bytes as count / size accesses of one port (string I/O), at once on a
wide port (`read_block` / `write_block` of its device).
`next_event()` is the earliest virtual time any device will raise an interrupt;
`advance(now)` returns the IRQ lines raised by then as a bit mask.  `next_due` caches
`next_event()`; it changes when a device is written, advanced or read on one of its
`timed_reads` ports (a read that can start a device's busy time).  A device's
`advance(now)` does nothing before its `next_event()`, so the bus advances the devices
only once `next_due` is reached (advance runs after every slice: this keeps it free),
except a device that says it is `polled` (the console: its input arrives from outside
the bus), which is advanced every time and announces no events (`next_event()` is
None: its interrupts come from `advance`).  Guests never reach this bus directly: only the SYSTEM task's DEVIO
family does, after its checks.
"""


class PortBus:
    """Port decoding and interrupt collection for a set of devices."""

    def __init__(self, devices):
        self.devices = tuple(devices)
        self.by_port = {}
        self.wide = {}
        self.timed_reads = set()
        self.next_due = None
        self.polled = tuple(d for d in self.devices if getattr(d, "polled", False))
        self.timed = tuple(d for d in self.devices if d not in self.polled)
        for device in self.devices:
            for port in device.ports:
                self.by_port[port] = device
            for port in getattr(device, "wide_ports", ()):
                self.wide[port] = device
            self.timed_reads.update(getattr(device, "timed_reads", ()))
        self.next_due = self.next_event()

    def read(self, port, size, now):
        if size == 1:                           # the common case: one byte, one device
            device = self.by_port.get(port)
            value = device.read(port, now) & 0xFF if device is not None else 0xFF
            if port in self.timed_reads:
                self.next_due = self.next_event()
            return value
        device = self.wide.get(port)
        if device is not None:
            value = device.read_wide(port, size, now)
        else:
            value = 0
            for i in range(size):
                device = self.by_port.get(port + i)
                byte = device.read(port + i, now) if device is not None else 0xFF
                value |= (byte & 0xFF) << (8 * i)
        if port in self.timed_reads:
            self.next_due = self.next_event()
        return value

    def write(self, port, size, value, now):
        if size == 1:                           # the common case: one byte, one device
            device = self.by_port.get(port)
            if device is not None:
                device.write(port, value & 0xFF, now)
            self.next_due = self.next_event()
            return
        device = self.wide.get(port)
        if device is not None:
            device.write_wide(port, size, value, now)
        else:
            for i in range(size):
                device = self.by_port.get(port + i)
                if device is not None:
                    device.write(port + i, (value >> (8 * i)) & 0xFF, now)
        self.next_due = self.next_event()

    def read_string(self, port, size, count, now):
        device = self.wide.get(port)
        if device is not None:
            data = device.read_block(port, size, count, now)
            self.next_due = self.next_event()
            return data
        return b"".join(self.read(port, size, now).to_bytes(size, "little")
                        for _ in range(count // size))

    def write_string(self, port, size, data, now):
        device = self.wide.get(port)
        if device is not None:
            device.write_block(port, size, data, now)
            self.next_due = self.next_event()
            return
        for i in range(0, len(data), size):
            self.write(port, size, int.from_bytes(data[i:i + size], "little"), now)

    def next_event(self):
        due = None
        for device in self.timed:
            when = device.next_event()
            if when is not None and (due is None or when < due):
                due = when
        return due

    def advance(self, now):
        raised = 0
        due = self.next_due
        if due is None or now < due:            # nothing timed is due: the polled only
            for device in self.polled:
                for line in device.advance(now):
                    raised |= 1 << line
            return raised
        for device in self.devices:
            for line in device.advance(now):
                raised |= 1 << line
        self.next_due = self.next_event()
        return raised
