"""The IPC trap: the six primitives of SPEC section 3, with every check, in order.

Contract:
- `Ipc.do_ipc(caller, ecx, eax, ebx)` handles one `int 0x21` of the running process
  `caller` (called from the CPU's trap hook): `ecx` = function, `eax` = endpoint (ASEND:
  entry count), `ebx` = message (ASEND: table).  It returns the result for the caller's
  eax, or `BLOCKED` when the caller blocked: its result is written when the call
  completes (`Kernel.wake`).  The common cases go through the fast path
  (`kernel.fastpath`), which gives the same results; the code here is the reference.
- The checks run in the order of the spec's table, before anything changes; each denial
  returns its error and changes nothing: 1 primitive and flags (EBADCALL), 2 primitive
  allowed (ETRAPDENIED), 3 endpoint (EBADSRCDST / EDEADSRCDST / ETRAPDENIED for a kernel
  task), 4 destination allowed (ECALLDENIED), 5 buffer or table (EFAULT), 6 deadlock
  (ELOCKED), 7 peer not ready (ENOTREADY).
- Semantics as MINIX 3: SEND blocks until delivery, senders queue FIFO per destination;
  RECEIVE takes pending notifications (lowest source first), then queued senders (FIFO),
  then pending ASEND entries; SENDREC is SEND then RECEIVE from the same peer, taking no
  notification (an ASEND reply from the peer is taken); NOTIFY never blocks and
  coalesces; NBSEND fails with ENOTREADY unless the peer waits for it; ASEND registers a
  table in the sender's memory that the kernel re-reads and re-checks each time it looks
  at an entry.  As in MINIX 3, the destinations are looked at when ASEND is called: an
  entry whose destination is rewritten afterwards is found at the sender's next ASEND.
- A SENDREC to a kernel task is a kernel call, served at once by `kernel.system`.  A
  SEND or SENDREC from a server to a driver that passed checks 1-5 is reported
  (`Kernel.report_trust`): a trusted server must never depend on an untrusted driver.
"""

from kernel.abi import (AMF_DONE, AMF_FLAGS_MASK, AMF_NOTIFY, AMF_VALID, ANY, ASEND,
                        ASEND_DST, ASEND_ENTRY_SIZE, ASEND_MAX, ASEND_MSG, ASEND_RESULT,
                        CLOCK, EBADCALL, EBADSRCDST, ECALLDENIED, EDEADSRCDST, EFAULT, EINVAL,
                        ELOCKED, ENDPOINT_GEN_MUL, ENOTREADY, ETRAPDENIED, HARDWARE,
                        IPC_PRIMITIVE_MASK, MSG_SIZE, NBSEND, NONBLOCK, NOTIFY, NR_PROCS,
                        NR_TASKS, OK, RECEIVE, SEND, SENDREC, SYSTEM)
from kernel.fastpath import SLOW, FastPath
from kernel.message import copy_message, message_type, read_int32, write_int32
from kernel.outcome import BLOCKED
from kernel.proc import notify_bit_of_slot, notify_bit_of_task

VALID_PRIMITIVES = frozenset((SEND, RECEIVE, SENDREC, NOTIFY, NBSEND, ASEND))
# the check of the spec's table that gives each error (ETRAPDENIED: 2, or 3 for a task)
CHECK_OF_ERROR = {EBADCALL: 1, ETRAPDENIED: 2, EBADSRCDST: 3, EDEADSRCDST: 3,
                  ECALLDENIED: 4, EFAULT: 5, ELOCKED: 6, ENOTREADY: 7}
TASKS = frozenset((HARDWARE, SYSTEM, CLOCK))


def _signed32(value):
    return value - 0x100000000 if value & 0x80000000 else value


class Ipc:
    """The IPC primitives over a kernel's process table."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.table = kernel.table
        self.procs = kernel.table.procs
        self.system = kernel.system
        self.fastpath = FastPath(kernel, self)
        self.fast = self.fastpath.trap

    # -- the trap ---------------------------------------------------------------------------
    def do_ipc(self, caller, function, eax, address):
        result = self.fast(caller, function, eax, address)     # speed only: same results
        if result is not SLOW:
            return result
        primitive = function & IPC_PRIMITIVE_MASK
        flags = function & ~IPC_PRIMITIVE_MASK
        nonblock = False
        ep = _signed32(eax)
        # 1: primitive and flags valid
        if primitive not in VALID_PRIMITIVES:
            return self.deny(caller, primitive, ep, address, EBADCALL)
        if flags:
            if flags != NONBLOCK or primitive not in (SEND, RECEIVE):
                return self.deny(caller, primitive, ep, address, EBADCALL)
            if primitive == SEND:
                primitive = NBSEND
            nonblock = True
        # 2: primitive allowed by the caller's policy
        if not caller.ipc_mask >> primitive & 1:
            return self.deny(caller, primitive, ep, address, ETRAPDENIED)
        if primitive == ASEND:
            return self.asend(caller, eax, address)
        # 3: endpoint well formed, alive, current; kernel tasks take SENDREC and RECEIVE
        peer = None
        if ep in TASKS:
            if primitive != SENDREC and primitive != RECEIVE:
                return self.deny(caller, primitive, ep, address, ETRAPDENIED, check=3)
        elif ep == ANY:
            if primitive != RECEIVE:
                return self.deny(caller, primitive, ep, address, EBADSRCDST)
        else:
            status, peer = self.table.lookup(ep)
            if status:
                return self.deny(caller, primitive, ep, address, status)
        # 4: destination allowed by the caller's policy
        if primitive != RECEIVE and not self.may_send(caller, ep, peer):
            return self.deny(caller, primitive, ep, address, ECALLDENIED)
        # 5: the whole message lies in the caller's data, bss or stack
        if primitive != NOTIFY and not caller.cpu.in_rw(address, MSG_SIZE):
            return self.deny(caller, primitive, ep, address, EFAULT)
        if primitive == SENDREC:
            if peer is None:
                return self.kernel.system.call(caller, ep, address)
            return self.send(caller, peer, address, sendrec=True)
        if primitive == RECEIVE:
            return self.receive(caller, ep, address, nonblock)
        if primitive == SEND:
            return self.send(caller, peer, address, sendrec=False)
        if primitive == NBSEND:
            return self.nbsend(caller, peer, address)
        return self.notify(caller, peer)

    def may_send(self, caller, ep, peer):
        if peer is None:
            return caller.task_mask >> (ep + NR_TASKS) & 1
        return (caller.target_mask >> peer.index & 1) or (caller.may_reply >> peer.slot & 1)

    def deny(self, caller, primitive, ep, address, error, check=None):
        """Deny a trap: count it, trace it with the number of the check that denied it
        (`check`, else the one that gives `error`), return the error."""
        self.kernel.count_denial(caller, primitive, error)
        trace = self.kernel.trace
        if trace is not None:
            check = check or CHECK_OF_ERROR[error]
            if primitive == ASEND:
                trace.asend(self.kernel.now(), caller, ep, error, check)
            else:
                trace.ipc(self.kernel.now(), caller, primitive, ep, None, error, check=check)
        return error

    # -- SEND, SENDREC, NBSEND --------------------------------------------------------------
    def send(self, caller, dst, address, sendrec):
        if caller.is_server and dst.is_driver:
            self.kernel.report_trust(caller, dst, SENDREC if sendrec else SEND)
        if self.waits_for(dst, caller):
            self.deliver(caller, address, dst, SENDREC if sendrec else SEND)
            if not sendrec:
                return OK
            caller.in_sendrec = True
            if caller.asyn_pending >> dst.slot & 1 and \
                    self.receive_async(caller, dst.endpoint, address):
                caller.in_sendrec = False
                return OK
            caller.getfrom = dst.endpoint
            caller.msg_addr = address
            self.kernel.block(caller)
            return BLOCKED
        # 6: blocking would close a cycle of waiting processes
        if self.would_deadlock(caller, dst):
            return self.deny(caller, SENDREC if sendrec else SEND, dst.endpoint, address,
                             ELOCKED)
        caller.sendto = dst
        caller.msg_addr = address
        caller.in_sendrec = sendrec
        caller.q_next = None
        if dst.q_tail is None:
            dst.q_head = caller
        else:
            dst.q_tail.q_next = caller
        dst.q_tail = caller
        self.kernel.block(caller)
        return BLOCKED

    def nbsend(self, caller, dst, address):
        if not self.waits_for(dst, caller):
            return self.deny(caller, NBSEND, dst.endpoint, address, ENOTREADY)
        self.deliver(caller, address, dst, NBSEND)
        return OK

    @staticmethod
    def waits_for(dst, sender):
        """True when `dst` is blocked receiving from `sender` (or from ANY)."""
        getfrom = dst.getfrom
        return getfrom is not None and dst.sendto is None and (
            getfrom == sender.endpoint or getfrom == ANY)

    def deliver(self, sender, address, dst, primitive):
        """Copy a message into a receiving `dst` and wake it."""
        self.transfer(sender, address, dst, primitive)
        self.kernel.wake(dst, OK)

    def transfer(self, sender, address, dst, primitive):
        """Copy a message into a receiving `dst` (M_SOURCE stamped), let `dst` reply to
        the sender, and trace both ends; `dst` is not woken."""
        copy_message(sender.cpu, address, dst.cpu, dst.msg_addr, sender.endpoint)
        dst.may_reply |= 1 << sender.slot
        trace = self.kernel.trace
        if trace is not None:
            t = self.kernel.now()
            m_type = message_type(sender.cpu, address)
            trace.ipc(t, sender, primitive, dst.endpoint, m_type, OK)
            trace.ipc(t, dst, RECEIVE, sender.endpoint, m_type, OK)

    def would_deadlock(self, caller, peer):
        """Follow who `peer` waits for; a path back to `caller` is a deadlock."""
        current = peer
        for _ in range(NR_PROCS):
            if current is caller:
                return True
            if current.sendto is not None:
                current = current.sendto
            elif current.getfrom is not None and current.getfrom != ANY \
                    and current.getfrom >= 0:
                status, current = self.table.lookup(current.getfrom)
                if status:
                    return False
            else:
                return False
        return False

    # -- RECEIVE ----------------------------------------------------------------------------
    def receive(self, caller, src, address, nonblock):
        if not caller.in_sendrec and caller.notify_pending:
            bits = caller.notify_pending
            if src != ANY:
                bits &= self.notify_bit(src)
            if bits:
                bit = bits & -bits
                caller.notify_pending &= ~bit
                self.kernel.write_notification(caller, address, self.source_of_bit(bit))
                return OK
        prev, sender = None, caller.q_head
        while sender is not None:
            if src == ANY or sender.endpoint == src:
                self.unlink_sender(caller, prev, sender)
                caller.msg_addr = address
                self.take_from_queue(sender, caller)
                return OK
            prev, sender = sender, sender.q_next
        if caller.asyn_pending and self.receive_async(caller, src, address):
            return OK
        # 6 and 7: block, unless that would deadlock or the caller asked not to
        if nonblock:
            return self.deny(caller, RECEIVE, src, address, ENOTREADY)
        if src != ANY and src >= 0:
            status, peer = self.table.lookup(src)
            if status == OK and self.would_deadlock(caller, peer):
                return self.deny(caller, RECEIVE, src, address, ELOCKED)
        caller.getfrom = src
        caller.msg_addr = address
        self.kernel.block(caller)
        return BLOCKED

    @staticmethod
    def notify_bit(src):
        """The pending bit of a source that check 3 found live (a task or a process)."""
        if src < 0:
            return notify_bit_of_task(src)
        return notify_bit_of_slot(src % ENDPOINT_GEN_MUL)

    def source_of_bit(self, bit):
        index = bit.bit_length() - 1 - NR_TASKS
        return index if index < 0 else self.procs[index].endpoint

    @staticmethod
    def unlink_sender(dst, prev, sender):
        if prev is None:
            dst.q_head = sender.q_next
        else:
            prev.q_next = sender.q_next
        if dst.q_tail is sender:
            dst.q_tail = prev
        sender.q_next = None

    def take_from_queue(self, sender, dst):
        """Deliver a queued sender's message to `dst` (now receiving at dst.msg_addr)."""
        sendrec = sender.in_sendrec
        sender.sendto = None
        copy_message(sender.cpu, sender.msg_addr, dst.cpu, dst.msg_addr, sender.endpoint)
        dst.may_reply |= 1 << sender.slot
        trace = self.kernel.trace
        if trace is not None:
            t = self.kernel.now()
            m_type = message_type(sender.cpu, sender.msg_addr)
            trace.ipc(t, sender, SENDREC if sendrec else SEND, dst.endpoint, m_type, OK)
            trace.ipc(t, dst, RECEIVE, sender.endpoint, m_type, OK)
        if sendrec:
            sender.getfrom = dst.endpoint       # on to the receive half, still blocked
            if sender.asyn_pending >> dst.slot & 1 and \
                    self.receive_async(sender, dst.endpoint, sender.msg_addr):
                self.kernel.wake(sender, OK)
        else:
            self.kernel.wake(sender, OK)

    # -- NOTIFY -----------------------------------------------------------------------------
    def notify(self, caller, dst):
        trace = self.kernel.trace
        if trace is not None:
            trace.ipc(self.kernel.now(), caller, NOTIFY, dst.endpoint, None, OK)
        self.post_notification(caller.endpoint, notify_bit_of_slot(caller.slot), dst)
        return OK

    def post_notification(self, source, bit, dst):
        """Deliver a notification now if `dst` waits for it, else set its pending bit."""
        getfrom = dst.getfrom
        if getfrom is not None and dst.sendto is None and not dst.in_sendrec and (
                getfrom == ANY or getfrom == source):
            self.kernel.write_notification(dst, dst.msg_addr, source)
            self.kernel.wake(dst, OK)
        else:
            dst.notify_pending |= bit

    # -- ASEND ------------------------------------------------------------------------------
    def asend(self, caller, count, table):
        # 5: the count and the whole table
        if count > ASEND_MAX or (
                count and not caller.cpu.in_rw(table, count * ASEND_ENTRY_SIZE)):
            return self.deny(caller, ASEND, count, table, EFAULT)
        caller.asend_addr = table
        caller.asend_count = count
        self.scan_table(caller)
        trace = self.kernel.trace
        if trace is not None:
            trace.asend(self.kernel.now(), caller, count, OK)
        return OK

    def scan_table(self, sender):
        """Deliver what can be delivered now; mark the rest pending at its destinations."""
        for i in range(sender.asend_count):
            entry = sender.asend_addr + i * ASEND_ENTRY_SIZE
            dst = self.check_entry(sender, entry)
            if dst is None:
                continue
            if self.waits_for(dst, sender):
                self.deliver_entry(sender, entry, dst, dst.msg_addr)
                self.kernel.wake(dst, OK)
            else:
                dst.asyn_pending |= 1 << sender.slot

    def check_entry(self, sender, entry):
        """The destination of a live entry, re-read and re-checked; None when the entry is
        not live or fails its checks (then its result and AMF_DONE are written back)."""
        cpu = sender.cpu
        flags = read_int32(cpu, entry)
        if not flags & AMF_VALID or flags & AMF_DONE:
            return None
        if flags & ~AMF_FLAGS_MASK:
            return self.finish_entry(sender, entry, flags, EINVAL)
        ep = read_int32(cpu, entry + ASEND_DST)
        if ep in TASKS or ep == ANY:
            return self.finish_entry(sender, entry, flags,
                                     ETRAPDENIED if ep in TASKS else EBADSRCDST)
        status, dst = self.table.lookup(ep)
        if status:
            return self.finish_entry(sender, entry, flags, status)
        if not self.may_send(sender, ep, dst):
            return self.finish_entry(sender, entry, flags, ECALLDENIED)
        return dst

    def finish_entry(self, sender, entry, flags, result):
        cpu = sender.cpu
        write_int32(cpu, entry + ASEND_RESULT, result)
        write_int32(cpu, entry, flags | AMF_DONE)
        if result:
            self.kernel.count_denial(sender, ASEND, result)
            trace = self.kernel.trace
            if trace is not None:
                trace.ipc(self.kernel.now(), sender, ASEND,
                          read_int32(cpu, entry + ASEND_DST), None, result)
        if flags & AMF_NOTIFY:
            self.post_notification(SYSTEM, notify_bit_of_task(SYSTEM), sender)
        return None

    def deliver_entry(self, sender, entry, dst, address):
        copy_message(sender.cpu, entry + ASEND_MSG, dst.cpu, address, sender.endpoint)
        dst.may_reply |= 1 << sender.slot
        trace = self.kernel.trace
        if trace is not None:
            t = self.kernel.now()
            m_type = message_type(sender.cpu, entry + ASEND_MSG)
            trace.ipc(t, sender, ASEND, dst.endpoint, m_type, OK)
            trace.ipc(t, dst, RECEIVE, sender.endpoint, m_type, OK)
        self.finish_entry(sender, entry, read_int32(sender.cpu, entry), OK)

    def receive_async(self, caller, src, address):
        """Take one pending ASEND entry for `caller`; clear senders with none left."""
        pending = caller.asyn_pending
        while pending:
            bit = pending & -pending
            pending &= ~bit
            sender = self.procs[bit.bit_length() - 1]
            if src != ANY and sender.endpoint != src:
                continue
            found = False
            if sender.alive:
                for i in range(sender.asend_count):
                    entry = sender.asend_addr + i * ASEND_ENTRY_SIZE
                    if read_int32(sender.cpu, entry + ASEND_DST) != caller.endpoint:
                        continue
                    if self.check_entry(sender, entry) is not caller:
                        continue
                    if found:
                        return True         # more entries for us remain: keep the bit
                    self.deliver_entry(sender, entry, caller, address)
                    found = True
            caller.asyn_pending &= ~bit
            if found:
                return True
        return False
