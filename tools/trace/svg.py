"""A small SVG writer for the trace pictures: shapes and text as strings, one style sheet.

Contract: `Svg(width, height, title)` collects elements; each method appends one and
escapes every text it is given; `render()` returns the whole document (an `<svg>` with
its title, the style sheet `STYLE`, the arrowhead markers and the elements in the order
they were added).  Classes name what a shape is (`msg`, `kcall`, `reply`, `notify`,
`denied`, `not-ready`, `woken`, `fault`, `trust`...), so the look lives in `STYLE`
alone.  Text is monospace, so `text_width` can size columns without a font.
"""

from xml.sax.saxutils import escape, quoteattr

CHAR_W = 6.6                    # width of one character of STYLE's 11px monospace

STYLE = """
text { font-family: DejaVu Sans Mono, Menlo, Consolas, monospace; font-size: 11px;
       fill: #222; }
.title { font-size: 14px; font-weight: bold; }
.legend, .time, .note { fill: #666; }
.msg-arrow text, .mark text, .count { paint-order: stroke; stroke: #fff; stroke-width: 3px;
                                     stroke-linejoin: round; }
.head rect { fill: #eef3fb; stroke: #35507a; }
.head.kernel rect { fill: #eee; stroke: #666; }
.head text { font-weight: bold; }
.kindname { font-size: 9px; fill: #666; font-weight: normal; }
.life { stroke: #8a9bb5; stroke-dasharray: 4 3; }
.dead { stroke: #ddd; stroke-dasharray: 2 4; }
.gap { fill: #f4f4f4; }
line, path { stroke-width: 1.4; fill: none; }
.msg line, .msg path { stroke: #1f4e96; }
.notify line, .notify path { stroke: #7b3fa0; stroke-dasharray: 6 3; }
.kcall line, .kcall path { stroke: #2d7d46; }
.reply line, .reply path { stroke: #2d7d46; stroke-dasharray: 3 3; }
.denied line, .denied path { stroke: #c62828; stroke-width: 2; }
.not-ready line, .not-ready path { stroke: #d98200; stroke-dasharray: 5 3; }
.refused text, .denied text, .woken text { fill: #c62828; }
.woken line, .woken path { stroke: #c62828; stroke-width: 2; stroke-dasharray: 2 2; }
.not-ready text { fill: #a86400; }
.cross { stroke: #c62828; stroke-width: 2.2; }
.not-ready .cross { stroke: #d98200; }
.mark text { font-size: 10px; }
.start rect { fill: #2d7d46; }
.exit rect { fill: #222; }
.fault polygon { fill: #c62828; }
.fault text, .kill text { fill: #c62828; font-weight: bold; }
.kill .cross { stroke: #c62828; }
.restart circle { fill: #fff; stroke: #1f4e96; stroke-width: 2; }
.restart text { fill: #1f4e96; font-weight: bold; }
.trust polygon { fill: #d98200; }
.trust text { fill: #a86400; font-weight: bold; }
.diag text { fill: #666; font-style: italic; }
.post rect { fill: #7b3fa0; }
.node rect { fill: #eef3fb; stroke: #35507a; stroke-width: 1.4; }
.node.kernel rect { fill: #eee; stroke: #666; }
.node.user rect { fill: #fdf6e3; stroke: #8a6d1f; }
.node.driver rect { fill: #fbeeee; stroke: #8a3535; }
.node text { font-weight: bold; }
.edge path { stroke: #1f4e96; }
.edge.kernel path { stroke: #2d7d46; }
.edge.denied path { stroke: #c62828; stroke-dasharray: 5 3; }
.edge.not-ready path { stroke: #d98200; stroke-dasharray: 5 3; }
.edge.not-ready .count { fill: #a86400; }
.count { font-size: 10px; fill: #1f4e96; }
.edge.kernel .count { fill: #2d7d46; }
.edge.denied .count { fill: #c62828; }
.band { fill: #fafafa; stroke: #e4e4e4; }
.bandname { fill: #999; font-size: 10px; }
"""

# Arrowheads, one per colour of STYLE: "head-<colour>" (filled) and "open-<colour>"
COLOURS = {"blue": "#1f4e96", "green": "#2d7d46", "purple": "#7b3fa0", "red": "#c62828",
           "orange": "#d98200"}
MARKERS = "<defs>" + "".join(
    f'<marker id="head-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" '
    f'markerHeight="10" markerUnits="userSpaceOnUse" orient="auto">'
    f'<path d="M0,0 L10,5 L0,10 z" style="fill:{colour};stroke:none"/></marker>'
    f'<marker id="open-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="11" '
    f'markerHeight="11" markerUnits="userSpaceOnUse" orient="auto">'
    f'<path d="M0,0 L10,5 L0,10" style="fill:none;stroke:{colour};stroke-width:1.5"/>'
    f'</marker>'
    for name, colour in COLOURS.items()) + "</defs>"


def text_width(text):
    return len(text) * CHAR_W


def fit(text, width):
    """`text`, cut with an ellipsis to fit `width` pixels."""
    room = int(width // CHAR_W)
    return text if len(text) <= room else text[:max(room - 1, 1)] + "\u2026"


def _num(value):
    return f"{value:.1f}".rstrip("0").rstrip(".")


class Svg:
    def __init__(self, width, height, title):
        self.width = width
        self.height = height
        self.title = title
        self.parts = []

    def open_group(self, cls, tooltip=None, **data):
        attrs = "".join(f" data-{key}={quoteattr(str(value))}" for key, value in data.items())
        self.parts.append(f"<g class={quoteattr(cls)}{attrs}>")
        if tooltip:
            self.parts.append(f"<title>{escape(tooltip)}</title>")

    def close_group(self):
        self.parts.append("</g>")

    def line(self, x1, y1, x2, y2, cls=None, marker=None):
        extra = f' class="{cls}"' if cls else ""
        if marker:
            extra += f' marker-end="url(#{marker})"'
        self.parts.append(f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" '
                          f'y2="{_num(y2)}"{extra}/>')

    def path(self, d, marker=None, width=None):
        extra = f' marker-end="url(#{marker})"' if marker else ""
        if width is not None:
            extra += f' style="stroke-width:{_num(width)}"'
        self.parts.append(f'<path d="{d}"{extra}/>')

    def rect(self, x, y, w, h, cls=None, rx=0):
        extra = f' class="{cls}"' if cls else ""
        self.parts.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" '
                          f'height="{_num(h)}" rx="{rx}"{extra}/>')

    def circle(self, x, y, r):
        self.parts.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(r)}"/>')

    def polygon(self, points):
        coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
        self.parts.append(f'<polygon points="{coords}"/>')

    def cross(self, x, y, size=4):
        self.line(x - size, y - size, x + size, y + size, "cross")
        self.line(x - size, y + size, x + size, y - size, "cross")

    def text(self, x, y, text, cls=None, anchor="start"):
        extra = f' class="{cls}"' if cls else ""
        if anchor != "start":
            extra += f' text-anchor="{anchor}"'
        self.parts.append(f'<text x="{_num(x)}" y="{_num(y)}"{extra}>{escape(text)}</text>')

    def render(self):
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(self.width)}" '
                f'height="{_num(self.height)}" viewBox="0 0 {_num(self.width)} '
                f'{_num(self.height)}">\n<title>{escape(self.title)}</title>\n'
                f"<style>{STYLE}</style>\n{MARKERS}\n"
                f'<rect width="100%" height="100%" fill="#fff"/>\n')
        return head + "\n".join(self.parts) + "\n</svg>\n"
