"""The marker of a trap whose result comes later.

`BLOCKED` is returned through the IPC and kernel-call paths when the caller must not get
a result now: it blocked (the result is written when the call completes) or it is gone
(EXIT).  Nothing is written into its eax then.
"""

BLOCKED = object()
