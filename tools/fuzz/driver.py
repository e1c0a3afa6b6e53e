"""A seeded run: step the system under fuzz until it has made a number of fuzzed traps.

Contract: `fuzz(traps, seed, trace, progress, system, stop)` makes at least `traps`
fuzzed traps (it stops at the end of a step) with the cases of `cases.sources_for(seed)`,
on `system` (warm-rebooted, its findings and counts cleared) or else on a new
`FuzzSystem`; with `stop`, it stops at the first step that found something.  It returns
(system, seconds of wall time).  `progress(system, seconds)` is called at most every 5
seconds.  One seed gives the same traps, results and findings.
"""

import time

from tools.fuzz.cases import sources_for
from tools.fuzz.system import FuzzSystem

PROGRESS_EVERY = 5            # seconds of wall time between two progress calls


def fuzz(traps, seed, trace=True, progress=None, system=None, stop=False):
    if system is None:
        system = FuzzSystem(sources_for(seed), trace=trace)
    else:
        system.set_sources(sources_for(seed))
        system.reboot()
        system.clear()
    start = last = time.perf_counter()
    goal = system.traps + traps
    while system.traps < goal and not (stop and system.findings):
        system.step()
        now = time.perf_counter()
        if progress is not None and now - last >= PROGRESS_EVERY:
            last = now
            progress(system, now - start)
    return system, time.perf_counter() - start
