"""The debugger's view of the trace: every event the kernel traces, kept in a ring.

Contract: `Recorder(inner, table, on_event)` is a `kernel.trace.Trace` that the debugger
puts in `kernel.trace` while it is attached.  Every event goes into a ring of the last
`RING_SIZE` events (as the dicts the kernel built, never encoded) and, when the boot
was tracing (`inner`, the kernel's own `Trace`), on to it unchanged, so a trace file is
the same with and without a debugger.  `count` numbers the events ever emitted;
`since(mark)` gives the events from number `mark` on that are still in the ring.
`on_event(number, event)` hears the process events (`start`, `exit`, `fault`, `kill`)
and the `slice` events, which tell the debugger where a trap that blocked ended.
"""

from collections import deque

from kernel.trace import Trace

RING_SIZE = 4096
WATCHED = frozenset(("start", "exit", "fault", "kill", "slice"))


class Recorder(Trace):
    """A Trace that keeps its events for the debugger (and forwards them)."""

    def __init__(self, inner, table, on_event):
        super().__init__(None, table)
        self.inner = inner
        self.ring = deque(maxlen=RING_SIZE)
        self.count = 0
        self.on_event = on_event

    def emit(self, event):
        self.ring.append(event)
        number = self.count
        self.count = number + 1
        self.events += 1
        if self.inner is not None:
            self.inner.emit(event)
        if event["ev"] in WATCHED:
            self.on_event(number, event)

    def since(self, mark, end=None):
        """Events numbered mark..end-1 (end: now) that are still in the ring."""
        end = self.count if end is None else end
        first = self.count - len(self.ring)
        mark = max(mark, first)
        return [self.ring[i - first] for i in range(mark, max(mark, end))]

    def last(self, n, kinds=None):
        """The last `n` events (of the given kinds), oldest first."""
        out = []
        for event in reversed(self.ring):
            if kinds is None or event["ev"] in kinds:
                out.append(event)
                if len(out) >= n:
                    break
        out.reverse()
        return out
