"""Which user call each message of a trace window worked for: the messages of one POSIX
call (`read`, `write`...) through the servers and drivers, and the background traffic.

Contract: `attribute(model)` returns an `Attribution`: `calls`, every user call of the
window in order, and `background`, the delivered messages counted for no call.  A
`Call` has its caller, callee, request (message type), time and trace line, the
`messages` counted for it (the request and the reply included), `via` (the drivers that
worked for it) and how it ended (`end`: `reply`, `caller ended`, `failed` when the
caller was woken because the callee died, or None: no end in the window).  The rules:
- a call is a user program's delivered SENDREC to a server or driver, or a user's
  kernel call (the call and its reply);
- the callee works for the call; so does every server or driver that a worker sends a
  message (not a notification) to while the call is open; a process that works for
  several open calls works for the one that reached it last, and goes back to the
  earlier one when that one ends;
- a delivered message counts for the call its sender works for; a kernel call's reply
  and a notification from a kernel task (an interrupt, an alarm) for the call its
  receiver works for; notifications between processes (RS's heartbeats and their
  answers, DS's news) for no call: they are background;
- a call ends with the callee's message to the caller (its reply, counted), with the
  caller's end (PM_EXIT has no reply; what its workers do at the very time of the end,
  such as PM's KILL, still counts), or when the caller is woken because the callee
  died.
`key_of(message)` names a message for breakdowns: `SENDREC VFS_READ`, `DEVIO`,
`DEVIO reply`, `NOTIFY`, and `NBSEND (result)` for an answer whose type is a result.
"""

from dataclasses import dataclass, field

from kernel.abi import ERROR_NAMES
from tools.trace.model import (ENDS, KCALL, KERNEL_TASKS, MESSAGE, NOTIFY, REPLY, WOKEN,
                               Mark)

RESULT_NAMES = set(ERROR_NAMES.values()) | {"OK"}


@dataclass(eq=False)
class Call:
    caller: str
    callee: str
    request: str
    t: int
    line: int
    messages: list = field(default_factory=list)
    via: set = field(default_factory=set)
    end: str | None = None


@dataclass
class Attribution:
    calls: list
    background: list


def attribute(model):
    """The user calls of `model` (a window) and the background messages."""
    calls, background = [], []
    open_calls = []
    working = {}                 # label -> [Call, ...], the one it works for last
    kernel_calls = {}            # user label -> its kernel call awaiting the reply

    def close(call, how):
        if call not in open_calls:
            return
        call.end = how
        open_calls.remove(call)
        for stack in working.values():
            if call in stack:
                stack.remove(call)

    ending = []                  # calls whose caller ended, and when
    for item in model.items:
        while ending and ending[0][1] < item.t:
            close(ending.pop(0)[0], "caller ended")
        if isinstance(item, Mark):
            if item.kind in ENDS:        # what its server does at that very time counts
                ending += [(c, item.t) for c in open_calls if c.caller == item.proc]
            continue
        m = item
        if m.kind == WOKEN:
            for call in [c for c in open_calls if c.caller == m.src and c.callee == m.dst]:
                close(call, "failed")
            continue
        if not m.delivered:
            continue
        if m.op == "SENDREC" and m.kind in (MESSAGE, KCALL) and \
                model.kinds.get(m.src) == "user":
            call = Call(m.src, m.dst, m.m_type, m.t, m.line, [m])
            calls.append(call)
            if m.kind == KCALL:
                kernel_calls[m.src] = call
            else:
                open_calls.append(call)
                working.setdefault(m.dst, []).append(call)
            continue
        if m.kind == REPLY and m.dst in kernel_calls:
            call = kernel_calls.pop(m.dst)
            call.messages.append(m)
            call.end = "reply"
            continue
        closing = next((c for c in open_calls if c.callee == m.src and c.caller == m.dst),
                       None)
        if closing is not None:
            closing.messages.append(m)
            close(closing, "reply")
            continue
        call = _owner(m, working)
        if call is None:
            background.append(m)
            continue
        call.messages.append(m)
        if m.kind == MESSAGE and m.dst not in KERNEL_TASKS and \
                model.kinds.get(m.dst) in ("server", "driver"):
            stack = working.setdefault(m.dst, [])
            if call in stack:
                stack.remove(call)
            stack.append(call)
            if model.kinds.get(m.dst) == "driver":
                call.via.add(m.dst)
    for call, _ in ending:
        close(call, "caller ended")
    return Attribution(calls, background)


def _owner(m, working):
    """The call a delivered message counts for, or None (see the module docstring)."""
    if m.kind == NOTIFY and m.src not in KERNEL_TASKS:
        return None
    worker = m.dst if m.kind == REPLY or m.kind == NOTIFY else m.src
    stack = working.get(worker)
    return stack[-1] if stack else None


def key_of(m):
    """The name of a message in a breakdown."""
    if m.kind == KCALL:
        return m.m_type.removeprefix("SYS_")
    if m.kind == REPLY:
        return f"{m.m_type} reply"
    if m.kind == NOTIFY:
        return "NOTIFY"
    if is_result(m.m_type):
        return f"{m.op} (result)"
    return f"{m.op} {m.m_type}".rstrip()


def is_result(m_type):
    """True for a message type that is a reply's result (a number, OK, an error name)."""
    return m_type in RESULT_NAMES or m_type.lstrip("-").isdigit()
