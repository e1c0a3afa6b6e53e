"""The kernel-memory figure of `emu bench`: the kernel's Python memory under an IPC flood.

Contract: `flood(image, messages, samples)` boots the benchmark image with tracemalloc
on (from before the boot, so every Python object of the kernel and the machine is
traced) and runs the round-trip client and server for `messages` messages (a round trip
is two: the request and the reply).  After a warm-up of `WARMUP` of the messages it
samples the traced memory, then again `samples` times, evenly, to the last round trip
(the client has not exited yet).  It returns {messages, warmup_bytes, end_bytes,
growth_bytes (end - warm-up), peak_growth_bytes (the largest sample - warm-up),
per_message_bytes, rss_warmup_bytes, rss_growth_bytes, samples_bytes}.  The resident
set (`/proc/self/statm`, 0 where there is none) includes Unicorn's own memory (its
translation cache), which tracemalloc does not see; it is reported, not judged.
The figure passes when `growth_bytes` and `peak_growth_bytes` stay within
`NOISE_BYTES`: the kernel keeps no per-message state, so a leak of even one byte a
message would show as a megabyte.
"""

import gc
import io
import os
import tracemalloc
from array import array

from emu.session import BootOptions, Session
from kernel.run import RunLimits, run

WARMUP = 0.1                  # of the messages
NOISE_BYTES = 64 * 1024       # allocator and cache noise: a flat kernel stays within


class FloodError(Exception):
    """A flood run that went wrong; str is one line."""


def _rss():
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _boot(image, trips):
    options = BootOptions(printer=None, console=io.BytesIO(), log=io.StringIO())
    session = Session(image, options)
    kernel = session.kernel
    for proc in kernel.table.procs:
        if proc.alive:
            count = {"client": trips, "server": 1}.get(proc.label, 0)
            proc.cpu.set_register("esi", count)
    return session, kernel.table.by_label("client")


def _insns_per_trip(image):
    """Virtual time of one round trip (both processes), from a short untimed run."""
    trips = 1000
    session, client = _boot(image, trips)
    try:
        end = run(session.kernel, RunLimits(until_exit="client"))
    finally:
        session.close()
    if end != "exit":
        raise FloodError(f"the calibration run ended with '{end}'")
    return max(1, session.kernel.time // trips)


def flood(image, messages, samples):
    trips = messages // 2
    step = _insns_per_trip(image)
    gc.collect()
    tracemalloc.start()
    try:
        session, client = _boot(image, trips)
        kernel = session.kernel
        try:
            points = [int(trips * step * (WARMUP + (1 - WARMUP) * k / samples))
                      for k in range(samples + 1)]
            points[-1] = trips * step - 4 * step        # before the client's last trip
            # preallocated: the samples themselves must not grow what they measure
            traced, rss = array("q", bytes(8 * len(points))), array("q", bytes(8 * len(points)))
            for index, point in enumerate(points):
                end = run(kernel, RunLimits(until_exit="client", max_time=point))
                if end != "max-ticks":
                    raise FloodError(f"the flood ended early with '{end}'")
                gc.collect()
                traced[index] = tracemalloc.get_traced_memory()[0]
                rss[index] = _rss()
            done = 2 * (trips - client.cpu.registers()["esi"])
            end = run(kernel, RunLimits(until_exit="client"))
        finally:
            session.close()
    finally:
        tracemalloc.stop()
    if end != "exit" or client.exit_status != 0:
        why = kernel.panic_report or f"exit status {client.exit_status}"
        raise FloodError(f"the flood ended with '{end}' ({why})")
    growth = traced[-1] - traced[0]
    return {"messages": 2 * trips, "sampled_messages": done, "warmup_bytes": traced[0], "end_bytes": traced[-1],
            "growth_bytes": growth, "peak_growth_bytes": max(traced) - traced[0],
            "per_message_bytes": growth / max(1, done - messages * WARMUP),
            "rss_warmup_bytes": rss[0], "rss_growth_bytes": rss[-1] - rss[0],
            "samples_bytes": list(traced)}
