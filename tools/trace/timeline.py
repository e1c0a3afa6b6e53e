"""What each process was doing between its CPU slices, from the kernel's `slice` events.

Contract: `states(model)` returns `(label, name, start, end)` tuples, sorted, for every
process of `model` (a window) whose trace has `slice` events: `running` for each slice,
and for each gap between two slices of one process (and between its start and its
first slice, its last slice and its end):
- blocked, from the end of the slice to the event that freed it: `SENDREC: waiting
  for P` (its SENDREC was delivered to P in the gap or before, and P's answer freed
  it), `SEND: waiting for P` (until P took the message), `RECEIVE` (a message or a
  notification arrived), or the call in which it was woken with `EDEADSRCDST`, with
  ` (P died)`;
- `ready` (runnable, waiting for the CPU) from that event, or for the whole gap when
  nothing freed it (it was preempted), until its next slice; a new process is ready
  until its first slice.
A gap that ends with the process (an exit, fault or kill) is blocked or ready until
then; a last gap that nothing ends is left out: the trace does not say.  Every state
is exact: slices, deliveries and ends are all in the trace.
"""

from bisect import bisect_left, bisect_right

from tools.trace.model import ENDS, MESSAGE, NOTIFY, WOKEN, Mark

SENT, GOT, WOKE = "sent", "got", "woke"


def states(model):
    """The running, blocked and ready intervals of every process (see the docstring)."""
    slices, events, ends, starts = {}, {}, {}, {}
    for label, start, end in model.slices:
        slices.setdefault(label, []).append((start, end))
    for item in model.items:
        if isinstance(item, Mark):
            if item.kind == "start":
                starts.setdefault(item.proc, []).append(item.t)
            elif item.kind in ENDS:
                ends.setdefault(item.proc, []).append(item.t)
        elif item.kind == WOKEN:
            events.setdefault(item.src, []).append((item.t, WOKE, item))
        elif item.delivered and item.kind in (MESSAGE, NOTIFY):
            if item.kind == MESSAGE and item.op in ("SEND", "SENDREC"):
                events.setdefault(item.src, []).append((item.t, SENT, item))
            events.setdefault(item.dst, []).append((item.t_recv, GOT, item))
    out = []
    for label, runs in slices.items():
        runs.sort()
        out += [(label, "running", start, end) for start, end in runs if end > start]
        out += _gaps(label, runs, sorted(events.get(label, ()), key=lambda e: e[0]),
                     starts.get(label, []), ends.get(label, []))
    return sorted(out, key=lambda s: (s[2], s[0], -s[3]))


def _gaps(label, runs, events, starts, ends):
    """The states of `label` between its slices `runs`."""
    waiting = _sendrec_waits(events)
    times = [e[0] for e in events]
    out = []
    for start in starts:                     # a new process is ready until it first runs
        first = next((s for s, _ in runs if s >= start), None)
        if first is not None and first > start:
            out.append((label, "ready", start, first))
    for i, (_, a) in enumerate(runs):
        nxt = runs[i + 1][0] if i + 1 < len(runs) else None
        end = next((t for t in ends if a <= t and (nxt is None or t <= nxt)), None)
        b = end if end is not None else nxt     # an end comes before any restart
        if b is None or b <= a:
            continue
        gap = events[bisect_left(times, a):bisect_right(times, b)]
        out += _gap(label, a, b, gap, waiting, end is None)
    return out


def _gap(label, a, b, gap, waiting, resumes):
    """The states of one gap [a, b]; `resumes`: a slice follows at b (else the process
    ends at b)."""
    name, freed = None, None
    sent = next((e for e in gap if e[1] == SENT), None)
    woke = next((e for e in gap if e[1] == WOKE and e[0] > a), None)
    got = next((e for e in gap if e[1] == GOT and e[0] > a), None)
    if woke is not None and (got is None or woke[0] <= got[0]):
        message = woke[2]
        name, freed = f"{_waiting(message.op, message.dst)} ({message.dst} died)", woke[0]
    elif sent is not None and sent[2].op == "SEND":
        name, freed = _waiting("SEND", sent[2].dst), sent[0]
    elif sent is not None:
        reply = next((e for e in gap if e[1] == GOT and e[2].src == sent[2].dst
                      and e[0] >= sent[0]), None)
        name, freed = _waiting("SENDREC", sent[2].dst), reply[0] if reply else None
    elif got is not None:
        peer = waiting.get(id(got[2]))
        name = _waiting("SENDREC", peer) if peer else "RECEIVE"
        freed = got[0]
    if name is None:                         # nothing freed it: it was preempted
        return [(label, "ready", a, b)] if resumes else []
    if freed is None:
        return [(label, name, a, b)]
    out = [(label, name, a, freed)] if freed > a else []
    if b > freed:
        out.append((label, "ready", freed, b))
    return out


def _waiting(op, peer):
    return f"{op}: waiting for {peer}" if op in ("SEND", "SENDREC") else op


def _sendrec_waits(events):
    """For every message delivered to the process while its SENDREC to the message's
    sender awaited the answer: id(message) -> that peer."""
    pending, waits = None, {}
    for _, what, message in events:
        if what == SENT and message.op == "SENDREC":
            pending = message.dst
        elif what == GOT and pending is not None and message.src == pending:
            waits[id(message)] = pending
            pending = None
        elif what == WOKE:
            pending = None
    return waits
