"""The IPC of a trace as messages and marks: what the charts, timelines and statistics draw.

Contract: `build(events, path)` turns the checked events of `load.load` into a `Model`:
- `Message`s, one per arrow: a delivered message (the sender's event paired with the
  receiver's `RECEIVE` at the same time), a notification (sent by NOTIFY, delivered at
  the receiver's RECEIVE, maybe later; repeated notifications coalesce into one
  delivery; a kernel task's notification has only its delivery), a kernel call (the
  SENDREC to a kernel task) and its reply (the `kcall` event: result, arguments,
  reason), and every call the kernel refused (`result` not OK: an arrow toward the
  endpoint it named, which may be no process at all);
- `Mark`s on one process: start, exit, fault, kill, restart, kernel-log lines, and the
  hand-over of an ASEND table;
- `slices`: running intervals `(label, start, end)` from `slice` events, when the
  kernel writes them;
- the lifelines (processes by first appearance, then the kernel tasks), the kind of
  each process (`user`, `server`, `driver`, from `start` events that carry `kind`, else
  inferred from what it did: see `_infer_kinds`) and the lives of each (the trace lines
  of the start and the end of every incarnation).
`Model.window(t_from, t_to, procs)` keeps what was sent in [t_from, t_to] between the
named lifelines (both ends named; a call to no process needs only its caller).
Items keep trace order; every item names the trace line it came from.
"""

from dataclasses import dataclass, field, replace

from kernel.abi import DIO_DIR_MASK, DIO_INPUT

KERNEL_TASKS = ("SYSTEM", "CLOCK", "HARDWARE")
KIND_ORDER = {"user": 0, "server": 1, "driver": 2, "kernel": 3}

# Kinds of Message
MESSAGE = "message"         # delivered by SEND, SENDREC, NBSEND or ASEND
NOTIFY = "notify"           # a notification, from a process or a kernel task
KCALL = "kcall"             # a kernel call: SENDREC to a kernel task
REPLY = "reply"             # the kernel's answer to a kernel call
DENIED = "denied"           # a call the kernel refused (result is the error)
NOT_READY = "not-ready"     # NBSEND or non-blocking RECEIVE with the peer not ready

PROCESS_EVENTS = ("start", "exit", "fault", "kill", "restart", "diag")
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


@dataclass(slots=True)
class Mark:
    kind: str                   # start, exit, fault, kill, restart, diag, post
    line: int
    t: int
    proc: str
    ep: int
    label: str


@dataclass
class Model:
    path: str
    items: list                 # Messages and Marks in trace order
    lifelines: list
    kinds: dict                 # label -> user / server / driver / kernel
    lives: dict                 # label -> [[start line, end line or None], ...]
    slices: list = field(default_factory=list)
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
                       t_first=lo, t_last=hi)


def build(events, path):
    """The model of the checked `events` of the trace file `path`."""
    builder = _Builder()
    handlers = {"ipc": builder.ipc, "kcall": builder.kcall, "slice": builder.slice}
    for event in events:
        handler = handlers.get(event.ev)
        if handler is not None:
            handler(event)
        elif event.ev in PROCESS_EVENTS:
            builder.process(event)
    labels = builder.labels
    tasks = [name for name in KERNEL_TASKS if name in builder.tasks_seen]
    kinds = _infer_kinds(labels, builder.items)
    kinds.update(builder.kinds)
    kinds.update((name, "kernel") for name in tasks)
    return Model(str(path), builder.items, labels + tasks, kinds, builder.lives,
                 builder.slices, len(events), events[0].t, events[-1].t)


class _Builder:
    """Pairs the events of one trace into messages, in one pass."""

    def __init__(self):
        self.items = []
        self.labels = []
        self.known = set()
        self.tasks_seen = set()
        self.kinds = {}
        self.lives = {}
        self.slices = []
        self.awaiting_receive = {}      # (dst ep, src ep) -> Message
        self.awaiting_notify = {}       # (src ep, dst ep) -> [Message, ...]
        self.awaiting_kcall = {}        # caller ep -> Message

    def see(self, label):
        if label not in self.known:
            self.known.add(label)
            self.labels.append(label)

    def lifeline(self, peer_label):
        """The lifeline an endpoint's label names, or None (a number, ANY, SELF...)."""
        if peer_label in KERNEL_TASKS:
            self.tasks_seen.add(peer_label)
            return peer_label
        return peer_label if peer_label in self.known else None

    # -- ipc ------------------------------------------------------------------------------
    def ipc(self, event):
        self.see(event.proc)
        op, result = str(event.get("op")), event.get("result")
        if result != "OK":
            self.refused(event, op, result)
        elif op == "RECEIVE":
            self.receive(event)
        elif op == "ASEND" and event.get("m_type") is None:
            self.mark(event, "post", f"ASEND table of {_entries(event)}")
        else:
            self.send(event, op)

    def send(self, event, op):
        dst = self.lifeline(event.get("peer_label"))
        m_type = _text(event.get("m_type"))
        if dst in KERNEL_TASKS:
            message = Message(KCALL, event.line, event.t, event.proc, dst, op, m_type, "OK",
                              m_type, t_recv=event.t, recv_line=event.line)
            self.awaiting_kcall[event.ep] = message
        elif op == "NOTIFY":
            message = Message(NOTIFY, event.line, event.t, event.proc, dst, op,
                              "NOTIFY_MESSAGE", "OK", "NOTIFY")
            self.awaiting_notify.setdefault((event.ep, event.get("peer")), []).append(message)
        else:
            message = Message(MESSAGE, event.line, event.t, event.proc, dst, op, m_type, "OK",
                              f"{op} {m_type}")
            self.awaiting_receive[(event.get("peer"), event.ep)] = message
        self.items.append(message)

    def receive(self, event):
        key = (event.ep, event.get("peer"))
        message = self.awaiting_receive.pop(key, None)
        if message is not None:
            message.t_recv, message.recv_line = event.t, event.line
            return
        notified = self.awaiting_notify.pop((event.get("peer"), event.ep), None)
        if notified:
            for message in notified:          # repeats coalesce into this one delivery
                message.t_recv, message.recv_line = event.t, event.line
            return
        src = self.lifeline(event.get("peer_label")) or str(event.get("peer_label"))
        m_type = _text(event.get("m_type"))
        kind, label = (NOTIFY, "NOTIFY") if m_type == "NOTIFY_MESSAGE" else \
            (MESSAGE, f"? {m_type}")
        self.items.append(Message(kind, event.line, event.t, src, event.proc, kind.upper(),
                                  m_type, "OK", label, t_recv=event.t, recv_line=event.line))

    def refused(self, event, op, result):
        peer_label = event.get("peer_label")
        dst = self.lifeline(peer_label)
        kind = NOT_READY if result == "ENOTREADY" else DENIED
        if op == "ASEND" and event.get("m_type") is None:
            dst, where = None, f"table of {_entries(event)}"
        else:
            where = f"endpoint {peer_label}" if dst is None else ""
        self.items.append(Message(kind, event.line, event.t, event.proc, dst, op,
                                  _text(event.get("m_type")), result, f"{op} {result}",
                                  where))

    # -- kernel calls -----------------------------------------------------------------------
    def kcall(self, event):
        self.see(event.proc)
        data = event.data
        call, result = data["call"], data["result"]
        args = {k: v for k, v in data.items()
                if k not in ("t", "ev", "proc", "ep", "call", "result", "reason")}
        request = self.awaiting_kcall.pop(event.ep, None)
        if request is None or request.t != event.t:
            self.tasks_seen.add("SYSTEM")
            request = Message(KCALL, event.line, event.t, event.proc, "SYSTEM", "SENDREC",
                              "SYS_" + call, "OK", "", t_recv=event.t, recv_line=event.line)
            self.items.append(request)
        asked, answered = _split_args(call, args)
        request.label = " ".join([call] + asked)
        request.detail = " ".join(f"{k}={_hex(v)}" for k, v in args.items())
        reason = data.get("reason", "")
        label = " ".join([result] + answered) + (f": {reason}" if reason else "")
        self.items.append(Message(REPLY, event.line, event.t, request.dst, event.proc, "REPLY",
                                  call, result, label, reason, event.t, event.line))

    # -- process events ---------------------------------------------------------------------
    def process(self, event):
        label, ev = event.proc, event.ev
        self.see(label)
        if ev == "start":
            self.lives.setdefault(label, []).append([event.line, None])
            if isinstance(event.get("kind"), str):
                self.kinds[label] = event.get("kind")
        elif ev in ENDS and self.lives.get(label) and self.lives[label][-1][1] is None:
            self.lives[label][-1][1] = event.line
        self.mark(event, ev, _mark_label(event))

    def mark(self, event, kind, label):
        self.items.append(Mark(kind, event.line, event.t, event.proc, event.ep, label))

    def slice(self, event):
        self.see(event.proc)
        self.slices.append((event.proc, event.get("start"), event.t))


def _mark_label(event):
    ev = event.ev
    if ev == "start":
        return f"start (endpoint {event.ep})"
    if ev == "exit":
        return f"exit {event.get('status', '')}".rstrip()
    if ev == "fault":
        insn = f": {event.get('insn')}" if event.get("insn") else ""
        return f"FAULT {event.get('cause')} at {_hex(event.get('addr'))}, " \
               f"eip {_hex(event.get('eip'))}{insn}"
    if ev == "kill":
        return f"killed by {event.get('by')}"
    if ev == "restart":
        return "restart"
    return str(event.get("text"))


def _entries(event):
    """The size of the table of an ASEND call: its `count`, or its `peer` (where the
    kernel puts the count of a call, as the trap's eax)."""
    count = event.get("count", event.get("peer"))
    return f"{count} {'entry' if count == 1 else 'entries'}"


def _split_args(call, args):
    """A kernel call's arguments as `name=value` texts: (asked in the request, answered in
    the reply).  The DEVIO family's request word is shown as its direction, and a DEVIO
    input answers the value read."""
    if call not in PORT_CALLS or not isinstance(args.get("request"), int):
        return [f"{k}={_hex(v)}" for k, v in args.items()], []
    direction = "in" if args["request"] & DIO_DIR_MASK == DIO_INPUT else "out"
    answer = "value" if call == "DEVIO" and direction == "in" else None
    asked = [direction] + [f"{k}={_hex(v)}" for k, v in args.items()
                           if k not in ("request", answer)]
    answered = [f"value={_hex(args['value'])}"] if answer in args else []
    return asked, answered


def _hex(value):
    return f"{value:#x}" if isinstance(value, int) and not isinstance(value, bool) else \
        str(value)


def _text(m_type):
    return "" if m_type is None else str(m_type)


def _infer_kinds(labels, items):
    """Each process's kind from what it did, for kernels whose `start` events carry no
    `kind`: a driver did device kernel calls or took interrupts; a server was sent
    requests (SENDREC) or notifications by processes; a user did neither."""
    drivers, servers = set(), set()
    for item in items:
        if not isinstance(item, Message):
            continue
        if item.kind == REPLY and item.result == "OK" and item.m_type in DRIVER_CALLS or \
                item.kind == NOTIFY and item.src == "HARDWARE":
            drivers.add(item.dst)
        elif item.src not in KERNEL_TASKS and (
                item.kind == NOTIFY or item.kind == MESSAGE and item.op == "SENDREC"):
            servers.add(item.dst)
    return {label: "driver" if label in drivers else "server" if label in servers else "user"
            for label in labels}
