"""The `emu` command line (SPEC section 7): build, boot, bench, and the commands of the
tools registered in COMMAND_MODULES.

Contract: `main(argv)` returns the exit status: 0 when the command did its work (a boot
that ended in any of its requested ways included), 1 on a kernel panic, 2 on bad input
of any kind (missing file, bad image, bad TOML, bad assembly, bad flag), always with one
line on stderr and never a traceback.
"""

import argparse
import importlib
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_PANIC = 1
EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """Bad input: its text is the one line the user sees."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise BadInput(f"{self.prog}: {message}")


def _parser():
    parser = _Parser(prog="emu", description="minix-emu: a MINIX 3 style multiserver OS "
                     "on an emulated i386, built to study IPC threats")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    build = commands.add_parser("build", help="assemble the programs and write the boot image")
    build.add_argument("--system", default="guest/system.toml", help="the system policy")
    build.add_argument("-o", "--output", default="build/minix.img", help="the boot image")

    boot = commands.add_parser("boot", help="boot an image and run it")
    boot.add_argument("image")
    boot.add_argument("--until-idle", action="store_true",
                      help="end when no process can run and no alarm is due")
    boot.add_argument("--until-exit", metavar="LABEL", help="end when this process exits")
    boot.add_argument("--max-ticks", type=_positive_int, metavar="N",
                      help="end after N clock ticks of virtual time")
    boot.add_argument("--trace", metavar="FILE", help="write the IPC trace (JSON lines)")
    boot.add_argument("--printer", metavar="FILE", default="build/printer.out",
                      help="the printer's output file")
    boot.add_argument("--disk", metavar="FILE",
                      help="the disk's file (default: disk.img next to the image)")
    boot.add_argument("--input", metavar="FILE", help="console input")
    boot.add_argument("--seed", type=int, default=0, help="the seed of every random choice")
    boot.add_argument("--gdb", type=_port, metavar="PORT",
                      help="serve gdb on 127.0.0.1:PORT (0: any free port)")
    boot.add_argument("--wait", action="store_true",
                      help="with --gdb: stay stopped until gdb connects")

    bench = commands.add_parser("bench", help="benchmarks against bare Unicorn")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench.add_argument("--quick", action="store_true", help="short runs (for tests)")

    for name, module_name in COMMAND_MODULES.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.HELP)
        module.add_arguments(sub)
    return parser


def _positive_int(text):
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _port(text):
    value = _positive_int(text) if text != "0" else 0
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text}")
    return value


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = _parser().parse_args(argv)
        return COMMANDS.get(args.command, _dispatch)(args)
    except BadInput as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("emu: interrupted", file=sys.stderr)
        return 130


def cmd_build(args):
    from tools.build import BuildError, build_image
    output = Path(args.output)
    try:
        build_image(Path(args.system), output, output.parent)
    except BuildError as error:
        raise BadInput(str(error)) from None
    print(f"emu: wrote {output}", file=sys.stderr)
    return EXIT_OK


def cmd_boot(args):
    from emu.boot import boot_from_args
    return boot_from_args(args, BadInput)


def cmd_bench(args):
    from tools.bench import run_benchmarks
    return run_benchmarks(quick=args.quick, json_path=args.json)


COMMANDS = {"build": cmd_build, "boot": cmd_boot, "bench": cmd_bench}

# Commands that live with their tools: each module has HELP, add_arguments(parser) and
# run(args, BadInput) -> exit status.
COMMAND_MODULES = {"trace": "tools.trace.command", "fuzz": "tools.fuzz",
                   "policy": "tools.policy_suggest", "debug": "emu.debug.cli",
                   "gdbinit": "tools.gdbstub.gdbinit", "inject": "tools.inject.campaign",
                   "report": "tools.inject.report", "replay": "tools.inject.replay"}


def _dispatch(args):
    module = importlib.import_module(COMMAND_MODULES[args.command])
    return module.run(args, BadInput)


if __name__ == "__main__":
    sys.exit(main())
