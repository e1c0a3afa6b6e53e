"""The system a campaign runs: the image booted to the golden point, and its shell.

Contract: `boot(image, target, profile, warmup)` boots `image` (a `tools.image.BootImage`)
with the console, printer and kernel log captured in memory and the disk in memory only
(a campaign never writes the disk file back: every trial starts from the same disk),
runs it until the shell waits for its first command, types one round of the profile's
workload and runs until the target has executed `warmup` instructions of it: the
golden point, where every trial starts (a fork of this process is the snapshot).  It
returns a `Live` system, or raises `SystemProblem` with one line saying why.  The same
image, target, profile and warmup give the same golden point, byte for byte.

`Shell` types commands on the console and tells when they are done: the shell prints
its prompt (`# ` at the start of a line) once per command it has finished, so a command
is done when as many prompts have followed it.  Output of the profiles' commands never
starts a line with `# `.  The console stays open (its input never ends), so the shell
waits for the next command instead of ending.
"""

import io
from dataclasses import dataclass, field

import capstone

from emu.session import BootOptions, Session
from emu.symbols import SymbolMap
from kernel.abi import TICK_INSNS
from kernel.run import RunLimits, run
from tools.inject.faults import Text

PROMPT = b"# "
BOOT_TICKS = 2000             # the boot must reach the shell's first prompt by then
WARMUP_TICKS = 500            # the workload must reach the target by then


class SystemProblem(Exception):
    """The image cannot be used for a campaign; str is one line."""


class Shell:
    """Commands typed on the console, and their completion counted by prompts."""

    def __init__(self, console, output):
        self.console = console
        self.output = output          # the console's BytesIO
        self.prompts = 0
        self.scanned = 0
        self.typed = 0                # commands typed
        self.base = 0                 # prompts printed before the first command
        console.interactive = _OPEN   # the input never ends...
        console.wait = _no_input      # ...and nobody types on a real terminal

    def count(self):
        """Prompts printed so far (each counted once, also across two reads)."""
        data = self.output.getvalue()
        at = data.find(PROMPT, max(self.scanned - 1, 0))
        while at >= 0:
            if at + len(PROMPT) > self.scanned and (at == 0 or data[at - 1] == 0x0A):
                self.prompts += 1
            at = data.find(PROMPT, at + 1)
        self.scanned = len(data)
        return self.prompts

    def settle(self):
        """Take the prompts printed so far as the shell's start."""
        self.base = self.count()

    def type(self, text):
        self.console.input += text
        self.typed += text.count(b"\n")

    def pending(self):
        """Commands typed and not finished yet."""
        return self.typed - (self.count() - self.base)


class _Open:
    """Stands for a terminal that never closes (the console's `interactive`)."""


_OPEN = _Open()


def _no_input():
    return False


@dataclass
class Live:
    """A booted system at the golden point."""
    session: Session
    kernel: object
    machine: object
    shell: Shell
    console: io.BytesIO
    printer: io.BytesIO
    target: str
    index: int                   # the target's program index
    text: Text                   # the target's pristine text, disassembled
    symbols: SymbolMap
    profile: object
    golden_point: dict           # what identifies the golden point (checked by workers)
    _targets: dict = field(default_factory=dict)
    _quick: object = None

    def target_proc(self):
        """The live process of the target, or None."""
        return self.kernel.table.by_label(self.target)

    def output(self):
        """What the workload's rounds have printed so far (printer or console)."""
        stream = self.console if self.profile.output == "console" else self.printer
        return stream.getvalue()

    def targets(self, where=None):
        """The `tools.inject.targets.Targets` of the target's text (among the addresses
        of `where`), made once: a fork server makes them before it forks."""
        key = None if where is None else frozenset(where)
        if key not in self._targets:
            from tools.inject.targets import Targets
            self._targets[key] = Targets(self.text, key)
        return self._targets[key]

    def disassemble(self, code, address):
        """One instruction as text (no operand details: quick)."""
        if self._quick is None:
            self._quick = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        for insn in self._quick.disasm(code, address, 1):
            return f"{insn.mnemonic} {insn.op_str}".strip()
        return "(bad)"


def boot(image, target, profile, warmup):
    programs = {p.policy.label: p for p in image.programs}
    if target not in programs:
        raise SystemProblem(f"no program '{target}' in the image")
    if programs[target].policy.kind != "driver":
        raise SystemProblem(f"'{target}' is a {programs[target].policy.kind}, not a driver")
    if "init" not in programs:
        raise SystemProblem("the image has no init: the workload is typed on its shell")
    console, printer = io.BytesIO(), io.BytesIO()
    options = BootOptions(printer=None, console=console, log=io.StringIO())
    session = Session(image, options, printer_stream=printer)
    machine, kernel = session.machine, session.kernel
    if machine.disk is not None:
        machine.disk.path = None
    shell = Shell(machine.console, console)
    end = run(kernel, RunLimits(until_idle=True, max_ticks=BOOT_TICKS))
    if end != "idle":
        raise SystemProblem(f"the boot did not reach the shell's prompt ({end})")
    shell.settle()
    boot_output = len((console if profile.output == "console" else printer).getvalue())
    shell.type(profile.workload)
    proc = kernel.table.by_label(target)
    if proc is None:
        raise SystemProblem(f"'{target}' is not running after the boot")
    proc.insn_watch = proc.insns + warmup
    end = run(kernel, RunLimits(max_ticks=kernel.time // TICK_INSNS + WARMUP_TICKS))
    if end != "watch":
        raise SystemProblem(f"the workload '{profile.name}' did not keep '{target}' busy "
                            f"for {warmup} instructions ({end})")
    loaded = session.programs[programs[target].index]
    return Live(session, kernel, machine, shell, console, printer, target,
                programs[target].index, Text(loaded.text, loaded.text_base),
                SymbolMap(loaded.symbols, loaded.lines), profile,
                {"time": kernel.time, "boot_output": boot_output,
                 "output": len((console if profile.output == "console" else printer)
                               .getvalue()),
                 "target_insns": proc.insns, "typed": shell.typed})
