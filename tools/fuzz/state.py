"""The kernel's state as one comparable value: what a denied trap must leave unchanged.

Contract: `fingerprint(kernel)` is, per live process, the fields `STATE_FIELDS` of its
`Proc` (every slot but identity, policy and counters), then the IRQ lines, the clock's
next alarm and the printer's registers.  Two fingerprints compare equal when nothing
changed; `diff(a, b)` names their first difference; `proc_state(state, slot)` is one
process's fields in a fingerprint, indexed by `FIELD[name]`.  It reads the kernel,
never changes it.
"""

from operator import attrgetter

from kernel.proc import Proc

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


def proc_state(state, slot):
    """The fields of the process in `slot` in the fingerprint `state`."""
    return next(t for t in state[0] if t[FIELD["slot"]] == slot)


def diff(a, b):
    """The first difference of two fingerprints, readable."""
    for x, y in zip(a[0], b[0]):
        for name, u, v in zip(STATE_FIELDS, x, y):
            if u is not v and u != v:
                return f"slot {x[FIELD['slot']]}: {name} {u!r} -> {v!r}"
    if len(a[0]) != len(b[0]):
        return f"live processes {len(a[0])} -> {len(b[0])}"
    return f"interrupts, clock or printer: {a[1:]} -> {b[1:]}"
