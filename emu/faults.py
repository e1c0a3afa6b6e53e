"""The CPU faults of a guest process: their causes, and the record the machine keeps.

A fault ends the process that caused it, never the emulator.  The machine fills a
`Fault` (cause, the faulting address and the instruction's address) and the kernel
decides what follows (end the process, tell RS, stop in the debugger).
"""

from dataclasses import dataclass

INVALID_OPCODE = "invalid_opcode"
READ_UNMAPPED = "read_unmapped"
WRITE_UNMAPPED = "write_unmapped"
FETCH_UNMAPPED = "fetch_unmapped"
READ_PROTECTED = "read_protected"
WRITE_PROTECTED = "write_protected"     # a write to text
FETCH_PROTECTED = "fetch_protected"     # execution of data or stack
DIVIDE_ERROR = "divide_error"
BAD_INTERRUPT = "bad_interrupt"         # int N with N other than the IPC vector
CPU_EXCEPTION = "cpu_exception"         # into, bound and other exceptions
HALT = "halt"
PORT_IO = "port_io"                     # in, out, ins, outs
BREAKPOINT = "breakpoint"               # int3 with no debugger to take it

CAUSES = (INVALID_OPCODE, READ_UNMAPPED, WRITE_UNMAPPED, FETCH_UNMAPPED, READ_PROTECTED,
          WRITE_PROTECTED, FETCH_PROTECTED, DIVIDE_ERROR, BAD_INTERRUPT, CPU_EXCEPTION,
          HALT, PORT_IO, BREAKPOINT)


@dataclass
class Fault:
    """One CPU fault: what happened, at which data address, at which instruction."""
    cause: str
    addr: int            # the data address (memory faults), port (PORT_IO), vector, or eip
    eip: int             # the faulting instruction
    detail: str = ""     # free text: the vector, the access size

    def describe(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.cause} at 0x{self.addr:08x}, eip 0x{self.eip:08x}{extra}"
