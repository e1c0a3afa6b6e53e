"""Outcomes of faults and trials (SPEC section 8), and the rows of the seed's table.

Contract: the kernel counts every denied IPC call in `kernel.denials[(label, primitive,
error)]` and every illegal kernel request in `kernel.illegal_requests[(label, m_type,
error, reason)]`.  `Counters(kernel, label)` takes a snapshot of the target's entries;
`since(snapshot)` gives what the target added since, sorted into the categories of the
seed's table (`DENIAL_CATEGORY`: error -> category) and the illegal requests by call and
sub-reason (`"DEVIO: port not allowed"`; an unknown call number is "unknown call").
`FAULT_COLUMNS` are the counters kept per fault (over the time from its injection to
the next one), `TRIAL_COLUMNS` those kept per trial; `SEED_ROWS` the five
rows of the seed's table in its order, `EXTRA_ROWS` ours; `MUST_BE_ZERO` the outcomes
that are always a bug of the system (they are listed with a replay command).
"""

from kernel.abi import (EBADCALL, EBADSRCDST, ECALLDENIED, EDEADSRCDST, EFAULT, ELOCKED,
                        ETRAPDENIED, KERNEL_CALL_NAMES)

# The denial categories of SPEC section 3's table: error -> category
DENIAL_CATEGORY = {
    EBADCALL: "bad_primitive",             # check 1: primitive and flags
    ETRAPDENIED: "unauthorized_primitive",  # check 2, and a wrong primitive to a task
    EBADSRCDST: "bad_endpoint",            # check 3: malformed, ANY misused, SELF, NONE
    EDEADSRCDST: "bad_endpoint",           # check 3: empty slot, stale generation
    ECALLDENIED: "unauthorized_endpoint",  # check 4: destination not in `targets`
    EFAULT: "bad_buffer",                  # check 5: message or table outside rw memory
    ELOCKED: "deadlock",                   # check 6: a cycle of blocked processes
}
DENIALS = ("bad_primitive", "bad_endpoint", "bad_buffer", "unauthorized_primitive",
           "unauthorized_endpoint", "deadlock")

SEED_ROWS = (
    ("bad_primitive", "Bad IPC primitive"),
    ("bad_endpoint", "Bad IPC endpoint"),
    ("bad_buffer", "Bad message buffer"),
    ("unauthorized_primitive", "Unauthorized IPC primitive"),
    ("unauthorized_endpoint", "Unauthorized IPC endpoint"),
)
EXTRA_ROWS = (
    ("deadlock", "IPC deadlock refused (ELOCKED)"),
    ("illegal_requests", "Illegal kernel request"),
    ("cpu_faults", "Driver CPU fault"),
    ("hangs", "Hang caught by heartbeat"),
    ("exits", "Driver exit"),
    ("stuck", "Request lost: driver refreshed"),
    ("restarts", "Driver restart by RS"),
    ("wrong_output", "Wrong output (trials)"),
    ("server_failures", "Trusted-server failure"),
    ("panics", "Kernel panic"),
    ("unrecovered", "System not recovered (trials)"),
)
MUST_BE_ZERO = ("server_failures", "panics", "unrecovered")

# Counted for each fault over its window, and summed (or or-ed) per trial
FAULT_COLUMNS = DENIALS + ("illegal_requests", "cpu_faults", "hangs", "exits", "stuck",
                           "restarts", "wrong_output")
TRIAL_COLUMNS = ("activated",) + FAULT_COLUMNS + MUST_BE_ZERO


class Counters:
    """The target's entries in the kernel's denial and illegal-request counts."""

    def __init__(self, kernel, label):
        self.kernel = kernel
        self.label = label

    def snapshot(self):
        label = self.label
        denials, illegal = {}, {}
        for (who, _, error), count in self.kernel.denials.items():
            if who == label:
                denials[error] = denials.get(error, 0) + count
        for (who, m_type, _, reason), count in self.kernel.illegal_requests.items():
            if who == label:
                illegal[m_type, reason] = illegal.get((m_type, reason), 0) + count
        return denials, illegal

    def since(self, snapshot):
        """(denials by category, illegal requests by sub-reason) added since `snapshot`.
        Errors outside the table (ENOTREADY: a peer not ready is no threat) are left out."""
        old_denials, old_illegal = snapshot
        new_denials, new_illegal = self.snapshot()
        denials = {}
        for error, count in new_denials.items():
            category = DENIAL_CATEGORY.get(error)
            added = count - old_denials.get(error, 0)
            if category is not None and added:
                denials[category] = denials.get(category, 0) + added
        illegal = {}
        for key, count in new_illegal.items():
            added = count - old_illegal.get(key, 0)
            if added:
                name = key[1] if key[0] is None else \
                    f"{KERNEL_CALL_NAMES.get(key[0], key[0])}: {key[1]}"
                illegal[name] = illegal.get(name, 0) + added
        return denials, illegal


def wilson(hits, total, z=1.96):
    """The Wilson score interval of a rate hits/total (95% by default): (low, high)."""
    if total == 0:
        return 0.0, 0.0
    p = hits / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * ((p * (1 - p) / total + z * z / (4 * total * total)) ** 0.5) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
