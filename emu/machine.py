"""The machine: devices on the port bus, and one CPU per program of the image.

Contract: `Machine(printer_output, console_output, console_input, interactive)` builds
the printer and the console on a `PortBus`.  `cpu_for(index, trap, program)` gives the
CPU of program `index` loaded with `program` (an ELF read by `emu.elf`): an existing
CPU of that program is reset and reused (creating a Unicorn instance costs
milliseconds), else a new one is made at the program's window.  The machine knows
nothing of IPC: the trap callback is the kernel's.
"""

from emu.cpu import Cpu
from emu.devices.console import Console
from emu.devices.printer import Printer
from emu.ports import PortBus
from kernel.abi import window_base


class Machine:
    """Devices, the port bus and the CPUs."""

    def __init__(self, printer_output, console_output, console_input=b"", interactive=None):
        self.printer = Printer(printer_output)
        self.console = Console(console_output, console_input, interactive)
        self.bus = PortBus((self.printer, self.console))
        self.cpus = {}
        self.programs = {}
        self._disassembler = None

    def cpu_for(self, index, trap, program):
        cpu = self.cpus.get(index)
        if cpu is None or self.programs.get(index) is not program:
            if cpu is None:
                cpu = Cpu(window_base(index), trap)
                self.cpus[index] = cpu
            cpu.trap = trap
            cpu.load(program.text_base, program.text, program.data_base, program.data,
                     program.bss_size, program.entry)
            self.programs[index] = program
        else:
            cpu.trap = trap
            cpu.reset()
        return cpu

    def wait_input(self):
        """Wait for an interactive console to type something; False when there is no
        interactive console (or it closed).  Only an idle interactive system waits."""
        return self.console.wait()

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
