"""gdb's `monitor` commands (`qRcmd`): the built-in debugger's views, for gdb users.

Contract: `monitor(target, text)` returns the output lines of `ps` (processes and their
IPC state), `msg ADDR` (the message at ADDR of the current inferior, decoded), `trace
[N]` (the last N trace events), `verdict` (the kernel's verdict on the current
process's last trap) or `help`; an unknown command or a bad address gives one line.
"""

from emu.debug.messages import message_text
from emu.debug.places import PlaceError, parse_number
from emu.debug.verdict import verdict_lines
from emu.debug.views import event_text, ps_lines

TRACE_KINDS = {"ipc", "kcall", "fault", "exit", "kill", "start", "restart", "trust", "diag"}
HELP = ["monitor ps            processes: slot, endpoint, label, IPC state (pid = slot + 1)",
        "monitor msg ADDR      the 64-byte message at ADDR, decoded with names",
        "monitor trace [N]     the last N IPC trace events",
        "monitor verdict       the kernel's verdict on this process's last IPC trap"]


def monitor(target, text):
    word, _, rest = text.strip().partition(" ")
    dbg = target.dbg
    proc = target.general_proc()
    if word == "ps":
        return ps_lines(dbg, proc)
    if word == "msg":
        if proc is None:
            return ["msg: no process"]
        try:
            address = dbg.places.address(rest, proc) if rest.strip() else \
                proc.cpu.registers()["ebx"]
        except PlaceError as error:
            return [f"msg: {error}"]
        return message_text(dbg, proc, address)
    if word == "trace":
        count = parse_number(rest.strip()) if rest.strip() else 20
        if count is None or count <= 0:
            return [f"trace: not a count: {rest.strip()!r}"]
        return [event_text(e) for e in dbg.recorder.last(count, TRACE_KINDS)] or ["(none)"]
    if word == "verdict":
        record = dbg.traps.get(proc) if proc is not None else None
        if record is None:
            return ["verdict: no trap of this process seen yet"]
        return verdict_lines(record, dbg.table)
    if word in ("help", ""):
        return HELP
    return [f"unknown monitor command {word!r}: try `monitor help`"]
