"""The scheduler: multilevel feedback queues over NR_SCHED_QUEUES priorities.

Contract:
- Every runnable process is in the queue of its current `priority` (0 is the highest);
  the running process stays at the head of its queue.  `pick()` returns the head of the
  highest non-empty queue.
- A process that uses its whole quantum (`quantum_expired`) goes to the tail of the next
  lower queue, never below `MIN_USER_Q` (nor above its own base priority when that is
  lower already), with a fresh quantum.  Every `REBALANCE_TICKS` ticks of virtual time
  (`next_rebalance`, kept here so a run resumed in several parts keeps the schedule)
  `rebalance()` moves each demoted process one queue back up toward its base priority,
  so a CPU-bound process slows only itself and processes of its own or lower priority.
  A spinning driver of the default priority and quantum sinks below the default user
  priority after 5 quanta (20 ticks) and reaches MIN_USER_Q after 12 (48 ticks).
- Blocking removes a process from its queue; waking appends it to the tail.
"""

from collections import deque

from kernel.abi import MIN_USER_Q, NR_SCHED_QUEUES, TICK_INSNS

REBALANCE_TICKS = 100          # one virtual second
REBALANCE_INSNS = REBALANCE_TICKS * TICK_INSNS


class Scheduler:
    """Ready queues and quanta."""

    def __init__(self):
        self.queues = [deque() for _ in range(NR_SCHED_QUEUES)]
        self.next_rebalance = REBALANCE_INSNS

    def enqueue(self, proc):
        if not proc.ready:
            proc.ready = True
            self.queues[proc.priority].append(proc)

    def dequeue(self, proc):
        if proc.ready:
            proc.ready = False
            self.queues[proc.priority].remove(proc)

    def pick(self):
        for queue in self.queues:
            if queue:
                return queue[0]
        return None

    def quantum_expired(self, proc):
        """Demote `proc` one queue and give it a fresh quantum at the tail."""
        self.dequeue(proc)
        floor = max(proc.base_priority, MIN_USER_Q)
        if proc.priority < floor:
            proc.priority += 1
        proc.left = proc.quantum * TICK_INSNS
        self.enqueue(proc)

    def rebalance(self, procs, now):
        """Move every demoted process one queue back toward its base priority; the next
        rebalance is due at the next multiple of REBALANCE_INSNS after `now`."""
        self.next_rebalance = (now // REBALANCE_INSNS + 1) * REBALANCE_INSNS
        for proc in procs:
            if proc.alive and proc.priority > proc.base_priority:
                was_ready = proc.ready
                self.dequeue(proc)
                proc.priority -= 1
                if was_ready:
                    self.enqueue(proc)

    def runnable(self):
        return any(self.queues)
