"""SYS_TIMES: virtual time.

Message in: M_TYPE = SYS_TIMES.  Reply: M_TYPE = OK, T_TICKS (M_W0) = uptime in clock
ticks, T_TIME_LO / T_TIME_HI (M_W1, M_W2) = virtual time in instructions, T_USER_INSNS
(M_W3) = instructions the caller has run (low 32 bits).  Never fails.
"""

from kernel.abi import OK, T_TICKS, T_TIME_HI, T_TIME_LO, T_USER_INSNS, TICK_INSNS


def do_times(kernel, caller, msg):
    now = kernel.now()
    msg.set(T_TICKS, now // TICK_INSNS)
    msg.set(T_TIME_LO, now & 0xFFFFFFFF)
    msg.set(T_TIME_HI, now >> 32)
    msg.set(T_USER_INSNS, kernel.insns_of(caller) & 0xFFFFFFFF)
    return OK
