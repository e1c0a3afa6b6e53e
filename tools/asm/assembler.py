"""Assemble one guest source file into a Program linked at fixed addresses.

Contract:
  assemble(path, text_base, data_base, predefined={}, include_dirs=None,
           timeout=DEFAULT_TIMEOUT, text=None) -> Program
    Text at `text_base`; data at `data_base`, padded with zeros to a multiple of 4; bss right
    after the data.  `entry` is the label `_start`, which must be in .text.  `symbols` holds
    the labels only (`.equ` constants and `predefined` values are used, not listed); `lines`
    has one (address, size, file, line) per instruction or data item in .text.  `text`, if
    given, is the source to use instead of reading `path`.  Every error in the source is an
    AsmError `file:line: message`; the run is bounded by `timeout` seconds of encoding.
  DEFAULT_INCLUDE_DIRS: [<repo>/guest/include], searched after the including file's folder.

Sections: `.text`, `.data`, `.bss` (labels, `.space`/`.skip`/`.zero` and `.align` only);
instructions go in .text.  A bare label is its address (`mov eax, msg`), brackets read memory
(`mov eax, [msg + 4]`).  The layout itself (tools.asm.encoder) runs in a child process.
"""
import os
import re
from dataclasses import dataclass, field

from kernel.abi import WINDOW_SIZE
from tools.asm import encoder
from tools.asm.expr import parse_expr, parse_number, parse_strings, split_operands, symbols_in
from tools.asm.preprocess import AsmError, preprocess, split_word

DEFAULT_INCLUDE_DIRS = [os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "guest", "include")]
DEFAULT_TIMEOUT = 20.0
MAX_ALIGN = 4096

_REGISTERS = ("eax ebx ecx edx esi edi ebp esp eip ax bx cx dx si di bp sp al ah bl bh cl ch "
              "dl dh cs ds es fs gs ss st").split()
_RESERVED = frozenset(_REGISTERS + [f"{kind}{n}" for kind in ("cr", "dr", "st", "mm", "xmm")
                                    for n in range(8)]
                      + "byte word dword qword tbyte fword ptr offset short near far".split())
_PREFIXES = frozenset("rep repe repz repne repnz lock".split())
_BRANCHES = frozenset("call loop loope loopne loopz loopnz".split())
_NAME = re.compile(r"[A-Za-z_.$][\w.$]*\Z")
_MNEMONIC = re.compile(r"[A-Za-z][A-Za-z0-9]*(?: [A-Za-z][A-Za-z0-9]*)?\Z")
_INSN_OK = re.compile(r"[\w\s.$,\[\]()+\-*/<>|&^~:]*\Z")
_CHAR = r"'(?:\\x[0-9a-fA-F]{1,2}|\\[0-7]{1,3}|\\.|[^'\\])'"
_INSN_TOKEN = re.compile(_CHAR + r"|\d\w*|[A-Za-z_.$][\w.$]*")
_WIDTHS = {".byte": 1, ".word": 2, ".short": 2, ".long": 4, ".int": 4}
_STRINGS = {".ascii": b"", ".asciz": b"\0", ".string": b"\0"}


# ---------------------------------------------------------------------------------------
# Statements: each emits (size, bytes or None) at its address in every layout pass

class Item:
    """A statement placed in a section; a bare Item only defines its labels."""
    fill = None
    listed = True               # has an entry in Program.lines when it has bytes in .text

    def __init__(self, src, section, labels):
        self.src, self.section, self.labels = src, section, labels

    def expressions(self):
        return ()

    def emit(self, addr, run):
        return 0, b""


class Equ(Item):
    def __init__(self, src, section, labels, name, node):
        super().__init__(src, section, labels)
        self.name, self.node = name, node

    def expressions(self):
        return (self.node,)

    def emit(self, addr, run):
        run.values[self.name] = run.evaluate(self.node, self)
        return 0, b""


class Data(Item):
    def __init__(self, src, section, labels, width, nodes):
        super().__init__(src, section, labels)
        self.width, self.nodes = width, nodes

    def expressions(self):
        return self.nodes

    def emit(self, addr, run):
        bits, out = 8 * self.width, bytearray()
        for node in self.nodes:
            value = run.evaluate(node, self)
            if not -(1 << bits - 1) <= value < 1 << bits:
                run.defer(self, f"value {value:#x} does not fit in {bits} bits")
            out += (value & ((1 << bits) - 1)).to_bytes(self.width, "little")
        return len(out), bytes(out)


class Bytes(Item):
    def __init__(self, src, section, labels, blob):
        super().__init__(src, section, labels)
        self.blob = blob

    def emit(self, addr, run):
        return len(self.blob), self.blob


class Space(Item):
    def __init__(self, src, section, labels, count, fill):
        super().__init__(src, section, labels)
        self.count, self.fill = count, fill

    def expressions(self):
        return (self.count,) + ((self.fill,) if self.fill else ())

    def emit(self, addr, run):
        count = run.evaluate(self.count, self)
        fill = run.evaluate(self.fill, self) if self.fill else 0
        if not 0 <= count <= WINDOW_SIZE:
            run.defer(self, f"size {count} is out of range 0..{WINDOW_SIZE:#x}")
            return 0, b""
        if not -128 <= fill <= 255:
            run.defer(self, f"fill {fill} is not a byte")
        return count, (None if self.section == "bss" else bytes([fill & 0xFF]) * count)


class Align(Space):
    listed = False

    def emit(self, addr, run):
        boundary = run.evaluate(self.count, self)
        if not 0 < boundary <= MAX_ALIGN or boundary & (boundary - 1):
            run.defer(self, f"alignment {boundary} is not a power of two up to {MAX_ALIGN}")
            return 0, b""
        default = 0x90 if self.section == "text" else 0
        fill = run.evaluate(self.fill, self) & 0xFF if self.fill else default
        pad = -addr % boundary
        return pad, (None if self.section == "bss" else bytes([fill]) * pad)


class Insn(Item):
    """An instruction: text parts with symbol names as 1-tuples, substituted every pass."""

    def __init__(self, src, section, labels, parts, branch):
        super().__init__(src, section, labels)
        self.parts, self.branch, self.size, self.target = parts, branch, 0, None

    def resolve_names(self, known):
        """Leave names no one defines to Keystone (which reports them); note a branch to
        one symbol, whose encoding depends only on the distance to it."""
        self.parts = [part if isinstance(part, str) or part[0] in known else part[0]
                      for part in self.parts]
        if self.branch and len(self.parts) == 4 and isinstance(self.parts[2], tuple) \
                and not self.parts[1].strip() and not self.parts[3].strip():
            self.target = self.parts[2][0]

    def emit(self, addr, run):
        pieces, value = [], None
        for part in self.parts:
            if part.__class__ is str:
                pieces.append(part)
                continue
            value = run.lookup(part[0], addr)
            if not -0x80000000 <= value <= 0xFFFFFFFF:
                run.defer(self, f"value out of 32-bit range: {run.job.lines[self.src].text}")
                return self.size, None
            pieces.append(f"{value:#x}" if value >= 0 else f"(-{-value:#x})")
        text = "".join(pieces)
        if self.target:
            blob = run.encoder.encode(self, text, addr, (self.parts[0], value - addr), value)
        else:
            blob = run.encoder.encode(self, text, addr, (text, addr) if self.branch else text)
        if isinstance(blob, encoder.Failure):
            if blob.fatal:
                raise run.job.lines[self.src].error(blob.message)
            run.defer(self, f"{blob.message}: {run.job.lines[self.src].text}")
            return self.size, None
        self.size = len(blob)
        return self.size, blob


# ---------------------------------------------------------------------------------------

@dataclass
class Program:
    """An assembled program, linked at text_base / data_base."""
    text: bytes
    data: bytes
    bss_size: int
    text_base: int
    data_base: int
    entry: int
    symbols: dict                       # label -> (address, "text" | "data" | "bss")
    lines: list                         # [(address, size, file, line)] of .text items
    globals: frozenset = frozenset()    # labels named by .global / .globl
    source: str = ""                    # the main source file
    comp_dir: str = field(default_factory=os.getcwd)   # what relative file names mean


class _Parser:
    """Statements to placed items; checks everything that needs no symbol values."""

    def __init__(self, lines, predefined):
        self.lines, self.predefined = lines, predefined
        self.section = "text"
        self.labels = {}                # name -> (section, src index)
        self.constants = {}             # .equ / .set name -> src index of first definition
        self.global_names = {}          # name -> src index
        self.items = []

    def parse(self) -> list:
        for index, src in enumerate(self.lines):
            for name in src.labels:
                self.define(name, index, "label")
            word, rest = split_word(src.text)
            if not word:
                item = Item(index, self.section, src.labels)
            elif word.startswith("."):
                item = self.directive(index, src, word.lower(), rest)
            else:
                item = self.instruction(index, src)
            self.check_section(src, item)
            self.items.append(item)
        self.check_names()
        return self.items

    def define(self, name, index, kind):
        """Record a label (a new name) or a constant (`.equ`/`.set` may redefine one)."""
        src = self.lines[index]
        if not _NAME.match(name) or name.lower() in _RESERVED:
            raise src.error(f"'{name}' cannot be a {kind} name")
        first = self.labels[name][1] if name in self.labels else \
            self.constants.get(name) if kind == "label" else None
        if first is not None:
            where = self.lines[first]
            raise src.error(f"duplicate {kind} '{name}' (first defined at "
                            f"{where.file}:{where.line})")
        if kind == "label" and name in self.predefined:
            raise src.error(f"duplicate label '{name}' (a predefined symbol)")
        if kind == "label":
            self.labels[name] = (self.section, index)
        else:
            self.constants.setdefault(name, index)

    def directive(self, index, src, word, rest):
        try:
            return self.directive_item(index, src, word, rest)
        except ValueError as exc:
            raise src.error(f"{word}: {exc}")

    def directive_item(self, index, src, word, rest):
        here = (index, self.section, src.labels)
        if word in (".text", ".data", ".bss"):
            if rest:
                raise ValueError("takes no operands")
            self.section = word[1:]
            return Item(*here)
        if word == ".section":
            raise ValueError("not supported: use .text, .data or .bss")
        if word in (".global", ".globl"):
            names = split_operands(rest)
            if not names:
                raise ValueError("expected label names")
            for name in names:
                self.global_names.setdefault(name, index)
            return Item(*here)
        operands = split_operands(rest)
        if word in (".equ", ".set"):
            if len(operands) != 2:
                raise ValueError("expected NAME, EXPRESSION")
            self.define(operands[0], index, "constant")
            return Equ(*here, operands[0], parse_expr(operands[1]))
        if word in _WIDTHS:
            if not operands:
                raise ValueError("expected values")
            return Data(*here, _WIDTHS[word], [parse_expr(text) for text in operands])
        if word in _STRINGS:
            return Bytes(*here, parse_strings(rest) + _STRINGS[word])
        if word in (".space", ".skip", ".zero", ".align", ".balign"):
            limit = 1 if word == ".zero" else 2
            if not 1 <= len(operands) <= limit:
                raise ValueError(f"expected {'BOUNDARY' if 'align' in word else 'COUNT'}"
                                 f"{'' if limit == 1 else '[, FILL]'}")
            nodes = [parse_expr(text) for text in operands] + [None]
            kind = Space if word in (".space", ".skip", ".zero") else Align
            return kind(*here, nodes[0], nodes[1])
        raise src.error(f"unknown directive '{word}'")

    def instruction(self, index, src):
        text = src.text
        if self.section != "text":
            raise src.error(f"instructions go in .text, not .{self.section}: {text}")
        bare = re.sub(_CHAR, "0", text)
        if not re.match(r"[A-Za-z]", bare) or not _INSN_OK.match(bare):
            bad = next((c for c in bare if not _INSN_OK.match(c)), bare[0])
            raise src.error(f"syntax error at '{bad}': {text}")
        if bare.count("[") != bare.count("]") or bare.count("(") != bare.count(")"):
            raise src.error(f"unbalanced brackets: {text}")
        mnemonic, operands = split_word(text)
        if mnemonic.lower() in _PREFIXES and operands:
            second, operands = split_word(operands)
            mnemonic = f"{mnemonic} {second}"
        if mnemonic.lower().split()[-1] == "movsd" and not operands.strip():
            # Keystone takes a bare movsd for the SSE instruction: spell out the string one
            mnemonic = mnemonic[:-5] + "movs"
            operands = "dword ptr es:[edi], dword ptr [esi]"
        if not _MNEMONIC.match(mnemonic):
            raise src.error(f"syntax error in mnemonic '{mnemonic}': {text}")
        parts, pos = [mnemonic + " "], 0
        for match in _INSN_TOKEN.finditer(operands):
            parts.append(operands[pos:match.start()])
            token, pos = match.group(), match.end()
            try:
                if token[0] == "'":
                    parts.append(f"{parse_expr(token)[1]:#x}")
                elif token[0].isdigit():
                    value = parse_number(token)
                    if value >= 1 << 32:
                        raise ValueError
                    parts.append(f"{value:#x}")
                else:
                    parts.append(token if token.lower() in _RESERVED else (token,))
            except ValueError:
                raise src.error(f"bad number or literal '{token}': {text}")
        parts.append(operands[pos:])
        last = mnemonic.split()[-1].lower()
        branch = last.startswith("j") or last in _BRANCHES
        return Insn(index, self.section, src.labels, parts, branch)

    def check_section(self, src, item):
        if self.section == "bss" and not (
                type(item) in (Item, Equ, Align, Space) and item.fill is None):
            raise src.error("only labels, .space/.skip/.zero and .align may go in .bss")

    def check_names(self):
        known = set(self.labels) | set(self.constants) | set(self.predefined)
        for name, index in self.global_names.items():
            if name not in self.labels:
                raise self.lines[index].error(f"global '{name}' is not a label")
        for item in self.items:
            for node in item.expressions():
                missing = sorted(symbols_in(node) - known)
                if missing:
                    raise self.lines[item.src].error(f"undefined symbol '{missing[0]}'")
            if isinstance(item, Insn):
                item.resolve_names(known)
        self.check_cycles()

    def check_cycles(self):
        """No constant may depend on itself.  A use means the latest definition of the name
        before it, or for a use ahead of every definition, the name's last definition."""
        definitions = [item for item in self.items if isinstance(item, Equ)]
        last = {item.name: item for item in definitions}
        latest, depends = {}, {}
        for item in definitions:
            depends[item] = [latest.get(name, last[name])
                             for name in sorted(symbols_in(item.node)) if name in last]
            latest[item.name] = item
        finished = set()
        for root in definitions:
            path, stack = {root}, [(root, iter(depends[root]))]
            while stack and root not in finished:
                item, uses = stack[-1]
                used = next(uses, None)
                if used is None:
                    stack.pop()
                    path.discard(item)
                    finished.add(item)
                elif used in path:
                    raise self.lines[used.src].error(f"circular definition of '{used.name}'")
                elif used not in finished:
                    path.add(used)
                    stack.append((used, iter(depends[used])))


def assemble(path, text_base: int, data_base: int, predefined=None, include_dirs=None,
             timeout: float = DEFAULT_TIMEOUT, text: str = None) -> Program:
    """Assemble the source at `path` (or `text`, named `path`) into a Program."""
    path = str(path)
    predefined = dict(predefined or {})
    dirs = DEFAULT_INCLUDE_DIRS if include_dirs is None else [str(d) for d in include_dirs]
    lines = preprocess(path, dirs, predefined, text)
    parser = _Parser(lines, predefined)
    items = parser.parse()
    start = parser.labels.get("_start")
    if start is None or start[0] != "text":
        raise AsmError(path, lines[start[1]].line if start else 0,
                       "a program needs the label '_start' in .text")
    job = encoder.Job(items, lines, frozenset(parser.labels) | frozenset(parser.constants),
              predefined, text_base, data_base)
    result = encoder.run_bounded(job, timeout)
    symbols = {name: (result.values[name], section)
               for name, (section, _) in parser.labels.items()}
    return Program(text=result.text, data=result.data, bss_size=result.bss_size,
                   text_base=text_base, data_base=data_base, entry=symbols["_start"][0],
                   symbols=symbols, lines=result.lines,
                   globals=frozenset(parser.global_names), source=path)
