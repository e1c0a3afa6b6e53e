"""A campaign worker: the system booted once to the golden point, and a fork per trial.

Contract: `ForkServer(image_path, settings, golden)` boots the image to the golden point
(`tools.inject.system.boot`) and checks that it is the golden run's (the boot is
deterministic: another point means another image or emulator); `run(number)` forks:
the child, a copy-on-write snapshot of the booted system, runs the trial and sends its
result back through a pipe, then exits; the parent is left at the golden point for the
next trial.  The result has `digest` (of everything the trial decided: replay compares
it) and `wall_ms`.  A child that fails (an exception: a bug of ours, a signal, or more
than `timeout` seconds) gives a result with `details.error` counted as a panic, so it
is listed with its replay command.  `trace_path` writes the trial's IPC trace.

`python -m tools.inject.forkserver` serves trials over JSON lines: the first line on
stdin is {"image", "settings", "golden"}, answered by {"ready": true} or {"error"}; each
later line {"trial": N} is answered by that trial's result; the end of stdin ends it.
Only this single-threaded process forks (never a Dask worker, whose threads a fork
would not copy).
"""

import gc
import hashlib
import json
import os
import select
import signal
import sys
import time
import traceback
from pathlib import Path

from tools.image import ImageError, read_image
from tools.inject.outcome import TRIAL_COLUMNS
from tools.inject.profiles import profile_for
from tools.inject.settings import trial_seed
from tools.inject.system import SystemProblem, boot
from tools.inject.trial import run_trial

TIMEOUT = 600.0               # seconds a trial may take before it counts as hung


def digest(result):
    """A digest of everything a trial decided (not its wall time)."""
    text = json.dumps({k: v for k, v in result.items() if k not in ("digest", "wall_ms")},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def boot_golden_point(image_path, settings):
    """The system at the golden point of a campaign's settings (SystemProblem if not)."""
    try:
        image = read_image(Path(image_path))
    except ImageError as error:
        raise SystemProblem(str(error)) from None
    programs = {p.policy.label: p.policy for p in image.programs}
    target = settings["target"]
    if target not in programs:
        raise SystemProblem(f"no program '{target}' in {image_path}")
    if programs[target].kind != "driver":
        raise SystemProblem(f"'{target}' is a {programs[target].kind}, not a driver")
    profile = profile_for(target, settings["profile"])
    if profile is None:
        raise SystemProblem(f"no workload profile '{settings['profile']}' (see "
                            "tools/inject/profiles.py; --workload NAME picks one)")
    return boot(image, settings["target"], profile, settings["warmup"])


class ForkServer:
    """The golden point, kept; trials in forked children."""

    def __init__(self, image_path, settings, golden, timeout=TIMEOUT):
        self.settings = settings
        self.golden = golden
        self.timeout = timeout
        self.live = boot_golden_point(image_path, settings)
        if self.live.golden_point != golden["point"]:
            raise SystemProblem(f"this worker's golden point {self.live.golden_point} is not "
                                f"the campaign's {golden['point']}: another image or emulator")
        self.live.targets()                       # worked out once, before the forks
        self.live.targets(golden["coverage"])
        self.live.disassemble(b"\x90", 0)
        gc.collect()
        gc.freeze()            # the children share these objects without touching them

    def run(self, number, trace_path=None):
        started = time.perf_counter()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            self._child(number, write_end, trace_path)
        os.close(write_end)
        data, error = _read_all(read_end, self.timeout)
        if error:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(read_end)
        if not error and status != 0:
            error = f"the trial's process ended with status {status:#x}"
        if not error:
            try:
                result = json.loads(data)
            except ValueError:
                error = "the trial's process sent no result"
        if error:
            result = failed(self.settings, number, error)
        elif "error" in result:
            result = failed(self.settings, number, result["error"])
        result["digest"] = digest(result)
        result["wall_ms"] = round((time.perf_counter() - started) * 1000, 3)
        return result

    def _child(self, number, write_end, trace_path):
        gc.disable()           # a short life: collecting would only copy shared pages
        status = 0
        try:
            trace = open(trace_path, "w") if trace_path else None
            try:
                result = run_trial(self.live, self.settings, self.golden, number, trace)
            finally:
                if trace is not None:
                    trace.close()
            data = json.dumps(result).encode()
        except BaseException:                # noqa: BLE001 - told to the parent, then exit
            data = json.dumps({"error": traceback.format_exc(limit=8)}).encode()
        try:
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
        except BaseException:                # noqa: BLE001
            status = 3
        os._exit(status)


def failed(settings, number, error):
    """The result of a trial that could not run: a bug of ours, counted as a panic."""
    outcome = dict.fromkeys(TRIAL_COLUMNS, 0)
    outcome["panics"] = 1
    outcome["unrecovered"] = 1
    return {"trial": number, "seed": trial_seed(settings["seed"], number), "faults": [],
            "outcome": outcome, "details": {"error": error.strip()[-2000:]}, "ticks": 0}


def _read_all(fd, timeout):
    chunks, deadline = [], time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"", f"the trial took more than {timeout:.0f} s"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), None
        chunks.append(chunk)


def main():
    # a worker ends when its input does: a Ctrl-C meant for the campaign must not turn
    # the trials running here (and their children) into failed trials
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = sys.stdout
    config = json.loads(sys.stdin.readline() or "{}")
    try:
        server = ForkServer(config["image"], config["settings"], config["golden"],
                            config.get("timeout", TIMEOUT))
    except (SystemProblem, KeyError) as error:
        out.write(json.dumps({"error": str(error)}) + "\n")
        out.flush()
        return 2
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        result = server.run(request["trial"], request.get("trace"))
        out.write(json.dumps(result) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
