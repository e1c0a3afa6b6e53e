"""SYS_IRQCTL: enable, disable or acknowledge one of the caller's IRQ lines.

Message in: M_TYPE = SYS_IRQCTL, IRQ_REQUEST (M_W0) = IRQ_ENABLE (route the line to the
caller and unmask it), IRQ_DISABLE (mask it) or IRQ_ACK (unmask it after handling: the
kernel masks a line when it notifies its handler), IRQ_LINE (M_W1) = the line.
Interrupts arrive as notifications from HARDWARE with the pending lines in NOTIFY_IRQS.
Reply: M_TYPE = OK.  Errors: EINVAL for a bad request or a line outside 0..NR_IRQS-1,
EPERM for a line not in the caller's `irq`, or one routed to another process.
"""

from kernel.abi import (EINVAL, EPERM, IRQ_ACK, IRQ_DISABLE, IRQ_ENABLE, IRQ_LINE,
                        IRQ_REQUEST, NR_IRQS, OK)


def do_irqctl(kernel, caller, msg):
    request = msg.get(IRQ_REQUEST)
    line = msg.get(IRQ_LINE)
    if request not in (IRQ_ENABLE, IRQ_DISABLE, IRQ_ACK) or not 0 <= line < NR_IRQS:
        kernel.system.reason = "bad IRQCTL request or line"
        return EINVAL
    if not caller.irq_mask >> line & 1:
        kernel.system.reason = "IRQ line not allowed"
        return EPERM
    irqs = kernel.interrupts
    handler = irqs.handler(line)
    if request == IRQ_ENABLE:
        if handler is not None and handler is not caller:
            kernel.system.reason = "IRQ line routed to another process"
            return EPERM
        irqs.route(line, caller)
    elif handler is not caller:
        kernel.system.reason = "IRQ line not routed to the caller"
        return EPERM
    elif request == IRQ_DISABLE:
        irqs.mask(line)
    else:
        irqs.unmask(line)
    return OK
