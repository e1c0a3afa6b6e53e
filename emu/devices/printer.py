"""The parallel printer at ports 0xAB (status), 0xAC (data), 0xAD (control).

Contract (SPEC section 2): status reads `STATUS_READY` (0xCD) when ready and `STATUS_BUSY`
(0x4D) while a character prints; writing the control port with bit 0 (STROBE) while ready
prints the latched data byte, which takes `PRINT_TIME` virtual microseconds (one
microsecond is one instruction: HZ * TICK_INSNS instructions make a virtual second); a
strobe while busy is ignored and the byte is lost, as on the real device.  Control bit 4
enables IRQ 7 when a character is done.  Printed bytes go to `output` (a binary stream).
Time is passed in by the caller (virtual time in instructions), so the device is
deterministic.
"""

from kernel.abi import HZ, TICK_INSNS

STATUS_PORT = 0xAB
DATA_PORT = 0xAC
CONTROL_PORT = 0xAD
PORTS = (STATUS_PORT, DATA_PORT, CONTROL_PORT)
STATUS_READY = 0xCD
STATUS_BUSY = 0x4D
CONTROL_STROBE = 0x01
CONTROL_IRQ_ENABLE = 0x10
IRQ_LINE = 7
INSNS_PER_MICROSECOND = HZ * TICK_INSNS // 1_000_000
PRINT_TIME = 20 * INSNS_PER_MICROSECOND


class Printer:
    """The printer's registers, its busy time and its output."""

    irq_line = IRQ_LINE
    ports = PORTS

    def __init__(self, output):
        self.output = output
        self.data = 0
        self.control = 0
        self.busy_until = -1         # virtual time the current character is done
        self.irq_due = None          # time to raise IRQ 7, when enabled
        self.printed = 0

    def read(self, port, now):
        if port == STATUS_PORT:
            return STATUS_BUSY if now < self.busy_until else STATUS_READY
        if port == DATA_PORT:
            return self.data
        return self.control

    def write(self, port, value, now):
        value &= 0xFF
        if port == DATA_PORT:
            self.data = value
        elif port == CONTROL_PORT:
            strobe = value & CONTROL_STROBE and not self.control & CONTROL_STROBE
            self.control = value
            if strobe and now >= self.busy_until:
                self.output.write(bytes((self.data,)))
                self.printed += 1
                self.busy_until = now + PRINT_TIME
                if value & CONTROL_IRQ_ENABLE:
                    self.irq_due = self.busy_until

    def next_event(self):
        """Virtual time of the next interrupt this device will raise, or None."""
        return self.irq_due

    def advance(self, now):
        """Return the IRQ lines raised by time `now`."""
        if self.irq_due is not None and now >= self.irq_due:
            self.irq_due = None
            return (IRQ_LINE,)
        return ()
