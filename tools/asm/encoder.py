"""Layout and encoding of a parsed guest program, bounded in one child process.

Contract:
  Job(items, lines, known, predefined, text_base, data_base): a parsed program: statements
    (tools.asm.assembler) that each emit (size, bytes) at an address during a layout pass,
    the SourceLines they index, and every name the program defines (labels and constants).
  run_bounded(job, timeout) -> Layout(text, data, bss_size, values, lines)
    runs layout() in a forked child with its own Keystone; raises AsmError for an error in
    the source, and `file:line: assembler did not finish` naming the line being encoded when
    the child hangs past `timeout` seconds or dies.

Layout: passes over the items in source order.  A symbol not yet placed in this pass takes
its value from the previous pass (on the first pass: the current address, so branches start
short and grow as needed); passes repeat until every value is the one of the previous pass,
at most MAX_PASSES.
Errors that may come from a guess (operand range, alignment...) count only once the layout
has settled.

Keystone (0.9.2) encodes one instruction at a time at its address, with every symbol already
replaced by its value: through its sym_resolver it drops offsets (`[msg+4]` reads `msg`),
encodes `push SYMBOL` as a 16-bit push and rejects `SYMBOL*2`.  The resolver only reports
the names no one defined.  Setting it also switches Keystone to radix 16, so every number is
handed over in 0x form (tools.asm.assembler writes them so).  Capstone reads each new
encoding back: one that does not decode whole, or a constant operand (immediate, branch
target) that Keystone silently truncated (`mov al, 300`, `loop` too far), is an error.
"""
import multiprocessing
import re
import traceback
from dataclasses import dataclass
from typing import NamedTuple

import capstone
import keystone
from capstone import x86

from kernel.abi import DATA_OFFSET, STACK_SIZE, TEXT_MAX, WINDOW_SIZE
from tools.asm.expr import eval_expr, parse_expr, split_operands
from tools.asm.preprocess import AsmError

MAX_PASSES = 16
DATA_MAX = WINDOW_SIZE - DATA_OFFSET - STACK_SIZE     # data + bss, below the stack


class Job(NamedTuple):
    items: list
    lines: list
    known: frozenset
    predefined: dict
    text_base: int
    data_base: int


@dataclass
class Layout:
    text: bytes
    data: bytes
    bss_size: int
    values: dict
    lines: list


class _Pass:
    """Symbol values of one layout pass and the errors that count if it is the last."""

    def __init__(self, job, prev, encoder):
        self.job, self.prev, self.encoder = job, prev, encoder
        self.values = dict(job.predefined)
        self.forward = False            # some value came from the previous pass or a guess
        self.guessed = []
        self.errors = []                # (src index, message)

    def lookup(self, name, guess=0):
        value = self.values.get(name)
        if value is None:
            self.forward = True
            value = self.prev.get(name)
            if value is None:
                self.guessed.append(name)
                value = guess
        return value

    def evaluate(self, node, item):
        try:
            return eval_expr(node, self.lookup)
        except ValueError as exc:
            self.defer(item, str(exc))
            return 0

    def defer(self, item, message):
        self.errors.append((item.src, message))


def layout(job: Job, encoder) -> Layout:
    """Place and encode every item; repeat until the symbol values settle."""
    prev, bss_base, last = {}, job.data_base, None
    for number in range(1, MAX_PASSES + 1):
        run = _Pass(job, prev, encoder)
        placed, ends = _place(job, run, bss_base)
        data_end = job.data_base + (ends["data"] - job.data_base + 3) // 4 * 4
        settled = data_end == bss_base and (
            not run.forward or (not run.guessed and run.values == prev))
        if settled or number == MAX_PASSES:
            break
        prev, bss_base, last = run.values, data_end, placed
    if run.errors:
        index, message = run.errors[0]
        raise job.lines[index].error(message)
    if not settled:
        raise _unsettled(job, run, prev, placed, last)
    return _collect(job, run, placed, ends["bss"] - bss_base)


def _place(job, run, bss_base):
    ends = {"text": job.text_base, "data": job.data_base, "bss": bss_base}
    limits = {"text": (job.text_base + TEXT_MAX, "text is over 512 KiB (TEXT_MAX)"),
              "data": (job.data_base + DATA_MAX, f"data and bss are over {DATA_MAX // 1024} KiB"),
              "bss": (job.data_base + DATA_MAX, f"data and bss are over {DATA_MAX // 1024} KiB")}
    placed = []
    for item in job.items:
        addr = ends[item.section]
        for name in item.labels:
            run.values[name] = addr
        size, blob = item.emit(addr, run)
        ends[item.section] = addr + size
        limit, message = limits[item.section]
        if addr + size > limit:
            run.defer(item, message)
            if addr + size > limit + WINDOW_SIZE:
                raise job.lines[item.src].error(message)
        placed.append((addr, size, blob))
    return placed, ends


def _unsettled(job, run, prev, placed, last):
    restless = set(run.guessed) | {name for name, value in run.values.items()
                                   if prev.get(name) != value}
    constant = next((item for item in job.items if getattr(item, "name", None) in restless),
                    None)
    if constant is not None:
        return job.lines[constant.src].error(
            f"cannot resolve '{constant.name}' (circular definition?)")
    moved = next((index for index, (now, then) in enumerate(zip(placed, last))
                  if now[:2] != then[:2]), 0)
    return job.lines[job.items[moved].src].error(
        f"instruction sizes did not settle after {MAX_PASSES} passes")


def _collect(job, run, placed, bss_size) -> Layout:
    text, data, lines = [], [], []
    for item, (addr, size, blob) in zip(job.items, placed):
        if item.section == "text":
            text.append(blob)
            if size and item.listed:
                src = job.lines[item.src]
                lines.append((addr, size, src.file, src.line))
        elif item.section == "data":
            data.append(blob)
    data_bytes = b"".join(data)
    values = {name: value for name, value in run.values.items() if name in job.known}
    return Layout(b"".join(text), data_bytes + bytes(-len(data_bytes) % 4), bss_size,
                  values, lines)


# ---------------------------------------------------------------------------------------
# Keystone, one instruction at a time, checked by Capstone

class Failure(NamedTuple):
    message: str
    fatal: bool                 # certain whatever the symbol values (else: may be a guess)


class Encoder:
    """Keystone with a cache; reports the line it works on through `progress`."""

    def __init__(self, progress):
        self.ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)
        self.ks.sym_resolver = self._missing_symbol
        self.cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self.cs.detail = True
        self.progress = progress
        self.cache = {}
        self.missing = None

    def _missing_symbol(self, name, value):
        """Keystone asks only for names left in the text: names no one defined."""
        self.missing = self.missing or name.decode("latin-1")
        return False

    def encode(self, insn, text, addr, key, target=None):
        """Bytes or a Failure for `text` at `addr`; `target`: the value of a branch's one
        symbol operand.  Results are cached under `key`."""
        found = self.cache.get(key)
        if found is None:
            self.progress.value = insn.src
            found = self.cache[key] = self._encode(text, addr, insn, target)
        return found

    def _encode(self, text, addr, insn, target):
        head = len(insn.parts[0])
        self.missing = None
        try:
            blob = self.ks.asm(text, addr, True)[0] or b""
        except keystone.KsError as exc:
            if exc.errno == keystone.KS_ERR_ASM_MNEMONICFAIL:
                return Failure(f"unknown mnemonic '{text[:head].split()[-1]}'", True)
            if exc.errno == keystone.KS_ERR_ASM_SYMBOL_MISSING and self.missing:
                return Failure(f"undefined symbol '{self.missing}'", True)
            return Failure(re.sub(r"\s*\(KS_ERR_\w+\)", "", str(exc)).lower(), False)
        if not blob:
            return Failure(f"no code for '{text}'", True)
        reached = _relative_target(blob, addr) if target is not None else None
        if reached is not None:
            return blob if reached == target & 0xFFFFFFFF else \
                Failure(f"branch target {target:#x} out of range", False)
        return self._check(text[head:], addr, blob, insn.branch)

    def _check(self, operand_text, addr, blob, branch):
        constants = _constant_operands(operand_text)
        if all(value is None for value in constants):
            return blob
        decoded = list(self.cs.disasm(blob, addr))
        if sum(insn.size for insn in decoded) != len(blob):
            return Failure("operand out of range (no valid encoding)", False)
        if len(decoded) != 1 or len(decoded[0].operands) != len(constants):
            return blob
        for value, operand in zip(constants, decoded[0].operands):
            if value is None or operand.type != x86.X86_OP_IMM:
                continue
            bits = 8 * operand.size
            if not -(1 << bits - 1) <= value < 1 << bits or (operand.imm - value) % (1 << bits):
                return Failure(f"branch target {value:#x} out of range" if branch else
                               f"value {value:#x} does not fit in {bits} bits", False)
        return blob


_REL8_OPCODES = frozenset([0xEB, *range(0x70, 0x80), *range(0xE0, 0xE4)])
_CONSTANT = re.compile(r"(?:[-+*/%|&^~()<>\s]|0x[0-9a-f]+)+\Z")


def _relative_target(blob, addr):
    """Where a direct relative jmp/jcc/call/loop/jecxz encoding goes; None for other forms."""
    body = blob[1:] if blob[0] == 0x67 else blob
    if len(body) == 2 and body[0] in _REL8_OPCODES:
        rel = int.from_bytes(body[1:], "little", signed=True)
    elif (len(body) == 5 and body[0] in (0xE8, 0xE9)) or \
            (len(body) == 6 and body[0] == 0x0F and 0x80 <= body[1] <= 0x8F):
        rel = int.from_bytes(body[-4:], "little", signed=True)
    else:
        return None
    return (addr + len(blob) + rel) & 0xFFFFFFFF


def _constant_operands(operand_text) -> list:
    """The value of each operand that is a plain number expression, else None."""
    try:
        operands = split_operands(operand_text)
    except ValueError:
        return []
    values = []
    for operand in operands:
        try:
            values.append(eval_expr(parse_expr(operand), int) if _CONSTANT.match(operand)
                          else None)
        except ValueError:
            values.append(None)
    return values


# ---------------------------------------------------------------------------------------
# The bounded child

def _child(job, progress, writer):
    try:
        outcome = ("ok", layout(job, Encoder(progress)))
    except AsmError as exc:
        outcome = ("error", exc.file, exc.line, exc.message)
    except Exception:           # a bug of ours: hand the traceback to the parent
        outcome = ("bug", traceback.format_exc())
    writer.send(outcome)
    writer.close()


def run_bounded(job: Job, timeout: float) -> Layout:
    """layout(job) in a forked child, killed after `timeout` seconds."""
    context = multiprocessing.get_context("fork")
    progress = context.RawValue("i", -1)
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(job, progress, writer), daemon=True)
    child.start()
    writer.close()
    outcome, timed_out = None, False
    try:
        timed_out = not reader.poll(timeout)
        if not timed_out:
            outcome = reader.recv()
    except EOFError:
        pass
    finally:
        reader.close()
        if outcome is None:
            child.kill()
        child.join()
    if outcome is None:
        src = job.lines[max(progress.value, 0)]
        reason = (f"no result within {timeout:g} s" if timed_out
                  else f"the encoder died with exit status {child.exitcode}")
        raise src.error(f"assembler did not finish ({reason})")
    if outcome[0] == "error":
        raise AsmError(*outcome[1:])
    if outcome[0] == "bug":
        raise RuntimeError("internal assembler error:\n" + outcome[1])
    return outcome[1]
