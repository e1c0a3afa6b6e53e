"""Trials on local worker processes: each a fork server (`tools.inject.forkserver`).

Contract: `Worker(image_path, settings, golden)` starts `python -m tools.inject.forkserver`
and waits until it has booted to the golden point (`WorkerError` if it cannot);
`submit(number)` sends it a trial, `result()` reads the next result (in the order
submitted), `close()` ends it.  `run_local(image_path, settings, golden, trials,
workers)` runs `trials` on `workers` such processes (each kept two trials ahead) and
yields the results as they come, in any order.  Closing the generator (or a kill of
this process, which closes their input) ends the workers.
"""

import json
import os
import selectors
import subprocess
import sys
import tempfile

AHEAD = 2                     # trials sent ahead to each worker


class WorkerError(Exception):
    """A worker could not start; str is one line."""


class Worker:
    """One fork-server process and its pipes."""

    def __init__(self, image_path, settings, golden, timeout=None):
        self.errors = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.inject.forkserver"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.errors, bufsize=0, env=_environment())
        self.outstanding = []
        self.buffer = b""
        self.ended = False
        config = {"image": str(image_path), "settings": settings, "golden": golden}
        if timeout is not None:
            config["timeout"] = timeout
        self._send(config)
        answer = self._receive()
        if answer is None or "error" in answer:
            why = answer["error"] if answer else self._stderr_tail()
            self.close()
            raise WorkerError(f"emu inject: a worker could not start: {why}")

    def submit(self, number, trace=None):
        request = {"trial": number}
        if trace is not None:
            request["trace"] = str(trace)
        self._send(request)
        self.outstanding.append(number)

    def result(self):
        answer = self._receive()
        if answer is None:
            raise WorkerError(f"emu inject: a worker died: {self._stderr_tail()}")
        self.outstanding.remove(answer["trial"])
        return answer

    def fill(self):
        """Read what the worker has written (once; it may block when nothing is)."""
        chunk = os.read(self.fileno(), 1 << 20)
        if chunk:
            self.buffer += chunk
        else:
            self.ended = True

    def has_line(self):
        return b"\n" in self.buffer

    def run(self, number, trace=None):
        self.submit(number, trace)
        return self.result()

    def fileno(self):
        return self.process.stdout.fileno()

    def close(self):
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.errors.close()

    def _send(self, message):
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def _receive(self):
        while not self.has_line():
            if self.ended:
                return None
            self.fill()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def _stderr_tail(self):
        self.errors.seek(0)
        lines = [line for line in self.errors.read().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {self.process.poll()}"


def _environment():
    """The workers find this checkout first, whatever the current directory."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                else "")
    return env


def run_local(image_path, settings, golden, trials, workers):
    trials = list(trials)
    pool = [Worker(image_path, settings, golden) for _ in range(max(1, min(workers,
                                                                          len(trials))))]
    selector = selectors.DefaultSelector()
    for worker in pool:
        selector.register(worker, selectors.EVENT_READ)
    queue = iter(trials)
    try:
        for worker in pool:
            _top_up(worker, queue)
        waiting = sum(len(w.outstanding) for w in pool)
        while waiting:
            for key, _ in selector.select():
                worker = key.fileobj
                worker.fill()
                while worker.has_line() or (worker.ended and worker.outstanding):
                    yield worker.result()       # raises WorkerError if it died
                    _top_up(worker, queue)
            waiting = sum(len(w.outstanding) for w in pool)
    finally:
        selector.close()
        for worker in pool:
            worker.close()


def _top_up(worker, queue):
    while len(worker.outstanding) < AHEAD:
        number = next(queue, None)
        if number is None:
            return
        worker.submit(number)
