"""Message statistics of a trace window, as plain-text tables.

Contract: `stats(model)` returns the text `emu trace FILE --stats` prints:
- messages per process pair (sender -> receiver, by primitive; a kernel call and its
  reply are two messages, a notification is one, whenever it was delivered, an ASEND
  entry one when it is delivered; the ASEND call itself, which hands over a table, is
  none);
- messages per type (`M_TYPE` name; kernel replies as `<CALL> reply`);
- denials by category: the five IPC rows of the seed's table (bad IPC primitive, bad
  IPC endpoint, bad message buffer, unauthorized IPC primitive, unauthorized IPC
  endpoint), deadlock, peer not ready (not a denial: NBSEND's normal answer), callers
  woken because their peer died (not a denial either), illegal kernel requests (the
  kernel's rejections, with a reason) by error and reason, and kernel calls answered
  with an error but no rejection (GETINFO's ENOENT at the end of a list);
- process events: faults, kills, restarts (of servers and drivers) and trust reports
  (a server's blocking SEND or SENDREC to a driver), per process;
- messages per call: the user calls of `tools.trace.calls`, grouped by callee, request
  and the drivers that worked for them (`via`), with the messages of each (mean, min,
  max); calls that ended without a reply are counted apart;
- messages per virtual second (`HZ` ticks of `TICK_INSNS` instructions), split into
  those of user calls and the background (no user call: heartbeats, alarms, DS news),
  and the background's rate over the whole window.
`calls_text(model)` returns what `--calls` prints: for each group of calls, the mean
number of each kind of message per call (`calls.key_of`), sender to receiver (the user
program that called is `(caller)`).
"""

from kernel.abi import HZ, TICK_INSNS
from tools.trace.calls import attribute, is_result, key_of
from tools.trace.model import DENIED, KCALL, NOT_READY, REPLY, WOKEN

SECOND = HZ * TICK_INSNS
CATEGORIES = {
    "EBADCALL": "bad IPC primitive",
    "EBADSRCDST": "bad IPC endpoint",
    "EDEADSRCDST": "bad IPC endpoint",
    "EFAULT": "bad message buffer",
    "ETRAPDENIED": "unauthorized IPC primitive",
    "ECALLDENIED": "unauthorized IPC endpoint",
    "ELOCKED": "deadlock",
    "ENOTREADY": "peer not ready (not a denial)",
}
WOKEN_ROW = "caller woken: peer died (not a denial)"
SEED_ROWS = ("bad IPC primitive", "bad IPC endpoint", "bad message buffer",
             "unauthorized IPC primitive", "unauthorized IPC endpoint")
EVENT_ROWS = ("fault", "kill", "restart", "trust")


def stats(model):
    """The statistics of `model` as text."""
    delivered = [m for m in model.messages if m.delivered]
    attribution = attribute(model)
    seconds = (model.t_last - model.t_first) / SECOND
    out = [f"{model.path}: {model.events} events, t={model.t_first}..{model.t_last} "
           f"({seconds:.6f} virtual s), {len(delivered)} messages"]
    out += _pairs(delivered)
    out += _types(delivered)
    out += _denials(model.messages)
    out += _process_events(model)
    out += _calls(attribution.calls)
    out += _per_second(delivered, attribution.background, seconds)
    return "\n".join(out) + "\n"


def calls_text(model):
    """The breakdown of the messages of each group of user calls, as text."""
    out = [f"{model.path}: messages of each user call, t={model.t_first}..{model.t_last}"]
    for (callee, request, via), calls in _groups(attribute(model).calls).items():
        counts = [len(call.messages) for call in calls]
        out += ["", f"{request} to {callee}{_via_text(via)}: {len(calls)} "
                f"{'call' if len(calls) == 1 else 'calls'}, {_mean(counts)} messages "
                f"per call (min {min(counts)}, max {max(counts)})"]
        per_key = {}
        for call in calls:
            for m in call.messages:
                key = (_role(m.src, call), _role(m.dst, call), _key(m, call))
                per_key[key] = per_key.get(key, 0) + 1
        rows = [(src, dst, key, _mean([n], len(calls)))
                for (src, dst, key), n in per_key.items()]
        out += _table(None, ("from", "to", "message", "per call"), rows)[2:]
    if len(out) == 1:
        out.append("  (no user call with a reply in the window)")
    return "\n".join(out) + "\n"


def _key(m, call):
    """A message's name in the breakdown of its call: the request and the reply named
    as such."""
    if m is call.messages[0] and m.kind != KCALL:
        return f"{m.op} {m.m_type}"
    if m is call.messages[-1] and call.end == "reply" and m.kind != REPLY:
        return f"{m.op} (the reply)"
    return key_of(m)


def _role(label, call):
    return "(caller)" if label == call.caller else label


def _table(title, header, rows):
    rows = [tuple(str(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = ["", title]
    for row in [header] + rows:
        cells = [cell.rjust(w) if i and cell.replace(".", "", 1).isdigit() else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  " + "  ".join(cells).rstrip())
    if not rows:
        lines.append("  (none)")
    return lines


def _count(keys):
    counts = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def _mean(counts, n=None):
    return f"{sum(counts) / (n or len(counts)):.1f}"


def _pairs(delivered):
    by_pair, by_op = {}, {}
    for m in delivered:
        key = (m.src, m.dst)
        by_pair[key] = by_pair.get(key, 0) + 1
        ops = by_op.setdefault(key, {})
        ops[m.op] = ops.get(m.op, 0) + 1
    order = sorted(by_pair.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [(src, dst, count, ", ".join(f"{op} {n}" for op, n in sorted(by_op[src, dst].items())))
            for (src, dst), count in order]
    return _table("Messages per process pair", ("from", "to", "messages", "by primitive"),
                  rows)


def _types(delivered):
    counts = _count(f"{m.m_type} reply" if m.kind == REPLY else
                    "(a result: a reply)" if is_result(m.m_type) else m.m_type or m.op
                    for m in delivered)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return _table("Messages per type", ("type", "messages"), rows)


def _denials(messages):
    refused = [m for m in messages if m.kind in (DENIED, NOT_READY)]
    by_category = _count(CATEGORIES.get(m.result, f"other ({m.result})") for m in refused)
    rows = [(row, by_category.pop(row, 0)) for row in SEED_ROWS]
    rows += sorted(by_category.items())
    rows.append((WOKEN_ROW, sum(1 for m in messages if m.kind == WOKEN)))
    failed = [m for m in messages if m.kind == REPLY and m.result != "OK"]
    illegal = _count((m.result, m.detail) for m in failed if m.detail)
    rows += [(f"illegal kernel request: {error} ({reason})", n)
             for (error, reason), n in sorted(illegal.items())]
    answered = _count(m.result for m in failed if not m.detail)
    rows += [(f"kernel call answered {error} (no rejection)", n)
             for error, n in sorted(answered.items())]
    return _table("Denials by category", ("category", "calls"), rows)


def _process_events(model):
    counts = _count((mark.kind, mark.proc) for mark in model.marks
                    if mark.kind in EVENT_ROWS and not (
                        mark.kind == "restart" and model.kinds.get(mark.proc) == "user"))
    rows = [(kind, proc, n) for (kind, proc), n in
            sorted(counts.items(), key=lambda kv: (EVENT_ROWS.index(kv[0][0]), kv[0][1]))]
    return _table("Faults, kills, restarts (servers and drivers) and trust reports",
                  ("event", "process", "count"), rows)


def _groups(calls):
    """Answered calls grouped by (callee, request, drivers), in order of first call."""
    groups = {}
    for call in calls:
        if call.end == "reply":
            groups.setdefault((call.callee, call.request, tuple(sorted(call.via))),
                              []).append(call)
    return groups


def _via_text(via):
    return f" via {', '.join(via)}" if via else ""


def _calls(calls):
    """Messages per call (see the module docstring)."""
    groups = _groups(calls)
    rows = []
    for (callee, request, via), members in sorted(groups.items()):
        counts = [len(call.messages) for call in members]
        rows.append((callee, request, ", ".join(via) or "-", len(counts), sum(counts),
                     _mean(counts), min(counts), max(counts)))
    lines = _table("Messages per call (a user program's SENDREC or kernel call, until its "
                   "reply; --calls breaks them down)",
                   ("callee", "request", "via", "calls", "messages", "mean", "min", "max"),
                   rows)
    unanswered = _count(f"{call.request} ({call.end or 'open at the end'})"
                        for call in calls if call.end != "reply")
    if unanswered:
        lines.append("  without a reply: " + ", ".join(
            f"{n} {what}" for what, n in sorted(unanswered.items())))
    return lines


def _per_second(delivered, background, seconds):
    counts = _count(m.t // SECOND for m in delivered)
    quiet = _count(m.t // SECOND for m in background)
    rows = [(f"{second}..{second + 1} s", counts[second], counts[second] - quiet.get(second, 0),
             quiet.get(second, 0)) for second in sorted(counts)]
    lines = _table("Messages per virtual second",
                   ("virtual time", "messages", "in user calls", "background"), rows)
    if seconds > 0:
        lines.append(f"  background: {len(background)} messages in {seconds:.6f} virtual s, "
                     f"{len(background) / seconds:.1f} per virtual second")
    return lines
