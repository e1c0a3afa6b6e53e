"""The console UART at ports 0x3F8 (data) and 0x3FD (line status).

Contract (SPEC section 2): a write to the data port sends one character to the console
output (dropped, as by an unplugged terminal, once the output stream fails); the line status has bit 5 (ready to send) always set and bit 0 when an input
byte is waiting; a read of the data port takes that byte (0 when none).  Input comes from
a byte string given at boot (`--input FILE`, or a non-interactive stdin read to its end)
and is all available from time 0, so runs are deterministic; from an interactive terminal
the machine reads only when the whole system is idle (`wait`), which is, by nature, not.
IRQ 4 is raised while input is waiting, and once more when the input ends (line status
bit 4, "break", stays set from then on); the kernel masks the line until the driver
acknowledges.
"""

import os

DATA_PORT = 0x3F8
LINE_STATUS_PORT = 0x3FD
PORTS = tuple(range(0x3F8, 0x400))
LSR_DATA_READY = 0x01
LSR_BREAK = 0x10                # the end of the input: set once it is exhausted and closed
LSR_THR_EMPTY = 0x20
LSR_IDLE = 0x40
IRQ_LINE = 4


class Console:
    """The UART's registers, its input queue and its output."""

    irq_line = IRQ_LINE
    ports = PORTS
    polled = True            # input arrives from outside the bus: the bus advances it always

    def __init__(self, output, input_bytes=b"", interactive=None):
        self.output = output
        self.input = bytearray(input_bytes)
        self.position = 0
        self.interactive = interactive       # a file with fileno() to poll, or None
        self.break_signalled = False
        self.output_lost = False             # the output stream failed: output dropped
        self.scratch = bytearray(8)          # the other UART registers, inert

    def pending(self):
        return self.position < len(self.input)

    def ended(self):
        """True once every input byte is taken and no terminal can give more."""
        return self.interactive is None and not self.pending()

    def read(self, port, now):
        if port == DATA_PORT:
            if not self.pending():
                return 0
            byte = self.input[self.position]
            self.position += 1
            return byte
        if port == LINE_STATUS_PORT:
            if self.pending():
                return LSR_THR_EMPTY | LSR_IDLE | LSR_DATA_READY
            return LSR_THR_EMPTY | LSR_IDLE | (LSR_BREAK if self.ended() else 0)
        return self.scratch[port - DATA_PORT]

    def write(self, port, value, now):
        if port == DATA_PORT:
            if self.output is not None:
                try:
                    self.output.write(bytes((value & 0xFF,)))
                except OSError:             # the reader went away (`emu boot | head`)
                    self.output = None      # like an unplugged terminal: output dropped
                    self.output_lost = True
        elif port != LINE_STATUS_PORT:
            self.scratch[port - DATA_PORT] = value & 0xFF

    def wait(self):
        """Block until an interactive terminal types something; False when there is none
        (or it closed).  The only place the machine waits on the outside world."""
        if self.interactive is None:
            return False
        data = os.read(self.interactive.fileno(), 256)
        if not data:
            self.interactive = None
            return False
        self.input += data
        return True

    def next_event(self):
        return None

    def advance(self, now):
        if self.position < len(self.input):                 # pending(), inline: polled
            return (IRQ_LINE,)
        if self.interactive is None and not self.break_signalled:   # ended(): one IRQ
            self.break_signalled = True
            return (IRQ_LINE,)
        return ()
