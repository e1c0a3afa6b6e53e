"""One IPC trap as the debugger saw it: its arguments, what the kernel did, its result.

Contract: a `TrapRecord` is opened when a process's `int 0x21` goes to the kernel (the
debugger's trap hook), with the registers of the call and, for a message that lies in
the caller's memory, its type.  The trace events the kernel emits while it handles the
trap are the record's `events` (numbers `mark`..`end` of the recorder): the checks'
denial, the delivery, the kernel call with its arguments and result.  The record is
sealed when the call completes at once (`result`), or, when the caller blocked, at the
end of its slice (`blocked` = its state then, such as `SENDING to vfs`); a later
completion sets `result` and `completion` (the event that delivered the answer).
`TrapLog` keeps the last record of each process (`last`) and does this bookkeeping for
the debugger's hooks: `open` at a trap, `complete` when a call completes, `slice_ended`
and `ended` from the trace events.
"""

from dataclasses import dataclass, field

from kernel.abi import ASEND, M_TYPE, MSG_SIZE

from emu.debug.catches import SENDING, primitive_of, read_word, signed32


@dataclass(eq=False)
class TrapRecord:
    proc: object
    label: str
    endpoint: int
    address: int            # the `int 0x21`
    function: int           # ecx
    peer: int               # eax, signed (ASEND: the entry count)
    message: int            # ebx
    peer_name: str
    m_type: int | None      # the type of the message sent (SEND, SENDREC, NBSEND)
    mark: int
    t: int
    end: int | None = None
    events: list = field(default_factory=list)
    result: int | None = None
    blocked: str | None = None
    completion: dict | None = None
    done: bool = False

    @property
    def primitive(self):
        return primitive_of(self.function)

    @property
    def sealed(self):
        return self.end is not None


def open_record(proc, eax, ebx, ecx, table, mark, now):
    primitive = primitive_of(ecx)
    peer = signed32(eax)
    cpu = proc.cpu
    m_type = None
    if primitive in SENDING and cpu.in_rw(ebx, MSG_SIZE):
        m_type = read_word(cpu, ebx, M_TYPE)
    peer_name = str(peer) if primitive == ASEND else table.name_of(peer)
    return TrapRecord(proc, proc.label, proc.endpoint, cpu.eip - 2, ecx, peer, ebx,
                      peer_name, m_type, mark, now)


class TrapLog:
    """The last trap of every process, with the events of its handling."""

    def __init__(self, table):
        self.table = table
        self.recorder = None        # the debugger's Recorder, set when it attaches
        self.last = {}              # proc -> its last TrapRecord
        self.current = None         # the record whose events are being collected

    def open(self, proc, eax, ebx, ecx, now):
        self.seal()
        record = open_record(proc, eax, ebx, ecx, self.table, self.recorder.count, now)
        self.last[proc] = record
        self.current = record
        return record

    def seal(self, end=None):
        """The current trap's events end here (at event number `end`, else now)."""
        record = self.current
        if record is None:
            return
        self.current = None
        record.end = self.recorder.count if end is None else end
        record.events = self.recorder.since(record.mark, record.end)
        if not record.done:
            proc = record.proc
            record.blocked = proc.state_text(self.table) if proc.alive else "ended"

    def complete(self, proc, result):
        """`proc`'s call completed with `result`: its record, or None (not seen)."""
        record = self.last.get(proc)
        if record is None or record.done:
            return None
        record.result = result
        record.done = True
        if record is self.current:
            self.seal()
        else:
            record.completion = self._completion(proc)
        return record

    def _completion(self, proc):
        """The event that completed a blocked call of `proc` (its delivery)."""
        for event in reversed(self.recorder.last(4)):
            if event.get("ep") == proc.endpoint and event["ev"] == "ipc":
                return event
        return None

    def slice_ended(self, number, endpoint):
        record = self.current
        if record is not None and endpoint == record.endpoint:
            self.seal(number)

    def ended(self, proc, number):
        record = self.last.get(proc)
        if record is not None and not record.done:
            record.done = True
            if record is self.current:
                self.seal(number + 1)
            record.blocked = record.blocked or "ended"
