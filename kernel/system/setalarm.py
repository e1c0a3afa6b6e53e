"""SYS_SETALARM: a notification from CLOCK after a number of clock ticks.

Message in: M_TYPE = SYS_SETALARM, ALARM_TICKS (M_W0) = ticks from now (one tick is
TICK_INSNS instructions of virtual time); 0 cancels the caller's alarm; ALARM_FLAGS
(M_W1) = 0, or ALARM_PERIODIC for an alarm that is not work to wait for (a heartbeat:
`--until-idle` and the idle end do not wait for it).  One alarm per process: a new one
replaces the old.  Reply: M_TYPE = OK, ALARM_TICKS = the ticks that were left of the
previous alarm (0 when none).  Errors: EINVAL for negative ticks or unknown flags.
"""

from kernel.abi import ALARM_FLAGS, ALARM_PERIODIC, ALARM_TICKS, EINVAL, OK, TICK_INSNS


def do_setalarm(kernel, caller, msg):
    ticks = msg.get(ALARM_TICKS)
    flags = msg.get(ALARM_FLAGS)
    if ticks < 0:
        kernel.system.reason = "negative alarm"
        return EINVAL
    if flags & ~ALARM_PERIODIC:
        kernel.system.reason = "unknown alarm flags"
        return EINVAL
    now = kernel.now()
    left = 0
    if caller.alarm is not None:
        left = max(0, -(-(caller.alarm - now) // TICK_INSNS))
    kernel.clock.set_alarm(caller, now + ticks * TICK_INSNS if ticks else None,
                           periodic=bool(flags))
    msg.set(ALARM_TICKS, left)
    return OK
