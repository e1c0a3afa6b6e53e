"""Booting the system under fuzz: the first boot, the warm reboot, a fuzzer's restart.

Contract: `first_boot(trace)` builds the image (`programs.build_image`) and boots it
with every stream (console, printer, log, and the trace unless `trace` is false) going
to `SINK`, which forgets what it is given.  `warm_reboot(session)` boots the session
again, as `Session` boots but without making CPUs: a fresh machine (fresh devices) that
is given the CPUs of the old one, a fresh kernel, and every program started again in its
slot, generation 0 (its CPU reloaded from its ELF).  `restart(session, proc)` kills
`proc` if it lives and starts its program again in its slot, a new generation (as RS
would).  Neither wraps the new processes' traps: that is the caller's.
"""

from emu.machine import Machine
from emu.session import BootOptions, Session
from kernel.kernel import Kernel
from tools.fuzz.programs import INDEX, build_image


class _Null:
    """A stream that forgets what it is given (console, printer, log, trace)."""

    def write(self, data):
        return len(data)

    def flush(self):
        pass


SINK = _Null()


def first_boot(trace):
    options = BootOptions(printer=None, console=SINK, log=SINK)
    return Session(build_image(), options, trace_stream=SINK if trace else None,
                   printer_stream=SINK)


def warm_reboot(session):
    machine = Machine(SINK, SINK)
    for proc in session.kernel.table.procs:
        if proc.cpu is not None:
            machine.release(proc.index, proc.cpu)
    kernel = Kernel(machine, session.trace_stream, SINK)
    programs = list(zip(session.image.programs, session.programs))
    kernel.load_image([(program.policy, loaded) for program, loaded in programs])
    session.machine, session.kernel = machine, kernel
    for program, loaded in programs:
        kernel.start_process(program.index, program.policy, loaded, slot=program.index)


def restart(session, proc):
    kernel = session.kernel
    if proc.alive:
        kernel.end_process(proc, "kill", by="fuzz")
    index = INDEX[proc.label]
    program = session.image.programs[index]
    kernel.start_process(index, program.policy, session.programs[index], slot=index)
