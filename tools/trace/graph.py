"""The interaction graph of a trace window, as SVG text: who talks to whom, how often.

Contract: `graph(model, title)` draws one node per lifeline that sent or received a
message, in bands from top to bottom (user programs, servers, drivers, the kernel
tasks), as the "MINIX 3 IPC interactions" figure does.  One arrow per direction between
two nodes, labelled with the number of messages delivered that way (kernel calls and
their replies included, in green; notifications count as messages), its width growing
with the count; refused calls are a red dashed arrow labelled `N refused` (calls to no
process at all are counted on the caller's node).  Within a band nodes keep the order of
first appearance, then move toward the nodes they talk to in the bands above.
"""

import math

from tools.trace.model import DENIED, NOT_READY, REPLY
from tools.trace.svg import Svg, text_width

BANDS = ("user", "server", "driver", "kernel")
BAND_NAMES = {"user": "user programs", "server": "servers", "driver": "drivers",
              "kernel": "kernel"}
NODE_H = 40
BAND_H = 120
GAP = 70
LEFT = 110
TOP = 60


def graph(model, title):
    """The SVG text of the interaction graph of `model`."""
    delivered, refused, nowhere, sent = _count(model)
    used = {name for pair in list(delivered) + list(refused) for name in pair}
    used |= set(nowhere)
    bands = [[name for name in model.columns() if name in used
              and model.kinds.get(name) == band] for band in BANDS]
    bands = [(band, names) for band, names in zip(BANDS, bands) if names]
    _order(bands, delivered)
    widths = {name: max(text_width(name), text_width(f"{sent.get(name, 0)} sent")) + 28
              for _, names in bands for name in names}
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
              "green" if kernel else "blue", count, (b, a) in delivered or (b, a) in refused)
    for (a, b), count in sorted(refused.items()):
        _edge(svg, where, a, b, f"{count} refused", "edge denied", "red", 1, True)
    for name, (x, y, w) in where.items():
        kind = model.kinds.get(name, "")
        svg.open_group(f"node {kind}", f"{name} ({kind}): sent {sent.get(name, 0)} messages",
                       name=name)
        svg.rect(x - w / 2, y - NODE_H / 2, w, NODE_H, rx=6)
        svg.text(x, y - 3, name, anchor="middle")
        extra = f", {nowhere[name]} refused" if name in nowhere else ""
        svg.text(x, y + 12, f"{sent.get(name, 0)} sent{extra}", "kindname", anchor="middle")
        svg.close_group()
    return svg.render()


def _count(model):
    """Messages delivered and calls refused per (sender, receiver); refused calls to no
    process per caller; messages sent per process."""
    delivered, refused, nowhere, sent = {}, {}, {}, {}
    for message in model.messages:
        if message.kind in (DENIED, NOT_READY):
            if message.dst is None:
                nowhere[message.src] = nowhere.get(message.src, 0) + 1
            else:
                key = (message.src, message.dst)
                refused[key] = refused.get(key, 0) + 1
            continue
        if message.dst is None or message.t_recv is None and message.kind != REPLY:
            continue
        key = (message.src, message.dst)
        delivered[key] = delivered.get(key, 0) + 1
        sent[message.src] = sent.get(message.src, 0) + 1
    return delivered, refused, nowhere, sent


def _order(bands, delivered):
    """Move each node of a band toward the mean position of its partners above."""
    partners = {}
    for a, b in delivered:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    position = {}
    for band, names in bands:
        first = {name: index for index, name in enumerate(names)}

        def pull(name):
            above = [position[other] for other in partners.get(name, ()) if other in position]
            return (sum(above) / len(above) if above else first[name], first[name])
        names.sort(key=pull)
        for index, name in enumerate(names):
            position[name] = index - (len(names) - 1) / 2


def _edge(svg, where, a, b, label, cls, colour, count, both_ways):
    """An arrow from node a to node b, to one side of the line between them when there is
    an arrow the other way too; between nodes of one band, an arc."""
    (x1, y1, w1), (x2, y2, w2) = where[a], where[b]
    svg.open_group(cls, f"{a} -> {b}: {label}", src=a, dst=b)
    width = 1.2 + math.log10(count) * 1.2
    if abs(y1 - y2) < 1:
        lift = -NODE_H / 2 - 22 if x1 < x2 else NODE_H / 2 + 22
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
        shift = 5 if both_ways else 0
        sx, sy = _border(x1, y1, w1, dx, dy)
        ex, ey = _border(x2, y2, w2, -dx, -dy)
        sx, sy, ex, ey = sx + nx * shift, sy + ny * shift, ex + nx * shift, ey + ny * shift
        svg.path(f"M{sx:.1f},{sy:.1f} L{ex:.1f},{ey:.1f}", f"head-{colour}", width)
        lx, ly = sx + (ex - sx) * 0.7 + nx * 12, sy + (ey - sy) * 0.7 + ny * 12
        svg.text(lx, ly + 4, label, "count", anchor="middle")
    svg.close_group()


def _border(x, y, w, dx, dy):
    """Where the ray from a node's centre along (dx, dy) leaves its box."""
    scale = min((w / 2) / abs(dx) if dx else math.inf,
                (NODE_H / 2) / abs(dy) if dy else math.inf)
    return x + dx * scale, y + dy * scale
