"""The CLOCK task: one-shot alarms in virtual time, delivered as notifications.

Contract: `set_alarm(proc, when, periodic=False)` sets (or with None cancels) the
process's one alarm at virtual time `when` (instructions); a periodic alarm (a heartbeat)
is not work the system waits for.  `next_due` is the earliest alarm or None,
`next_work_due` the earliest that is not periodic, both kept current so the run loop
reads them without a scan.  `expire(now)` notifies, from CLOCK,
every process whose alarm is due.  A process's alarm dies with it.
"""

from kernel.abi import CLOCK
from kernel.proc import notify_bit_of_task

CLOCK_BIT = notify_bit_of_task(CLOCK)


class Clock:
    """Alarms of all processes."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.procs = kernel.table.procs
        self.next_due = None
        self.next_work_due = None

    def set_alarm(self, proc, when, periodic=False):
        proc.alarm = when
        proc.alarm_periodic = periodic
        self._recompute()
        self.kernel.event_scheduled(when)

    def _recompute(self):
        due = [p for p in self.procs if p.alive and p.alarm is not None]
        self.next_due = min((p.alarm for p in due), default=None)
        self.next_work_due = min((p.alarm for p in due if not p.alarm_periodic),
                                 default=None)

    def expire(self, now):
        if self.next_due is None or now < self.next_due:
            return
        post = self.kernel.ipc.post_notification
        for proc in self.procs:
            if proc.alive and proc.alarm is not None and proc.alarm <= now:
                proc.alarm = None
                post(CLOCK, CLOCK_BIT, proc)
        self._recompute()
