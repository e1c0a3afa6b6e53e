"""Front end of the guest assembler: source text to a flat list of statements.

Contract:
  preprocess(path, include_dirs, constants, text=None) -> list[SourceLine]
    reads `path` (or `text`, named `path`), strips `;` and `#` comments outside string and
    character literals, splits leading `name:` labels off each line and expands
    `.include "file"` (searched in the including file's folder, then in `include_dirs`),
    `.macro NAME args` ... `.endm` (named arguments `\\arg`, defaults `arg=value`, `\\@` a
    number unique to each expansion, `\\()` an empty separator) and `.rept N` ... `.endr`.
    Every other statement is passed on untouched, with the file and line it was written on.
  AsmError(file, line, message): every error of the toolchain; str() is `file:line: message`
    (`file: message` when no line applies).  An error inside a macro expansion names the
    macro body's line and, in the message, where the macro was expanded.
  split_word(text) -> (first word, rest) and split_labels(text) -> (labels, statement).

A line starting with `%` (NASM preprocessor syntax) is an error: Keystone hangs on it.
"""
import os
import re
from dataclasses import dataclass

from tools.asm.expr import eval_expr, parse_expr, split_operands, strip_comment

MAX_NESTING = 64               # .rept and macro expansions inside each other
MAX_REPT = 100_000
MAX_WORK = 500_000              # lines processed, expansions included


class AsmError(Exception):
    """An error in a guest source, located at `file:line`."""

    def __init__(self, file: str, line: int, message: str):
        super().__init__(file, line, message)
        self.file, self.line, self.message = file, line, message

    def __str__(self):
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class SourceLine:
    """One statement: the labels before it, its text (maybe empty) and where it came from."""
    file: str
    line: int
    labels: tuple
    text: str
    origin: str = ""            # " (in macro M expanded at f:l)" for macro bodies

    def error(self, message: str) -> AsmError:
        return AsmError(self.file, self.line, message + self.origin)


# ---------------------------------------------------------------------------------------
# Includes, macros, repetitions

_LABEL = re.compile(r"\s*([A-Za-z_.$][\w.$]*)\s*:(?!:)")
_MACRO_ARG = re.compile(r"\\(\w+|@|\(\))")
_NAME = re.compile(r"[A-Za-z_.$][\w.$]*\Z")


@dataclass
class _Macro:
    params: list                # [(name, default)]
    body: list                  # [(line, text)]
    file: str


def split_word(text: str) -> tuple:
    """(first word, the rest stripped) of a statement."""
    parts = text.split(None, 1)
    return (parts[0], parts[1].strip()) if len(parts) == 2 else (text.strip(), "")


def split_labels(text: str) -> tuple:
    """(labels, statement) of one comment-free line."""
    labels = []
    while (match := _LABEL.match(text)) is not None:
        labels.append(match.group(1))
        text = text[match.end():]
    return tuple(labels), text.strip()


class _Preprocessor:
    def __init__(self, include_dirs, constants):
        self.include_dirs = list(include_dirs)
        self.constants = dict(constants)
        self.macros = {}
        self.out = []
        self.including = []         # real paths of the files being read, outermost first
        self.expansions = 0
        self.work = 0

    def read(self, path: str, text, where: SourceLine = None):
        real = os.path.realpath(path)
        if real in self.including:
            chain = " -> ".join(os.path.basename(p) for p in self.including + [real])
            raise where.error(f"include cycle: {chain}")
        if text is None:
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise (where.error(f"cannot read '{path}': {reason}") if where
                       else AsmError(path, 0, f"cannot read file: {reason}"))
        numbered = []
        for number, raw in enumerate(text.splitlines(), 1):
            if raw.lstrip().startswith("%"):
                raise AsmError(path, number, f"NASM preprocessor syntax is not supported: "
                                             f"{raw.strip()[:60]}")
            try:
                numbered.append((number, strip_comment(raw)))
            except ValueError as exc:
                raise AsmError(path, number, str(exc))
        self.including.append(real)
        self.process(path, numbered, "", 0)
        self.including.pop()

    def process(self, path, numbered, origin, depth):
        index = 0
        while index < len(numbered):
            number, raw = numbered[index]
            index += 1
            labels, text = split_labels(raw)
            if not labels and not text:
                continue
            src = SourceLine(path, number, labels, text, origin)
            self.work += 1
            if self.work > MAX_WORK:
                raise src.error("program too large after expanding .rept and macros")
            word, rest = split_word(text)
            word = word.lower() if word.startswith(".") else word
            if word in (".macro", ".rept"):
                end = self.block_end(numbered, index, src, word)
                self.emit_labels(src)
                if word == ".macro":
                    self.define_macro(src, rest, numbered[index:end])
                else:
                    self.check_depth(src, depth)
                    for _ in range(self.rept_count(src, rest)):
                        self.process(path, numbered[index:end], origin, depth + 1)
                index = end + 1
            elif word in (".endm", ".endr"):
                raise src.error(f"'{word}' without a matching "
                                f"'{'.macro' if word == '.endm' else '.rept'}'")
            elif word == ".include":
                self.emit_labels(src)
                self.include(src, rest)
            elif word in self.macros:
                self.emit_labels(src)
                self.expand(src, word, rest, depth)
            else:
                self.note_constant(word, rest)
                self.out.append(src)

    @staticmethod
    def check_depth(src, depth):
        if depth >= MAX_NESTING:
            raise src.error(f"macros and .rept nested over {MAX_NESTING} deep (recursive macro?)")

    def emit_labels(self, src):
        if src.labels:
            self.out.append(SourceLine(src.file, src.line, src.labels, "", src.origin))

    @staticmethod
    def block_end(numbered, index, src, opener):
        closer = ".endm" if opener == ".macro" else ".endr"
        depth = 1
        for at in range(index, len(numbered)):
            word = split_word(split_labels(numbered[at][1])[1])[0].lower()
            if word == opener:
                if opener == ".macro":
                    raise AsmError(src.file, numbered[at][0],
                                   "nested '.macro' definitions are not supported" + src.origin)
                depth += 1
            elif word == closer:
                depth -= 1
                if depth == 0:
                    return at
        raise src.error(f"unterminated '{opener}' (no '{closer}')")

    def define_macro(self, src, rest, body):
        name, *words = [word for word in re.split(r"[\s,]+", rest) if word] or [""]
        if not _NAME.match(name):
            raise src.error(f"bad macro name '{name}'")
        params = []
        for param in words:
            pname, _, default = param.partition("=")
            if not re.fullmatch(r"\w+", pname):
                raise src.error(f"bad macro parameter '{param}'")
            params.append((pname, default))
        self.macros[name] = _Macro(params, body, src.file)

    def rept_count(self, src, rest) -> int:
        try:
            count = eval_expr(parse_expr(rest), self.constants.__getitem__)
        except KeyError as exc:
            raise src.error(f"'.rept' count uses '{exc.args[0]}', not a constant known here")
        except ValueError as exc:
            raise src.error(str(exc))
        if not 0 <= count <= MAX_REPT:
            raise src.error(f"'.rept' count {count} is out of range 0..{MAX_REPT}")
        return count

    def include(self, src, rest):
        match = re.fullmatch(r'"([^"]+)"', rest)
        if match is None:
            raise src.error('.include needs a quoted file name: .include "file"')
        name = match.group(1)
        folders = [os.path.dirname(src.file)] + self.include_dirs
        candidates = [name] if os.path.isabs(name) else \
            [os.path.normpath(os.path.join(folder, name)) for folder in folders]
        found = next((path for path in candidates if os.path.isfile(path)), None)
        if found is None:
            searched = ", ".join(folder or "." for folder in folders)
            raise src.error(f"include file '{name}' not found (searched {searched})")
        self.read(found, None, src)

    def expand(self, src, name, rest, depth):
        macro = self.macros[name]
        self.check_depth(src, depth)
        try:
            args = split_operands(rest)
        except ValueError as exc:
            raise src.error(str(exc))
        if len(args) > len(macro.params):
            raise src.error(f"macro '{name}' takes {len(macro.params)} arguments, "
                            f"got {len(args)}")
        values = {pname: default for pname, default in macro.params}
        values.update(zip((pname for pname, _ in macro.params), args))
        self.expansions += 1
        values["@"], values["()"] = str(self.expansions), ""

        def substitute(match):
            return values.get(match.group(1), match.group(0))
        body = [(number, _MACRO_ARG.sub(substitute, text)) for number, text in macro.body]
        origin = f" (in macro '{name}' expanded at {src.file}:{src.line})"
        self.process(macro.file, body, origin, depth + 1)

    def note_constant(self, word, rest):
        """Track `.equ`/`.set` values known so far, for `.rept` counts."""
        if word not in (".equ", ".set"):
            return
        name, _, expr = rest.partition(",")
        name = name.strip()
        self.constants.pop(name, None)
        try:
            self.constants[name] = eval_expr(parse_expr(expr), self.constants.__getitem__)
        except (KeyError, ValueError):
            pass


def preprocess(path: str, include_dirs, constants, text: str = None) -> list:
    """The statements of `path` with includes, macros and repetitions expanded."""
    pre = _Preprocessor(include_dirs, constants)
    pre.read(str(path), text)
    return pre.out
