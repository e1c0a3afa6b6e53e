"""A trace window as Chrome trace-event JSON, for the Perfetto UI (ui.perfetto.dev) and
chrome://tracing.

Contract: `perfetto(model)` returns the JSON object `{"traceEvents": [...], ...}`.
Timestamps are virtual time: one instruction is one microsecond (`ts` is in
microseconds, as the format wants), so the UI's times read as virtual time.  One
process ("minix-emu") holds one track (thread) per lifeline, named and ordered as in
the sequence chart.  On each track:
- an `ipc` slice one instruction long at every instant the process sent or received,
  named after the first message of that instant, its args listing them all; an ASEND
  entry is sent at the ASEND call that handed over its table (when that is in the
  window), so its flow runs from the call to the delivery;
- state slices (category `state`): with the kernel's `slice` events, exact `running`,
  blocked (`SENDREC: waiting for P`, `SEND: waiting for P`, `RECEIVE`) and `ready`
  intervals (`tools.trace.timeline`); without them, for older traces, `SENDREC: waiting
  for P` from a delivered SENDREC to the process's next event, and guesses of category
  `inferred` for the other gaps between its events (`running`, or `RECEIVE` for a gap
  that ends in a delivery to it);
- instants for process events (start, exit, fault, kill, restart, trust reports,
  kernel-log lines).
Every delivered message is a flow (`s` on the sender's ipc slice, `f` with `bp: e` on
the receiver's) with its own id.  Slices on a track nest properly, and events are sorted
by time, so every track's timestamps are monotonic.
"""

from tools.trace.model import ENDS, MESSAGE, NOTIFY, Mark

PID = 1
STATE = "state"


def perfetto(model):
    """The trace-event JSON object of `model`."""
    names = model.columns()
    tid = {name: i + 1 for i, name in enumerate(names)}
    meta = [_meta("process_name", 0, {"name": f"minix-emu: {model.path}"})]
    for name in names:
        meta.append(_meta("thread_name", tid[name], {"name": f"{name} ({model.kinds[name]})"}))
        meta.append(_meta("thread_sort_index", tid[name], {"sort_index": tid[name]}))
    points, flows = _ipc(model, tid)
    events = list(points) + flows + _states(model, tid, points) + _instants(model, tid)
    events.sort(key=lambda e: (e["ts"], -e.get("dur", 0)))
    return {"traceEvents": meta + _nested(events),
            "otherData": {"source": model.path, "time": "1 us = 1 instruction",
                          "from": model.t_first, "to": model.t_last}}


def _meta(name, tid, args):
    return {"name": name, "ph": "M", "ts": 0, "pid": PID, "tid": tid, "args": args}


def _ipc(model, tid):
    """The ipc slices, keyed by (tid, t), and the flow events between them."""
    points, flows = {}, []

    def point(name, t, label, text):
        key = (tid[name], t)
        if key not in points:
            points[key] = {"name": label, "cat": "ipc", "ph": "X", "ts": t, "dur": 1,
                           "pid": PID, "tid": tid[name], "args": {"messages": []}}
        points[key]["args"]["messages"].append(text)

    for mark in model.marks:
        if mark.kind == "post":
            point(mark.proc, mark.t, mark.label, f"{mark.label} (trace line {mark.line})")
    for message in model.messages:
        sent = message.t
        if message.t_posted is not None and message.t_posted >= model.t_first:
            sent = message.t_posted
        text = (f"{message.src} -> {message.dst or message.detail}: {message.label} "
                f"(trace line {message.line})")
        point(message.src, sent, message.label, text)
        if not message.delivered or message.t_recv is None:
            continue
        point(message.dst, message.t_recv, message.label, text)
        flow = len(flows) // 2 + 1
        common = {"name": "message", "cat": "ipc", "id": flow, "pid": PID}
        flows.append(dict(common, ph="s", ts=sent + 0.25, tid=tid[message.src]))
        flows.append(dict(common, ph="f", bp="e", ts=message.t_recv + 0.75,
                          tid=tid[message.dst]))
    return points.values(), flows


def _states(model, tid, points):
    """Running, blocked and ready slices of every process: exact from the kernel's
    `slice` events, else inferred."""
    if model.slices:
        return [_slice(name, STATE, start, end, tid[label])
                for label, name, start, end in model.states if label in tid]
    times = {}
    for event in points:
        times.setdefault(event["tid"], set()).add(event["ts"])
    for mark in model.marks:
        times.setdefault(tid[mark.proc], set()).add(mark.t)
    states = []
    waits, receives, ends = _waits(model)
    for name in model.lifelines:
        if model.kinds.get(name) == "kernel":
            continue
        track, sorted_times = tid[name], sorted(times.get(tid[name], ()))
        for a, b in zip(sorted_times, sorted_times[1:]):
            if (name, a) in ends or b - a < 2:
                continue
            if (name, a) in waits:
                states.append(_slice(f"SENDREC: waiting for {waits[name, a]}", STATE,
                                     a + 1, b, track))
            else:
                states.append(_slice("RECEIVE" if (name, b) in receives else "running",
                                     "inferred", a + 1, b, track))
    return states


def _waits(model):
    """(label, t) of every delivered SENDREC (-> its peer), of every delivery of a message
    or notification to a process, and of every end of a process."""
    waits, receives, ends = {}, set(), set()
    for item in model.items:
        if isinstance(item, Mark):
            if item.kind in ENDS:
                ends.add((item.proc, item.t))
        elif item.t_recv is not None and item.kind in (MESSAGE, NOTIFY):
            if item.kind == MESSAGE and item.op == "SENDREC":
                waits[item.src, item.t] = item.dst
            receives.add((item.dst, item.t_recv))
    return waits, receives, ends


def _slice(name, cat, start, end, track):
    return {"name": name, "cat": cat, "ph": "X", "ts": start, "dur": end - start, "pid": PID,
            "tid": track}


def _instants(model, tid):
    return [{"name": mark.label, "cat": mark.kind, "ph": "i", "s": "t", "ts": mark.t,
             "pid": PID, "tid": tid[mark.proc], "args": {"trace line": mark.line}}
            for mark in model.marks]


def _nested(events):
    """`events` (sorted by time, longer first) with every slice clipped to end within
    the slice that encloses its start, so each track's slices nest."""
    open_ends = {}                       # tid -> stack of end times of open slices
    for event in events:
        if event["ph"] != "X":
            continue
        stack = open_ends.setdefault(event["tid"], [])
        while stack and stack[-1] <= event["ts"]:
            stack.pop()
        if stack and event["ts"] + event["dur"] > stack[-1]:
            event["dur"] = stack[-1] - event["ts"]
        stack.append(event["ts"] + event["dur"])
    return events
