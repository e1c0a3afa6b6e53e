"""`emu gdbinit IMAGE`: the gdb script for debugging a boot of IMAGE through the stub.

Contract: writes (to `-o FILE`, else stdout) the commands gdb needs for this target:
i386 with GNU/Linux's ABI (for `catch syscall`, whose numbers are our primitives, shown
under Linux's names), `set schedule-multiple on` (a `continue` resumes every process),
`set remotetimeout 10` (a trap can take a while), and `target extended-remote` to the
stub's port on 127.0.0.1.  Boot with `emu boot IMAGE --gdb PORT --wait`, then `gdb -x
FILE`.  A missing or malformed image is bad input.
"""

import sys
from pathlib import Path

HELP = "write the gdb script for debugging IMAGE through `emu boot --gdb PORT`"
DEFAULT_PORT = 1234


def add_arguments(parser):
    parser.add_argument("image")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"the stub's port (default {DEFAULT_PORT})")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here, not to stdout")


def script(image_path, labels, port):
    lines = [
        f"# gdb script for {image_path}, written by `emu gdbinit`.",
        f"# Boot:  emu boot {image_path} --gdb {port} --wait     then: gdb -x THIS_FILE",
        "# Every process is an inferior (pid = slot + 1): " + ", ".join(
            f"{label} {i + 1}" for i, label in enumerate(labels)),
        "# `catch syscall N` stops at IPC primitive N (3 = SENDREC, shown as Linux's name);",
        "# `monitor ps`, `monitor msg ADDR`, `monitor trace`, `monitor verdict`.",
        "set pagination off",
        "set architecture i386",
        "set osabi GNU/Linux",
        "set schedule-multiple on",
        "set remotetimeout 10",
        f"target extended-remote 127.0.0.1:{port}",
    ]
    return "\n".join(lines) + "\n"


def run(args, BadInput):
    from tools.image import ImageError, read_image
    try:
        image = read_image(Path(args.image))
    except ImageError as error:
        raise BadInput(str(error)) from None
    if not 0 < args.port < 65536:
        raise BadInput(f"emu gdbinit: --port: not a TCP port: {args.port}")
    text = script(args.image, [p.policy.label for p in image.programs], args.port)
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as error:
            raise BadInput(f"emu gdbinit: {args.output}: {error.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0
