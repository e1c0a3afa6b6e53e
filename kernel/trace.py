"""The IPC trace: JSON lines, one event per line (SPEC section 7).

Contract: every line has `t` (virtual time in instructions), `ev`, `proc` (label) and
`ep` (endpoint).  `ipc` events add `op`, `peer`, `peer_label`, `m_type` (name where known)
and `result` (`OK` or the error's name; a denial adds `check`, the number of the check of
SPEC section 3 that denied it); a delivered message gives one event for the
sender (its primitive) and one for the receiver (`RECEIVE`), both at delivery time; the
ASEND call itself has `count` and no peer; a caller woken because its peer died has an
event with its primitive and `EDEADSRCDST`; a notification from HARDWARE names the lines
in `irqs`.  `slice` events (at their end, with `start`)
give every process's running time.
`kcall` events add `call`, the call's arguments and `result` (and `reason` on a
rejection).  Process events (`start` with the program's `kind`, `exit`, `fault`,
`kill`, `restart`) name the process they happened to; `fault` adds `cause`, `addr`, `eip` and `insn`.  Keys keep a
fixed order and nothing depends on the wall clock, so the same run gives the same bytes.
The kernel calls these methods only when tracing is on.
"""

import json

from kernel.names import PRIMITIVE_NAMES, result_name, type_name

_dumps = json.JSONEncoder(separators=(",", ":")).encode


class Trace:
    """Writes trace events to a text stream."""

    def __init__(self, stream, table):
        self.stream = stream
        self.table = table
        self.events = 0

    def emit(self, event):
        self.stream.write(_dumps(event) + "\n")
        self.events += 1

    def ipc(self, t, proc, primitive, peer, m_type, result, peer_label=None, check=None,
            irqs=None):
        if peer_label is None and peer is not None:
            peer_label = self.table.name_of(peer)
        event = {"t": t, "ev": "ipc", "proc": proc.label, "ep": proc.endpoint,
                 "op": PRIMITIVE_NAMES.get(primitive, primitive), "peer": peer,
                 "peer_label": peer_label,
                 "m_type": type_name(m_type) if m_type is not None else None,
                 "result": result_name(result)}
        if check is not None:
            event["check"] = check
        if irqs is not None:
            event["irqs"] = irqs
        self.emit(event)

    def asend(self, t, proc, count, result, check=None):
        """The ASEND call itself (its entries are events of their own when delivered)."""
        event = {"t": t, "ev": "ipc", "proc": proc.label, "ep": proc.endpoint,
                 "op": "ASEND", "peer": None, "peer_label": None, "m_type": None,
                 "result": result_name(result), "count": count}
        if check is not None:
            event["check"] = check
        self.emit(event)

    def slice(self, start, end, proc):
        """A slice of CPU time of `proc`, written at its end."""
        self.emit({"t": end, "ev": "slice", "proc": proc.label, "ep": proc.endpoint,
                   "start": start})

    def kcall(self, t, proc, call, args, result, reason):
        event = {"t": t, "ev": "kcall", "proc": proc.label, "ep": proc.endpoint,
                 "call": call}
        event.update(args)
        event["result"] = result_name(result)
        if reason:
            event["reason"] = reason
        self.emit(event)

    def process(self, t, ev, proc, **extra):
        event = {"t": t, "ev": ev, "proc": proc.label, "ep": proc.endpoint}
        event.update(extra)
        self.emit(event)

    def log(self, t, proc, text):
        self.emit({"t": t, "ev": "diag", "proc": proc.label, "ep": proc.endpoint,
                   "text": text})
