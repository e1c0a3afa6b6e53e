"""The campaign's progress bar: faults done, rate and ETA (rich, on stderr).

Contract: `Progress(total_faults, done_faults, enabled)` is a context manager;
`advance(faults)` counts finished faults.  On a terminal it draws a bar with the count,
the rate in faults per second, the elapsed time and the ETA; elsewhere (a pipe, a test)
it prints one line every `quiet_every` seconds, so logs show progress without a bar.
"""

import sys
import time


class Progress:
    def __init__(self, total, done=0, enabled=None, quiet_every=30.0, stream=None):
        self.total = total
        self.done = done
        self.start_done = done
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.quiet_every = quiet_every
        self.started = self.last_line = time.monotonic()
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar,
                                       TaskProgressColumn, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)
            self._progress = Bar(TextColumn("faults"), BarColumn(), MofNCompleteColumn(),
                                 TaskProgressColumn(),
                                 TextColumn("{task.fields[rate]:>9} faults/s"),
                                 TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(),
                                 console=Console(file=self.stream), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("inject", total=self.total,
                                                 completed=self.done, rate="-")
        return self

    def advance(self, faults):
        self.done += faults
        now = time.monotonic()
        rate = (self.done - self.start_done) / max(now - self.started, 1e-9)
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, rate=f"{rate:,.0f}")
        elif now - self.last_line >= self.quiet_every:
            self.last_line = now
            left = (self.total - self.done) / rate if rate else 0
            self.stream.write(f"emu inject: {self.done:,}/{self.total:,} faults, "
                              f"{rate:,.0f} faults/s, ETA {left:,.0f} s\n")
            self.stream.flush()

    def rate(self):
        return (self.done - self.start_done) / max(time.monotonic() - self.started, 1e-9)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False
