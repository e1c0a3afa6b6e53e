"""`emu boot`: read the image, boot it, run it, report how it ended.

Contract: `boot_from_args(args, BadInput)` returns the exit status (0 for any requested
end, 1 on a kernel panic) and raises `BadInput` for a missing or malformed image,
input file or disk file (`--disk`; by default the `disk.img` next to the image, if
there is one).  A panic prints what trap caused it and the command that reproduces it.
"""

import os
import sys
from pathlib import Path

from emu.session import BootOptions, Session
from emu.terminal import no_echo

EXIT_OK = 0
EXIT_PANIC = 1


def boot_from_args(args, BadInput):
    from tools.image import ImageError, read_image
    try:
        image = read_image(Path(args.image))
    except ImageError as error:
        raise BadInput(str(error)) from None
    input_bytes, interactive = _console_input(args.input, BadInput)
    options = BootOptions(printer=Path(args.printer), disk=_path(args.disk),
                          trace=_path(args.trace),
                          input_bytes=input_bytes, interactive=interactive,
                          max_ticks=args.max_ticks, until_exit=args.until_exit,
                          until_idle=args.until_idle, seed=args.seed)
    if getattr(args, "wait", False) and getattr(args, "gdb", None) is None:
        raise BadInput("emu: --wait needs --gdb PORT")
    if args.until_exit is not None and args.until_exit not in {
            p.policy.label for p in image.programs}:
        raise BadInput(f"emu: --until-exit: no program '{args.until_exit}' in {args.image}")
    try:
        session = Session(image, options)
    except OSError as error:
        raise BadInput(f"emu: {error.filename or ''}: {error.strerror}") from None
    try:
        with no_echo(interactive):
            end = _run(session, args)
    finally:
        session.close()
    if session.machine.console.output_lost:
        _quiet_stdout()
    if end == "panic":
        _report_panic(session.kernel.panic_report, args)
        return EXIT_PANIC
    if end == "idle" and not args.until_idle and args.until_exit is None:
        print("emu: the system is idle: no process can run and nothing is due",
              file=sys.stderr)
    return EXIT_OK


def _quiet_stdout():
    """The reader of stdout went away: point stdout at /dev/null so that Python's own
    flush at exit does not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _run(session, args):
    """Run the boot, under the GDB stub with `--gdb PORT` (tools.gdbstub)."""
    if getattr(args, "gdb", None) is None:
        return session.run()
    from tools.gdbstub.server import serve
    return serve(session, args.gdb, args.wait)


def _path(text):
    return Path(text) if text else None


def _console_input(path, BadInput):
    if path is not None:
        try:
            return Path(path).read_bytes(), None
        except OSError as error:
            raise BadInput(f"emu: {path}: {error.strerror}") from None
    stdin = sys.stdin
    if stdin is None:
        return b"", None
    try:
        if stdin.isatty():
            return b"", stdin
        return stdin.buffer.read(), None
    except (OSError, ValueError):
        return b"", None


def _report_panic(report, args):
    ticks = report["t"] // 10000 + 1
    regs = " ".join(f"{k}={v:08x}" for k, v in report["registers"].items())
    command = f"emu boot {args.image} --max-ticks {ticks} --seed {args.seed}"
    if args.input:
        command += f" --input {args.input}"
    if args.disk:
        command += f" --disk {args.disk}"
    lines = [
        f"emu: KERNEL PANIC in the trap of {report['proc']} (endpoint {report['ep']}) "
        f"at t={report['t']}: {report['error']} ({report['at']})",
        f"emu:   registers: {regs}",
        f"emu:   message at ebx: {report['message'] or '(not mapped)'}",
        f"emu:   reproduce with: {command}",
    ]
    print("\n".join(lines), file=sys.stderr)

