"""Literals and integer expressions of the guest assembler.

Contract:
  strip_comment(text) -> text before a `;` or `#` that is outside string and character
    literals; ValueError on an unterminated literal.
  parse_expr(text) -> node and eval_expr(node, lookup) -> int: integer expressions with
    + - * / % << >> | & ^ ~ ( ) (C precedence, / and % truncate toward zero), numbers
    (decimal, 0x hex, 0b binary, leading-0 octal, `h`-suffixed hex, as Keystone reads them),
    character literals 'a' and symbols (lookup(name) -> int).  Never uses eval.
  symbols_in(node) -> the names an expression refers to.
  parse_number(text) -> int: one number token (ValueError if malformed).
  parse_strings(text) -> bytes: comma-separated "..." literals with C escapes
    (\\n \\t \\r \\0 \\\\ \\" \\' \\xHH \\NNN ...).
  split_operands(text) -> list[str]: top-level comma split (brackets, parens, literals).
Every parse or evaluation problem is a ValueError with a one-line message; expressions are
at most MAX_TOKENS tokens and values at most 64 bits, so nothing recurses or grows unbounded.
"""
import operator
import re

_LITERAL = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\x[0-9a-fA-F]{1,2}|\\[0-7]{1,3}|\\.|[^\'\\])\'')
_COMMENT_OR_QUOTE = re.compile(r"[;#\"']")
_ESCAPES = {"n": 10, "t": 9, "r": 13, "\\": 92, '"': 34, "'": 39, "a": 7, "b": 8, "f": 12,
            "v": 11, "e": 27}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)


def strip_comment(text: str) -> str:
    """`text` without its comment; ValueError on an unterminated literal."""
    pos = 0
    while (match := _COMMENT_OR_QUOTE.search(text, pos)) is not None:
        if match.group() in ";#":
            return text[:match.start()]
        literal = _LITERAL.match(text, match.start())
        if literal is None:
            kind = "string" if match.group() == '"' else "character literal"
            raise ValueError(f"unterminated {kind}")
        pos = literal.end()
    return text


def unescape(body: str) -> bytes:
    """The bytes of a literal's body (between its quotes)."""
    def one(match):
        code = match.group(1)
        if code[0] == "x":
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8) & 0xFF)
        if code in _ESCAPES:
            return chr(_ESCAPES[code])
        raise ValueError(f"unknown escape '\\{code}'")
    text = _ESCAPE.sub(one, body)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def parse_strings(text: str) -> bytes:
    """The concatenated bytes of comma-separated string literals."""
    out = b""
    for operand in split_operands(text):
        if not re.fullmatch(r'"(?:\\.|[^"\\])*"', operand):
            raise ValueError(f"expected a string literal, got '{operand}'")
        out += unescape(operand[1:-1])
    return out


def split_operands(text: str) -> list:
    """Comma-separated operands at nesting level 0, stripped; [] for blank text."""
    if not text.strip():
        return []
    parts, depth, start, pos = [], 0, 0, 0
    while pos < len(text):
        char = text[pos]
        if char in "\"'":
            literal = _LITERAL.match(text, pos)
            pos = literal.end() if literal else pos + 1
            continue
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:pos].strip())
            start = pos + 1
        pos += 1
    parts.append(text[start:].strip())
    if any(not part for part in parts):
        raise ValueError("empty operand")
    return parts


_TOKEN = re.compile(r"""\s*(?:
    (?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9][0-9a-fA-F]*[hH](?![\w.$])|[0-9]+(?![\w.$]))
  | (?P<chr>'(?:\\x[0-9a-fA-F]{1,2}|\\[0-7]{1,3}|\\.|[^'\\])')
  | (?P<sym>[A-Za-z_.$][\w.$]*)
  | (?P<op><<|>>|[-+*/%|&^~()]))""", re.X)
_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "<<": operator.lshift,
              ">>": operator.rshift, "|": operator.or_, "&": operator.and_, "^": operator.xor}
MAX_TOKENS = 200                # bounds the depth of parsing and evaluation
_BINARY = {"|": 1, "^": 2, "&": 3, "<<": 4, ">>": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}


def parse_number(text: str) -> int:
    """A number as Keystone reads it at radix 10: 0x.., 0b.., 0.. octal, ..h hex, decimal."""
    low = text.lower()
    if low.startswith(("0x", "0b")):
        return int(low, 0)
    if low.endswith("h"):
        return int(low[:-1], 16)
    if len(low) > 1 and low[0] == "0":
        return int(low, 8)
    return int(low)


def _tokens(text: str) -> list:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if not text[pos:].strip():
                break
            raise ValueError(f"bad expression '{text.strip()}'")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "num":
            tokens.append(("num", parse_number(value)))
        elif kind == "chr":
            char = unescape(value[1:-1])
            if len(char) != 1:
                raise ValueError(f"bad character literal {value}")
            tokens.append(("num", char[0]))
        else:
            tokens.append((kind, value))
        pos = match.end()
    return tokens


def parse_expr(text: str):
    """A parsed expression: ("num", v), ("sym", name), ("un", op, x) or ("bin", op, a, b)."""
    tokens = _tokens(text)
    if not tokens:
        raise ValueError("missing expression")
    if len(tokens) > MAX_TOKENS:
        raise ValueError(f"expression longer than {MAX_TOKENS} tokens")
    node, pos = _parse_binary(tokens, 0, 1, text)
    if pos != len(tokens):
        raise ValueError(f"bad expression '{text.strip()}'")
    return node


def _parse_binary(tokens, pos, min_level, text):
    left, pos = _parse_unary(tokens, pos, text)
    while pos < len(tokens) and _BINARY.get(tokens[pos][1], 0) >= min_level \
            and tokens[pos][0] == "op":
        op = tokens[pos][1]
        right, pos = _parse_binary(tokens, pos + 1, _BINARY[op] + 1, text)
        left = ("bin", op, left, right)
    return left, pos


def _parse_unary(tokens, pos, text):
    if pos >= len(tokens):
        raise ValueError(f"bad expression '{text.strip()}'")
    kind, value = tokens[pos]
    if kind == "op" and value in "-+~":
        operand, pos = _parse_unary(tokens, pos + 1, text)
        return ("un", value, operand), pos
    if kind == "op" and value == "(":
        inner, pos = _parse_binary(tokens, pos + 1, 1, text)
        if pos >= len(tokens) or tokens[pos] != ("op", ")"):
            raise ValueError(f"missing ')' in '{text.strip()}'")
        return inner, pos + 1
    if kind in ("num", "sym"):
        return (kind, value), pos + 1
    raise ValueError(f"bad expression '{text.strip()}'")


def eval_expr(node, lookup) -> int:
    """The value of a parsed expression; symbols through lookup(name); ValueError on / 0."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "sym":
        return lookup(node[1])
    if kind == "un":
        value = eval_expr(node[2], lookup)
        return {"-": -value, "+": value, "~": ~value}[node[1]]
    op, a, b = node[1], eval_expr(node[2], lookup), eval_expr(node[3], lookup)
    if op in "/%":
        if b == 0:
            raise ValueError("division by zero")
        quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        return quotient if op == "/" else a - b * quotient
    if op in ("<<", ">>") and not 0 <= b < 64:
        raise ValueError(f"bad shift count {b}")
    value = _OPERATORS[op](a, b)
    if value.bit_length() > 64:
        raise ValueError("value over 64 bits")
    return value


def symbols_in(node) -> set:
    """The symbol names an expression refers to."""
    if node[0] == "sym":
        return {node[1]}
    if node[0] == "num":
        return set()
    return set().union(*(symbols_in(child) for child in node[2:]))
