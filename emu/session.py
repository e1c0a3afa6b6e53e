"""A boot of an image: machine, kernel and run loop put together, for every front end.

Contract: `Session(image, options)` (streams for the trace and the printer may be passed
in instead of files) builds the machine (printer file, console streams, the disk) and
the kernel, gives the kernel the image's programs and starts them in slots 0.. in image
order, generation 0, except that when the image has a program labelled `init`, the
other user programs are not started (PM starts them; their slots stay free).  The disk
is the file `options.disk`, by default `disk.img` next to the image (what `emu build`
writes); without that default file the machine has no disk.  `run()` runs to one of
the ends of the options and returns the end reason (see `kernel.run`); `close()`
flushes the printer and the trace and writes the disk back.  The CLI, the benchmarks,
the tests, the debugger and the fault injector all boot through here, so a run is the
same whichever started it.
"""

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from emu.devices.disk import Disk
from emu.machine import Machine
from kernel.kernel import Kernel
from kernel.run import RunLimits, run


@dataclass
class BootOptions:
    printer: Path | None = Path("build/printer.out")
    disk: Path | None = None              # None: disk.img next to the image, if any
    trace: Path | None = None
    input_bytes: bytes = b""
    interactive: object = None            # a terminal to poll for console input
    max_ticks: int | None = None
    until_exit: str | None = None
    until_idle: bool = False
    seed: int = 0
    console: object = field(default=None)   # binary stream; stdout when None
    log: object = field(default=None)       # text stream for DIAGCTL; stderr when None


class Session:
    """One boot of one image."""

    def __init__(self, image, options=None, trace_stream=None, printer_stream=None):
        self.image = image
        self.options = options = options or BootOptions()
        disk = _disk(image, options.disk)
        self._files = []
        printer = printer_stream
        if printer is None:
            printer = self._open(options.printer) if options.printer else io.BytesIO()
        self.printer_stream = printer
        console = options.console if options.console is not None else sys.stdout.buffer
        self.trace_stream = trace_stream
        if trace_stream is None and options.trace is not None:
            self.trace_stream = self._open(options.trace, text=True)
        self.machine = Machine(printer, console, options.input_bytes, options.interactive,
                               disk)
        log = options.log if options.log is not None else sys.stderr
        self.kernel = Kernel(self.machine, self.trace_stream, log)
        # the ELFs as the image read them (parsed and checked once, shared read-only)
        self.programs = [p.loaded for p in image.programs]
        self.kernel.load_image([(p.policy, loaded)
                                for p, loaded in zip(image.programs, self.programs)])
        has_init = "init" in self.kernel.labels
        for program, loaded in zip(image.programs, self.programs):
            policy = program.policy
            if has_init and policy.kind == "user" and policy.label != "init":
                continue
            self.kernel.start_process(program.index, policy, loaded, slot=program.index)

    def _open(self, path, text=False):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "w" if text else "wb")
        self._files.append(stream)
        return stream

    def run(self):
        options = self.options
        limits = RunLimits(options.max_ticks, options.until_exit, options.until_idle)
        return run(self.kernel, limits)

    def close(self):
        self.machine.close()
        console = self.machine.console
        if console.output is not None:
            try:
                console.output.flush()
            except OSError:
                console.output_lost = True
        for stream in self._files:
            stream.close()
        self._files = []


def _disk(image, path):
    """The disk of a boot: the file `path` (it must exist), else the image's disk.img."""
    if path is None:
        path = Path(image.path).parent / "disk.img"
        if not path.is_file():
            return None
    path = Path(path)
    return Disk(path.read_bytes(), path)
