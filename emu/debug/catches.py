"""IPC catchpoints: which traps stop the machine, at their entry or at their return.

Contract: an `IpcCatch` filters traps by primitive (a set of numbers, None for any), by
caller (`caller`: a label), by peer (`peer`: the label, task name or `ANY` named in eax,
or, at a return, the source of the message received) and by message type (`m_type`).
`entry` catches stop a process before its `int 0x21` (the kernel has not looked at it);
`ret` catches stop it when its call completes (at once, or when it is woken after
blocking).  A type filter looks at the message sent, at the entry of SEND, SENDREC and
NBSEND; for RECEIVE, whose message is only known at its end, it makes the catch a
return catch that looks at the message received.  The built-in `break ipc` makes entry
catches; gdb's `QCatchSyscalls` makes one catch of both kinds, for primitive numbers.
"""

from dataclasses import dataclass

from kernel.abi import (IPC_PRIMITIVE_MASK, M_SOURCE, M_TYPE, MSG_SIZE, NBSEND, NONBLOCK,
                        RECEIVE, SEND, SENDREC)
from kernel.names import PRIMITIVE_NAMES, type_name

SENDING = frozenset((SEND, SENDREC, NBSEND))


def primitive_of(function):
    """The primitive of an `ecx`, as the kernel reads it (SEND | NONBLOCK is NBSEND)."""
    primitive = function & IPC_PRIMITIVE_MASK
    if function & ~IPC_PRIMITIVE_MASK == NONBLOCK and primitive == SEND:
        return NBSEND
    return primitive


def signed32(value):
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def read_word(cpu, address, offset):
    """A signed word of a message in `cpu`'s memory, or None when not readable."""
    data = cpu.read(address + offset, 4) if cpu is not None else b""
    return int.from_bytes(data, "little", signed=True) if len(data) == 4 else None


@dataclass(eq=False)
class IpcCatch:
    number: int
    primitives: frozenset | None = None
    caller: str | None = None
    peer: str | None = None
    m_type: int | None = None
    entry: bool = True
    ret: bool = False
    hits: int = 0

    def __post_init__(self):
        if self.m_type is not None and self.primitives == frozenset((RECEIVE,)):
            self.entry, self.ret = False, True

    @property
    def kind(self):
        return "ipc catch"

    def describe(self):
        parts = ["IPC"]
        if self.primitives is None:
            parts.append("any primitive")
        else:
            parts.append("|".join(PRIMITIVE_NAMES.get(p, str(p)) for p in sorted(self.primitives)))
        if self.caller:
            parts.append(f"from {self.caller}")
        if self.peer:
            parts.append(f"to {self.peer}")
        if self.m_type is not None:
            name = type_name(self.m_type)
            parts.append(f"type {name:#x}" if isinstance(name, int) else f"type {name}")
        when = [w for w, on in (("entry", self.entry), ("return", self.ret)) if on]
        parts.append(f"({' and '.join(when)})")
        return " ".join(str(p) for p in parts)

    def _common(self, proc, primitive):
        if self.primitives is not None and primitive not in self.primitives:
            return False
        return self.caller is None or self.caller == proc.label

    def match_entry(self, proc, primitive, peer_name, ebx):
        if not self.entry or not self._common(proc, primitive):
            return False
        if self.peer is not None and self.peer != peer_name:
            return False
        if self.m_type is not None:
            if primitive not in SENDING or not proc.cpu.in_rw(ebx, MSG_SIZE):
                return False
            return read_word(proc.cpu, ebx, M_TYPE) == self.m_type
        return True

    def match_return(self, proc, record, table):
        """`record` (a TrapRecord) just completed."""
        if not self.ret or not self._common(proc, record.primitive):
            return False
        source = None
        if record.primitive in (RECEIVE, SENDREC) and record.result == 0 and \
                proc.cpu.in_rw(record.message, MSG_SIZE):
            source = read_word(proc.cpu, record.message, M_SOURCE)
        if self.peer is not None and self.peer != record.peer_name and (
                source is None or table.name_of(source) != self.peer):
            return False
        if self.m_type is not None:
            if record.primitive != RECEIVE or source is None:
                return False
            return read_word(proc.cpu, record.message, M_TYPE) == self.m_type
        return True
