"""Case generation: what a fuzzer's next trap is, drawn from a seed.

Contract: a `Case` is one trap, symbolic: its function (ecx), target (eax: an endpoint,
or ASEND's count), buffer (ebx), the message at the buffer (16 words, or None), the ASEND
table at the buffer (entries (flags, dst, result, message), or None) and pokes (address,
words) written before the trap.  A word is an int (literal, taken modulo 2**32), an
endpoint ("ep", kind, arg) with kind "live", "stale" (the generation before), "self" or
"free" (a slot number), or an address ("addr", kind, arg) with kind "own" (arg: (region,
offset) in the fuzzer's window) or "other" (arg: a label: that process's receive
buffer); `inject` resolves them against the live system when the case is loaded, so a
case means the same after a restart.  `draw_case(draw, functions)` makes a case from the
choices of `draw` (`pick(items)`, `below(n)`, `word()`): `RandomDraw(seed)` in the long
run, hypothesis in the tests; the same choices give the same case.  `sources_for(seed)`
gives each fuzzer an endless stream of cases from its own generator.
"""

import random
from collections import namedtuple

from kernel.abi import (AMF_DONE, AMF_NOTIFY, AMF_VALID, ANY, ASEND, ASEND_MAX, CLOCK,
                        CPF_READ, CPF_VALID, CPF_WRITE, DATA_OFFSET, DIO_BYTE, DIO_INPUT,
                        DIO_LONG, DIO_OUTPUT, DIO_WORD, HARDWARE, IRQ_ACK, IRQ_DISABLE,
                        IRQ_ENABLE, KERNEL_CALL, KERNEL_CALL_BY_NAME, KERNEL_CALL_NAMES,
                        MAX_GENERATION, MSG_SIZE, NBSEND, NONBLOCK, NONE, NOTIFY,
                        NOTIFY_MESSAGE, NR_SYS_CALLS, RECEIVE, SELF, SEND, SENDREC, SYSTEM,
                        endpoint)
from kernel.names import fields
from tools.fuzz.programs import FUZZERS, LABELS, PING, SCRATCH
from tools.fuzz.words import signed

Case = namedtuple("Case", "function target buffer message table pokes")
SELF_EP = ("ep", "self", None)
SERVER_EP = ("ep", "live", "server")


class RandomDraw:
    """The choices of `draw_case`, from a seeded generator (the long run).  The tests give
    a hypothesis-backed object with the same three methods."""

    def __init__(self, seed):
        generator = random.Random(seed)
        self.random, self.bits = generator.random, generator.getrandbits

    def pick(self, items):
        return items[int(self.random() * len(items))]

    def below(self, n):
        return int(self.random() * n)

    def word(self):
        return self.bits(32)


FUNCTIONS = {   # the primitives each fuzzer mostly tries: what its policy has, and more
    "fuzz_a": (SEND, RECEIVE, SENDREC, NOTIFY, NBSEND, ASEND, RECEIVE | NONBLOCK,
               SEND | NONBLOCK),
    "fuzz_b": (SENDREC, SENDREC, SENDREC, RECEIVE, RECEIVE, NOTIFY, NOTIFY, RECEIVE | NONBLOCK,
               SEND, ASEND),
}
BAD_FUNCTIONS = (0, 6, 15, 0xFF, SENDREC | NONBLOCK, NOTIFY | NONBLOCK, ASEND | NONBLOCK,
                 NBSEND | NONBLOCK, SEND | 0x200, RECEIVE | 0x10000)
RAW_ENDPOINTS = (HARDWARE, SYSTEM, CLOCK, ANY, NONE, SELF, -4, 64, 1023, 0x7FFFFFFF,
                 endpoint(MAX_GENERATION + 1, 2), endpoint(5, 70))
KCALL_TASKS = (SYSTEM,) * 6 + (CLOCK, HARDWARE)
ASEND_COUNTS = (0, 1, 1, 1, 2, 2, 3, 4, 8, ASEND_MAX, ASEND_MAX + 1)
OWN_VALID = (("scratch", 0), ("scratch", 64), ("scratch", 76), ("scratch", 128),
             ("scratch", 3), ("scratch", 1000), ("scratch", 0x1000),
             ("scratch", SCRATCH - MSG_SIZE), ("stack_top", -0x80), ("stack_top", -0x800),
             ("stack_lo", 0))
OWN_INVALID = (("stack_top", -32), ("stack_lo", -8), ("rw_end", -32), ("rw_end", 0),
               ("win", 0), ("win", 0x100), ("win", 0x70000), ("win", DATA_OFFSET - 8))
RAW_ADDRESSES = (0, 4096, 0xFFFFFFF0, 0xFFFFFFC0, 0x80000000)
SOURCES = (0, 0, -1, SYSTEM, SELF_EP)                        # forged M_SOURCE words
KCALL_TYPES = tuple(range(KERNEL_CALL - 1, KERNEL_CALL + NR_SYS_CALLS + 1))
IPC_TYPES = (PING, PING, NOTIFY_MESSAGE, 0, -1, 0x401, 0x404, KERNEL_CALL)
DIO = (DIO_INPUT | DIO_BYTE, DIO_OUTPUT | DIO_BYTE, DIO_INPUT | DIO_WORD,
       DIO_OUTPUT | DIO_WORD, DIO_INPUT | DIO_LONG, DIO_OUTPUT | DIO_LONG)
POOLS = {   # words by field; "word", "ep" and "addr" are drawn, the rest taken as they are
    "generic": (0, 0, 0, 1, 2, -1, 0x7FFFFFFF, -0x80000000, 7, 16, 64, "word", "word", "ep",
                "addr"),
    "PORT": (0xAB, 0xAC, 0xAD, 0xAD, 0xAA, 0xAE, 0x80, 0x82, 0x83, 0x84, 0x3F8, 0, 0xFFFF,
             0x10000, -1, "word"),
    "REQUEST": DIO + DIO + (IRQ_ENABLE, IRQ_DISABLE, IRQ_ACK, 0, 1, 2, 3, 4, 5, DIO_INPUT,
                            DIO_OUTPUT | 0x40, 0x33, "word"),
    "LINE": (7, 7, 7, 0, 4, 15, 16, -1, "word"),
    "SIZE": (0, 1, 1, 2, 3, 4, 4, 8, 15, 16, 17, 63, 64, 64, 65, 127, 128, 129, 256, 4096,
             0x10000, 0x10001, -1, 0x7FFFFFFF, "word"),
    "OFFSET": (0, 0, 0, 0, 1, 63, 64, 127, 128, -1, -64, 0x7FFFFFFF, "word"),
    "TICKS": (0, 1, 2, 100, -1, 0x7FFFFFFF, "word"),
    "ENDPOINT": ("ep", "ep", "ep", 0, -1, "word"),
    "GRANTER": (SERVER_EP, SERVER_EP, SERVER_EP, SELF, SELF, "ep", 0, "word"),
    "ADDR": ("addr", "addr", "addr", "addr", 0, "word"),
    "GRANT": (0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 63, 64, -1, "word"),
    "GRANT_ENTRY": (CPF_VALID | CPF_READ | CPF_WRITE, CPF_VALID | CPF_WRITE, CPF_VALID, 64,
                    4096, -1, "ep", "addr", "word"),
    "LABEL": (0x7A7A7566, 0x76726573, 0x65746E69, 0, "word"),   # "fuzz", "serv", "inte"
}
SUFFIXES = (("PORT", "PORT"), ("ADDR", "ADDR"), ("ENDPOINT", "ENDPOINT"),
            ("GRANTER", "GRANTER"), ("SRC", "ENDPOINT"), ("DST", "ENDPOINT"),
            ("COUNT", "SIZE"), ("SIZE", "SIZE"), ("LEN", "SIZE"), ("BYTES", "SIZE"),
            ("OFFSET", "OFFSET"), ("REQUEST", "REQUEST"), ("LINE", "LINE"),
            ("TICKS", "TICKS"), ("GRANT", "GRANT"), ("WHICH", "SIZE"))
POKES = ("PORT", "generic", "SIZE", "ADDR", "GRANT_ENTRY")
AT = ("addr", "own", ("scratch", 0x2000))              # a vector, a table, a copy buffer
TEMPLATES = {   # a kernel call that may succeed, by name: payload words, memory at AT
    "DEVIO": ((DIO_INPUT | DIO_BYTE, 0xAB, 0), ()),
    "VDEVIO": ((DIO_OUTPUT | DIO_BYTE, AT, 2), (0xAC, 0x41, 0xAD, 0x11)),
    "SDEVIO": ((DIO_INPUT | DIO_BYTE, 0x80, SERVER_EP, 0, 0, 16), ()),
    "IRQCTL": ((IRQ_ENABLE, 7), ()),
    "SETGRANT": ((AT, 2), (CPF_VALID | CPF_READ | CPF_WRITE, SELF_EP,
                           ("addr", "own", ("scratch", 0)), 256, CPF_VALID | CPF_READ,
                           ("ep", "live", "fuzz_a"), ("addr", "own", ("stack_lo", 0)), 64)),
    "SAFECOPYFROM": ((SERVER_EP, 1, 0, 64, AT), ()),
    "SAFECOPYTO": ((SERVER_EP, 0, 0, 64, AT), ()),
    "VIRCOPY": ((SELF, AT, SERVER_EP, AT, 64), ()),
    "SETALARM": ((1,), ()),
    "DIAGCTL": ((AT, 16), ()),
    "EXIT": ((0,), ()),
    "KILL": ((SERVER_EP,), ()),
    "GETINFO": ((1, 0, AT), ()),
}
TEMPLATE_CALLS = tuple(KERNEL_CALL_BY_NAME[name] for name in TEMPLATES)


def _pool(name):
    if name.startswith("SPAWN_LABEL"):
        return POOLS["LABEL"]
    for suffix, pool in SUFFIXES:
        if name.endswith(suffix):
            return POOLS[pool]
    return POOLS["generic"]


PEERS = LABELS + ("server", "server", "fuzz_a", "fuzz_b", "sink")   # the busy ones, more


def draw_endpoint(draw):
    k = draw.below(10)
    if k < 5:
        return ("ep", "live", draw.pick(PEERS))
    if k == 5:
        return ("ep", "stale", draw.pick(PEERS))
    if k == 6:
        return SELF_EP
    if k == 7:
        return ("ep", "free", draw.pick((9, 20, 63)))
    return draw.pick(RAW_ENDPOINTS) if k == 8 else draw.word()


def draw_address(draw):
    k = draw.below(10)
    if k < 7:
        return ("addr", "own", draw.pick(OWN_VALID))
    if k == 7:
        return ("addr", "own", draw.pick(OWN_INVALID))
    if k == 8:
        return ("addr", "other", draw.pick(LABELS))
    return draw.pick(RAW_ADDRESSES) if draw.below(2) else draw.word()


def draw_word(draw, pool):
    item = draw.pick(pool)
    if item == "word":
        return draw.word()
    if item == "ep":
        return draw_endpoint(draw)
    if item == "addr":
        return draw_address(draw)
    return item


def draw_message(draw, types):
    """M_SOURCE (a forgery the kernel must overwrite), M_TYPE and 14 payload words, each
    drawn from the pool its field's name calls for."""
    m_type = draw.pick(types) if draw.below(8) else signed(draw.word())
    names = fields(m_type)[:14]
    words = [draw.pick(SOURCES), m_type] + [draw_word(draw, _pool(name)) for name in names]
    return _payload_rest(draw, words, len(names))


def draw_template(draw):
    """A kernel call that may succeed, a few of its words replaced by drawn ones; and the
    memory it names (a vector, a grant table) to write at AT."""
    m_type = draw.pick(TEMPLATE_CALLS)
    payload, memory = TEMPLATES[KERNEL_CALL_NAMES[m_type]]
    names = fields(m_type)
    words = [draw.pick(SOURCES), m_type] + [
        word if draw.below(4) else draw_word(draw, _pool(names[i]))
        for i, word in enumerate(payload)]
    return _payload_rest(draw, words, len(payload)), ((AT, memory),) if memory else ()


def _payload_rest(draw, words, named):
    """The payload words after the `named` ones: zeros, or (one time in four) drawn."""
    rest = 14 - named
    if draw.below(4):
        return tuple(words) + (0,) * rest
    return tuple(words) + tuple(draw_word(draw, POOLS["generic"]) for _ in range(rest))


def draw_table(draw, count):
    entries = []
    for _ in range(min(count, 4)):
        flags = draw.pick((AMF_VALID, AMF_VALID, AMF_VALID | AMF_NOTIFY, 0,
                           AMF_VALID | AMF_DONE, AMF_VALID | 8, "word"))
        flags = draw.word() if flags == "word" else flags
        dst = draw_endpoint(draw) if draw.below(4) else ("ep", "live",
                                                        draw.pick(("server", "sink")))
        entries.append((flags, dst, draw.pick((0, -1, 12345)), draw_message(draw, IPC_TYPES)))
    return tuple(entries)


def draw_case(draw, functions=FUNCTIONS["fuzz_a"]):
    """One trap: its function, endpoint (ASEND: count), buffer and memory contents."""
    pokes = ()
    if draw.below(4) == 0:                      # a vector, a grant table, text...
        pool = POOLS[draw.pick(POKES)]
        pokes = ((draw_address(draw), tuple(draw_word(draw, pool)
                                            for _ in range(draw.pick((2, 4, 8))))),)
    if draw.below(10) < 4:                      # a kernel call
        if draw.below(2):
            message, memory = draw_template(draw)
            return Case(SENDREC, SYSTEM if draw.below(8) else draw.pick(KCALL_TASKS),
                        draw_address(draw), message, None, pokes + memory)
        return Case(SENDREC, draw.pick(KCALL_TASKS), draw_address(draw),
                    draw_message(draw, KCALL_TYPES), None, pokes)
    k = draw.below(20)
    function = draw.pick(functions) if k < 17 else (
        draw.pick(BAD_FUNCTIONS) if k < 19 else draw.word())
    if function == ASEND:
        count = draw.pick(ASEND_COUNTS) if draw.below(16) else draw.word()
        return Case(function, count, draw_address(draw), None, draw_table(draw, count), pokes)
    message = None if function == NOTIFY else draw_message(draw, IPC_TYPES)
    return Case(function, draw_endpoint(draw), draw_address(draw), message, None, pokes)


def sources_for(seed):
    """An endless stream of cases per fuzzer, from `seed`."""
    return {label: (lambda draw=RandomDraw(f"{seed}:{label}"), functions=FUNCTIONS[label]:
                    draw_case(draw, functions))
            for label in FUZZERS}
