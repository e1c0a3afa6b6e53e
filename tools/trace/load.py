"""Read an IPC trace file (SPEC section 7: JSON lines, one event per line) and check it.

Contract: `load(path)` returns the events as `Event`s in file order, or raises
`TraceError` whose text is one line naming the file and, where there is one, the line:
`trace.jsonl:12: not a JSON object`.  Every event has `t` (an integer >= 0, never less
than the line before), `ev`, `proc` (a label) and `ep` (an endpoint); each kind of event
the tools read has its own keys checked (`REQUIRED`; `OPTIONAL` ones when present), and
a `slice` starts in 0..t.  Events of other kinds are kept unchecked, so a newer kernel's
events do not break the tools.  Blank lines are skipped.
"""

import json
from dataclasses import dataclass

INT = (int,)
TEXT = (str,)
OPTIONAL_INT = (int, type(None))
OPTIONAL_TEXT = (str, type(None))
NAME_OR_NUMBER = (str, int, type(None))

# The keys each kind of event must have, with their JSON types (bool is never an int here)
COMMON = {"t": INT, "ev": TEXT, "proc": TEXT, "ep": INT}
REQUIRED = {
    "ipc": {"op": NAME_OR_NUMBER, "peer": OPTIONAL_INT, "peer_label": OPTIONAL_TEXT,
            "m_type": NAME_OR_NUMBER, "result": TEXT},
    "kcall": {"call": TEXT, "result": TEXT},
    "fault": {"cause": TEXT, "addr": INT, "eip": INT},
    "kill": {"by": TEXT},
    "start": {},
    "exit": {},
    "restart": {"n": INT},
    "trust": {"op": TEXT, "peer": INT, "peer_label": TEXT},
    "diag": {"text": TEXT},
    "slice": {"start": INT},
}
# Keys that may be missing but, when there, have these types
OPTIONAL = {
    "ipc": {"count": INT, "check": INT},
    "start": {"kind": TEXT, "by": TEXT},
    "restart": {"by": TEXT},
}


class TraceError(Exception):
    """A trace that cannot be read; str is one line naming the file (and line)."""


@dataclass(slots=True)
class Event:
    """One event of the trace: its line in the file and its keys as written."""
    line: int
    data: dict

    @property
    def t(self):
        return self.data["t"]

    @property
    def ev(self):
        return self.data["ev"]

    @property
    def proc(self):
        return self.data["proc"]

    @property
    def ep(self):
        return self.data["ep"]

    def get(self, key, default=None):
        return self.data.get(key, default)


def load(path):
    """Every event of the trace file `path`, checked; raises TraceError."""
    try:
        with open(path, "rb") as stream:
            raw_lines = stream.read().split(b"\n")
    except OSError as error:
        raise TraceError(f"{path}: {error.strerror or error}") from None
    events = []
    last_t = 0
    for number, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        data = _parse(path, number, raw)
        _check(path, number, data, last_t)
        last_t = data["t"]
        events.append(Event(number, data))
    if not events:
        raise TraceError(f"{path}: no events: not an IPC trace (emu boot IMAGE --trace FILE)")
    return events


def _parse(path, number, raw):
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise TraceError(f"{path}:{number}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise TraceError(f"{path}:{number}: not JSON: {error.msg} at column {error.colno}") \
            from None
    if not isinstance(data, dict):
        raise TraceError(f"{path}:{number}: not a JSON object")
    return data


def _check(path, number, data, last_t):
    keys = REQUIRED.get(data.get("ev"), {})
    optional = OPTIONAL.get(data.get("ev"), {})
    for table in (COMMON, keys, optional):
        for key, types in table.items():
            if key not in data:
                if table is optional:
                    continue
                raise TraceError(f"{path}:{number}: {_what(data)} has no '{key}'")
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, types):
                raise TraceError(f"{path}:{number}: {_what(data)}: '{key}' is "
                                 f"{json.dumps(value)}, not {_type_names(types)}")
    if data["t"] < 0:
        raise TraceError(f"{path}:{number}: negative time t={data['t']}")
    if data["t"] < last_t:
        raise TraceError(f"{path}:{number}: time goes back: t={data['t']} after t={last_t}")
    if data["ev"] == "slice" and not 0 <= data["start"] <= data["t"]:
        raise TraceError(f"{path}:{number}: slice start={data['start']} is not in "
                         f"0..t={data['t']}")


def _what(data):
    ev = data.get("ev")
    return f"'{ev}' event" if isinstance(ev, str) else "event"


def _type_names(types):
    names = {int: "an integer", str: "a string", type(None): "null"}
    return " or ".join(names[t] for t in types)
