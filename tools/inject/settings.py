"""A campaign's settings: what they are, their defaults, and the numbering of trials.

Contract: `make_settings(**given)` returns the settings dict every part of a campaign
reads (it is stored with the results and must match on `--resume`): `target`,
`profile`, `types`, `trigger`, `faults` (N), `per_trial` (M), `window` (instructions of
the target after each fault), `window_time` (the most virtual time a window may take,
in instructions), `seed`, `warmup` (instructions of the target from the first workload
command to the golden point).  It raises ValueError with one line for a bad value.
Trial t (0-based) takes faults t*M .. min(N, (t+1)*M) - 1; its random generator is
seeded by `trial_seed(seed, t)` alone, so any trial can be run again on its own.
"""

import hashlib

from tools.inject.faults import ALL_TYPES

TRIGGERS = ("static", "exec", "time")
DEFAULTS = {
    "types": ["random"],
    "trigger": "static",
    "per_trial": 100,
    "window": 500,
    "window_time": None,        # 4 windows' worth: a window of a healthy driver is less
    "seed": 0,
    "warmup": 2000,
    "profile": None,            # the target's own profile
}


def make_settings(target, faults, **given):
    settings = dict(DEFAULTS)
    settings.update({k: v for k, v in given.items() if v is not None})
    settings["target"] = target
    settings["faults"] = faults
    settings["types"] = list(settings["types"])
    if settings["window_time"] is None:
        settings["window_time"] = 4 * settings["window"]
    if settings["profile"] is None:
        settings["profile"] = target
    for name in ("faults", "per_trial", "window", "window_time", "warmup"):
        if not isinstance(settings[name], int) or settings[name] <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive number")
    unknown = [t for t in settings["types"] if t not in ALL_TYPES]
    if unknown or not settings["types"]:
        raise ValueError(f"unknown fault type '{unknown[0] if unknown else ''}' "
                         f"(types: {', '.join(ALL_TYPES)})")
    if settings["trigger"] not in TRIGGERS:
        raise ValueError(f"unknown trigger '{settings['trigger']}' "
                         f"(triggers: {', '.join(TRIGGERS)})")
    return settings


def trial_count(settings):
    return -(-settings["faults"] // settings["per_trial"])


def trial_faults(settings, number):
    return min(settings["per_trial"], settings["faults"] - number * settings["per_trial"])


def trial_seed(seed, number):
    digest = hashlib.sha256(f"minix-emu inject {seed} {number}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1      # fits SQLite's INTEGER
