"""The commands of the built-in debugger (SPEC section 9), one function each.

Contract: every command is `do_<name>(console, arg, fmt)` (`fmt`: what followed a `/`,
as in `x/8xb`), registered in `COMMANDS` (its help line in `HELP`); it prints through
`console.say` and raises `CommandError` (or `PlaceError`) with one line for bad input.
Processes are named by label (`printer`), `#slot` or endpoint; places as
`emu.debug.places` reads them (`printer:devio_in`, `0x1500010`, `printer.asm:215`,
`$ebx+8`).
"""

import random

from kernel.abi import PRIMITIVE_BY_NAME, TASK_BY_NAME
from kernel.names import MESSAGE_TYPE_NAMES

from emu.debug.console import CommandError
from emu.debug.messages import message_text
from emu.debug.places import parse_number
from emu.debug.views import (disassembly_lines, event_text, ps_lines, registers_lines,
                             where_lines)

TYPE_BY_NAME = {name: value for value, name in MESSAGE_TYPE_NAMES.items()}
STEP_LIMIT = 100000                 # instructions `step` runs looking for a new line


def _count(text, default):
    if not text:
        return default
    value = parse_number(text)
    if value is None or value <= 0:
        raise CommandError(f"not a positive count: {text!r}")
    return value


def _m_type(text):
    for name in (text, "SYS_" + text):
        if name in TYPE_BY_NAME:
            return TYPE_BY_NAME[name]
    value = parse_number(text)
    if value is None:
        raise CommandError(f"unknown message type {text!r}")
    return value


# -- breakpoints ------------------------------------------------------------------------------
def do_break(console, arg, fmt, hardware=False):
    words = console.words(arg)
    if not words:
        raise CommandError("break ipc [PRIMITIVE] [from PROC] [to PROC] [type M_TYPE] "
                           "| break PROC:SYMBOL|ADDR|FILE:LINE")
    if words[0] == "ipc":
        return _break_ipc(console, words[1:])
    address = console.address(" ".join(words))
    bp = console.dbg.add_breakpoint(address, hardware=hardware, where=" ".join(words))
    if bp is None:
        raise CommandError(f"{address:#x} is not in the text of any program")
    console.say(f"{bp.kind.capitalize()} {bp.number} at {address:#010x}: "
                f"{console.places.label_of(address)} {console.places.describe(address)}")


def do_hbreak(console, arg, fmt):
    do_break(console, arg, fmt, hardware=True)


def _break_ipc(console, words):
    labels = console.dbg.kernel.labels
    filters = {}
    if words and words[0] not in ("from", "to", "type"):
        name = words.pop(0).upper()
        primitive = PRIMITIVE_BY_NAME.get(name, parse_number(name))
        if primitive is None:
            raise CommandError(f"unknown IPC primitive {name!r}")
        filters["primitives"] = frozenset((primitive,))
    while words:
        if len(words) < 2:
            raise CommandError(f"{words[0]} needs a value")
        key, value = words.pop(0), words.pop(0)
        if key == "from":
            if value not in labels:
                raise CommandError(f"no program {value!r}")
            filters["caller"] = value
        elif key == "to":
            if value not in labels and value not in TASK_BY_NAME and value != "ANY":
                raise CommandError(f"no program or kernel task {value!r}")
            filters["peer"] = value
        elif key == "type":
            filters["m_type"] = _m_type(value)
        else:
            raise CommandError(f"expected from, to or type, not {key!r}")
    catch = console.dbg.add_catch(**filters)
    console.say(f"IPC catch {catch.number}: {catch.describe()}")


def do_delete(console, arg, fmt):
    dbg = console.dbg
    items = dbg.breakpoints + dbg.catches
    if not arg:
        for item in items:
            dbg.delete(item)
        console.say(f"Deleted {len(items)} breakpoints and catches.")
        return
    for word in console.words(arg):
        number = parse_number(word)
        found = [item for item in items if item.number == number]
        if not found:
            raise CommandError(f"no breakpoint or catch number {word}")
        dbg.delete(found[0])


def do_info(console, arg, fmt):
    what = arg.split()[0] if arg else ""
    if "breakpoints".startswith(what) and what:
        return _info_break(console)
    if "registers".startswith(what) and what:
        return do_regs(console, "", "")
    raise CommandError("info break | info registers")


def _info_break(console):
    dbg = console.dbg
    items = sorted(dbg.breakpoints + dbg.catches, key=lambda item: item.number)
    if not items:
        console.say("No breakpoints or catches.")
        return
    console.say("Num  Type           Hits  What")
    for item in items:
        if item.kind == "ipc catch":
            what = item.describe()
        else:
            what = f"{item.address:#010x} {console.places.label_of(item.address)} " \
                   f"{console.places.describe(item.address)}"
        console.say(f"{item.number:<4} {item.kind:<14} {item.hits:>4}  {what}")


# -- running ----------------------------------------------------------------------------------
def do_continue(console, arg, fmt):
    stops = console.go()
    console.report(stops)


def do_stepi(console, arg, fmt):
    proc = _running(console)
    stops = console.go(step=proc, count=_count(arg, 1), pass_trap=True)
    console.report(stops, console.dbg.step_records, stepped=proc)


def do_step(console, arg, fmt):
    proc = _running(console)
    places = console.places
    start = places.source_line(proc.cpu.eip)
    records = []
    for _ in range(STEP_LIMIT):
        stops = console.go(step=proc, count=1, pass_trap=True)
        records += console.dbg.step_records
        if len(stops) != 1 or stops[0].kind != "step" or stops[0].proc is not proc:
            break
        line = places.source_line(proc.cpu.eip)
        if line is not None and line != start:
            break
    console.report(stops, records, stepped=proc)


def _running(console):
    proc = console.proc()
    if not proc.alive:
        raise CommandError(f"{proc.label} has ended")
    return proc


# -- looking ----------------------------------------------------------------------------------
def do_ps(console, arg, fmt):
    console.say(*ps_lines(console.dbg, console.current))


def do_regs(console, arg, fmt):
    console.say(*registers_lines(console.dbg, console.proc()))


def do_x(console, arg, fmt):
    proc = console.proc()
    count, letters = 0, ""
    for ch in fmt:
        if ch.isdigit() and not letters:
            count = count * 10 + int(ch)
        else:
            letters += ch
    form = next((c for c in letters if c in "xdusic"), "x")
    unit = {"b": 1, "h": 2, "w": 4}.get(next((c for c in letters if c in "bhw"), "w"))
    if not arg:
        raise CommandError("x[/NFU] ADDRESS  (F: x d u s i c, U: b h w)")
    address = console.address(arg)
    if form == "i":
        return console.say(*disassembly_lines(console.dbg, proc, address, count or 4))
    if form == "s":
        data = console.dbg.read_memory(proc, address, 256) or \
            console.dbg.read_memory(proc, address, 1)
        text = data.split(b"\0")[0].decode("latin-1")
        return console.say(f"{address:#010x}: {text!r}")
    if form == "c":
        unit = 1
    count = count or 4
    data = console.dbg.read_memory(proc, address, count * unit)
    if len(data) != count * unit:
        raise CommandError(f"{address:#x} ({count * unit} bytes) is not mapped in {proc.label}")
    per_line = 16 // unit
    for row in range(0, count, per_line):
        cells = []
        for i in range(row, min(count, row + per_line)):
            chunk = data[i * unit:(i + 1) * unit]
            value = int.from_bytes(chunk, "little", signed=form == "d")
            cells.append(_cell(value, form, unit))
        at = address + row * unit
        console.say(f"{at:#010x} <{console.places.describe(at, with_line=False)}>: "
                    + " ".join(cells))


def _cell(value, form, unit):
    if form == "c":
        return repr(chr(value)) if 32 <= value < 127 else f"{value:#04x}"
    if form in "du":
        return str(value)
    return f"{value:#0{2 + 2 * unit}x}"


def do_disas(console, arg, fmt):
    proc = console.proc()
    words = console.words(arg)
    count = 10
    if len(words) > 1 and parse_number(words[-1]) is not None and parse_number(words[-1]) < 1000:
        count = parse_number(words.pop())
    address = console.address(" ".join(words)) if words else proc.cpu.eip
    if words and console.places.label_of(address) is not None:
        proc = _proc_for(console, address, proc)
    console.say(*disassembly_lines(console.dbg, proc, address, count))


def _proc_for(console, address, proc):
    """A process whose address space holds `address` (its program's), else `proc`."""
    index = console.dbg.program_of(address)
    if proc.index == index:
        return proc
    for other in console.dbg.live():
        if other.index == index:
            return other
    return proc


def do_msg(console, arg, fmt):
    proc = console.proc()
    address = console.address(arg) if arg else proc.cpu.registers()["ebx"]
    proc = _proc_for(console, address, proc)
    console.say(*message_text(console.dbg, proc, address))


def do_trace(console, arg, fmt):
    count = _count(arg, 20)
    kinds = {"ipc", "kcall", "fault", "exit", "kill", "start", "restart", "trust", "diag"}
    events = console.dbg.recorder.last(count, kinds)
    console.say(*[event_text(event) for event in events] or ["(no events yet)"])


def do_where(console, arg, fmt):
    console.say(*where_lines(console.dbg, console.proc()))


def do_proc(console, arg, fmt):
    if arg:
        console.current = console.places.proc(arg)
    proc = console.proc()
    console.say(f"Current process: {proc.label} (slot {proc.slot}, endpoint {proc.endpoint})")
    if proc.alive:
        console.where_now(proc)


# -- fault injection --------------------------------------------------------------------------
def do_inject(console, arg, fmt):
    try:
        from tools.inject.faults import ALL_TYPES, Text, fault_at, make_fault
    except ImportError:
        raise CommandError("the fault injector is not available") from None
    words = console.words(arg)
    if not words or words[0] not in ALL_TYPES:
        raise CommandError(f"inject TYPE [ADDRESS]; TYPE: {' '.join(ALL_TYPES)}")
    proc = _running(console)
    dbg = console.dbg
    lo, hi = proc.cpu.text_range
    text = Text(dbg.read_memory(proc, lo, hi - lo), lo)
    rng = random.Random(dbg.session.options.seed + len(dbg.recorder.ring))
    if len(words) > 1:
        address = console.address(" ".join(words[1:]))
        if not lo <= address < hi:
            raise CommandError(f"{address:#x} is not in {proc.label}'s text")
        fault = fault_at(text, words[0], address, rng)
    else:
        fault = make_fault(text, words[0], rng)
    if fault is None:
        raise CommandError(f"no instruction for a {words[0]} fault there")
    dbg.write_memory(proc, fault.address, fault.new)
    console.say(f"Injected into {proc.label}: {fault.describe()} at "
                f"{console.places.describe(fault.address)}")


# -- the rest ---------------------------------------------------------------------------------
def do_help(console, arg, fmt):
    console.say(*HELP)


def do_quit(console, arg, fmt):
    console.done = True


HELP = (
    "  break ipc [PRIMITIVE] [from PROC] [to PROC] [type M_TYPE]   stop at IPC traps",
    "  break PROC:SYMBOL|ADDR|FILE:LINE   a breakpoint (hbreak: a hardware one)",
    "  delete [N...]         delete breakpoints and catches (all without N)",
    "  info break | info registers",
    "  continue (c)          run until a breakpoint, a catch, a fault or the end",
    "  stepi [N] (si)        N instructions of the current process (a trap: its verdict)",
    "  step (s)              to the next source line",
    "  ps                    processes and their IPC state",
    "  regs                  registers of the current process",
    "  x[/NFU] ADDR          memory (F: x d u s i c; U: b h w)",
    "  disas [ADDR] [N]      disassembly with symbols and source lines",
    "  msg [ADDR]            the 64-byte message at ADDR (default: ebx), decoded",
    "  trace [N]             the last N trace events",
    "  where (bt)            where the current process is, and its callers",
    "  proc [PROC]           show or select the current process",
    "  inject TYPE [ADDR]    a SWIFI fault into the current process's text",
    "  help, quit (q)",
)
COMMANDS = {"break": do_break, "hbreak": do_hbreak, "delete": do_delete, "info": do_info,
            "continue": do_continue, "stepi": do_stepi, "step": do_step, "ps": do_ps,
            "regs": do_regs, "x": do_x, "disas": do_disas, "msg": do_msg,
            "trace": do_trace, "where": do_where, "proc": do_proc, "inject": do_inject,
            "help": do_help, "quit": do_quit}
ALIASES = {"b": "break", "c": "continue", "cont": "continue", "si": "stepi", "s": "step",
           "d": "delete", "i": "info", "bt": "where", "backtrace": "where", "q": "quit",
           "disassemble": "disas", "registers": "regs", "process": "proc", "exit": "quit"}
