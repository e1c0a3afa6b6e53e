"""Remove one defence, run the threat tests that prove it, and see them fail.

    python -m tests.hostile.mutations            # every mutation
    python -m tests.hostile.mutations fifo mlfq  # some

Each mutation takes one defence away in a scratch run, never in the committed code:
kernel defences by monkeypatching (`apply_kernel`, called by tests/hostile/attack.py at
import when the environment variable THREAT_MUTATION names a mutation), guest defences
by editing a copy of guest/ that the test image is built from (`guest_edits`).  The
threat tests named for the mutation run in a child pytest with THREAT_MUTATION set;
each must fail.  The command prints one line per mutation and exits 1 when a defence
removed left its tests passing (docs/THREATS.md records a run).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IPC, DELIVERY, GROUP = ("tests/test_threat_ipc.py::", "tests/test_threat_delivery.py::",
                        "tests/test_threat_group.py::")
BADCALL = IPC + "test_bad_ipc_primitive_is_ebadcall"
BADEP = IPC + "test_nonexisting_endpoints_are_ebadsrcdst_or_edeadsrcdst"
BADBUF = IPC + "test_illegal_message_buffers_are_efault_and_nothing_moves"
FLOOD = IPC + "test_ipc_floods_do_not_grow_kernel_memory"
SPIN = IPC + "test_a_spinning_driver_is_killed_by_rs_and_slows_no_one_for_long"
BUSY = IPC + "test_the_scheduler_keeps_others_running_beside_a_driver_rs_cannot_catch"
TARGET = DELIVERY + "test_unauthorized_targets_are_ecalldenied_and_primitives_etrapdenied"
STALE = DELIVERY + "test_an_old_endpoint_reaches_no_one_and_ds_gives_the_new_one"
SPOOF = DELIVERY + "test_forged_sources_are_overwritten_by_the_kernel"
REUSED = DELIVERY + "test_a_reused_slot_never_gets_mail_for_its_predecessor"
EDGE = DELIVERY + "test_only_64_bytes_move_and_a_message_is_checked_whole"
KCALLS = DELIVERY + "test_garbage_kernel_calls_are_refused_at_the_system_gate"
GARBAGE = DELIVERY + "test_garbage_requests_are_answered_with_errors_and_servers_go_on"
FIFO = GROUP + "test_senders_are_served_in_the_order_they_sent"
CYCLES = GROUP + "test_cycles_of_two_and_three_are_elocked"
TRUST = GROUP + "test_a_printer_driver_that_misbehaves_blocks_no_server"
SPAWNER = GROUP + "test_a_client_cannot_take_all_of_pms_table"
HOARDER = GROUP + "test_a_client_cannot_take_all_of_ds_subscriptions"

# name -> (the defence removed, the tests that must fail)
MUTATIONS = {
    "check1": ("IPC check 1: primitive and flags (Ipc.do_ipc)", [BADCALL]),
    "check2": ("IPC check 2: primitive allowed by the policy (Proc.ipc_mask)", [TARGET]),
    "check3": ("IPC check 3: slot in use, generation current (ProcTable.lookup)",
               [BADEP, STALE]),
    "check4": ("IPC check 4: destination allowed by the policy (Ipc.may_send)", [TARGET]),
    "check5": ("IPC check 5: the whole message in data, bss or stack (Cpu.in_rw)",
               [BADBUF, EDGE]),
    "msgsize": ("only MSG_SIZE bytes move (message.copy_message)", [EDGE]),
    "stamp": ("M_SOURCE stamped on delivery (message.copy_message)", [SPOOF]),
    "generation": ("a reused slot's generation goes up (ProcTable.allocate)", [REUSED, STALE]),
    "slotclean": ("a reused slot starts with no pending mail (ProcTable.allocate: "
                  "Proc.clear_state)", [REUSED]),
    "gate": ("the SYSTEM gate's policy check (System.call: call_mask)", [KCALLS]),
    "ports": ("DEVIO-family port check (system.common.port_allowed)", [KCALLS]),
    "grants": ("grant checks (system.grants.granted_area: grantee)", [KCALLS]),
    "unknowncalls": ("unknown kernel calls counted in one entry (System.call)", [FLOOD]),
    "notifyqueue": ("a notification is one bit, not a queued message "
                    "(Ipc.post_notification)", [FLOOD]),
    "mlfq": ("MLFQ demotion at the end of a quantum (Scheduler.quantum_expired)", [BUSY]),
    "rskill": ("RS kills a driver that misses its heartbeats (rs_recover.inc: kill_hung)",
               [SPIN]),
    "fifo": ("per-destination sender queues are FIFO (Ipc.send)", [FIFO]),
    "deadlock": ("the deadlock check (Ipc.would_deadlock)", [CYCLES]),
    "rsnotify": ("RS pings drivers by NOTIFY, never a blocking call (rs_recover.inc)",
                 [TRUST]),
    "vfsreply": ("VFS takes a DEV_REPLY only from the request's driver, with its id "
                 "(vfs_dev.inc: dev_reply)", [TRUST]),
    "dspublish": ("DS_PUBLISH from RS only (ds.asm: do_publish)", [GARBAGE, SPOOF]),
    "pmkind": ("PM_SPAWN of user programs only (pm.asm: do_spawn)", [GARBAGE]),
    "ttyprobe": ("tty checks a read's grant before it takes input (tty.asm: probe_grant)",
                 [GARBAGE]),
    "pmquota": ("PM gives a parent PM_CHILD_MAX children at most (pm.asm: do_spawn)",
                [SPAWNER]),
    "dsquota": ("DS gives a subscriber DS_SUB_MAX subscriptions at most (ds.asm: "
                "do_subscribe)", [HOARDER]),
}

# Guest defences: (file under guest/, text, replacement)
GUEST_EDITS = {
    "rskill": [("servers/rs_recover.inc", "    call kill_hung\n", "")],
    "rsnotify": [("servers/rs_recover.inc",
                  "    mov eax, [esi + D_ENDPOINT]\n    mov ecx, NOTIFY\n",
                  "    mov eax, [esi + D_ENDPOINT]\n    lea ebx, [dsmsg]\n"
                  "    mov ecx, SENDREC\n")],
    "vfsreply": [("servers/vfs_dev.inc",
                  "    cmp [esi + RQ_ID], eax\n    jne dev_reply_ignore\n", ""),
                 ("servers/vfs_dev.inc",
                  "    cmp [msg + M_SOURCE], edx\n    jne dev_reply_ignore\n", "")],
    "dspublish": [("servers/ds.asm", "    cmp dword ptr [request + M_SOURCE], EP_RS\n"
                   "    jne publish_denied\n", "")],
    "pmkind": [("servers/pm.asm", "    cmp dword ptr [edi + P_KIND], KIND_USER\n"
                "    jne spawn_denied\n", "")],
    "pmquota": [("servers/pm.asm", "    cmp eax, PM_CHILD_MAX\n    jge spawn_full", "")],
    "dsquota": [("servers/ds.asm", "    cmp dword ptr [sub_count], DS_SUB_MAX\n"
                 "    jge subscribe_full", "")],
    "ttyprobe": [("drivers/tty.asm", "    call probe_grant                ; a read that "
                  "could not deliver takes no input\n    test eax, eax\n"
                  "    jnz cdev_read_refused\n", "")],
}


def guest_edits(name):
    """The source edits of mutation `name` (none for a kernel mutation or None)."""
    return GUEST_EDITS.get(name, [])


def apply_kernel(name):
    """Monkeypatch the kernel defence of mutation `name` away (nothing for None)."""
    patch = _KERNEL.get(name)
    if patch is not None:
        patch()


def _check1():
    from kernel import ipc
    real = ipc.Ipc.do_ipc

    def do_ipc(self, caller, function, eax, address):
        primitive = function & ipc.IPC_PRIMITIVE_MASK        # flags ignored, as the seed
        if primitive not in ipc.VALID_PRIMITIVES:
            primitive = ipc.SENDREC
        return real(self, caller, primitive, eax, address)
    ipc.Ipc.do_ipc = do_ipc


def _check2():
    from kernel import privileges
    real = privileges.apply

    def apply(proc, policy, labels):
        real(proc, policy, labels)
        proc.ipc_mask = 0xFFFFFFFF
    privileges.apply = apply


def _check3():
    from kernel import proc as procs
    from kernel.abi import ENDPOINT_GEN_MUL, OK
    real = procs.ProcTable.lookup

    def lookup(self, ep):
        status, proc = real(self, ep)
        if status == procs.EDEADSRCDST and self.procs[ep % ENDPOINT_GEN_MUL].alive:
            return OK, self.procs[ep % ENDPOINT_GEN_MUL]       # any generation will do
        return status, proc
    procs.ProcTable.lookup = lookup


def _check4():
    from kernel import ipc
    ipc.Ipc.may_send = lambda self, caller, ep, peer: True


def _check5():
    from emu import cpu
    cpu.Cpu.in_rw = lambda self, address, size: True


def _copy(size, stamp):
    """copy_message moving `size` bytes, stamping M_SOURCE or not, for messages of the
    hostile programs (any program that is not stock): the attacker's view of a kernel
    without that defence, the stock system otherwise intact."""
    from kernel import ipc, message
    from kernel.abi import ENDPOINT_GEN_MUL
    from tests.hostile.attack import stock_programs
    stock = {p["label"] for p in stock_programs()}
    real = message.copy_message

    def copy_message(src_cpu, src_address, dst_cpu, dst_address, source_endpoint):
        real(src_cpu, src_address, dst_cpu, dst_address, source_endpoint)
        sender = _TABLE[0].procs[source_endpoint % ENDPOINT_GEN_MUL] if _TABLE else None
        if sender is None or sender.label in stock:
            return
        s = src_address - src_cpu.window_base
        d = dst_address - dst_cpu.window_base
        dst_cpu.mem[d:d + size] = src_cpu.mem[s:s + size]
        if stamp:
            message.pack_int32(dst_cpu.mem, d, source_endpoint)
    message.copy_message = ipc.copy_message = copy_message
    _watch_tables()


_TABLE = []


def _watch_tables():
    """Keep the process table of the kernel being built (for _copy)."""
    from kernel import proc as procs
    real = procs.ProcTable.__init__

    def init(self):
        real(self)
        _TABLE[:] = [self]
    procs.ProcTable.__init__ = init


def _generation():
    from kernel import proc as procs
    real = procs.ProcTable.allocate

    def allocate(self, slot=None):
        proc = real(self, slot)
        if proc is not None:
            proc.gen = 0
            proc.endpoint = proc.slot
        return proc
    procs.ProcTable.allocate = allocate


def _slotclean():
    from kernel import proc as procs
    real = procs.ProcTable.allocate

    def allocate(self, slot=None):
        kept = {p.slot: (p.notify_pending, p.asyn_pending) for p in self.procs}
        proc = real(self, slot)
        if proc is not None:                        # the predecessor's mail stays
            proc.notify_pending, proc.asyn_pending = kept[proc.slot]
        return proc
    procs.ProcTable.allocate = allocate


def _gate():
    from kernel import privileges
    real = privileges.apply

    def apply(proc, policy, labels):
        real(proc, policy, labels)
        proc.call_mask = 0xFFFFFFFF
    privileges.apply = apply


def _ports():
    from kernel.system import common, devio, sdevio, vdevio
    for module in (common, devio, sdevio, vdevio):
        module.port_allowed = lambda caller, port, size: 0 <= port < 0x10000


def _grants():
    from kernel.system import grants, safecopy, sdevio
    from kernel.abi import CPF_FLAGS_MASK, CPF_VALID, GRANT_ADDRESS, GRANT_SIZE

    def granted_area(kernel, caller, granter_ep, grant_id, offset, size, access):
        """kernel.system.grants.granted_area without its grantee check."""
        if granter_ep == grants.SELF:
            granter = caller
        else:
            status, granter = kernel.table.lookup(granter_ep)
            if status:
                return grants._deny(kernel, "granter not alive")
        if not granter.grant_count or not 0 <= grant_id < granter.grant_count:
            return grants._deny(kernel, "no such grant")
        cpu = granter.cpu
        entry = granter.grant_addr + grant_id * grants.GRANT_ENTRY_SIZE
        flags = grants.read_int32(cpu, entry) & 0xFFFFFFFF
        if not flags & CPF_VALID or flags & ~CPF_FLAGS_MASK or not flags & access:
            return grants._deny(kernel, "grant not valid")
        address = grants.read_int32(cpu, entry + GRANT_ADDRESS) & 0xFFFFFFFF
        granted = grants.read_int32(cpu, entry + GRANT_SIZE) & 0xFFFFFFFF
        if offset < 0 or offset + size > granted or not cpu.in_rw(address, granted):
            return grants._deny(kernel, "outside the grant")
        return cpu, address + offset
    safecopy.granted_area = sdevio.granted_area = granted_area


def _unknowncalls():
    from kernel import kernel

    def count_illegal_request(self, proc, m_type, error, reason):
        key = (proc.label, self.system.msg.type, error, reason)     # the raw number
        self.illegal_requests[key] = self.illegal_requests.get(key, 0) + 1
    kernel.Kernel.count_illegal_request = count_illegal_request


def _notifyqueue():
    from kernel import ipc
    real = ipc.Ipc.post_notification

    def post_notification(self, source, bit, dst):
        self.kernel.denials.setdefault("queued", []).append((source, dst.endpoint))
        return real(self, source, bit, dst)
    ipc.Ipc.post_notification = post_notification


def _mlfq():
    from kernel import sched
    from kernel.abi import TICK_INSNS

    def quantum_expired(self, proc):
        self.dequeue(proc)
        proc.left = proc.quantum * TICK_INSNS
        self.enqueue(proc)
    sched.Scheduler.quantum_expired = quantum_expired


def _fifo():
    from kernel import ipc
    real = ipc.Ipc.send

    def send(self, caller, dst, address, sendrec):
        result = real(self, caller, dst, address, sendrec)
        if caller.sendto is dst and dst.q_head is not caller:   # queued last: move first
            prev = dst.q_head
            while prev.q_next is not caller:
                prev = prev.q_next
            self.unlink_sender(dst, prev, caller)
            caller.q_next = dst.q_head
            dst.q_head = caller
        return result
    ipc.Ipc.send = send


def _deadlock():
    from kernel import ipc
    ipc.Ipc.would_deadlock = lambda self, caller, peer: False


_KERNEL = {"check1": _check1, "check2": _check2, "check3": _check3, "check4": _check4,
           "check5": _check5, "msgsize": lambda: _copy(128, True),
           "stamp": lambda: _copy(64, False), "generation": _generation,
           "slotclean": _slotclean, "gate": _gate, "ports": _ports, "grants": _grants,
           "unknowncalls": _unknowncalls, "notifyqueue": _notifyqueue, "mlfq": _mlfq,
           "fifo": _fifo, "deadlock": _deadlock}


def run(name, timeout=600):
    """Run mutation `name`'s tests in a child pytest: (they failed, the defence removed,
    the line that names the first failure)."""
    defence, tests = MUTATIONS[name]
    env = dict(os.environ, THREAT_MUTATION=name)
    try:
        child = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-rf",
                                "--tb=no", "-p", "no:cacheprovider", *tests], cwd=ROOT,
                               env=env, capture_output=True, text=True, timeout=timeout)
        failed = child.returncode != 0
        lines = child.stdout.strip().splitlines() or [""]
        last = next((line for line in lines if line.startswith("FAILED")), lines[-1])
    except subprocess.TimeoutExpired:
        failed, last = True, "timed out"
    return failed, defence, last


def main(argv):
    names = argv or list(MUTATIONS)
    unknown = [name for name in names if name not in MUTATIONS]
    if unknown:
        print(f"unknown mutation: {', '.join(unknown)}", file=sys.stderr)
        return 2
    proven = True
    for name in names:
        failed, defence, last = run(name)
        proven &= failed
        print(f"{name:13} {'FAILS, as it must' if failed else 'PASSES: NOT PROVEN'}"
              f" ({defence})\n    {last[:300]}", flush=True)
    return 0 if proven else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
