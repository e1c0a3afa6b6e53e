"""The interaction graph of a trace window, as SVG text: who talks to whom, how often.

Contract: `graph(model, title)` draws one node per lifeline that sent or received a
message, in bands from top to bottom (user programs, servers, drivers, the kernel
tasks), as the "MINIX 3 IPC interactions" figure does.  Two nodes that exchanged
messages are joined by one line; each direction is the half of it that ends in an
arrowhead at its receiver, labelled near that head with the number of messages
delivered that way (kernel calls and their replies in green; notifications count as
messages, the ASEND call that hands over a table does not), its width growing with the
count.  Calls that delivered nothing are a dashed line of their own beside it: red for
refused calls (`N refused`) and callers woken because their peer died (`N failed: peer
died`), orange for a peer not ready (`N not ready`); calls to no process at all are
counted on the caller's node.  A node says how many messages its process sent, and for
a server or driver that was restarted, how many times.  Within a band nodes keep the
order of first appearance, then move toward the nodes they talk to in the other bands
(one sweep down, one up).  Each direction is a `<g class="edge...">` with `data-src`
and `data-dst`; each node a `<g class="node KIND">` with `data-name`.
"""

import math

from tools.trace.model import DENIED, NOT_READY, REFUSED, WOKEN
from tools.trace.svg import Svg, text_width

BANDS = ("user", "server", "driver", "kernel")
BAND_NAMES = {"user": "user programs", "server": "servers", "driver": "drivers",
              "kernel": "kernel"}
FAILURES = ((DENIED, "refused"), (WOKEN, "failed: peer died"), (NOT_READY, "not ready"))
NODE_H = 40
BAND_H = 150
GAP = 60
LEFT = 110
TOP = 60


def graph(model, title):
    """The SVG text of the interaction graph of `model`."""
    delivered, failed, nowhere, sent = _count(model)
    restarts = {}
    for mark in model.marks:
        if mark.kind == "restart" and model.kinds.get(mark.proc) != "user":
            restarts[mark.proc] = restarts.get(mark.proc, 0) + 1
    used = {name for pair in list(delivered) + list(failed) for name in pair}
    used |= set(nowhere)
    bands = [[name for name in model.columns() if name in used
              and model.kinds.get(name) == band] for band in BANDS]
    bands = [(band, names) for band, names in zip(BANDS, bands) if names]
    _order(bands, delivered)
    notes = {name: _note(name, sent, nowhere, restarts) for _, names in bands for name in names}
    widths = {name: max(text_width(name), text_width(notes[name])) + 28 for name in notes}
    band_w = [sum(widths[n] for n in names) + GAP * (len(names) - 1) for _, names in bands]
    width = max(LEFT + max(band_w) + 60, text_width(title) * 1.3 + 24)
    height = TOP + BAND_H * len(bands) + 10
    where = {}
    for row, ((band, names), w) in enumerate(zip(bands, band_w)):
        x = LEFT + (width - LEFT - 40 - w) / 2
        for name in names:
            where[name] = (x + widths[name] / 2, TOP + row * BAND_H + BAND_H / 2, widths[name])
            x += widths[name] + GAP
    svg = Svg(width, height, title)
    svg.text(10, 22, title, "title")
    for row, (band, _) in enumerate(bands):
        y = TOP + row * BAND_H
        svg.rect(4, y + 6, width - 8, BAND_H - 12, "band", rx=6)
        svg.text(12, y + 22, BAND_NAMES[band], "bandname")
    for (a, b), count in sorted(delivered.items()):
        kernel = "kernel" in (model.kinds.get(a), model.kinds.get(b))
        _edge(svg, where, a, b, str(count), "edge kernel" if kernel else "edge",
              "green" if kernel else "blue", count, half=(b, a) in delivered)
    for (a, b), counts in sorted(failed.items()):
        label = ", ".join(f"{counts[kind]} {text}" for kind, text in FAILURES if kind in counts)
        colour, cls = ("orange", "edge not-ready") if set(counts) == {NOT_READY} else \
            ("red", "edge denied")
        _edge(svg, where, a, b, label, cls, colour, 1, shift=10)
    for name, (x, y, w) in where.items():
        kind = model.kinds.get(name, "")
        svg.open_group(f"node {kind}", f"{name} ({kind}): {notes[name]}", name=name)
        svg.rect(x - w / 2, y - NODE_H / 2, w, NODE_H, rx=6)
        svg.text(x, y - 3, name, anchor="middle")
        svg.text(x, y + 12, notes[name], "kindname", anchor="middle")
        svg.close_group()
    return svg.render()


def _note(name, sent, nowhere, restarts):
    """The line under a node's name: messages sent, calls to no process, restarts."""
    note = f"{sent.get(name, 0)} sent"
    if name in nowhere:
        note += f", {nowhere[name]} refused"
    if name in restarts:
        note += f", {restarts[name]} restart{'s' if restarts[name] > 1 else ''}"
    return note


def _count(model):
    """Messages delivered per (sender, receiver); calls that delivered nothing per
    (caller, peer) and kind; refused calls to no process per caller; messages sent per
    process."""
    delivered, failed, nowhere, sent = {}, {}, {}, {}
    for message in model.messages:
        if message.kind in REFUSED:
            if message.dst is None:
                nowhere[message.src] = nowhere.get(message.src, 0) + 1
            else:
                counts = failed.setdefault((message.src, message.dst), {})
                counts[message.kind] = counts.get(message.kind, 0) + 1
            continue
        if not message.delivered:
            continue
        key = (message.src, message.dst)
        delivered[key] = delivered.get(key, 0) + 1
        sent[message.src] = sent.get(message.src, 0) + 1
    return delivered, failed, nowhere, sent


def _order(bands, delivered):
    """Order each band by the mean position of its partners in the bands already placed:
    top to bottom, then bottom to top (ties: first appearance)."""
    partners = {}
    for a, b in delivered:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    first = {name: i - (len(names) - 1) / 2 for _, names in bands
             for i, name in enumerate(names)}
    position = {}
    for sweep in (bands, bands[::-1]):
        placed = {}
        for _, names in sweep:
            names.sort(key=lambda name: (_pull(partners.get(name, ()), placed, position,
                                               first[name]), first[name]))
            for index, name in enumerate(names):
                placed[name] = index - (len(names) - 1) / 2
        position = placed


def _pull(partners, placed, position, default):
    """The mean position of a node's partners placed in this sweep, else in the last
    one, else `default`."""
    near = [placed[o] for o in partners if o in placed] or \
        [position[o] for o in partners if o in position]
    return sum(near) / len(near) if near else default


def _edge(svg, where, a, b, label, cls, colour, count, half=False, shift=0):
    """The arrow from node a to node b: the half of the line between them that ends at
    b when `half` (the other half is b's arrow to a), else the whole line, moved `shift`
    pixels to its right; between nodes of one band, an arc above or below them."""
    (x1, y1, w1), (x2, y2, w2) = where[a], where[b]
    svg.open_group(cls, f"{a} -> {b}: {label}", src=a, dst=b)
    width = 1.2 + math.log10(count) * 1.2
    if abs(y1 - y2) < 1:
        lift = (NODE_H / 2 + 22 + 2 * shift) * (-1 if x1 < x2 else 1)
        sx = x1 + (w1 / 2 - 8) * (1 if x2 > x1 else -1) / 2
        ex = x2 - (w2 / 2 - 8) * (1 if x2 > x1 else -1) / 2
        sy = y1 + (-NODE_H / 2 if lift < 0 else NODE_H / 2)
        svg.path(f"M{sx:.1f},{sy:.1f} Q{(sx + ex) / 2:.1f},{y1 + 2 * lift:.1f} "
                 f"{ex:.1f},{sy:.1f}", f"head-{colour}", width)
        svg.text((sx + ex) / 2, y1 + lift + (-4 if lift < 0 else 12), label, "count",
                 anchor="middle")
    else:
        dx, dy = x2 - x1, y2 - y1
        length = math.hypot(dx, dy)
        nx, ny = -dy / length, dx / length
        sx, sy = _border(x1, y1, w1, dx, dy)
        ex, ey = _border(x2, y2, w2, -dx, -dy)
        if half:
            sx, sy = (sx + ex) / 2, (sy + ey) / 2
        sx, sy, ex, ey = sx + nx * shift, sy + ny * shift, ex + nx * shift, ey + ny * shift
        svg.path(f"M{sx:.1f},{sy:.1f} L{ex:.1f},{ey:.1f}", f"head-{colour}", width)
        along = 0.35 if half else 0.7
        side = 10 if shift else 9
        lx, ly = sx + (ex - sx) * along + nx * side, sy + (ey - sy) * along + ny * side
        svg.text(lx, ly + 4, label, "count", anchor="middle")
    svg.close_group()


def _border(x, y, w, dx, dy):
    """Where the ray from a node's centre along (dx, dy) leaves its box."""
    scale = min((w / 2) / abs(dx) if dx else math.inf,
                (NODE_H / 2) / abs(dy) if dy else math.inf)
    return x + dx * scale, y + dy * scale
