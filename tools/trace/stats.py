"""Message statistics of a trace window, as plain-text tables.

Contract: `stats(model)` returns the text `emu trace FILE --stats` prints:
- messages per process pair (sender -> receiver, by primitive; a kernel call and its
  reply are two messages, a notification is one, whenever it was delivered);
- messages per type (`M_TYPE` name; kernel replies as `<CALL> reply`);
- denials by category: the five IPC rows of the seed's table (bad IPC primitive, bad
  IPC endpoint, bad message buffer, unauthorized IPC primitive, unauthorized IPC
  endpoint), deadlock, peer not ready (not a denial: NBSEND's normal answer), and
  illegal kernel requests by error and reason;
- messages per call: every SENDREC of a user program to a server or driver, until its
  reply, counts the messages of the processes it set to work (the callee, and everyone
  a member sent to meanwhile, transitively), grouped by callee and request type; with
  two calls in one server at once, a message counts for the older call;
- messages per virtual second (`HZ` ticks of `TICK_INSNS` instructions).
"""

from kernel.abi import HZ, TICK_INSNS
from tools.trace.model import (DENIED, KCALL, KERNEL_TASKS, MESSAGE, NOT_READY, NOTIFY,
                               REPLY)

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
SEED_ROWS = ("bad IPC primitive", "bad IPC endpoint", "bad message buffer",
             "unauthorized IPC primitive", "unauthorized IPC endpoint")


def stats(model):
    """The statistics of `model` as text."""
    delivered = [m for m in model.messages if m.kind not in (DENIED, NOT_READY)
                 and m.dst is not None and (m.t_recv is not None or m.kind == REPLY)]
    seconds = (model.t_last - model.t_first) / SECOND
    out = [f"{model.path}: {model.events} events, t={model.t_first}..{model.t_last} "
           f"({seconds:.6f} virtual s), {len(delivered)} messages"]
    out += _pairs(delivered)
    out += _types(delivered)
    out += _denials(model.messages)
    out += _calls(model)
    out += _per_second(delivered)
    return "\n".join(out) + "\n"


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
    counts = _count(f"{m.m_type} reply" if m.kind == REPLY else m.m_type or m.op
                    for m in delivered)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return _table("Messages per type", ("type", "messages"), rows)


def _denials(messages):
    refused = [m for m in messages if m.kind in (DENIED, NOT_READY)]
    by_category = _count(CATEGORIES.get(m.result, f"other ({m.result})") for m in refused)
    rows = [(row, by_category.pop(row, 0)) for row in SEED_ROWS]
    rows += sorted(by_category.items())
    illegal = _count((m.result, m.detail or "-") for m in messages
                     if m.kind == REPLY and m.result != "OK")
    rows += [(f"illegal kernel request: {error} ({reason})", n)
             for (error, reason), n in sorted(illegal.items())]
    return _table("Denials by category", ("category", "calls"), rows)


def _calls(model):
    """Messages per call (see the module docstring)."""
    open_calls, done = [], []
    for m in model.messages:
        if m.kind not in (MESSAGE, KCALL, REPLY) and not (m.kind == NOTIFY and m.t_recv):
            continue
        if m.kind == MESSAGE and m.op == "SENDREC" and model.kinds.get(m.src) == "user":
            open_calls.append({"caller": m.src, "callee": m.dst, "type": m.m_type,
                               "members": {m.dst}, "messages": 1})
            continue
        for call in open_calls:
            if m.src in call["members"]:
                call["messages"] += 1
                if m.src == call["callee"] and m.dst == call["caller"]:
                    open_calls.remove(call)
                    done.append(call)
                elif m.dst is not None and m.dst not in KERNEL_TASKS:
                    call["members"].add(m.dst)
                break
    groups = {}
    for call in done:
        groups.setdefault((call["callee"], call["type"]), []).append(call["messages"])
    rows = [(callee, kind, len(counts), sum(counts), f"{sum(counts) / len(counts):.1f}",
             min(counts), max(counts)) for (callee, kind), counts in sorted(groups.items())]
    lines = _table("Messages per call (a user program's SENDREC, until its reply)",
                   ("callee", "request", "calls", "messages", "mean", "min", "max"), rows)
    if open_calls:
        lines.append(f"  ({len(open_calls)} calls without a reply in the window)")
    return lines


def _per_second(delivered):
    counts = _count(m.t // SECOND for m in delivered)
    rows = [(f"{second}..{second + 1} s", counts[second]) for second in sorted(counts)]
    return _table("Messages per virtual second", ("virtual time", "messages"), rows)
