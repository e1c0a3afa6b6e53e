"""The invariants of the process table, checked after every trap and every step.

Contract: `check_table(kernel)` lists, as readable lines, every problem of the process
table (endpoints of their generation, unique among the live), of each live process's
IPC state (pending notifications, ASENDs and replies only from live slots; sending and
receiving not both; a receive only from ANY, a task or a live endpoint; SENDREC only
while blocked; a blocked process's buffer, its ASEND table and its grant table inside
its memory; ready exactly when not blocked), of the sender queues (each sender in the
queue of the process it sends to, in one queue only, no cycle, the tail its last), of
the ready queues (each ready process once, at its priority), of the IRQ lines (routed
to live processes only) and of the alarms (the clock's next one is the first).  Empty
when all hold.  It reads the kernel, never changes it.
"""

from kernel.abi import (ANY, ASEND_ENTRY_SIZE, GRANT_ENTRY_SIZE, MSG_SIZE, NR_PROCS, NR_TASKS,
                        OK, TASK_NAMES, endpoint)


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
    blocked = p.blocked
    if p.sendto is not None and (p.getfrom is not None or not p.sendto.alive):
        add(f"{name}: sending to {p.sendto!r} while receiving from {p.getfrom}")
    if p.getfrom is not None and p.getfrom != ANY and p.getfrom not in TASK_NAMES \
            and kernel.table.lookup(p.getfrom)[0] != OK:
        add(f"{name}: receiving from a dead or bad endpoint {p.getfrom}")
    if p.in_sendrec and not blocked:
        add(f"{name}: in SENDREC but not blocked")
    if blocked and not p.cpu.in_rw(p.msg_addr, MSG_SIZE):
        add(f"{name}: blocked with its buffer {p.msg_addr:#x} outside its memory")
    if p.asend_count and not p.cpu.in_rw(p.asend_addr, p.asend_count * ASEND_ENTRY_SIZE):
        add(f"{name}: its ASEND table is outside its memory")
    if p.grant_count and not p.cpu.in_rw(p.grant_addr, p.grant_count * GRANT_ENTRY_SIZE):
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

