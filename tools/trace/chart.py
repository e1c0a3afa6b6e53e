"""The message sequence chart of a trace window, as SVG text.

Contract: `chart(model, title)` draws every item of `model` (already windowed), one row
each in trace order: processes are lifelines (columns: users, servers, drivers, then the
kernel tasks); a message is an arrow from sender to receiver labelled with its primitive
and type; a kernel call is an arrow to the kernel task and its reply a dashed arrow back
with the result (and the value read, or the reason of a rejection); a notification is a
dashed open arrow, slanted down to where it was delivered; an ASEND entry is an arrow at
its delivery, saying when its table was posted if that was earlier (the ASEND call
itself is a mark); a refused call is a red arrow ending in a cross (orange for a peer
not ready), short when it named no process; a caller woken because its peer died is a
red arrow to the dead peer ending in a cross (`SENDREC EDEADSRCDST (printer died...)`);
marks (start, exit, a fault in red, kill, restart, a trust report in orange, kernel-log
lines, the hand-over of an ASEND table) sit on their lifeline.
A lifeline is dashed while its process lives and faint between an end and a restart.
A pause of more than a clock tick between two rows is a grey band saying how long;
`chart(model, title, breaks)` also draws a band with the text `breaks[i]` before row
`i` (where a picture of several windows leaves rows out).
Every arrow and mark is a `<g>` with `data-line` (the trace line it came from) and a
tooltip with the full text, so a test or a reader can tie it back to the trace.
"""

from bisect import bisect_left

from kernel.abi import TICK_INSNS
from tools.trace.model import (DENIED, ENDS, KCALL, MESSAGE, NOT_READY, NOTIFY, REFUSED,
                               REPLY, WOKEN, Mark)
from tools.trace.svg import Svg, fit, text_width

ARROWS = {MESSAGE: ("msg", "head-blue"), NOTIFY: ("notify", "open-purple"),
          KCALL: ("kcall", "head-green"), REPLY: ("reply", "open-green"),
          DENIED: ("denied refused", None), NOT_READY: ("not-ready refused", None),
          WOKEN: ("woken refused", None)}
ROW_H = 20
GAP_H = 16
HEAD_H = 28
TOP = 52                        # title and legend above the heads
STUB = 80                       # length of an arrow to no process
MIN_COL, MAX_COL = 110, 330
LABEL_ROOM = 52                 # characters of a label a column makes room for (then ...)
LEGEND = ("arrows: message (blue), kernel call and reply (green, reply dashed), "
          "notification (purple, dashed), refused call or caller woken by its peer's death "
          "(red, x), peer not ready (orange, x)")


def arrow_label(message):
    """The text on a message's arrow: its label, and what the arrow alone does not say
    (why a call was refused, when a notification was delivered, when an ASEND entry's
    table was posted)."""
    label = message.label
    if message.kind in REFUSED and message.detail:
        return f"{label} ({message.detail})"
    if message.kind == NOTIFY and message.recv_line != message.line:
        return label + (f" (delivered at t={message.t_recv})" if message.t_recv is not None
                        else " (never delivered)")
    if message.t_posted is not None and message.t_posted != message.t:
        return f"{label} (posted at t={message.t_posted})"
    return label


def chart(model, title, breaks=None):
    """The SVG text of the sequence chart of `model`."""
    return _Chart(model, title, breaks or {}).draw()


class _Chart:
    def __init__(self, model, title, breaks):
        self.model = model
        self.title = title
        self.breaks = breaks
        self.items = model.items
        names = model.columns()
        self.column = {name: i for i, name in enumerate(names)}
        self.names = names
        self.time_w = max(70, text_width(f"t={model.t_last}") + 16)
        self.xs = self._columns_x()
        self.ys = self._rows()
        self.lines = [item.line for item in self.items]
        body = self.ys[-1] + ROW_H if self.ys else TOP + HEAD_H + ROW_H
        self.footer = body + 8
        self.height = self.footer + HEAD_H + 12
        width = self.xs[-1] + max(MIN_COL, STUB + 60) if self.xs else 200
        self.width = max(width, text_width(LEGEND) + 24, text_width(title) * 1.3 + 24)

    def _columns_x(self):
        """The x of every lifeline: each gap between neighbours is as wide as the labels
        of the arrows across it need (arrows between neighbours first), within
        [MIN_COL, MAX_COL] per gap."""
        gaps = [MIN_COL] * max(len(self.names) - 1, 0)
        spans = []
        for item in self.items:
            if isinstance(item, Mark) or item.dst is None or item.dst == item.src:
                continue
            a, b = sorted((self.column[item.src], self.column[item.dst]))
            spans.append((b - a, a, b, text_width(arrow_label(item)[:LABEL_ROOM]) + 24))
        for span, a, b, need in sorted(spans):
            short = need - sum(gaps[a:b])
            if short > 0:
                for i in range(a, b):
                    gaps[i] = min(gaps[i] + short / span, MAX_COL)
        xs = [self.time_w + 20 + MIN_COL / 2]
        for gap in gaps:
            xs.append(xs[-1] + gap)
        return xs

    def _rows(self):
        """The y of every item, with a band before each pause longer than a tick."""
        ys, y, last_t = [], TOP + HEAD_H + 12, None
        self.gaps = []
        for row, item in enumerate(self.items):
            if row in self.breaks:
                self.gaps.append((y, self.breaks[row]))
                y += GAP_H
            elif last_t is not None and item.t - last_t > TICK_INSNS:
                self.gaps.append((y, f"\u22ee {item.t - last_t:,} instructions later"))
                y += GAP_H
            ys.append(y + ROW_H // 2 + 4)
            y += ROW_H
            last_t = item.t
        return ys

    def xof(self, name):
        return self.xs[self.column[name]]

    # -- the picture ------------------------------------------------------------------------
    def draw(self):
        svg = Svg(self.width, self.height, self.title)
        svg.text(10, 20, self.title, "title")
        svg.text(10, 38, LEGEND, "legend")
        for y, text in self.gaps:
            svg.rect(0, y + 2, self.width, GAP_H - 4, "gap")
            svg.text(12, y + GAP_H - 5, text, "note")
        self.lifelines(svg)
        self.heads(svg, TOP)
        self.heads(svg, self.footer)
        last_t = None
        for item, y in zip(self.items, self.ys):
            if item.t != last_t:
                svg.text(self.time_w, y + 4, f"t={item.t}", "time", anchor="end")
                last_t = item.t
            if isinstance(item, Mark):
                self.mark(svg, item, y)
            else:
                self.arrow(svg, item, y)
        return svg.render()

    def heads(self, svg, y):
        for name in self.names:
            kind = self.model.kinds.get(name, "")
            w = max(text_width(name), text_width(kind)) + 16
            x = self.xof(name)
            svg.open_group(f"head {kind}")
            svg.rect(x - w / 2, y, w, HEAD_H, rx=3)
            svg.text(x, y + 12, name, anchor="middle")
            svg.text(x, y + 23, kind, "kindname", anchor="middle")
            svg.close_group()

    def lifelines(self, svg):
        top, bottom = TOP + HEAD_H, self.footer
        first_line = self.lines[0] if self.lines else 0
        for name in self.names:
            x = self.xof(name)
            if name not in self.model.lives:
                svg.line(x, top, x, bottom, "life")
                continue
            alive = any(s < first_line and (e is None or e >= first_line)
                        for s, e in self.model.lives[name])
            y0 = top
            for item, y in zip(self.items, self.ys):
                if not isinstance(item, Mark) or item.proc != name:
                    continue
                if item.kind == "start" and not alive or item.kind in ENDS and alive:
                    svg.line(x, y0, x, y, "life" if alive else "dead")
                    alive, y0 = not alive, y
            svg.line(x, y0, x, bottom, "life" if alive else "dead")

    def arrow(self, svg, message, y):
        cls, marker = ARROWS[message.kind]
        x1 = self.xof(message.src)
        tooltip = (f"line {message.line}, t={message.t}: {message.src} -> "
                   f"{message.dst or message.detail or '?'}: {message.op} {message.m_type} "
                   f"{message.result} {message.detail}").rstrip()
        svg.open_group(f"msg-arrow {cls}", tooltip, line=message.line, kind=message.kind)
        label = arrow_label(message)
        if message.dst is None:
            last = self.column[message.src] == len(self.names) - 1
            x2 = x1 - STUB if last else x1 + STUB
            self.line_to(svg, x1, y, x2, y, marker, message)
            svg.text(min(x1, x2) + 4, y - 4, fit(label, 280))
        elif message.dst == message.src:
            svg.path(f"M{x1:.1f},{y - 6} h24 v10 h-22", marker)
            svg.text(x1 + 28, y + 2, fit(label, MIN_COL))
        else:
            x2 = self.xof(message.dst)
            y2 = self.delivery_y(message, y)
            self.line_to(svg, x1, y, x2, y2, marker, message)
            room = abs(x2 - x1) - 8
            if y2 == y:
                svg.text((x1 + x2) / 2, y - 4, fit(label, room), anchor="middle")
            else:
                svg.text(x1 + (6 if x2 > x1 else -6), y - 4, fit(label, room),
                         anchor="start" if x2 > x1 else "end")
        svg.close_group()

    def line_to(self, svg, x1, y1, x2, y2, marker, message):
        """A line with its head short of the lifeline; a cross ends a refused call."""
        step = 3 if x2 > x1 else -3
        svg.line(x1, y1, x2 - step, y2, marker=marker)
        if message.kind in REFUSED:
            svg.cross(x2 - 2 * step, y2)

    def delivery_y(self, message, y):
        """Where a notification's arrow ends: between the rows around its delivery, or at
        the bottom when it was delivered after the window or never."""
        if message.kind != NOTIFY or message.recv_line == message.line:
            return y
        row = len(self.ys) if message.recv_line is None else \
            bisect_left(self.lines, message.recv_line)
        if row >= len(self.ys):
            return self.footer - 4
        return self.ys[row] - ROW_H / 2

    def mark(self, svg, mark, y):
        x = self.xof(mark.proc)
        svg.open_group(f"mark {mark.kind}", f"line {mark.line}, t={mark.t}: {mark.proc} "
                       f"(endpoint {mark.ep}): {mark.label}", line=mark.line, kind=mark.kind)
        if mark.kind == "fault":
            svg.polygon([(x, y - 7), (x + 3, y - 2), (x + 8, y - 2), (x + 4, y + 2),
                         (x + 6, y + 7), (x, y + 4), (x - 6, y + 7), (x - 4, y + 2),
                         (x - 8, y - 2), (x - 3, y - 2)])
        elif mark.kind == "kill":
            svg.cross(x, y, 6)
        elif mark.kind == "restart":
            svg.circle(x, y, 5)
        elif mark.kind == "trust":
            svg.polygon([(x, y - 7), (x + 7, y + 5), (x - 7, y + 5)])
        elif mark.kind in ("start", "exit", "post"):
            svg.rect(x - 5, y - 5, 10, 10)
        else:
            svg.circle(x, y, 2)
        room = self.width - x - 16
        svg.text(x + 11, y + 4, fit(mark.label, room))
        svg.close_group()
