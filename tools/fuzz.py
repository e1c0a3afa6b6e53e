"""`emu fuzz`: a property-based fuzz of the IPC trap and of the kernel calls.

The system under fuzz is built once and booted once.  Two untrusted fuzzers, whose program
is nothing but `int 0x21` in a loop with ecx, eax and ebx loaded from a control block in
their own memory, run next to a server that receives and replies (by NBSEND), a sink,
processes blocked in each IPC state (receiving from one peer, sending, in the receive half
of SENDREC), a client that asks the server every clock tick and checks the answer, and an
outsider no fuzzer may reach (`PROGRAMS`).

A trap is fuzzed through the real path: the host wraps each process's trap callback; at a
fuzzer's trap it writes the case's message, ASEND table and other bytes into the fuzzer's
memory (as the program itself would), calls the kernel's own callback (the same `do_ipc`,
the same SYSTEM gate), checks, and writes the next case's registers into the control
block.  Cases are symbolic (endpoints by role, addresses by region: `draw_case`) and are
resolved against the live system, so a case means the same after a restart.

Checked after every trap of every process: no kernel panic; a denied trap (an error in
eax, or a kernel call whose reply is negative) changes no kernel state and no memory of
another process; any other trap changes another process's memory only where the kernel
may write it (its receive buffer while it receives or is in SENDREC, the flags and result
words of its own ASEND table, what its grants let the caller write), and leaves the
process table consistent (`check_table`).  Not a denial: RECEIVE's ENOTREADY and
ELOCKED, which may come after ASEND bookkeeping (stale pending bits cleared, invalid
entries finished), as in MINIX 3.  After every step (one clock tick): `check_table`, the
service (the client's requests keep being answered correctly; the outsider gets
nothing) and, every WINDOW_EVERY steps, every passive program's whole window against its
image (but its own variables) and the fuzzers' text and gaps.

A fuzzer blocked for a whole step is killed and restarted in its slot (as RS would).
After a panic or a violation the system is warm-rebooted: a fresh machine and kernel, the
same CPUs (`reboot`).  Everything is seeded: one seed gives the same traps, results and report.
"""

import os
import random
import struct
import sys
import tempfile
import time
from collections import Counter, namedtuple
from operator import attrgetter
from pathlib import Path

from emu.machine import Machine
from emu.session import BootOptions, Session
from kernel.abi import (AMF_DONE, AMF_NOTIFY, AMF_VALID, ANY, ASEND, ASEND_ENTRY_SIZE,
                        ASEND_MAX, CLOCK, CPF_FLAGS_MASK, CPF_READ, CPF_VALID, CPF_WRITE,
                        DATA_OFFSET, DIO_BYTE, DIO_INPUT, DIO_LONG, DIO_OUTPUT, DIO_WORD,
                        ELOCKED, ENOTREADY, GRANT_ENTRY_SIZE, HARDWARE, HZ, IRQ_ACK,
                        IRQ_DISABLE, IRQ_ENABLE, KERNEL_CALL, KERNEL_CALL_BY_NAME,
                        KERNEL_CALL_NAMES, M_TYPE, MAX_GENERATION, MSG_SIZE, NBSEND,
                        NONBLOCK, NONE, NOTIFY, NOTIFY_MESSAGE, NR_PROCS, NR_SYS_CALLS,
                        NR_TASKS, OK, RECEIVE, SELF, SEND, SENDREC, SYSTEM, TASK_NAMES,
                        TICK_INSNS, WINDOW_SIZE, endpoint)
from kernel.kernel import Kernel
from kernel.message import read_int32
from kernel.names import PRIMITIVE_NAMES, fields, result_name, type_name
from kernel.proc import Proc
from kernel.run import RunLimits, run as run_kernel

HELP = "fuzz the IPC trap and the kernel calls, checking the kernel's invariants"

PING = 0x4242                 # the client's request to the server; the answer is PING + 1
SCRATCH = 0x3000              # bytes of scratch in a fuzzer's bss (messages, tables)
SERVICE_STEPS = 20            # the client must be answered at least once in this many steps

# -- the system under fuzz -----------------------------------------------------------------
FUZZER = """
.text
_start:
    mov ecx, [ctl]
    mov eax, [ctl + 4]
    mov ebx, [ctl + 8]
    int IPC_VEC
    jmp _start
.data
ctl:
    .long 0, 0, 0
.bss
scratch:
    .space SCRATCH
"""
RECEIVER = """
.text
_start:
    mov eax, {source}
    lea ebx, [inbox]
    mov ecx, RECEIVE
    int IPC_VEC
    inc dword ptr [count]
    jmp _start
.bss
vars:
inbox:
    .space MSG_SIZE
count:
    .space 4
vars_end:
"""
SERVER = """
.text
_start:
    mov dword ptr [setgrant + M_TYPE], SYS_SETGRANT
    lea eax, [grants]
    mov [setgrant + SG_ADDR], eax
    mov dword ptr [setgrant + SG_COUNT], 6
    mov eax, SYSTEM
    lea ebx, [setgrant]
    mov ecx, SENDREC
    int IPC_VEC
serve:
    mov eax, ANY
    lea ebx, [inbox]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz serve
    cmp dword ptr [inbox + M_TYPE], NOTIFY_MESSAGE
    je serve
    mov eax, [inbox + M_SOURCE]
    cmp eax, EP_CLIENT
    je answer
    mov [grants + GRANT_GRANTEE], eax
    mov [grants + GRANT_ENTRY_SIZE + GRANT_GRANTEE], eax
    mov [grants + 3 * GRANT_ENTRY_SIZE + GRANT_GRANTEE], eax
    mov [grants + 4 * GRANT_ENTRY_SIZE + GRANT_GRANTEE], eax
    mov [grants + 5 * GRANT_ENTRY_SIZE + GRANT_GRANTEE], eax
answer:
    inc dword ptr [inbox + M_TYPE]
    inc dword ptr [count]
    mov eax, [inbox + M_SOURCE]
    lea ebx, [inbox]
    mov ecx, NBSEND
    int IPC_VEC
    jmp serve
.data
vars:
grants:                                 # grantee: the last fuzzer that sent a request
    .long CPF_VALID | CPF_WRITE, EP_FUZZ_A, granted, 128
    .long CPF_VALID | CPF_READ, EP_FUZZ_A, granted, 128
    .long CPF_VALID | CPF_READ | CPF_WRITE, EP_FUZZ_B, granted + 64, 64
    .long CPF_WRITE, EP_FUZZ_A, granted, 128
    .long CPF_VALID | CPF_WRITE, EP_FUZZ_A, _start, 64
    .long CPF_VALID | CPF_WRITE | 0x8000, EP_FUZZ_A, granted, 128
.bss
inbox:
    .space MSG_SIZE
count:
    .space 4
setgrant:
    .space MSG_SIZE
granted:
    .space 128
vars_end:
"""
SENDER = """
.text
_start:
    mov eax, {target}
    lea ebx, [inbox]
    mov ecx, {primitive}
    int IPC_VEC
    inc dword ptr [count]
    jmp _start
.bss
vars:
inbox:
    .space MSG_SIZE
count:
    .space 4
vars_end:
"""
CLIENT = """
.text
_start:
    mov dword ptr [alarm + M_TYPE], SYS_SETALARM
    mov dword ptr [alarm + ALARM_TICKS], 1
    mov eax, SYSTEM
    lea ebx, [alarm]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz failed
    mov eax, CLOCK
    lea ebx, [wake]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz failed
    inc dword ptr [round]
    mov eax, [round]
    mov [request + M_W0], eax
    mov dword ptr [request + M_TYPE], PING
    mov eax, EP_SERVER
    lea ebx, [request]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz failed
    mov eax, -1000
    cmp dword ptr [request + M_SOURCE], EP_SERVER
    jne failed
    cmp dword ptr [request + M_TYPE], PING + 1
    jne failed
    mov ecx, [round]
    cmp [request + M_W0], ecx
    jne failed
    inc dword ptr [ok]
    jmp _start
failed:
    mov [last_error], eax
    inc dword ptr [bad]
    jmp _start
.bss
vars:
alarm:
    .space MSG_SIZE
wake:
    .space MSG_SIZE
request:
    .space MSG_SIZE
round:
    .space 4
ok:
    .space 4
bad:
    .space 4
last_error:
    .space 4
vars_end:
"""
ALL_IPC = ["SEND", "RECEIVE", "SENDREC", "NOTIFY", "NBSEND", "ASEND"]
DRIVER_CALLS = ["DEVIO", "VDEVIO", "SDEVIO", "IRQCTL", "SETGRANT", "SAFECOPYFROM",
                "SAFECOPYTO", "SETALARM", "TIMES", "DIAGCTL", "EXIT"]
PROGRAMS = [  # label, source, policy; slot i = program i
    ("fuzz_a", FUZZER, dict(kind="driver", ipc=ALL_IPC, targets=[
        "SYSTEM", "CLOCK", "fuzz_a", "fuzz_b", "server", "sink", "waiter", "stuck",
        "sendrec_er", "client"], kernel_calls=DRIVER_CALLS, io=["0xAB-0xAD", "0x80-0x83"],
        irq=[7], priority=6, quantum=1)),
    ("fuzz_b", FUZZER, dict(kind="user", ipc=["SENDREC", "RECEIVE", "NOTIFY"],
                            targets=["SYSTEM", "server", "fuzz_a"],
                            kernel_calls=["EXIT", "TIMES", "DIAGCTL"], priority=6, quantum=1)),
    ("server", SERVER, dict(kind="server", ipc=["RECEIVE", "NBSEND", "SENDREC"],
                            targets=["SYSTEM"], kernel_calls=["SETGRANT"], priority=3)),
    ("sink", RECEIVER.format(source="ANY"), dict(kind="server", ipc=["RECEIVE"], priority=3)),
    ("waiter", RECEIVER.format(source="EP_CLIENT"), dict(kind="server", ipc=["RECEIVE"],
                                                         priority=3)),
    ("stuck", SENDER.format(target="EP_WAITER", primitive="SEND"),
     dict(kind="driver", ipc=["SEND"], targets=["waiter"], priority=3)),
    ("sendrec_er", SENDER.format(target="EP_SINK", primitive="SENDREC"),
     dict(kind="driver", ipc=["SENDREC"], targets=["sink"], priority=3)),
    ("client", CLIENT, dict(kind="user", ipc=["SENDREC", "RECEIVE"],
                            targets=["SYSTEM", "server"], kernel_calls=["SETALARM"],
                            priority=4)),
    ("outsider", RECEIVER.format(source="ANY"), dict(kind="server", ipc=["RECEIVE"],
                                                     priority=3)),
]
LABELS = tuple(label for label, _, _ in PROGRAMS)
FUZZERS = ("fuzz_a", "fuzz_b")
TASKS = frozenset(TASK_NAMES)


def write_system(folder):
    """The sources and system.toml of the system under fuzz, in `folder`."""
    lines = []
    for label, source, policy in PROGRAMS:
        text = f'.include "abi.inc"\n.equ SCRATCH, {SCRATCH}\n.equ PING, {PING}\n' + source
        (folder / f"{label}.asm").write_text(text)
        lines += ["[[program]]", f'label = "{label}"', f'source = "{label}.asm"']
        for key, value in policy.items():
            shown = f'"{value}"' if isinstance(value, str) else str(value).replace("'", '"')
            lines.append(f"{key} = {shown}")
        lines.append("")
    system = folder / "system.toml"
    system.write_text("\n".join(lines))
    return system


# -- cases ----------------------------------------------------------------------------------
# A case is symbolic: ints are literal words; ("ep", kind, arg) and ("addr", kind, arg)
# are resolved when the case is loaded (FuzzSystem.resolve), against the live system.
Case = namedtuple("Case", "function target buffer message table pokes")


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
SOURCES = (0, 0, -1, SYSTEM, ("ep", "self", None))          # forged M_SOURCE words
KCALL_TYPES = tuple(range(KERNEL_CALL - 1, KERNEL_CALL + NR_SYS_CALLS + 1))
IPC_TYPES = (PING, PING, NOTIFY_MESSAGE, 0, -1, 0x401, 0x404, KERNEL_CALL)
DIO = (DIO_INPUT | DIO_BYTE, DIO_OUTPUT | DIO_BYTE, DIO_INPUT | DIO_WORD,
       DIO_OUTPUT | DIO_WORD, DIO_INPUT | DIO_LONG, DIO_OUTPUT | DIO_LONG)
SERVER_EP = ("ep", "live", "server")
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
SELF_EP = ("ep", "self", None)
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
        return ("ep", "self", None)
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
    m_type = draw.pick(types) if draw.below(8) else _signed(draw.word())
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


# -- the kernel's state and its invariants --------------------------------------------------
NOT_STATE = frozenset((   # fields of a Proc that no trap changes, or that only count
    "cpu", "policy", "label", "kind", "index", "ipc_mask", "target_mask", "task_mask",
    "call_mask", "io_ranges", "irq_mask", "is_server", "is_driver", "base_priority",
    "quantum", "left", "insns", "faults", "restarts", "exit_status", "last_fault",
    "trust_reports"))
STATE_FIELDS = tuple(name for name in Proc.__slots__ if name not in NOT_STATE)
FIELD = {name: i for i, name in enumerate(STATE_FIELDS)}
_state_of = attrgetter(*STATE_FIELDS)


def fingerprint(kernel):
    """Everything of the kernel's state a trap may change, but counters, the caller's
    registers and memory: a value that compares equal when nothing changed."""
    irqs, printer = kernel.interrupts, kernel.machine.printer
    return (tuple(_state_of(p) for p in kernel.table.procs if p.alive),
            tuple(irqs.handlers), irqs.masked, irqs.raised, kernel.clock.next_due,
            printer.data, printer.control, printer.busy_until, printer.irq_due,
            printer.printed)


def _diff(a, b):
    """The first difference of two fingerprints, readable."""
    for x, y in zip(a[0], b[0]):
        for name, u, v in zip(STATE_FIELDS, x, y):
            if u is not v and u != v:
                return f"slot {x[FIELD['slot']]}: {name} {u!r} -> {v!r}"
    if len(a[0]) != len(b[0]):
        return f"live processes {len(a[0])} -> {len(b[0])}"
    return f"interrupts, clock or printer: {a[1:]} -> {b[1:]}"


def check_table(kernel):
    """Every problem of the process table, the sender queues, the ready queues, the IRQ
    lines and the alarms, as readable lines (empty when all hold)."""
    problems = []
    add = problems.append
    procs = kernel.table.procs
    live = 0
    endpoints = set()
    for p in procs:
        if p.alive:
            live |= 1 << p.slot
            if p.endpoint in endpoints:
                add(f"endpoint {p.endpoint} alive twice")
            endpoints.add(p.endpoint)
        elif p.ready or p.alarm is not None:
            add(f"free slot {p.slot} is ready or has an alarm")
    queued = {}
    for p in procs:
        if p.alive:
            _check_proc(kernel, p, live, queued, add)
    in_sched = set()
    for priority, queue in enumerate(kernel.sched.queues):
        for p in queue:
            if p.slot in in_sched or not p.alive or not p.ready or p.priority != priority:
                add(f"ready queue {priority}: {p!r} twice, dead, not ready or misplaced")
            in_sched.add(p.slot)
    for p in procs:
        if p.alive and p.sendto is not None and queued.get(p.slot) is not p.sendto:
            add(f"{p!r} sends to {p.sendto!r} but is not in its queue")
        if p.alive and p.ready and p.slot not in in_sched:
            add(f"{p!r} is ready but in no ready queue")
    for line, handler in enumerate(kernel.interrupts.handlers):
        if handler is not None and not handler.alive:
            add(f"IRQ {line} routed to the dead {handler!r}")
    alarms = [p.alarm for p in procs if p.alive and p.alarm is not None]
    if kernel.clock.next_due != (min(alarms) if alarms else None):
        add(f"clock next_due {kernel.clock.next_due} is not the first alarm")
    return problems


def _check_proc(kernel, p, live, queued, add):
    name = f"{p.label} (slot {p.slot})"
    if p.endpoint != endpoint(p.gen, p.slot):
        add(f"{name}: endpoint {p.endpoint} is not of generation {p.gen}")
    if p.notify_pending >> NR_TASKS & ~live:
        add(f"{name}: notification pending from a free slot: {p.notify_pending:#x}")
    if p.asyn_pending & ~live:
        add(f"{name}: ASEND pending from a free slot: {p.asyn_pending:#x}")
    if p.may_reply & ~live:
        add(f"{name}: may reply to a free slot: {p.may_reply:#x}")
    blocked = p.sendto is not None or p.getfrom is not None
    if p.sendto is not None and (p.getfrom is not None or not p.sendto.alive):
        add(f"{name}: sending to {p.sendto!r} while receiving from {p.getfrom}")
    if p.getfrom is not None and p.getfrom != ANY and p.getfrom not in TASKS \
            and kernel.table.lookup(p.getfrom)[0] != OK:
        add(f"{name}: receiving from a dead or bad endpoint {p.getfrom}")
    if p.in_sendrec and not blocked:
        add(f"{name}: in SENDREC but not blocked")
    if blocked and not p.cpu.in_rw(p.msg_addr, MSG_SIZE):
        add(f"{name}: blocked with its buffer {p.msg_addr:#x} outside its memory")
    if p.asend_count and not p.cpu.in_rw(p.asend_addr, p.asend_count * ASEND_ENTRY_SIZE):
        add(f"{name}: its ASEND table is outside its memory")
    grants = getattr(p, "grant_count", 0)
    if grants and not p.cpu.in_rw(p.grant_addr, grants * GRANT_ENTRY_SIZE):
        add(f"{name}: its grant table is outside its memory")
    if p.ready == blocked:
        add(f"{name}: ready={p.ready} but blocked={blocked}")
    q, last, n = p.q_head, None, 0
    while q is not None and n <= NR_PROCS:
        if q.sendto is not p or not q.alive:
            add(f"{name}: {q!r} is in its queue but sends to {q.sendto!r}")
        if q.slot in queued:
            add(f"{q!r} is in the queues of {queued[q.slot]!r} and {p!r}")
        queued[q.slot] = p
        last, q, n = q, q.q_next, n + 1
    if n > NR_PROCS:
        add(f"{name}: its sender queue has a cycle")
    elif last is not p.q_tail:
        add(f"{name}: queue tail {p.q_tail!r} is not its last sender {last!r}")


def _signed(value):
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


# -- the fuzzed system ----------------------------------------------------------------------
Finding = namedtuple("Finding", "kind trap proc text registers case")
_MESSAGE = struct.Struct("<16I")
_ENTRY_HEAD = struct.Struct("<3I")
_CTL = struct.Struct("<3I")
_GRANT = struct.Struct("<4I")
_MASK = 0xFFFFFFFF
WINDOW_EVERY = 16             # steps between two checks of the whole windows


class _Null:
    """A stream that forgets what it is given (console, printer, log, trace)."""

    def write(self, data):
        return len(data)

    def flush(self):
        pass


class Feed:
    """The cases of one fuzzer: `source()` gives the next Case, or None when it has no
    more (the fuzzer then parks: it receives from a process that never sends)."""

    def __init__(self, label, source):
        self.label, self.source = label, source
        self.pending = None          # (case, ecx, eax, ebx, writes) in the control block
        self.done = False
        self.traps = 0
        self.seen_traps = 0          # at the end of the last step


class FuzzSystem:
    """The system under fuzz, built and booted once (see the module docstring).

    `sources` maps each fuzzer label to a callable giving its next Case (or None).
    `step()` runs one clock tick and checks; `findings` lists what went wrong: kind
    "panic", "violation", or "harness" (a bug of this module)."""

    def __init__(self, sources, trace=True):
        from tools.build import build_image
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            image = build_image(write_system(folder), folder / "fuzz.img", folder / "build")
        self.sink = _Null()
        options = BootOptions(printer=None, console=self.sink, log=self.sink)
        self.session = Session(image, options, trace_stream=self.sink if trace else None,
                               printer_stream=self.sink)
        self.index = {label: i for i, label in enumerate(LABELS)}
        self.findings = []
        self.outcomes = Counter()
        self.traps = self.restarts = self.reboots = self.steps = 0
        self.broken = False
        self._layout()
        self.set_sources(sources)
        self._attach()

    @property
    def kernel(self):
        return self.session.kernel

    def proc(self, label):
        return self.kernel.table.procs[self.index[label]]

    def set_sources(self, sources):
        """New cases (label -> callable giving the next Case or None), from the next
        reboot or restart of each fuzzer on."""
        self.feeds = {label: Feed(label, sources[label]) for label in FUZZERS}

    def clear(self):
        """Forget the findings and the counts (not the traps made)."""
        self.findings.clear()
        self.outcomes.clear()
        self.restarts = self.reboots = 0

    # -- set-up -------------------------------------------------------------------------
    def _layout(self):
        """Addresses of the regions cases name, and the memory each check compares."""
        self.regions, self.inbox, self.watch, self.fixed = {}, {}, {}, {}
        for i, label in enumerate(LABELS):
            cpu = self.proc(label).cpu
            base = cpu.window_base
            (data_lo, data_hi), (stack_lo, _) = cpu.rw_regions
            data = (data_lo - base, data_hi - base)
            stack = (stack_lo - base, WINDOW_SIZE)
            symbols = self.session.programs[i].symbols
            if label in FUZZERS:
                scratch = symbols["scratch"][0]
                self.regions[i] = {"scratch": scratch, "stack_top": base + WINDOW_SIZE,
                                   "stack_lo": stack_lo, "rw_end": data_hi, "win": base}
                self.inbox[label] = scratch
                self.watch[i] = (data, stack)
                kept = ((0, data[0]), (data[1], stack[0]))
            else:
                lo, hi = symbols["vars"][0] - base, symbols["vars_end"][0] - base
                self.inbox[label] = base + lo
                self.watch[i] = (data,)
                kept = ((0, lo), (hi, WINDOW_SIZE))
            pristine = bytes(cpu.mem)
            self.fixed[i] = [(lo, hi, pristine[lo:hi]) for lo, hi in kept]
        self.ctl = {label: self.session.programs[self.index[label]].symbols["ctl"][0]
                    for label in FUZZERS}
        symbols = self.session.programs[self.index["client"]].symbols
        self.client = {name: symbols[name][0] for name in ("ok", "bad", "last_error")}

    def _attach(self):
        """Wrap every process's trap and load each fuzzer's first case."""
        for proc in self.kernel.table.procs:
            if proc.alive:
                self._wrap(proc)
                if proc.label in self.feeds:
                    self._load_case(self.feeds[proc.label], proc)
        self.served = self._client_word("ok")
        self.quiet_steps = self.quiet_fuzzers = 0

    def reboot(self):
        """A warm reboot, as `Session` boots but without making CPUs: a fresh machine
        (fresh devices) that is given the CPUs of the old one, a fresh kernel, and every
        program started again in its slot, generation 0 (its CPU reloaded from its ELF)."""
        session = self.session
        machine = Machine(self.sink, self.sink)
        for proc in session.kernel.table.procs:
            if proc.cpu is not None:
                machine.release(proc.index, proc.cpu)
        kernel = Kernel(machine, session.trace_stream, self.sink)
        programs = list(zip(session.image.programs, session.programs))
        kernel.load_image([(program.policy, loaded) for program, loaded in programs])
        session.machine, session.kernel = machine, kernel
        for program, loaded in programs:
            kernel.start_process(program.index, program.policy, loaded, slot=program.index)
        self.broken = False
        self.reboots += 1
        self._attach()

    def restart(self, proc):
        """Kill a fuzzer if it lives and start it again in its slot (a new generation)."""
        kernel = self.kernel
        if proc.alive:
            kernel.end_process(proc, "kill", by="fuzz")
        index = self.index[proc.label]
        program = self.session.image.programs[index]
        kernel.start_process(index, program.policy, self.session.programs[index], slot=index)
        self.restarts += 1
        self._wrap(proc)
        self._load_case(self.feeds[proc.label], proc)
        problems = check_table(kernel)
        if problems:
            self._finding("violation", proc, "after a restart: " + "; ".join(problems[:4]))

    # -- cases --------------------------------------------------------------------------
    def resolve(self, spec, proc):
        """The 32-bit word a symbolic word names for the fuzzer `proc`, now."""
        if type(spec) is int:
            return spec & _MASK
        tag, kind, arg = spec
        if tag == "addr":
            if kind == "other":
                return self.inbox[arg]
            region, offset = arg
            return (self.regions[proc.slot][region] + offset) & _MASK
        if kind == "self":
            return proc.endpoint
        if kind == "free":
            return arg
        peer = self.proc(arg)
        if kind == "live":
            return peer.endpoint
        return endpoint(peer.gen - 1 if peer.gen else peer.gen + 1, peer.slot)

    def _message(self, words, proc):
        return _MESSAGE.pack(*[self.resolve(w, proc) for w in words])

    def _load_case(self, feed, proc):
        """Resolve the feed's next case and put its registers in the control block."""
        case = None if feed.done else feed.source()
        if case is None:
            feed.done = True
            ecx, eax, ebx, writes = RECEIVE, self.proc("waiter").endpoint, \
                self.inbox[proc.label], ()
        else:
            ecx, eax, ebx = (case.function & _MASK, self.resolve(case.target, proc),
                             self.resolve(case.buffer, proc))
            writes = []
            if case.message is not None:
                writes.append((ebx, self._message(case.message, proc)))
            if case.table:
                entries = [_ENTRY_HEAD.pack(self.resolve(flags, proc), self.resolve(dst, proc),
                                            result & _MASK) + self._message(message, proc)
                           for flags, dst, result, message in case.table]
                writes.append((ebx, b"".join(entries[i % len(entries)]
                                             for i in range(min(eax, ASEND_MAX)))))
            for address, words in case.pokes:
                writes.append((self.resolve(address, proc), struct.pack(
                    f"<{len(words)}I", *[self.resolve(w, proc) for w in words])))
        feed.pending = (case, ecx, eax, ebx, writes)
        cpu = proc.cpu
        _CTL.pack_into(cpu.mem, self.ctl[feed.label] - cpu.window_base, ecx, eax, ebx)

    @staticmethod
    def _write_case(feed, proc):
        """The case's bytes, where the fuzzer itself could write them (data, bss, stack)."""
        cpu = proc.cpu
        for address, data in feed.pending[4]:
            if data and cpu.in_rw(address, len(data)):
                offset = address - cpu.window_base
                cpu.mem[offset:offset + len(data)] = data

    # -- the checks around one trap -----------------------------------------------------
    def _wrap(self, proc):
        real = proc.cpu.trap
        feed = self.feeds.get(proc.label)

        def trap(eax, ebx, ecx):
            if self.broken:
                return real(eax, ebx, ecx)
            try:
                if feed is not None:
                    self._write_case(feed, proc)
                before = self._before(proc, eax, ebx, ecx)
            except Exception as error:       # noqa: BLE001 - a bug of this module
                self._finding("harness", proc, f"{type(error).__name__}: {error}")
                return real(eax, ebx, ecx)
            result = real(eax, ebx, ecx)
            try:
                self._after(proc, feed, before, eax, ebx, ecx, result)
                if feed is not None and proc.alive and not self.broken:
                    self._load_case(feed, proc)
            except Exception as error:       # noqa: BLE001 - a bug of this module
                self._finding("harness", proc, f"{type(error).__name__}: {error}",
                              (ecx, eax, ebx))
            return result
        proc.cpu.trap = trap

    def _before(self, proc, eax, ebx, ecx):
        snaps = []
        for p in self.kernel.table.procs:
            if p.alive and p is not proc:
                mem = p.cpu.mem
                for lo, hi in self.watch[p.slot]:
                    snaps.append((p, lo, hi, bytes(mem[lo:hi])))
        request = None
        if ecx == SENDREC and _signed(eax) in TASKS and proc.cpu.in_rw(ebx, MSG_SIZE):
            request = read_int32(proc.cpu, ebx + M_TYPE)
        return fingerprint(self.kernel), snaps, request

    def _after(self, proc, feed, before, eax, ebx, ecx, result):
        kernel = self.kernel
        state, snaps, request = before
        registers = (ecx, eax, ebx)
        if feed is not None:
            feed.traps += 1
            self.traps += 1
            self._count(proc, ebx, ecx, result, request)
        if kernel.panic_report is not None:
            report = kernel.panic_report
            self._finding("panic", proc, f"{report['error']} at {report['at']}", registers)
            return
        if self._denied(proc, ebx, ecx, result, request):
            after = fingerprint(kernel)
            if after != state:
                self._finding("violation", proc, "a denied trap changed the kernel's state: "
                              + _diff(state, after), registers)
            for p, lo, hi, data in snaps:
                if bytes(p.cpu.mem[lo:hi]) != data:
                    self._finding("violation", proc, f"a denied trap wrote the memory of "
                                  f"{p.label}", registers)
            return
        for p, lo, hi, data in snaps:
            now = bytes(p.cpu.mem[lo:hi])
            if now != data:
                allowed = self._writable(p, state, snaps, proc, request is not None)
                self._check_writes(proc, p, lo, data, now, allowed, registers)
        problems = check_table(kernel)
        if problems:
            self._finding("violation", proc, "; ".join(problems[:4]), registers)

    @staticmethod
    def _denied(proc, ebx, ecx, result, request):
        """True when the trap was refused: then it must have changed nothing."""
        if result is None:
            return False
        if result < 0:
            return not (ecx & 0xFF == RECEIVE and result in (ENOTREADY, ELOCKED))
        return request is not None and proc.alive and read_int32(proc.cpu, ebx + M_TYPE) < 0

    def _writable(self, other, state, snaps, caller, kernel_call):
        """Address ranges of `other` the kernel may write in `caller`'s trap, from the
        state before it: its receive buffer while it receives or is in SENDREC (the
        reply may come in the trap that takes its request), the flags and result words
        of its ASEND table, and (for a kernel call) what its grants let `caller` write."""
        info = next(t for t in state[0] if t[FIELD["slot"]] == other.slot)
        ranges = []
        if info[FIELD["getfrom"]] is not None or info[FIELD["in_sendrec"]]:
            address = info[FIELD["msg_addr"]]
            ranges.append((address, address + MSG_SIZE))
        table = info[FIELD["asend_addr"]]
        for i in range(info[FIELD["asend_count"]]):
            entry = table + i * ASEND_ENTRY_SIZE
            ranges += [(entry, entry + 4), (entry + 8, entry + 12)]
        if kernel_call and "grant_count" in FIELD:
            table = info[FIELD["grant_addr"]]
            for i in range(info[FIELD["grant_count"]]):
                entry = _pre_bytes(snaps, other, table + i * GRANT_ENTRY_SIZE, GRANT_ENTRY_SIZE)
                if entry is None:
                    continue
                flags, grantee, address, size = _GRANT.unpack(entry)
                if flags & CPF_VALID and flags & CPF_WRITE and not flags & ~CPF_FLAGS_MASK \
                        and grantee == caller.endpoint:
                    ranges.append((address, address + size))
        return ranges

    def _check_writes(self, proc, other, lo, data, now, allowed, registers):
        base = other.cpu.window_base
        expected = bytearray(data)
        for a, b in allowed:
            a, b = max(a - base - lo, 0), min(b - base - lo, len(data))
            if a < b:
                expected[a:b] = now[a:b]
        if expected != now:
            at = next(i for i in range(len(now)) if now[i] != expected[i])
            self._finding("violation", proc, f"the trap wrote {other.label}'s memory at "
                          f"{base + lo + at:#x}, where no delivery or grant may write",
                          registers)

    def _count(self, proc, ebx, ecx, result, request):
        """Outcomes: (primitive, result), or (kernel call, its reply's M_TYPE)."""
        if request is not None and result == OK and proc.alive:
            name = type_name(request)
            key = (name if isinstance(name, str) else "unknown call",
                   str(result_name(read_int32(proc.cpu, ebx + M_TYPE))))
        else:
            name = PRIMITIVE_NAMES.get(ecx & 0xFF, "bad function")
            if ecx & ~0xFF:
                name = name + "|NONBLOCK" if ecx & ~0xFF == NONBLOCK else "bad function"
            key = (name, "BLOCKED" if result is None else str(result_name(result)))
        self.outcomes[key] += 1

    def _finding(self, kind, proc, text, registers=None):
        feed = self.feeds.get(proc.label)
        case = feed.pending[0] if feed is not None and feed.pending else None
        self.findings.append(Finding(kind, self.traps, proc.label, text, registers, case))
        self.broken = True
        current = self.kernel.current
        if current is not None:
            current.cpu.stop()

    # -- steps --------------------------------------------------------------------------
    def step(self):
        """Run one clock tick of virtual time, check, unstick the fuzzers; reboot after a
        panic or a violation."""
        kernel = self.kernel
        self.steps += 1
        limits = RunLimits(max_ticks=kernel.time // TICK_INSNS + 1, until_idle=True)
        try:
            run_kernel(kernel, limits)
        except Exception as error:           # noqa: BLE001 - the kernel raised outside a trap
            self.findings.append(Finding("panic", self.traps, "-", f"outside a trap: "
                                         f"{type(error).__name__}: {error}", None, None))
            self.broken = True
        if not self.broken:
            self.check(windows=self.steps % WINDOW_EVERY == 0)
        if self.broken:
            self.reboot()
            return
        self._unstick()

    def check(self, windows=True):
        """The checks between traps: the table, the service and (`windows`) the memory of
        every process outside what it or the kernel may write."""
        kernel = self.kernel
        problems = check_table(kernel)
        if windows:
            for p in kernel.table.procs:
                if p.alive:
                    problems += self._window_problems(p)
        if self._word("outsider", "count"):
            problems.append("the outsider, no fuzzer's target, received a message")
        if self._client_word("bad"):
            problems.append(f"the client got a wrong answer or an error "
                            f"({self._client_word('last_error')})")
        served = self._client_word("ok")
        self.quiet_steps = 0 if served != self.served else self.quiet_steps + 1
        self.served = served
        if self.quiet_steps >= SERVICE_STEPS:
            problems.append(f"the server answered no request for {SERVICE_STEPS} ticks")
        if problems:
            self._finding("violation", self.proc("client"), "between traps: "
                          + "; ".join(problems[:4]))

    def _window_problems(self, p):
        mem = p.cpu.mem
        for lo, hi, data in self.fixed[p.slot]:
            if bytes(mem[lo:hi]) != data:
                at = next(i for i in range(hi - lo) if mem[lo + i] != data[i])
                return [f"{p.label}'s memory changed at {p.cpu.window_base + lo + at:#x}"]
        return []

    def _unstick(self):
        """Restart a fuzzer that ended or stayed blocked a whole step; a whole second of
        virtual time without a fuzzed trap is a violation (the system is stuck)."""
        traps = sum(feed.traps - feed.seen_traps for feed in self.feeds.values())
        self.quiet_fuzzers = 0 if traps or self.done else self.quiet_fuzzers + 1
        if self.quiet_fuzzers >= HZ:
            self._finding("violation", self.proc("fuzz_a"), f"no fuzzed trap for {HZ} ticks")
        for feed in self.feeds.values():
            proc = self.proc(feed.label)
            if not proc.alive:
                if not feed.done:
                    self.restart(proc)
            elif proc.blocked and feed.traps == feed.seen_traps and not feed.done:
                self.restart(proc)
            feed.seen_traps = feed.traps

    def _client_word(self, name):
        return read_int32(self.proc("client").cpu, self.client[name])

    def _word(self, label, name):
        symbols = self.session.programs[self.index[label]].symbols
        return read_int32(self.proc(label).cpu, symbols[name][0])

    # -- for the tests ------------------------------------------------------------------
    @property
    def done(self):
        """True when every fuzzer has used all its cases."""
        return all(feed.done for feed in self.feeds.values())

    def run_cases(self, max_steps=500):
        """Step until every fuzzer has used its cases, or a finding."""
        start = len(self.findings)
        for _ in range(max_steps):
            if self.done or len(self.findings) > start:
                return
            self.step()

    def serves(self, answers=2):
        """True when the client gets `answers` more correct answers (within the steps the
        service check allows) without a finding."""
        start, want = len(self.findings), self._client_word("ok") + answers
        for _ in range(SERVICE_STEPS):
            if self._client_word("ok") >= want:
                return True
            self.step()
            if len(self.findings) > start:
                return False
        return self._client_word("ok") >= want


def _pre_bytes(snaps, proc, address, size):
    """`size` bytes at `address` of `proc`'s memory as they were before the trap."""
    offset = address - proc.cpu.window_base
    for p, lo, hi, data in snaps:
        if p is proc and lo <= offset and offset + size <= hi:
            return data[offset - lo:offset - lo + size]
    return None


# -- the command ----------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--traps", type=int, default=100_000, metavar="N",
                        help="fuzzed traps to make (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of every choice")
    parser.add_argument("--no-trace", action="store_true",
                        help="run with the kernel's trace off (faster)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def sources_for(seed):
    """An endless stream of cases per fuzzer, from `seed`."""
    return {label: (lambda draw=RandomDraw(f"{seed}:{label}"), functions=FUNCTIONS[label]:
                    draw_case(draw, functions))
            for label in FUZZERS}


def fuzz(traps, seed, trace=True, progress=None, system=None, stop=False):
    """Make `traps` fuzzed traps from `seed` (on `system`, rebooted, else a new one), or
    (`stop`) fewer when something is found; returns (FuzzSystem, seconds).
    `progress(system, seconds)` is called every 5 seconds."""
    if system is None:
        system = FuzzSystem(sources_for(seed), trace=trace)
    else:
        system.set_sources(sources_for(seed))
        system.reboot()
        system.clear()
    start = last = time.perf_counter()
    goal = system.traps + traps
    while system.traps < goal and not (stop and system.findings):
        system.step()
        now = time.perf_counter()
        if progress is not None and now - last >= 5:
            last = now
            progress(system, now - start)
    return system, time.perf_counter() - start


def run(args, BadInput):
    """`emu fuzz`: exit status 0 when nothing was found, 1 otherwise (as a panic)."""
    if args.traps <= 0:
        raise BadInput(f"emu fuzz: --traps must be positive: {args.traps}")

    def progress(system, seconds):
        print(f"emu fuzz: {system.traps} traps, {system.traps / seconds:,.0f}/s, "
              f"{len(system.findings)} findings", file=sys.stderr)
    system, seconds = fuzz(args.traps, args.seed, not args.no_trace,
                           None if args.quiet else progress)
    panics = sum(f.kind == "panic" for f in system.findings)
    lines = [f"traps        {system.traps}", f"seconds      {seconds:.1f}",
             f"traps/s      {system.traps / seconds:,.0f}", f"panics       {panics}",
             f"violations   {len(system.findings) - panics}",
             f"restarts     {system.restarts} (fuzzers blocked for good, or exited)",
             f"reboots      {system.reboots}",
             "outcomes of the fuzzed traps (call: result count, ...):"]
    calls = {}
    for (call, result), count in system.outcomes.items():
        calls.setdefault(call, []).append(f"{result} {count}")
    lines += [f"  {call + ':':<18} " + ", ".join(sorted(calls[call])) for call in sorted(calls)]
    for finding in system.findings[:20]:
        registers = ""
        if finding.registers:
            ecx, eax, ebx = finding.registers
            registers = f" ecx={ecx:#x} eax={eax:#x} ebx={ebx:#x}"
        lines += [f"{finding.kind.upper()} at trap {finding.trap} in {finding.proc}:"
                  f"{registers} {finding.text}", f"  case: {finding.case}",
                  f"  reproduce: emu fuzz --seed {args.seed} --traps {finding.trap}"]
    write_lines(lines)
    return 1 if system.findings else 0


def write_lines(lines):
    """Print the report; a reader that stops early (`| head`) is no error."""
    try:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")
