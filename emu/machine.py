"""The machine: devices on the port bus, and the CPUs of the processes.

Contract: `Machine(printer_output, console_output, console_input, interactive, disk)`
builds the printer, the console and, when `disk` (an `emu.devices.disk.Disk`) is given,
the ATA disk on a `PortBus`.  `cpu_for(index, trap, program)` gives a CPU for a new
process of program `index`, loaded with `program` (an ELF read by `emu.elf`): a CPU
that an ended process of that program left behind (`release`) is reset and reused
(creating a Unicorn instance costs milliseconds), else a new one is made at the
program's window.  Two live processes of one program have two CPUs: the same window
addresses in two private address spaces.  A released CPU keeps its memory until it is
reused, so a dead process can still be looked at.  `close()` writes the disk back.
The machine knows nothing of IPC: the trap callback is the kernel's.
"""

from emu.cpu import Cpu
from emu.devices.console import Console
from emu.devices.printer import Printer
from emu.ports import PortBus
from kernel.abi import window_base


class Machine:
    """Devices, the port bus and the CPUs."""

    def __init__(self, printer_output, console_output, console_input=b"", interactive=None,
                 disk=None):
        self.printer = Printer(printer_output)
        self.console = Console(console_output, console_input, interactive)
        self.disk = disk
        devices = (self.printer, self.console) + ((disk,) if disk is not None else ())
        self.bus = PortBus(devices)
        self.idle = {}               # program index -> CPUs of ended processes
        self.breakpoint_handler = None
        self.programs = {}           # CPU -> the program loaded in it
        self._disassembler = None

    def cpu_for(self, index, trap, program):
        idle = self.idle.get(index)
        if idle:
            cpu = idle.pop()
        else:
            cpu = Cpu(window_base(index), trap, self._on_breakpoint)
        cpu.trap = trap
        if self.programs.get(cpu) is program:
            cpu.reset()
        else:
            cpu.load(program.text_base, program.text, program.data_base, program.data,
                     program.bss_size, program.entry)
            self.programs[cpu] = program
        return cpu

    def _on_breakpoint(self, cpu):
        """An `int3` ran: True when the debugger or the fault injector takes it (else it
        is the process's fault).  `breakpoint_handler(cpu)` is theirs to set."""
        handler = self.breakpoint_handler
        return handler is not None and handler(cpu)

    def release(self, index, cpu):
        """The process of program `index` on `cpu` ended: the CPU may be reused."""
        self.idle.setdefault(index, []).append(cpu)

    def wait_input(self):
        """Wait for an interactive console to type something; False when there is no
        interactive console (or it closed).  Only an idle interactive system waits."""
        return self.console.wait()

    def close(self):
        if self.disk is not None:
            self.disk.close()

    def describe_instruction(self, cpu, address):
        """The instruction at `address` in `cpu`'s memory, disassembled ('' if unmapped)."""
        code = cpu.read(address, 15) or cpu.read(address, 1)
        if not code:
            return ""
        if self._disassembler is None:
            import capstone
            self._disassembler = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        for insn in self._disassembler.disasm(code, address, 1):
            return f"{insn.mnemonic} {insn.op_str}".strip()
        return f"(bad) {code[:1].hex()}"
