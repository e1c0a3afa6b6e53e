"""The kernel's verdict on one IPC trap, in words: each check, the delivery, the result.

Contract: `verdict_lines(record, table)` explains a `TrapRecord`: the call (caller,
primitive, peer, message and its type), then the checks of SPEC section 3 in their
order, each `passed` (or why it does not apply) up to the one that denied the call,
if one did; then what the kernel did, from the trace events of the trap (delivery to a
waiting receiver, a message or notification received, the kernel call at the SYSTEM
gate with its arguments and result, a process ended...); then the blocking (`blocked:
SENDING to vfs`) and the result, or the completion of a call that blocked.  The
denying check is the one the kernel's denial event names (`check`); without it, the
error names it (ETRAPDENIED is check 2 when the caller's policy lacks the primitive,
else check 3: a kernel task).
"""

from kernel.abi import (ASEND, EBADCALL, EBADSRCDST, ECALLDENIED, EDEADSRCDST, EFAULT,
                        ELOCKED, ENOTREADY, ETRAPDENIED, IPC_PRIMITIVE_MASK, M_TYPE,
                        NBSEND, NONBLOCK, NOTIFY, RECEIVE, SEND, SENDREC)
from kernel.names import PRIMITIVE_NAMES, result_name

from emu.debug.views import event_text, type_text

CHECKS = {
    1: "primitive and flags valid",
    2: "primitive allowed by its policy (ipc)",
    3: "endpoint valid, alive and current",
    4: "destination allowed by its policy (targets)",
    5: "message inside its data, bss or stack",
    6: "waiting would not deadlock",
    7: "peer ready (non-blocking call)",
}
DENIED_BY = {EBADCALL: 1, ETRAPDENIED: 2, EBADSRCDST: 3, EDEADSRCDST: 3, ECALLDENIED: 4,
             EFAULT: 5, ELOCKED: 6, ENOTREADY: 7}
_WIDTH = 48


def _check(number, text):
    label = f"  check {number}  {CHECKS[number]} "
    return f"{label:.<{_WIDTH + 10}} {text}"


def _not_applicable(number, primitive):
    """Why check `number` does not apply to `primitive`, or None when it does."""
    if primitive == ASEND and number in (3, 4):
        return "per entry, when delivered"
    if number == 4 and primitive == RECEIVE:
        return "not for RECEIVE"
    if number == 5 and primitive == NOTIFY:
        return "no message"
    return None


def _denied_check(record):
    result = record.result
    if result is None or result >= 0 or record.blocked is not None:
        return None
    for event in record.events:             # the kernel's trace names the check
        if event.get("ev") == "ipc" and event.get("ep") == record.endpoint \
                and "check" in event:
            return event["check"]
    number = DENIED_BY.get(result)
    if number == 2:
        proc = record.proc
        primitive = record.primitive
        if primitive < 64 and proc.ipc_mask >> primitive & 1:
            number = 3                      # the primitive is allowed: a kernel task's
    return number


def _title(record):
    primitive = record.primitive
    name = PRIMITIVE_NAMES.get(primitive, f"primitive {record.function & IPC_PRIMITIVE_MASK}")
    flags = record.function & ~IPC_PRIMITIVE_MASK
    if flags:
        name += f" (ecx {record.function:#x})"
    if primitive == ASEND:
        what = f"{name} of {record.peer} entries, table at {record.message:#010x}"
    elif primitive == NOTIFY:
        what = f"{name} to {record.peer_name}"
    else:
        word = "from" if primitive == RECEIVE else "to"
        what = f"{name} {word} {record.peer_name}, message at {record.message:#010x}"
        if record.m_type is not None and primitive != RECEIVE:
            what += f" ({type_text(record.m_type)})"
    return f"verdict on {record.label}'s {what}:"


def verdict_lines(record, table):
    lines = [_title(record)]
    primitive = record.primitive
    denied = _denied_check(record)
    last = denied if denied is not None else 5
    for number in range(1, last + 1):
        if number == denied:
            lines.append(_check(number, f"DENIED: {result_name(record.result)} "
                                        f"({record.result})"))
            break
        reason = _not_applicable(number, primitive)
        lines.append(_check(number, "passed" if reason is None else f"- ({reason})"))
    if denied is None:
        lines += _late_checks(record, primitive)
    for event in record.events:
        if _is_denial_of(event, record):
            continue
        lines.append("  " + event_text(event, with_time=False))
    lines += _outcome(record, denied)
    return lines


def _late_checks(record, primitive):
    lines = []
    if record.blocked and record.blocked != "ended" and primitive in (SEND, SENDREC, RECEIVE):
        lines.append(_check(6, "passed"))
    nonblock = primitive == NBSEND or (primitive == RECEIVE and
                                       record.function & ~IPC_PRIMITIVE_MASK == NONBLOCK)
    if nonblock and record.result == 0:
        lines.append(_check(7, "passed"))
    return lines


def _is_denial_of(event, record):
    return (event.get("ev") == "ipc" and event.get("ep") == record.endpoint
            and event.get("result") != "OK" and record.result is not None
            and event.get("result") == result_name(record.result)
            and _denied_check(record) is not None)


def _outcome(record, denied):
    result = record.result
    if denied is not None:
        return [f"  result: eax = {result_name(result)} ({result}); nothing changed"]
    lines = []
    if record.blocked is not None:
        if record.blocked == "ended":
            return lines + ["  the caller ended: no result"]
        lines.append(f"  blocked: {record.blocked}")
        if not record.done:
            return lines
        if record.completion is not None:
            lines.append("  completed by: " + event_text(record.completion, with_time=False))
    if result is None:
        return lines
    text = f"  result: eax = {result_name(result)} ({result})"
    if record.primitive == SENDREC and record.peer < 0 and result == 0:
        reply = _reply_type(record)
        if reply is not None:
            text += f"; the reply's M_TYPE = {result_name(reply)} ({reply})"
    return lines + [text]


def _reply_type(record):
    data = record.proc.cpu.read(record.message + M_TYPE, 4)
    return int.from_bytes(data, "little", signed=True) if len(data) == 4 else None
