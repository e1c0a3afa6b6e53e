"""`emu debug IMAGE [-x SCRIPT]`: the built-in debugger on a boot of an image.

Contract: boots the image as `emu boot` does (the same options: the console is stdout,
console input only from `--input`, since stdin carries the commands), stopped before
its first instruction, and reads commands: first the lines of `-x SCRIPT`, then stdin
(with line editing and history, `~/.emu_debug_history`, on a terminal; else each
command is echoed after the prompt, so a transcript reads like a session), until
`quit` or the end of the input.  Exit status 0, 1 when the run ended in a kernel panic,
2 (BadInput) for a bad image, script or option.
"""

import os
import sys
from pathlib import Path

HELP = "the built-in debugger: IPC catches, breakpoints, the kernel's verdicts"
PROMPT = "(emu) "
HISTORY = "~/.emu_debug_history"


def add_arguments(parser):
    parser.add_argument("image")
    parser.add_argument("-x", metavar="SCRIPT", dest="script",
                        help="run the commands of SCRIPT first")
    parser.add_argument("--input", metavar="FILE", help="console input for the guest")
    parser.add_argument("--printer", metavar="FILE", default="build/printer.out",
                        help="the printer's output file")
    parser.add_argument("--disk", metavar="FILE", help="the disk's file")
    parser.add_argument("--trace", metavar="FILE", help="also write the IPC trace")
    parser.add_argument("--max-ticks", type=int, metavar="N", help="end after N ticks")
    parser.add_argument("--until-exit", metavar="LABEL", help="end when LABEL exits")
    parser.add_argument("--until-idle", action="store_true", help="end when idle")
    parser.add_argument("--seed", type=int, default=0, help="the seed of random choices")


def run(args, BadInput):
    from emu.debug.console import Console
    from emu.debug.core import Debugger
    script = []
    if args.script is not None:
        try:
            script = Path(args.script).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise BadInput(f"emu debug: {args.script}: {getattr(error, 'strerror', error)}") \
                from None
    if args.max_ticks is not None and args.max_ticks <= 0:
        raise BadInput(f"emu debug: --max-ticks: must be positive: {args.max_ticks}")
    session = open_session(args, BadInput)
    debugger = Debugger(session).attach()
    console = Console(debugger, sys.stdout)
    interactive = sys.stdin is not None and sys.stdin.isatty()
    try:
        _loop(console, script, interactive)
    finally:
        session.close()
    return 1 if debugger.end == "panic" else 0


def open_session(args, BadInput):
    """Boot the image of `args` as `emu boot` would, without running it."""
    from emu.session import BootOptions, Session
    from tools.image import ImageError, read_image
    try:
        image = read_image(Path(args.image))
    except ImageError as error:
        raise BadInput(str(error)) from None
    input_bytes = b""
    if args.input is not None:
        try:
            input_bytes = Path(args.input).read_bytes()
        except OSError as error:
            raise BadInput(f"emu: {args.input}: {error.strerror}") from None
    if args.until_exit is not None and args.until_exit not in {
            p.policy.label for p in image.programs}:
        raise BadInput(f"emu: --until-exit: no program '{args.until_exit}' in {args.image}")
    options = BootOptions(printer=Path(args.printer),
                          disk=Path(args.disk) if args.disk else None,
                          trace=Path(args.trace) if args.trace else None,
                          input_bytes=input_bytes, max_ticks=args.max_ticks,
                          until_exit=args.until_exit, until_idle=args.until_idle,
                          seed=args.seed)
    try:
        return Session(image, options)
    except OSError as error:
        raise BadInput(f"emu: {error.filename or ''}: {error.strerror}") from None


def _loop(console, script, interactive):
    for line in script:
        console.say(PROMPT + line)
        if not console.execute(line):
            return
    if interactive:
        _readline()
    while True:
        try:
            if interactive:
                line = input(PROMPT)
            else:
                line = sys.stdin.readline() if sys.stdin is not None else ""
                if not line:
                    return
                console.say(PROMPT + line.rstrip("\n"))
        except EOFError:
            return
        except KeyboardInterrupt:
            console.say("")
            continue
        if not console.execute(line):
            return


def _readline():
    try:
        import readline
    except ImportError:
        return
    path = os.path.expanduser(HISTORY)
    try:
        readline.read_history_file(path)
    except OSError:
        pass
    import atexit
    atexit.register(_save_history, readline, path)


def _save_history(readline, path):
    try:
        readline.set_history_length(1000)
        readline.write_history_file(path)
    except OSError:
        pass
