"""Process ends reported to the servers in charge: RS for drivers and servers, PM for users.

Contract: `Ends(kernel)` keeps, for each of the labels `rs` and `pm` that the image has,
a queue of the ends not yet reported.  `record(proc, how, status)` (called when a process
ends: `how` is "exit", "fault" or "kill") queues the end for `rs` (the process was a
driver or a server) or `pm` (a user program) and notifies that server from SYSTEM
when it is alive.  `take(label)` pops the oldest end queued for `label`: (endpoint,
program index, END_*, status), or None.  Each end is reported once, to that one server.
At most NR_PROCS ends wait per server: past that, the oldest is forgotten, so a server
that never asks cannot make the kernel grow.
"""

from collections import deque

from kernel.abi import END_EXIT, END_FAULT, END_KILL, NR_PROCS, SYSTEM
from kernel.proc import KIND_USER, notify_bit_of_task

HOW = {"exit": END_EXIT, "fault": END_FAULT, "kill": END_KILL}
SYSTEM_BIT = notify_bit_of_task(SYSTEM)
SERVER_OF_USERS = "pm"
SERVER_OF_SYSTEM = "rs"


class Ends:
    """The queues of unreported ends, by the label of the server they go to."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.queues = {}

    def configure(self, labels):
        """Queues for the servers the image has (`labels`: label -> program index)."""
        self.queues = {label: deque(maxlen=NR_PROCS)
                       for label in (SERVER_OF_SYSTEM, SERVER_OF_USERS) if label in labels}

    def record(self, proc, how, status):
        label = SERVER_OF_USERS if proc.kind == KIND_USER else SERVER_OF_SYSTEM
        queue = self.queues.get(label)
        if queue is None:
            return
        queue.append((proc.endpoint, proc.index, HOW[how], status or 0))
        server = self.kernel.table.by_label(label)
        if server is not None:
            self.kernel.ipc.post_notification(SYSTEM, SYSTEM_BIT, server)

    def take(self, label):
        queue = self.queues.get(label)
        return queue.popleft() if queue else None
