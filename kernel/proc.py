"""The process table: slots, generations, endpoints and the per-process kernel state.

Contract:
- `ProcTable` holds NR_PROCS `Proc` slots.  A slot is in use while `alive`; each reuse
  of a slot increments its generation, so `endpoint = gen * ENDPOINT_GEN_MUL + slot`
  never names two processes.  Boot programs take slots 0.. in image order, generation 0.
- `lookup(endpoint)` resolves an endpoint to (status, proc): `OK` with a live process,
  `EBADSRCDST` for a malformed endpoint (or SELF, NONE, ANY), `EDEADSRCDST` for an empty
  slot or a stale generation.  Kernel tasks are not in the table (see `kernel.ipc`).
- All IPC state is here, with no per-message allocation: a blocked sender keeps its one
  pending message in its own memory (`msg_addr`), sender queues are linked through the
  procs (`q_head`, `q_tail`, `q_next`), notifications are one bit per source, ASEND
  tables stay in the sender's memory.
"""

from kernel.abi import (ANY, EBADSRCDST, EDEADSRCDST, ENDPOINT_GEN_MUL, MAX_GENERATION,
                        NR_PROCS, NR_TASKS, OK, TASK_NAMES, endpoint)

KIND_DRIVER = "driver"
KIND_SERVER = "server"
KIND_USER = "user"


def notify_bit_of_task(task):
    """Notification-source bit of a kernel task (CLOCK 0, SYSTEM 1, HARDWARE 2)."""
    return 1 << (task + NR_TASKS)


def notify_bit_of_slot(slot):
    return 1 << (slot + NR_TASKS)


class Proc:
    """One process slot and everything the kernel keeps about its process."""

    __slots__ = (
        # identity
        "slot", "gen", "endpoint", "alive", "label", "index", "kind", "policy", "cpu",
        # privileges, compiled from the policy
        "ipc_mask", "target_mask", "task_mask", "call_mask", "io_ranges", "irq_mask",
        # IPC state
        "sendto", "getfrom", "in_sendrec", "msg_addr", "q_head", "q_tail", "q_next",
        "notify_pending", "asyn_pending", "asend_addr", "asend_count", "may_reply",
        "irq_pending", "grant_addr", "grant_count",
        # scheduling
        "ready", "priority", "base_priority", "quantum", "left",
        # accounting
        "insns", "faults", "restarts", "exit_status", "last_fault", "alarm", "alarm_periodic",
        "insn_watch",
        "trust_reports",
        # kind, compiled from the policy: the asymmetric-trust check tests these
        "is_server", "is_driver",
    )

    def __init__(self, slot):
        self.slot = slot
        self.gen = 0
        self.endpoint = slot
        self.alive = False
        self.label = ""
        self.index = -1
        self.kind = ""
        self.policy = None
        self.cpu = None
        self.ipc_mask = self.target_mask = self.task_mask = self.call_mask = 0
        self.io_ranges = ()
        self.irq_mask = 0
        self.is_server = self.is_driver = False
        self.faults = self.restarts = 0
        self.clear_state()

    def clear_state(self):
        """Reset the IPC, scheduling and accounting state of the slot."""
        self.sendto = None          # Proc this one is blocked sending to
        self.getfrom = None         # endpoint (or ANY) this one is blocked receiving from
        self.in_sendrec = False     # in SENDREC: takes no notification
        self.msg_addr = 0           # the message buffer of the blocked call
        self.q_head = self.q_tail = self.q_next = None
        self.notify_pending = 0     # bit per source, see notify_bit_*
        self.asyn_pending = 0       # bit per sender slot with an ASEND entry for us
        self.asend_addr = 0
        self.asend_count = 0
        self.may_reply = 0          # bit per slot that has sent us a message
        self.irq_pending = 0        # IRQ lines pending for a HARDWARE notification
        self.grant_addr = 0         # the grant table in the process's memory (SETGRANT)
        self.grant_count = 0        # its entries; 0: no table
        self.ready = False
        self.insns = 0
        self.exit_status = None
        self.last_fault = None
        self.alarm = None
        self.alarm_periodic = False
        self.insn_watch = None      # stop the run when insns reaches this count
        self.trust_reports = 0      # blocking SEND / SENDREC from this server to a driver

    @property
    def blocked(self):
        return self.sendto is not None or self.getfrom is not None

    def state_text(self, table):
        """`SENDING to vfs`, `RECEIVING from ANY`, `READY`... for ps and gdb."""
        if not self.alive:
            return "FREE"
        if self.sendto is not None:
            return f"SENDING to {self.sendto.label}"
        if self.getfrom is not None:
            return f"RECEIVING from {table.name_of(self.getfrom)}"
        return "READY" if self.ready else "RUNNING"

    def __repr__(self):
        return f"<Proc {self.label or '-'} slot {self.slot} ep {self.endpoint}>"


class ProcTable:
    """NR_PROCS slots and endpoint resolution."""

    def __init__(self):
        self.procs = [Proc(slot) for slot in range(NR_PROCS)]

    def allocate(self, slot=None):
        """A free slot (the given one, or the lowest free), with its generation advanced
        when it was used before.  Returns None when the table is full."""
        if slot is None:
            slot = next((p.slot for p in self.procs if not p.alive), None)
            if slot is None:
                return None
        proc = self.procs[slot]
        if proc.alive:
            return None
        if proc.label:                      # used before: a new generation
            proc.gen = proc.gen + 1 if proc.gen < MAX_GENERATION else 1
        proc.endpoint = endpoint(proc.gen, slot)
        proc.clear_state()
        proc.alive = True
        return proc

    def lookup(self, ep):
        """(status, proc) for a process endpoint; see the module docstring."""
        if ep < 0 or ep == ANY:
            return EBADSRCDST, None
        slot = ep % ENDPOINT_GEN_MUL
        gen = ep // ENDPOINT_GEN_MUL
        if slot >= NR_PROCS or gen > MAX_GENERATION:
            return EBADSRCDST, None
        proc = self.procs[slot]
        if not proc.alive or proc.gen != gen:
            return EDEADSRCDST, None
        return OK, proc

    def by_label(self, label):
        for proc in self.procs:
            if proc.alive and proc.label == label:
                return proc
        return None

    def live(self):
        return [p for p in self.procs if p.alive]

    def name_of(self, ep):
        """A readable name for an endpoint: label, task name, ANY, or the number."""
        if ep == ANY:
            return "ANY"
        if ep in TASK_NAMES:
            return TASK_NAMES[ep]
        status, proc = self.lookup(ep)
        return proc.label if status == OK else str(ep)
