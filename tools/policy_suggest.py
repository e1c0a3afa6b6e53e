"""`emu policy suggest TRACE [--system FILE] [--toml]`: the least policy each program needed
in a real run, against what its system.toml grants.

From the trace (SPEC section 7) this reads, per program label:
- `ipc`: the primitives it used (an ipc event of its own with any result but EBADCALL;
  ETRAPDENIED is "needed but denied", unless it was a wrong primitive to a kernel task);
- `targets`: who it sent to (SEND, SENDREC, NBSEND, NOTIFY, delivered ASEND entries), by
  label, kernel tasks by name, with any result that passed the endpoint check (ECALLDENIED
  is "needed but denied").  A send to a process that had sent it a message first (and is
  still the same incarnation) is a reply, which needs no target, as in the kernel;
- `kernel_calls`: the calls it made (ECALLDENIED "call not allowed": needed but denied;
  an `exit` event stands for its SYS_EXIT, which has no kcall event: the caller is gone);
- `io`: the ports of its DEVIO and SDEVIO calls that passed the port check (EPERM "port
  not allowed": needed but denied);
- `irq`: the lines of its IRQCTL calls that passed the line check.
What the trace cannot say is said, not guessed: the ports of VDEVIO (they are in the
caller's memory), and calls still blocked when the trace ends (a blocking call is traced
when it completes), so a blocking primitive of a process alive at the end is "never
completed" rather than "never used", and `--toml` keeps it.

With `--system`, each field is compared with the grant: a grant never used is flagged
("printer: kernel_calls grants IRQCTL, never used"), a denied need is listed ("needed but
denied").  `--toml` prints a [[program]] table per program with the least grants (the
other fields as the system has them).  A bad trace or system file is one line naming the
file (and line), exit status 2.
"""

import json
import os
import sys
from dataclasses import dataclass, field

from kernel.abi import (DIO_SIZE_MASK, KERNEL_CALL_BY_NAME, PRIMITIVE_BY_NAME, TASK_BY_NAME,
                        TASK_NAMES)
from kernel.system.common import SIZES

HELP = "what each program of a run needed, against what system.toml grants"

BLOCKING = {"SEND", "RECEIVE", "SENDREC"}               # traced when they complete
MESSAGES = ("SEND", "SENDREC", "NBSEND", "ASEND")       # these give the receiver a reply right
NOT_POLICY = ("EBADCALL", "EBADSRCDST", "EINVAL")       # malformed: no grant involved
PORT_CALLS = ("DEVIO", "SDEVIO")
FIELDS = ("ipc", "targets", "kernel_calls", "io", "irq")


class TraceError(Exception):
    """A trace that cannot be read: one line naming the file (and line)."""


@dataclass
class Needs:
    """What one program did in a run: what it needed, what it was denied, what the trace
    cannot tell."""
    label: str
    kind: str = ""               # from its start event, when the trace says
    alive: bool = False          # alive at the end of the trace
    used: dict = field(default_factory=lambda: {name: set() for name in FIELDS})
    denied: dict = field(default_factory=lambda: {name: set() for name in FIELDS})
    vdevio: int = 0              # VDEVIO calls: their ports are not in the trace
    interrupts: int = 0          # notifications from HARDWARE
    bad: int = 0                 # malformed calls (EBADCALL, EBADSRCDST, EBADREQUEST)


# -- reading the trace ----------------------------------------------------------------------
REQUIRED = {"ipc": ("op", "peer", "result"), "kcall": ("call", "result")}


def load_trace(path):
    """The events of a trace file, checked; raises TraceError."""
    try:
        with open(path, "rb") as stream:
            lines = stream.read().split(b"\n")
    except OSError as error:
        raise TraceError(f"{path}: {error.strerror or error}") from None
    events = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise TraceError(f"{path}:{number}: not a JSON line "
                             f"({getattr(error, 'msg', 'not UTF-8')})") from None
        if not isinstance(event, dict):
            raise TraceError(f"{path}:{number}: not a JSON object")
        for key in ("t", "ev", "proc", "ep") + REQUIRED.get(event.get("ev"), ()):
            if key not in event:
                raise TraceError(f"{path}:{number}: event without '{key}'")
        if not isinstance(event["proc"], str) or type(event["ep"]) is not int:
            raise TraceError(f"{path}:{number}: 'proc' must be a label and 'ep' an endpoint")
        events.append(event)
    if not events:
        raise TraceError(f"{path}: no events: not an IPC trace (emu boot IMAGE --trace FILE)")
    return events


# -- what each program needed ---------------------------------------------------------------
def analyse(events):
    """label -> Needs, in the order programs first appear."""
    needs = {}
    state = _State()
    previous = None
    for event in events:
        state.labels[event["ep"]] = event["proc"]
        kind = event["ev"]
        need = _needs(needs, event["proc"])
        if kind == "ipc":
            _ipc(need, event, previous, state)
        elif kind == "kcall":
            state.awaiting.pop(event["ep"], None)
            _kcall(need, event)
        elif kind == "exit":             # SYS_EXIT has no kcall event: the caller is gone
            need.used["ipc"].add("SENDREC")
            need.used["targets"].add("SYSTEM")
            need.used["kernel_calls"].add("EXIT")
        if kind == "start":
            need.alive = True
            if isinstance(event.get("kind"), str):
                need.kind = event["kind"]
        if kind in ("exit", "fault", "kill"):
            need.alive = False
            state.awaiting.pop(event["ep"], None)
        previous = event
    return needs


class _State:
    """What the analysis remembers between events."""

    def __init__(self):
        self.labels = {}         # endpoint -> label of the process that had it
        self.replies = set()     # (receiver ep, sender ep): the receiver may answer
        self.awaiting = {}       # endpoint -> the peer its SENDREC waits for


def _needs(needs, label):
    if label not in needs:
        needs[label] = Needs(label)
    return needs[label]


def _ipc(need, event, previous, state):
    op, peer, result, ep = event["op"], event["peer"], event["result"], event["ep"]
    awaited = state.awaiting.pop(ep, None)   # a process in SENDREC does nothing else
    if op not in PRIMITIVE_BY_NAME or result in NOT_POLICY:
        need.bad += result in NOT_POLICY
        return
    to_task = peer in TASK_NAMES
    if result == "ETRAPDENIED":
        if to_task and op not in ("SENDREC", "RECEIVE"):
            need.bad += 1                # a wrong primitive to a kernel task
        else:
            need.denied["ipc"].add(op)
        return
    if op == "RECEIVE":
        if result == "OK" and _delivered(previous, event):
            state.replies.add((ep, peer))
        if result == "OK" and awaited == peer:
            return                       # the reply to a SENDREC: no RECEIVE of its own
        need.used["ipc"].add(op)
        need.interrupts += result == "OK" and peer == TASK_BY_NAME["HARDWARE"]
        return
    need.used["ipc"].add(op)
    if op == "SENDREC" and result == "OK" and not to_task:
        state.awaiting[ep] = peer
    if op == "ASEND" and (peer is None or "count" in event):
        return                           # the hand-over of a table: no destination yet
    target = TASK_NAMES.get(peer) if to_task else state.labels.get(peer)
    if target is None:                   # an endpoint no process of the trace had
        return
    if result == "ECALLDENIED":
        need.denied["targets"].add(target)
    elif to_task or (ep, peer) not in state.replies:
        need.used["targets"].add(target)


def _delivered(previous, event):
    """True when the RECEIVE `event` took a message (not a notification): the kernel
    writes the sender's event just before it, at the same time."""
    return (previous is not None and previous.get("ev") == "ipc"
            and previous["t"] == event["t"] and previous["ep"] == event["peer"]
            and previous["peer"] == event["ep"] and previous["op"] in MESSAGES
            and previous["result"] == "OK")


def _kcall(need, event):
    call, result, reason = event["call"], event["result"], event.get("reason", "")
    if call not in KERNEL_CALL_BY_NAME:
        need.bad += 1                    # EBADREQUEST: no such call
        return
    if result == "ECALLDENIED" and reason == "call not allowed":
        need.denied["kernel_calls"].add(call)
        return
    need.used["kernel_calls"].add(call)
    if call == "VDEVIO" and result == "OK":
        need.vdevio += 1
    if call in PORT_CALLS and isinstance(event.get("port"), int) and \
            isinstance(event.get("request"), int):
        size = SIZES.get(event["request"] & DIO_SIZE_MASK)
        if size is not None and (result == "OK" or result == "EPERM"):
            ports = set(range(event["port"], event["port"] + size))
            denied = result == "EPERM" and reason == "port not allowed"
            (need.denied if denied else need.used)["io"].update(ports)
    if call == "IRQCTL" and isinstance(event.get("line"), int):
        if result == "OK":
            need.used["irq"].add(event["line"])
        elif result == "EPERM" and reason == "IRQ line not allowed":
            need.denied["irq"].add(event["line"])


# -- against the grants ---------------------------------------------------------------------
def granted(policy):
    """A ProgramPolicy's grants as sets of names, lines and ports, per field."""
    ports = set()
    for lo, hi in policy.io:
        ports.update(range(lo, hi + 1))
    return {"ipc": {_PRIMITIVE_NAMES[n] for n in policy.ipc}, "targets": set(policy.targets),
            "kernel_calls": {_CALL_NAMES[n] for n in policy.kernel_calls},
            "io": ports, "irq": set(policy.irq)}


_PRIMITIVE_NAMES = {number: name for name, number in PRIMITIVE_BY_NAME.items()}
_CALL_NAMES = {number: name for name, number in KERNEL_CALL_BY_NAME.items()}


def findings(needs, policies):
    """Readable lines: grants never used, needs denied, what the trace cannot tell."""
    lines = []
    for label, policy in policies.items():
        need = needs.get(label)
        if need is None:
            lines.append(f"{label}: never ran in this trace: none of its grants was used")
            continue
        grant = granted(policy)
        for name in FIELDS:
            unused = grant[name] - need.used[name]
            if name == "io" and need.vdevio:
                continue                 # VDEVIO's ports are unknown: they may be used
            pending = unused & BLOCKING if name == "ipc" and need.alive else set()
            if unused - pending:
                lines.append(f"{label}: {name} grants {_show(name, unused - pending, policy)}"
                             f", never used")
            if pending:
                lines.append(f"{label}: ipc grants {_show(name, pending)}, never completed "
                             f"(a call still blocked when the trace ends leaves no event)")
    for label, need in needs.items():
        for name in FIELDS:
            if need.denied[name]:
                lines.append(f"{label}: {name} {_show(name, need.denied[name])}: "
                             f"needed but denied")
        if label not in policies and policies:
            lines.append(f"{label}: not in the system file")
        if need.vdevio:
            lines.append(f"{label}: io: {need.vdevio} VDEVIO call(s) whose ports are not in "
                         f"the trace (they are in {label}'s memory)")
        if need.bad:
            lines.append(f"{label}: {need.bad} malformed call(s) (bad primitive, endpoint or "
                         f"call number): no grant is involved")
        if need.interrupts and not need.used["irq"]:
            lines.append(f"{label}: took {need.interrupts} interrupt(s) but enabled no IRQ "
                         f"line in this trace")
    return lines


def _show(name, values, policy=None):
    if name == "io":
        return " ".join(_ranges(values))
    if name == "irq":
        return " ".join(str(v) for v in sorted(values))
    return " ".join(_ordered(name, values, policy))


def _ordered(name, values, policy=None):
    if name == "ipc":
        return sorted(values, key=PRIMITIVE_BY_NAME.get)
    if name == "kernel_calls":
        return sorted(values, key=KERNEL_CALL_BY_NAME.get)
    order = list(TASK_BY_NAME) + (list(policy.targets) if policy else [])
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), v))


def _ranges(ports):
    """Sorted ports as "0xLO-0xHI" / "0xPORT" ranges."""
    ranges, start, last = [], None, None
    for port in sorted(ports):
        if start is not None and port == last + 1:
            last = port
            continue
        if start is not None:
            ranges.append((start, last))
        start = last = port
    if start is not None:
        ranges.append((start, last))
    return [f"0x{lo:X}" if lo == hi else f"0x{lo:X}-0x{hi:X}" for lo, hi in ranges]


# -- output ---------------------------------------------------------------------------------
def table(needs, policies):
    """One row per program and field: what it used, what it is granted and did not use,
    what it needed and was denied."""
    rows = [("PROGRAM", "FIELD", "NEEDED", "GRANTED, UNUSED", "DENIED")]
    for label in list(needs) + [label for label in policies if label not in needs]:
        need = needs.get(label) or Needs(label)
        policy = policies.get(label)
        grant = granted(policy) if policy else None
        for name in FIELDS:
            used = _show(name, need.used[name], policy) or "-"
            if name == "io" and need.vdevio:
                used += " +VDEVIO?" if used != "-" else "VDEVIO?"
            unused = "" if grant is None else (
                "?" if name == "io" and need.vdevio else
                _show(name, grant[name] - need.used[name], policy) or "-")
            denied = _show(name, need.denied[name], policy) or "-"
            rows.append((label, name, used, unused, denied))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    if not policies:
        widths[3] = 0
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)
                               if width).rstrip() for row in rows)


def toml(needs, policies):
    """A [[program]] table per program with the least grants it needed."""
    out = []
    for label in list(needs) + [label for label in policies if label not in needs]:
        need = needs.get(label) or Needs(label)
        policy = policies.get(label)
        out.append("[[program]]")
        out.append(f'label = "{label}"')
        if policy is not None:
            out.append(f"source = {json.dumps(policy.source_spec)}")
        if policy is not None or need.kind:
            out.append(f"kind = {json.dumps(policy.kind if policy else need.kind)}")
        kept = granted(policy)["ipc"] - need.used["ipc"] & BLOCKING if policy and need.alive \
            else set()
        ipc = json.dumps(_ordered("ipc", need.used["ipc"] | kept))
        out.append(f"ipc = {ipc}" + (f"    # kept {' '.join(_ordered('ipc', kept))}: it may "
                                     f"have been blocked in it when the trace ended"
                                     if kept else ""))
        for name in ("targets", "kernel_calls"):
            out.append(f"{name} = {json.dumps(_ordered(name, need.used[name], policy))}")
        io = _ranges(need.used["io"])
        if need.vdevio and policy is not None:
            io = _ranges(need.used["io"] | granted(policy)["io"])
            out.append(f"io = {json.dumps(io)}    # VDEVIO's ports are not in the trace: "
                       f"kept as granted")
        else:
            out.append(f"io = {json.dumps(io)}" + ("    # VDEVIO's ports are not in the trace"
                                                    if need.vdevio else ""))
        out.append(f"irq = {json.dumps(sorted(need.used['irq']))}")
        if policy is not None:
            out += [f"priority = {policy.priority}", f"quantum = {policy.quantum}",
                    f"heartbeat = {policy.heartbeat}", f'restart = "{policy.restart}"']
        out.append("")
    return "\n".join(out)


# -- the command ----------------------------------------------------------------------------
def add_arguments(parser):
    commands = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    commands.required = True
    suggest = commands.add_parser("suggest", help=HELP)
    suggest.add_argument("trace", help="a trace of a run (emu boot IMAGE --trace FILE)")
    suggest.add_argument("--system", metavar="FILE", help="the system.toml to compare with")
    suggest.add_argument("--toml", action="store_true",
                         help="also print the least policy as [[program]] tables")


def run(args, BadInput):
    from tools.policy import PolicyError, load_system
    try:
        needs = analyse(load_trace(args.trace))
    except TraceError as error:
        raise BadInput(f"emu policy suggest: {error}") from None
    policies = {}
    if args.system is not None:
        try:
            policies = {p.label: p for p in load_system(args.system).programs}
        except PolicyError as error:
            raise BadInput(f"emu policy suggest: {error}") from None
    out = [table(needs, policies)]
    lines = findings(needs, policies)
    if lines:
        out += [""] + lines
    if args.toml:
        out += ["", toml(needs, policies).rstrip("\n")]
    try:
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:              # a reader that stops early (`| head`)
        sys.stdout = open(os.devnull, "w")
    return 0
