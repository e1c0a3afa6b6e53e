"""SYS_EXIT: end the caller.

Message in: M_TYPE = SYS_EXIT, EXIT_STATUS (M_W0) = the exit status.  No reply: the
caller is gone, its slot is freed, and every process blocked on it wakes with
EDEADSRCDST.  Never fails.
"""

from kernel.abi import EXIT_STATUS
from kernel.outcome import BLOCKED


def do_exit(kernel, caller, msg):
    kernel.end_process(caller, "exit", status=msg.get(EXIT_STATUS))
    return BLOCKED
