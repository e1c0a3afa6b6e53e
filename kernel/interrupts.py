"""Interrupt lines: routing to driver processes, masking, delivery as notifications.

Contract: a line is routed to one process (IRQCTL IRQ_ENABLE).  When a device raises a
routed, unmasked line, its handler gets a notification from HARDWARE whose NOTIFY_IRQS
names the pending lines, and the line is masked until the handler acknowledges
(IRQ_ACK).  A line raised while masked is remembered and delivered at the unmask.  A
line that nobody handles is dropped.  A process's lines are released when it ends.
"""

from kernel.abi import HARDWARE, NR_IRQS
from kernel.proc import notify_bit_of_task

HARDWARE_BIT = notify_bit_of_task(HARDWARE)


class Interrupts:
    """The interrupt controller of the kernel."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.handlers = [None] * NR_IRQS
        self.masked = (1 << NR_IRQS) - 1
        self.raised = 0

    def handler(self, line):
        return self.handlers[line]

    def route(self, line, proc):
        self.handlers[line] = proc
        self.unmask(line)

    def mask(self, line):
        self.masked |= 1 << line

    def unmask(self, line):
        bit = 1 << line
        self.masked &= ~bit
        if self.raised & bit:
            self.raised &= ~bit
            self.deliver(line)

    def raise_lines(self, lines):
        while lines:
            bit = lines & -lines
            lines &= ~bit
            line = bit.bit_length() - 1
            if self.handlers[line] is None:
                continue
            if self.masked & bit:
                self.raised |= bit
            else:
                self.deliver(line)

    def deliver(self, line):
        proc = self.handlers[line]
        proc.irq_pending |= 1 << line
        self.masked |= 1 << line
        self.kernel.ipc.post_notification(HARDWARE, HARDWARE_BIT, proc)

    def release(self, proc):
        for line, handler in enumerate(self.handlers):
            if handler is proc:
                self.handlers[line] = None
                self.masked |= 1 << line
                self.raised &= ~(1 << line)
