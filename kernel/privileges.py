"""Privileges: a program's policy from system.toml compiled into the kernel's bit masks.

Contract: `apply(proc, policy, labels)` sets on `proc` the masks the trap path tests with
one shift and one `and`: `ipc_mask` (bit per primitive number), `target_mask` (bit per
program index of the image), `task_mask` (bit per kernel task, CLOCK 0 .. HARDWARE 2),
`call_mask` (bit per kernel-call index), `irq_mask` (bit per line), `io_ranges`,
`is_server` / `is_driver` (for the asymmetric-trust report), and the scheduling fields.
`labels` maps each label of the image to its program index.  The policy was validated
at build time; anything unknown here grants nothing.
"""

from kernel.abi import KERNEL_CALL, NR_SYS_CALLS, NR_TASKS, TASK_BY_NAME, TICK_INSNS


def apply(proc, policy, labels):
    proc.label = policy.label
    proc.kind = policy.kind
    proc.is_server = policy.kind == "server"
    proc.is_driver = policy.kind == "driver"
    proc.policy = policy
    proc.ipc_mask = 0
    for primitive in policy.ipc:
        proc.ipc_mask |= 1 << primitive
    proc.target_mask = 0
    proc.task_mask = 0
    for target in policy.targets:
        if target in TASK_BY_NAME:
            proc.task_mask |= 1 << (TASK_BY_NAME[target] + NR_TASKS)
        elif target in labels:
            proc.target_mask |= 1 << labels[target]
    proc.call_mask = 0
    for call in policy.kernel_calls:
        if 0 <= call - KERNEL_CALL < NR_SYS_CALLS:
            proc.call_mask |= 1 << (call - KERNEL_CALL)
    proc.io_ranges = tuple(policy.io)
    proc.irq_mask = 0
    for line in policy.irq:
        proc.irq_mask |= 1 << line
    proc.priority = proc.base_priority = policy.priority
    proc.quantum = policy.quantum
    proc.left = policy.quantum * TICK_INSNS
