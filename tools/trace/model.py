"""The IPC of a trace as messages and marks: what the charts, timelines and statistics draw.

Contract: a `Model` (made by `tools.trace.pairing.build` from the checked events of
`load.load`) holds:
- `Message`s, one per arrow: a delivered message (the sender's event paired with the
  receiver's `RECEIVE` at the same time; an ASEND entry's delivery names in `t_posted`
  when its table was handed over), a notification (sent by NOTIFY, delivered at the
  receiver's RECEIVE, maybe later; repeated notifications coalesce into one delivery; a
  kernel task's notification has only its delivery), a kernel call (the SENDREC to a
  kernel task) and its reply (the `kcall` event: result, arguments, reason), every call
  the kernel refused (`result` not OK: an arrow toward the endpoint it named, which may
  be no process at all; an ASEND entry refused when the kernel read it is one toward
  the entry's destination), and every caller woken with `EDEADSRCDST` because its peer
  died (`WOKEN`: a failed call toward the dead peer);
- `Mark`s on one process: start, exit, fault, kill, restart (with the incarnation
  number and who restarted it), trust (a server's blocking SEND or SENDREC to a
  driver), kernel-log lines, and the hand-over of an ASEND table (`post`);
- `slices`: running intervals `(label, start, end)` from `slice` events, when the
  kernel writes them, and `states`: what each process did between them, computed from
  the whole trace (`tools.trace.timeline`: `(label, state, start, end)`, running,
  blocked or ready);
- the lifelines (processes by first appearance, then the kernel tasks), the kind of
  each process (`user`, `server`, `driver`, `kernel`) and the lives of each (the trace
  lines of the start and the end of every incarnation).
`Model.window(t_from, t_to, procs)` keeps what was sent in [t_from, t_to] between the
named lifelines (both ends named; a call to no process needs only its caller).
Items keep trace order; every item names the trace line it came from.
"""

from dataclasses import dataclass, field, replace

KERNEL_TASKS = ("SYSTEM", "CLOCK", "HARDWARE")
KIND_ORDER = {"user": 0, "server": 1, "driver": 2, "kernel": 3}

# Kinds of Message
MESSAGE = "message"         # delivered by SEND, SENDREC, NBSEND or ASEND
NOTIFY = "notify"           # a notification, from a process or a kernel task
KCALL = "kcall"             # a kernel call: SENDREC to a kernel task
REPLY = "reply"             # the kernel's answer to a kernel call
DENIED = "denied"           # a call the kernel refused (result is the error)
NOT_READY = "not-ready"     # NBSEND or non-blocking RECEIVE with the peer not ready
WOKEN = "woken"             # a blocked caller woken with EDEADSRCDST: its peer died
REFUSED = (DENIED, NOT_READY, WOKEN)     # calls that delivered nothing

PROCESS_EVENTS = ("start", "exit", "fault", "kill", "restart", "trust", "diag")
ENDS = ("exit", "fault", "kill")
PORT_CALLS = {"DEVIO", "VDEVIO", "SDEVIO"}
DRIVER_CALLS = PORT_CALLS | {"IRQCTL"}


@dataclass(slots=True)
class Message:
    kind: str
    line: int                   # trace line of the event that sent it
    t: int                      # virtual time it was sent
    src: str                    # the sender's lifeline
    dst: str | None             # the receiver's lifeline; None: the endpoint is no process
    op: str                     # the primitive; REPLY for the kernel's answer
    m_type: str                 # type name (or number) of the message; "" when unknown
    result: str                 # OK or the error's name
    label: str                  # the text on the arrow
    detail: str = ""            # more: arguments, reason, the endpoint named
    t_recv: int | None = None   # virtual time of delivery (None: never delivered)
    recv_line: int | None = None
    t_posted: int | None = None     # ASEND: when the sender handed over its table

    @property
    def delivered(self):
        """True for a message that reached its receiver (a kernel reply always does)."""
        return self.kind not in REFUSED and self.dst is not None and (
            self.t_recv is not None or self.kind == REPLY)


@dataclass(slots=True)
class Mark:
    kind: str                   # start, exit, fault, kill, restart, trust, diag, post
    line: int
    t: int
    proc: str
    ep: int
    label: str
    by: str | None = None       # start, kill, restart: the process that did it


@dataclass
class Model:
    path: str
    items: list                 # Messages and Marks in trace order
    lifelines: list
    kinds: dict                 # label -> user / server / driver / kernel
    lives: dict                 # label -> [[start line, end line or None], ...]
    slices: list = field(default_factory=list)
    states: list = field(default_factory=list)
    events: int = 0
    t_first: int = 0
    t_last: int = 0

    @property
    def messages(self):
        return [item for item in self.items if isinstance(item, Message)]

    @property
    def marks(self):
        return [item for item in self.items if isinstance(item, Mark)]

    def columns(self):
        """The lifelines in drawing order: users, servers, drivers, the kernel tasks."""
        return sorted(self.lifelines, key=lambda name: KIND_ORDER.get(self.kinds.get(name), 1))

    def window(self, t_from=None, t_to=None, procs=None):
        """The part of the model sent in [t_from, t_to] among the lifelines `procs`."""
        lo = self.t_first if t_from is None else t_from
        hi = self.t_last if t_to is None else t_to
        shown = set(procs) if procs else set(self.lifelines)

        def keep(item):
            if not lo <= item.t <= hi:
                return False
            if isinstance(item, Mark):
                return item.proc in shown
            return item.src in shown and (item.dst is None or item.dst in shown)
        return replace(self, items=[i for i in self.items if keep(i)],
                       lifelines=[name for name in self.lifelines if name in shown],
                       slices=[s for s in self.slices
                               if s[0] in shown and s[2] >= lo and s[1] <= hi],
                       states=[(label, name, max(a, lo), min(b, hi))
                               for label, name, a, b in self.states
                               if label in shown and min(b, hi) > max(a, lo)],
                       t_first=lo, t_last=hi)
