"""The system policy: `system.toml` parsed and checked, deny by default.

`load_system(path)` reads a system.toml and returns a `SystemConfig` whose `programs` are
`ProgramPolicy` values in file order (program i boots in slot i, window i).  Anything the
policy does not grant is denied; anything it cannot read exactly is rejected with
`PolicyError`, whose str is `file:line: message` (the line of the offending key, or of the
`[[program]]` header when a key is missing).  Nothing is ever silently widened.

Each `[[program]]` table takes exactly these keys (SPEC section 4):

  label         required: lower case `[a-z][a-z0-9_]*`, at most 15 characters, unique
  source        required: assembly, or a prebuilt ELF if it ends in `.elf`; relative to
                the folder of system.toml; must exist
  kind          required: "driver" (untrusted), "server" (trusted) or "user"
  ipc           primitives by name (SEND, RECEIVE, SENDREC, NOTIFY, NBSEND, ASEND)
  targets       program labels, the tasks SYSTEM, CLOCK, HARDWARE, ALL (every program and
                task) or ALL_SYS (every driver, server and task); kept expanded, without
                duplicates: tasks first, then labels in image order
  kernel_calls  kernel calls by name (DEVIO, IRQCTL, ...)
  io            inclusive port ranges in hex: "0xLO-0xHI" or "0xPORT"
  irq           IRQ lines 0..NR_IRQS-1
  priority      scheduling queue 0 (highest) .. NR_SCHED_QUEUES-1; default by kind:
                DEFAULT_PRIORITY_DRIVER, DEFAULT_PRIORITY_SERVER, DEFAULT_PRIORITY_USER
  quantum       clock ticks per quantum, at least 1; default DEFAULT_QUANTUM
  heartbeat     RS ping period in clock ticks, 0 = no heartbeat; default 0
  restart       RS policy "always", "never" or "backoff"; default "always" for drivers
                and servers, "never" for users

ipc, targets, kernel_calls, io and irq default to empty: what is not granted is denied.

`ProgramPolicy.to_dict()` gives a policy as a plain table (names, not numbers; source as
written); `ProgramPolicy.from_dict()` and `programs_from_dicts()` rebuild and re-check it.
This is how the boot image stores policies.
"""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kernel import abi

KINDS = ("driver", "server", "user")
RESTARTS = ("always", "never", "backoff")
FIELDS = ("label", "source", "kind", "ipc", "targets", "kernel_calls", "io", "irq",
          "priority", "quantum", "heartbeat", "restart")
REQUIRED = ("label", "source", "kind")
TASKS = tuple(sorted(abi.TASK_BY_NAME, key=abi.TASK_BY_NAME.get, reverse=True))
LABEL_MAX = 15
DEFAULT_PRIORITY = {"driver": abi.DEFAULT_PRIORITY_DRIVER, "server": abi.DEFAULT_PRIORITY_SERVER,
                    "user": abi.DEFAULT_PRIORITY_USER}
DEFAULT_RESTART = {"driver": "always", "server": "always", "user": "never"}

_LABEL = re.compile(r"[a-z][a-z0-9_]*")
_PORT_RANGE = re.compile(r"0x([0-9a-fA-F]{1,4})(?:-0x([0-9a-fA-F]{1,4}))?")
_TOML_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")     # in tomllib's errors
_HEADER = re.compile(r"\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*[.=]""")
_TOKEN = re.compile(r'''"""|\'\'\'|"(?:[^"\\]|\\.)*"|'[^']*'|#.*|[][{}]''')
_CLOSE = {'"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""'),
          "'''": re.compile(r"(?:[^']|'(?!''))*'''")}
_TYPE_NAMES = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
               dict: "table"}                           # all else tomllib gives: date-time


class PolicyError(Exception):
    """A policy that cannot be accepted; str is `file:line: message` (no line: `file: ...`)."""

    def __init__(self, file, line, message):
        super().__init__(message)
        self.file, self.line, self.message = str(file), line, message

    def __str__(self):
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ProgramPolicy:
    """One boot program and everything it is allowed to do."""
    label: str
    source: Path                # absolute
    kind: str
    ipc: frozenset              # primitive numbers
    targets: tuple              # labels and task names, expanded
    kernel_calls: frozenset     # kernel-call numbers
    io: tuple                   # (lo, hi) inclusive port ranges, in file order
    irq: tuple                  # IRQ lines, ascending
    priority: int
    quantum: int
    heartbeat: int
    restart: str
    line: int                   # line of its [[program]] header in system.toml
    source_spec: str            # source as written in system.toml

    @property
    def prebuilt(self) -> bool:
        """True when the source is a prebuilt ELF rather than assembly."""
        return self.source.suffix == ".elf"

    def to_dict(self) -> dict:
        """The policy as a [[program]] table plus `line`, ready for JSON or TOML."""
        return {
            "label": self.label, "source": self.source_spec, "kind": self.kind,
            "ipc": [abi.PRIMITIVE_NAMES[n] for n in sorted(self.ipc)],
            "targets": list(self.targets),
            "kernel_calls": [abi.KERNEL_CALL_NAMES[n] for n in sorted(self.kernel_calls)],
            "io": [f"0x{lo:X}" if lo == hi else f"0x{lo:X}-0x{hi:X}" for lo, hi in self.io],
            "irq": list(self.irq), "priority": self.priority, "quantum": self.quantum,
            "heartbeat": self.heartbeat, "restart": self.restart, "line": self.line,
        }

    @classmethod
    def from_dict(cls, data, kinds, base_dir, origin="<policy>") -> "ProgramPolicy":
        """Rebuild and re-check a `to_dict()` table; a PolicyError names `origin`.

        `kinds` maps every label of the system to its kind (targets must name one of
        them); the source is taken from `base_dir` and need not exist.
        """
        label = data.get("label") if type(data) is dict else None
        try:
            if type(data) is not dict or type(data.get("line")) is not int or data["line"] < 0:
                raise _Invalid("line", "a stored policy is a table with its line (>= 0)")
            table = _without_line(data)
            _check_keys(table)
            return _check_program(table, kinds, Path(base_dir), data["line"], False)
        except _Invalid as bad:
            raise PolicyError(origin, None, f"program {label!r}: {bad.message}") from None


@dataclass(frozen=True)
class SystemConfig:
    """A checked system.toml: its path (as given), its text and its programs in order."""
    path: Path
    text: str
    programs: list


class _Invalid(Exception):
    """A bad value, before it is placed: the `key` it is under and the `message`."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key, self.message = key, message


def load_system(path) -> SystemConfig:
    """Read and check the system.toml at `path`; raise PolicyError on anything wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PolicyError(path, None, f"cannot read: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(path, raw[:error.start].count(b"\n") + 1, "not UTF-8") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _toml_error(path, text, error) from None
    positions = _Positions(text)

    def fail(index, key, message):
        raise PolicyError(path, positions.line(index, key), message)

    for key in document:
        if key != "program":
            fail(None, key, f"unknown key '{key}' (a system has only [[program]] tables)")
    tables = document.get("program", [])
    if type(tables) is not list or not all(type(t) is dict for t in tables):
        fail(None, "program", "'program' must be [[program]] tables")
    kinds = _check_set(tables, fail)
    programs = []
    for index, table in enumerate(tables):
        try:
            programs.append(_check_program(table, kinds, path.resolve().parent,
                                           positions.line(index, None), True))
        except _Invalid as bad:
            fail(index, bad.key, bad.message)
    return SystemConfig(path=path, text=text, programs=programs)


def programs_from_dicts(tables, base_dir, origin) -> list:
    """Rebuild and re-check a whole system from `to_dict()` tables (as the image stores it)."""
    def fail(index, key, message):
        raise PolicyError(origin, None, ("" if index is None else f"program {index}: ") + message)

    if type(tables) is not list or not all(type(t) is dict for t in tables):
        fail(None, None, "programs must be a list of tables")
    kinds = _check_set([_without_line(t) for t in tables], fail)
    return [ProgramPolicy.from_dict(t, kinds, base_dir, origin) for t in tables]


def _without_line(table) -> dict:
    return {key: value for key, value in table.items() if key != "line"}


def _check_set(tables, fail) -> dict:
    """System-wide rules, then each table's keys, label and kind: label -> kind, in order."""
    if not tables:
        fail(None, None, "no [[program]] table: a system needs at least one program")
    if len(tables) > abi.NR_PROCS:
        fail(abi.NR_PROCS, None, f"too many programs: {len(tables)} (at most {abi.NR_PROCS})")
    kinds = {}
    for index, table in enumerate(tables):
        try:
            _check_keys(table)
            label, kind = _label(table), _choice(table, "kind", KINDS)
        except _Invalid as bad:
            fail(index, bad.key, bad.message)
        if label in kinds:
            fail(index, "label", f"duplicate label '{label}'")
        kinds[label] = kind
    return kinds


def _check_keys(table):
    for key in table:
        if key not in FIELDS:
            raise _Invalid(key, f"unknown key '{key}' (known: {', '.join(FIELDS)})")
    for key in REQUIRED:
        if key not in table:
            raise _Invalid(None, f"missing required key '{key}'")


def _check_program(table, kinds, base_dir, line, need_source) -> ProgramPolicy:
    kind, source_spec = _choice(table, "kind", KINDS), _typed(table, "source", str)
    return ProgramPolicy(
        label=_label(table), source=_source(source_spec, base_dir, need_source),
        kind=kind, ipc=frozenset(_names(table, "ipc", abi.PRIMITIVE_BY_NAME, "primitive")),
        targets=_targets(table, kinds),
        kernel_calls=frozenset(_names(table, "kernel_calls", abi.KERNEL_CALL_BY_NAME,
                                      "kernel call")),
        io=tuple(_port_range(item) for item in _list(table, "io", str)),
        irq=tuple(sorted({_ranged("irq", n, 0, abi.NR_IRQS - 1)
                          for n in _list(table, "irq", int)})),
        priority=_ranged("priority", table.get("priority", DEFAULT_PRIORITY[kind]),
                         0, abi.NR_SCHED_QUEUES - 1),
        quantum=_ranged("quantum", table.get("quantum", abi.DEFAULT_QUANTUM), 1),
        heartbeat=_ranged("heartbeat", table.get("heartbeat", 0), 0),
        restart=_choice(table, "restart", RESTARTS, DEFAULT_RESTART[kind]),
        line=line, source_spec=source_spec)


def _label(table) -> str:
    label = _typed(table, "label", str)
    if not _LABEL.fullmatch(label) or len(label) > LABEL_MAX:
        raise _Invalid("label", f"bad label '{label}': lower case [a-z][a-z0-9_]*, "
                                f"at most {LABEL_MAX} characters")
    return label


def _source(spec, base_dir, need_source) -> Path:
    path = base_dir / spec
    if not spec or (need_source and not path.is_file()):
        raise _Invalid("source", f"source '{spec}' not found ({path})")
    return path


def _targets(table, kinds) -> tuple:
    wanted = set()
    for name in _list(table, "targets", str):
        if name == "ALL":
            wanted.update(TASKS, kinds)
        elif name == "ALL_SYS":
            wanted.update(TASKS, (label for label, kind in kinds.items() if kind != "user"))
        elif name in TASKS or name in kinds:
            wanted.add(name)
        else:
            raise _Invalid("targets", f"unknown target '{name}' (not a program label, "
                                      f"{', '.join(TASKS)}, ALL or ALL_SYS)")
    return tuple(name for name in (*TASKS, *kinds) if name in wanted)


def _names(table, key, known, what) -> list:
    for name in _list(table, key, str):
        if name not in known:
            raise _Invalid(key, f"unknown {what} '{name}' (known: {', '.join(known)})")
    return [known[name] for name in table.get(key, [])]


def _port_range(text) -> tuple:
    match = _PORT_RANGE.fullmatch(text)
    if not match or int(match[1], 16) > int(match[2] or match[1], 16):
        raise _Invalid("io", f"bad port range '{text}': \"0xLO-0xHI\" or \"0xPORT\" "
                             f"with LO <= HI <= 0xFFFF")
    return int(match[1], 16), int(match[2] or match[1], 16)


def _typed(table, key, kind):
    value = table[key]
    if type(value) is not kind:
        raise _Invalid(key, f"{key}: expected {_TYPE_NAMES[kind]}, got {_toml_type(value)}")
    return value


def _list(table, key, kind) -> list:
    items = _typed({key: table.get(key, [])}, key, list)
    for item in items:
        if type(item) is not kind:
            raise _Invalid(key, f"{key}: expected an array of {_TYPE_NAMES[kind]}s, "
                                f"got a {_toml_type(item)} in it")
    return items


def _ranged(key, value, lo, hi=None) -> int:
    _typed({key: value}, key, int)
    if value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
        raise _Invalid(key, f"{key} {value} out of range ({bound})")
    return value


def _choice(table, key, choices, default=None) -> str:
    value = table.get(key, default)
    if type(value) is not str or value not in choices:
        shown = f"'{value}'" if isinstance(value, str) else f"of type {_toml_type(value)}"
        raise _Invalid(key, f"bad {key} {shown}: one of {', '.join(choices)}")
    return value


def _toml_type(value) -> str:
    return _TYPE_NAMES.get(type(value), "date-time")


def _toml_error(path, text, error) -> PolicyError:
    """tomllib's message already names a line: put it in front."""
    message = str(error)
    match = _TOML_LINE.search(message)
    if match:
        return PolicyError(path, int(match[1]), f"{message[:match.start()]} (column {match[2]})")
    return PolicyError(path, max(1, text.count("\n") + (not text.endswith("\n"))), message)


class _Positions:
    """Lines of keys in a TOML text that tomllib accepted (tomllib gives no positions):
    the top-level keys and the keys of each [[program]] table, skipping the insides of
    multi-line arrays, inline tables and strings."""

    def __init__(self, text):
        self.top, self.headers, self.tables = {}, [], []
        current, depth, quote = self.top, 0, None
        for number, line in enumerate(text.split("\n"), 1):
            if depth == 0 and quote is None:
                header = _HEADER.match(line)
                if header:
                    current = self._enter(header[1] == "[[", header[2], number)
                    continue
                key = _KEY.match(line)
                if key:
                    current.setdefault(_unquote(key[1]), number)
            depth, quote = _carry(line, depth, quote)

    def _enter(self, array, name, number) -> dict:
        """Open a table header; return the dict its keys are recorded in."""
        parts = [_unquote(part.strip()) for part in name.split(".")]
        if array and parts == ["program"]:
            self.headers.append(number)
            self.tables.append({})
            return self.tables[-1]
        if parts[0] == "program" and len(parts) > 1 and self.tables:
            self.tables[-1].setdefault(parts[1], number)
        else:
            self.top.setdefault(parts[0], number)
        return {}

    def line(self, index, key) -> int:
        """Line of `key` in program `index` (else of its header), or at top level (else 1)."""
        if index is None:
            return self.top.get(key, 1)
        if index >= len(self.tables):
            return self.top.get("program", 1)
        return self.tables[index].get(key, self.headers[index])


def _unquote(key) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'" else key


def _carry(line, depth, quote):
    """Bracket depth and open multi-line string after `line`, given those before it."""
    pos = 0
    while True:
        if quote is not None:
            end = _CLOSE[quote].match(line, pos)
            if end is None:
                return depth, quote
            pos, quote = end.end(), None
        token = _TOKEN.search(line, pos)
        if token is None:
            return depth, None
        pos, text = token.end(), token[0]
        if text in ('"""', "'''"):
            quote = text
        elif text in ("[", "{"):
            depth += 1
        elif text in ("]", "}"):
            depth = max(0, depth - 1)
