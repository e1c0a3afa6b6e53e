"""The built-in debugger's session: the current process, running, and telling stops.

Contract: `Console(debugger, out)` executes one command line at a time (`execute(line)`
returns False after `quit`); the commands are in `emu.debug.commands`.  It keeps the
current process (the one the last stop was in; `proc` selects another), runs the machine
through the core with Ctrl-C turned into an interrupt of the machine (`go`), and tells
each stop: the breakpoint or catch, the kernel's verdict for every trap the stepped
process made, the process events meanwhile (`[hello exited, status 0]`), and where the
process is now.  Errors of a command are one line (`x: no symbol 'foo' in printer`);
nothing a user types raises out of here.
"""

import shlex
import signal

from kernel.names import PRIMITIVE_NAMES, result_name

from emu.debug.places import PlaceError
from emu.debug.verdict import verdict_lines
from emu.debug.views import disassembly_lines, event_text, type_text


class CommandError(Exception):
    """A command that cannot be done: its text is the one line the user sees."""


class Console:
    def __init__(self, debugger, out):
        self.dbg = debugger
        self.out = out
        self.places = debugger.places
        self.current = debugger.last_proc()
        self.done = False

    def say(self, *lines):
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    # -- commands -------------------------------------------------------------------------------
    def execute(self, line):
        from emu.debug.commands import COMMANDS, ALIASES
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        word, _, rest = line.partition(" ")
        name, slash, fmt = word.partition("/")
        name = ALIASES.get(name, name)
        command = COMMANDS.get(name)
        if command is None:
            self.say(f"unknown command {name!r}: try `help`")
            return True
        try:
            command(self, rest.strip(), fmt if slash else "")
        except (CommandError, PlaceError, ValueError) as error:
            self.say(f"{name}: {error}")
        except Exception as error:          # noqa: BLE001 - a bug of ours: say it, go on
            self.say(f"{name}: internal error: {type(error).__name__}: {error}")
        return not self.done

    def proc(self):
        proc = self.current
        if proc is None or proc.cpu is None:
            raise CommandError("no process")
        return proc                         # an ended one can still be looked at

    def address(self, text):
        return self.places.address(text, self.current)

    def words(self, text):
        try:
            return shlex.split(text)
        except ValueError as error:
            raise CommandError(str(error)) from None

    # -- running --------------------------------------------------------------------------------
    def go(self, **how):
        """Resume the machine (Ctrl-C interrupts it) and return its stops."""
        self.out.flush()
        previous = None
        try:
            previous = signal.signal(signal.SIGINT, lambda *_: self.dbg.interrupt())
        except ValueError:                      # not the main thread: no Ctrl-C
            pass
        try:
            return self.dbg.resume(**how)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def report(self, stops, records=(), stepped=None):
        """Tell what happened in a resume (see the module docstring)."""
        dbg = self.dbg
        for stop in dbg.notices:
            if stop.event is not None and stop.kind in ("started", "ended"):
                self.say(f"[{event_text(stop.event, with_time=False)}]")
        for record in records:
            self.say(*verdict_lines(record, dbg.table))
        for stop in stops:
            self.tell(stop, stepped)

    def tell(self, stop, stepped=None):
        kind, proc = stop.kind, stop.proc
        if kind == "end":
            self.say(f"The run has ended: {stop.reason}.")
            return
        if kind == "interrupt":
            self.say("Interrupted.")
        elif kind == "idle":
            self.say("No process in scope can run.")
        elif kind == "ended":
            self.say(f"[{event_text(stop.event, with_time=False)}]")
        elif kind == "breakpoint":
            bp = stop.breakpoint
            self.say(f"Breakpoint {bp.number}, {proc.label} at "
                     f"{self.places.describe(stop.address)}")
        elif kind == "ipc-entry":
            self.say(f"IPC catch {stop.breakpoint.number}, {proc.label} at IPC entry: "
                     f"{_call(stop.trap)}")
        elif kind == "ipc-return":
            self.say(f"IPC catch {stop.breakpoint.number}, {proc.label}'s "
                     f"{_call(stop.trap)} returned {result_name(stop.trap.result)}")
            if stepped is None:
                self.say(*verdict_lines(stop.trap, self.dbg.table))
        if proc is not None and kind not in ("end",):
            self.current = proc
            if proc.alive:
                self.where_now(proc)

    def where_now(self, proc):
        eip = proc.cpu.eip
        lines = disassembly_lines(self.dbg, proc, eip, 1)
        self.say(f"{proc.label} {eip:#010x} {self.places.describe(eip)}")
        code = [line for line in lines if line.startswith("=>")]
        if code:
            self.say(code[0])


def _call(record):
    name = PRIMITIVE_NAMES.get(record.primitive, f"primitive {record.primitive}")
    word = "from" if name == "RECEIVE" else "to"
    text = f"{name} {word} {record.peer_name}, message at {record.message:#010x}"
    if record.m_type is not None:
        text += f" ({type_text(record.m_type)})"
    return text
