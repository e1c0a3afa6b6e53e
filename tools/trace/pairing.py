"""Pair the events of a trace into the messages and marks of a `Model` (`tools.trace.model`).

Contract: `build(events, path)` returns the `Model` of the checked `events` of the trace
file `path`, in one pass over the events:
- a sender's event and the receiver's `RECEIVE` at the same time are one message; a
  NOTIFY is paired with the receiver's later `RECEIVE` of a notification from it (all
  the NOTIFYs since the last delivery coalesce into it); a `RECEIVE` paired with
  nothing is a message from a kernel task (CLOCK, HARDWARE, SYSTEM) or from before the
  trace; a SENDREC to a kernel task and the `kcall` event after it are a kernel call
  and its reply;
- an `ipc` ASEND event with `count` (or no `peer`) is the ASEND call itself (a `post`
  mark, or a refused call when the table is bad); one with a `peer` is an entry: its
  delivery (`t_posted` = the time of the sender's last ASEND call, or of the call at
  the same time when the kernel delivered it at once) or its refusal;
- an `EDEADSRCDST` that names no `check` (the check of the spec's table that denied a
  call), written at the very time its peer ended (the end event comes first), is a
  caller woken because its peer died (`WOKEN`), not a refused call;
- process events are marks; `start` events with `kind` give the kinds, the others are
  inferred from what each process did (`_infer_kinds`);
- with `slice` events, the states of every process between its slices
  (`tools.trace.timeline`), from the whole trace, so that a window keeps them exact.
"""

from kernel.abi import DIO_DIR_MASK, DIO_INPUT
from kernel.names import result_name
from tools.trace.model import (DENIED, DRIVER_CALLS, ENDS, KCALL, KERNEL_TASKS, MESSAGE,
                               NOT_READY, NOTIFY, PORT_CALLS, PROCESS_EVENTS, REPLY, WOKEN,
                               Mark, Message, Model)
from tools.trace.timeline import states


def build(events, path):
    """The model of the checked `events` of the trace file `path`."""
    pairing = _Pairing()
    handlers = {"ipc": pairing.ipc, "kcall": pairing.kcall, "slice": pairing.slice}
    for event in events:
        handler = handlers.get(event.ev)
        if handler is not None:
            handler(event)
        elif event.ev in PROCESS_EVENTS:
            pairing.process(event)
    labels = pairing.labels
    tasks = [name for name in KERNEL_TASKS if name in pairing.tasks_seen]
    kinds = _infer_kinds(labels, pairing.items)
    kinds.update(pairing.kinds)
    kinds.update((name, "kernel") for name in tasks)
    model = Model(str(path), pairing.items, labels + tasks, kinds, pairing.lives,
                  pairing.slices, [], len(events), events[0].t, events[-1].t)
    model.states = states(model)
    return model


class _Pairing:
    """The state of the one pass over the events."""

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
        self.posted = {}                # sender ep -> time of its last ASEND call
        self.asend_deliveries = {}      # sender ep -> [Message] delivered at one time
        self.ended_at = {}              # ep -> time its process ended

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
        if op == "ASEND" and ("count" in event.data or event.get("peer") is None):
            self.asend_call(event, result)
        elif result == "EDEADSRCDST" and "check" not in event.data and \
                self.ended_at.get(event.get("peer")) == event.t:
            self.woken(event, op)
        elif result != "OK":
            self.refused(event, op, result)
        elif op == "RECEIVE":
            self.receive(event)
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
            if op == "ASEND":
                message.t_posted = self.posted.get(event.ep)
                recent = self.asend_deliveries.get(event.ep)
                if not recent or recent[0].t != event.t:
                    recent = self.asend_deliveries[event.ep] = []
                recent.append(message)
        self.items.append(message)

    def asend_call(self, event, result):
        """The ASEND call: the table handed over (a mark), or refused as a whole."""
        count = event.get("count", event.get("peer"))
        entries = f"{count} {'entry' if count == 1 else 'entries'}"
        if result != "OK":
            self.items.append(Message(DENIED, event.line, event.t, event.proc, None, "ASEND",
                                      "", result, f"ASEND {result}", f"table of {entries}"))
            return
        self.posted[event.ep] = event.t
        for message in self.asend_deliveries.pop(event.ep, ()):
            if message.t == event.t:            # delivered at once, during this call
                message.t_posted = event.t
        self.mark(event, "post", f"ASEND table of {entries}")

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
        where = f"endpoint {peer_label}" if dst is None else ""
        label = f"{op} {result}"
        if op == "ASEND":                     # one entry of the table, refused when read
            label = f"ASEND entry {result}"
        self.items.append(Message(kind, event.line, event.t, event.proc, dst, op,
                                  _text(event.get("m_type")), result, label, where))

    def woken(self, event, op):
        peer_label = event.get("peer_label")
        dst = self.lifeline(peer_label)
        self.items.append(Message(WOKEN, event.line, event.t, event.proc, dst, op, "",
                                  "EDEADSRCDST", f"{op} EDEADSRCDST",
                                  f"{peer_label} died"))

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
        elif ev in ENDS:
            self.ended_at[event.ep] = event.t
            if self.lives.get(label) and self.lives[label][-1][1] is None:
                self.lives[label][-1][1] = event.line
        self.mark(event, ev, self.mark_label(event))

    def mark(self, event, kind, label):
        by = event.get("by")
        self.items.append(Mark(kind, event.line, event.t, event.proc, event.ep, label,
                               by if isinstance(by, str) else None))

    def mark_label(self, event):
        ev, by = event.ev, event.get("by")
        by_text = f" by {by}" if isinstance(by, str) else ""
        if ev == "start":
            return f"start (endpoint {event.ep}){by_text}"
        if ev == "exit":
            return f"exit {event.get('status', '')}".rstrip()
        if ev == "fault":
            insn = f": {event.get('insn')}" if event.get("insn") else ""
            return f"FAULT {event.get('cause')} at {_hex(event.get('addr'))}, " \
                   f"eip {_hex(event.get('eip'))}{insn}"
        if ev == "kill":
            return f"killed{by_text}"
        if ev == "restart":
            n = event.get("n")
            if self.kinds.get(event.proc) == "user":
                return f"run {n + 1} of {event.proc}{by_text}"
            return f"restart {n}{by_text}"
        if ev == "trust":
            return f"TRUST: blocking {event.get('op')} to driver {event.get('peer_label')}"
        return str(event.get("text"))

    def slice(self, event):
        self.see(event.proc)
        self.slices.append((event.proc, event.get("start"), event.t))


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
    """A message type as text: its name, or for a number that is no type, a reply's
    result: 0 is `OK`, a negative number the error's name (`EIO`), others the number."""
    if m_type is None:
        return ""
    if isinstance(m_type, int) and not isinstance(m_type, bool) and m_type <= 0:
        return str(result_name(m_type))
    return str(m_type)


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
