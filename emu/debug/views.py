"""Text views of the machine for the debugger's commands and gdb's `monitor`.

Contract (each returns a list of lines, nothing is printed here):
- `event_text(event)` one trace event in words (`printer SENDREC -> SYSTEM SYS_DEVIO:
  OK`, `printer kernel call DEVIO request=0x11 port=0xab value=0xcd: OK`).
- `ps_lines(debugger)` every live process: slot, endpoint, label, kind, IPC state (who
  it is blocked on, `SENDING to vfs`, `RECEIVING from ANY`, held at an IPC entry, at a
  breakpoint), scheduling queue, faults, restarts, where it is.
- `registers_lines(debugger, proc)`, `disassembly_lines(debugger, proc, address, n)`
  (Capstone, original bytes under breakpoints, labels, source lines and their text),
  `where_lines(debugger, proc)` (location, IPC state, the last trap, and the return
  addresses found on the stack after `call` instructions: assembly keeps no frames).
"""

import os

import capstone

from kernel.abi import WINDOW_SIZE
from kernel.names import PRIMITIVE_NAMES, result_name, type_name

_disassembler = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
_ARROW = {"RECEIVE": "<-"}
_sources = {}


def _value(value):
    return f"{value:#x}" if isinstance(value, int) and not -10 < value < 10 else str(value)


def type_text(m_type):
    """A message type by name, or in hex when it has none."""
    name = type_name(m_type)
    return f"{name:#x}" if isinstance(name, int) else str(name)


def event_text(event, with_time=True):
    ev = event.get("ev")
    who = f"{event.get('proc')}"
    if ev == "ipc":
        op = event.get("op")
        if op == "ASEND" and "count" in event:
            text = f"{who} ASEND of {event['count']} entries: {event.get('result')}"
        else:
            arrow = _ARROW.get(op, "->")
            peer = event.get("peer_label") or event.get("peer")
            m_type = event.get("m_type")
            what = f" {_value(m_type)}" if m_type is not None else ""
            text = f"{who} {op} {arrow} {peer}{what}: {event.get('result')}"
    elif ev == "kcall":
        skip = {"t", "ev", "proc", "ep", "call", "result", "reason"}
        args = " ".join(f"{k}={_value(v)}" for k, v in event.items() if k not in skip)
        text = f"{who} kernel call {event.get('call')} {args}: {event.get('result')}"
        if event.get("reason"):
            text += f" ({event['reason']})"
    elif ev == "fault":
        text = (f"{who} FAULT {event.get('cause')} at {_value(event.get('addr'))}, "
                f"eip {_value(event.get('eip'))}: {event.get('insn', '')}")
    elif ev == "exit":
        text = f"{who} exited, status {event.get('status')}"
    elif ev == "kill":
        text = f"{who} killed by {event.get('by')}"
    elif ev == "start":
        text = f"{who} started, endpoint {event.get('ep')}"
    elif ev == "restart":
        text = f"{who} restarted ({event.get('n')})"
    elif ev == "trust":
        text = f"{who} blocking {event.get('op')} to driver {event.get('peer_label')} (reported)"
    elif ev == "diag":
        text = f"{who} log: {event.get('text')}"
    elif ev == "slice":
        text = f"{who} ran {event['t'] - event.get('start', event['t'])} instructions"
    else:
        text = " ".join(f"{k}={v}" for k, v in event.items() if k != "t")
    return f"t={event.get('t'):>9}  {text}" if with_time else text


def state_of(debugger, proc):
    state = proc.state_text(debugger.table)
    if proc.in_sendrec and state.startswith(("SENDING", "RECEIVING")):
        state = "SENDREC: " + state
    if proc in debugger.held:
        state += ", held at IPC entry"
    elif proc in debugger.at_break:
        state += ", at breakpoint"
    return state


def ps_lines(debugger, current=None):
    places = debugger.places
    lines = ["  SLOT ENDPOINT  LABEL      KIND    STATE                              "
             "Q  FAULTS RESTARTS  WHERE"]
    for proc in debugger.live():
        mark = "*" if proc is current else " "
        where = places.describe(proc.cpu.eip, with_line=False)
        lines.append(f"{mark} {proc.slot:>4} {proc.endpoint:>8}  {proc.label:<10} "
                     f"{proc.kind:<7} {state_of(debugger, proc):<34} {proc.priority:>2} "
                     f"{proc.faults:>7} {proc.restarts:>8}  {where}")
    return lines


def registers_lines(debugger, proc):
    regs = proc.cpu.registers()
    names = list(regs)
    lines = []
    for i in range(0, 8, 4):
        lines.append("  ".join(f"{n:<3} {regs[n]:#010x}" for n in names[i:i + 4]))
    lines.append(f"eip {regs['eip']:#010x}  {debugger.places.describe(regs['eip'])}")
    lines.append(f"eflags {regs['eflags']:#x}  " +
                 "  ".join(f"{n} {regs[n]:#x}" for n in names[10:]))
    return lines


def _source_text(path, line):
    if path not in _sources:
        try:
            with open(path, encoding="utf-8", errors="replace") as stream:
                _sources[path] = stream.read().splitlines()
        except OSError:
            _sources[path] = None
    text = _sources[path]
    return text[line - 1].strip() if text and 0 < line <= len(text) else ""


def disassembly_lines(debugger, proc, address, count=10):
    places = debugger.places
    index = debugger.program_of(address)
    code = debugger.read_memory(proc, address, 16 * count)
    while not code and count > 1:
        count //= 2
        code = debugger.read_memory(proc, address, 16 * count)
    if not code:
        return [f"disas: {address:#x} is not mapped in {proc.label}"]
    eip = proc.cpu.eip
    symbols = places.symbols(index) if index is not None else None
    lines, last_line = [], None
    for insn in _disassembler.disasm(code, address, count):
        if symbols is not None:
            name = symbols.describe(insn.address)
            if "+" not in name and not name.startswith("0x"):
                lines.append(f"{name}:")
            where = symbols.source_line(insn.address)
            if where is not None and where != last_line:
                last_line = where
                lines.append(f"    {os.path.basename(where[0])}:{where[1]}\t"
                             f"{_source_text(where[0], where[1])}")
        mark = "=>" if insn.address == eip else "  "
        stop = "*" if debugger.patches.patched(proc.cpu, insn.address) or \
            debugger.patches.hooked(proc.cpu, insn.address) else " "
        lines.append(f"{mark}{stop}{insn.address:#010x} {insn.bytes.hex():<16} "
                     f"{insn.mnemonic} {insn.op_str}".rstrip())
    return lines


def _returns(debugger, proc, esp):
    """Return addresses on the stack: words just past a `call` in the program's text."""
    lo, hi = proc.cpu.text_range
    top = proc.cpu.window_base + WINDOW_SIZE
    found = []
    for at in range(esp, min(esp + 4 * 256, top), 4):
        word = int.from_bytes(proc.cpu.read(at, 4) or b"\0\0\0\0", "little")
        if not lo + 2 <= word <= hi:
            continue
        before = debugger.read_memory(proc, word - 6, 6)
        if len(before) == 6 and (before[1] == 0xE8 or
                                 (before[4] == 0xFF and before[5] & 0x38 == 0x10)):
            found.append(word)
            if len(found) >= 8:
                break
    return found


def where_lines(debugger, proc):
    places = debugger.places
    regs = proc.cpu.registers()
    lines = [f"#0  {regs['eip']:#010x} in {proc.label} {places.describe(regs['eip'])}"]
    for n, address in enumerate(_returns(debugger, proc, regs["esp"]), 1):
        lines.append(f"#{n}  {address:#010x} in {places.describe(address)}")
    lines.append(f"{proc.label} (slot {proc.slot}, endpoint {proc.endpoint}): "
                 f"{state_of(debugger, proc)}")
    record = debugger.traps.get(proc)
    if record is not None:
        status = "done" if record.done else (record.blocked or "in the kernel")
        lines.append(f"last trap at {places.describe(record.address)}: "
                     f"{_trap_summary(record)} [{status}]")
    return lines


def _trap_summary(record):
    name = PRIMITIVE_NAMES.get(record.primitive, record.primitive)
    text = f"{name} {record.peer_name}"
    if record.m_type is not None:
        text += f" {type_text(record.m_type)}"
    if record.result is not None:
        text += f" -> {result_name(record.result)}"
    return text
