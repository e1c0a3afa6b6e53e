"""`emu fuzz`: the command: its options, the run, the report.

Contract: `add_arguments(parser)` declares `--traps N` (default 100000), `--seed S`,
`--no-trace` and `--quiet`; `run(args, BadInput)` makes the run (`driver.fuzz`), prints
progress lines on stderr every 5 seconds unless `--quiet`, then the report on stdout:
the counts (traps, seconds, panics, violations, restarts, reboots), the outcomes of the
fuzzed traps by call, and the first 20 findings, each with its registers, its case and
the command that reproduces it.  Exit status 0 when nothing was found, 1 otherwise (as
for a panic); `--traps` not positive raises `BadInput`.
"""

import os
import sys

from tools.fuzz.driver import fuzz

HELP = "fuzz the IPC trap and the kernel calls, checking the kernel's invariants"
MAX_FINDINGS_SHOWN = 20


def add_arguments(parser):
    parser.add_argument("--traps", type=int, default=100_000, metavar="N",
                        help="fuzzed traps to make (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="the seed of every choice")
    parser.add_argument("--no-trace", action="store_true",
                        help="run with the kernel's trace off (faster)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args, BadInput):
    if args.traps <= 0:
        raise BadInput(f"emu fuzz: --traps must be positive: {args.traps}")

    def progress(system, seconds):
        print(f"emu fuzz: {system.traps} traps, {system.traps / seconds:,.0f}/s, "
              f"{len(system.findings)} findings", file=sys.stderr)
    system, seconds = fuzz(args.traps, args.seed, not args.no_trace,
                           None if args.quiet else progress)
    write_lines(report(system, seconds, args.seed))
    return 1 if system.findings else 0


def report(system, seconds, seed):
    """The report of a run, as lines."""
    panics = sum(f.kind == "panic" for f in system.findings)
    lines = [f"traps        {system.traps}", f"seconds      {seconds:.1f}",
             f"traps/s      {system.traps / seconds:,.0f}", f"panics       {panics}",
             f"violations   {len(system.findings) - panics}",
             f"restarts     {system.restarts} (fuzzers blocked for good, or exited)",
             f"reboots      {system.reboots}",
             "outcomes of the fuzzed traps (call: result count, ...):"]
    calls = {}
    for (call, result), count in system.outcomes.items():
        calls.setdefault(call, []).append(f"{result} {count}")
    lines += [f"  {call + ':':<18} " + ", ".join(sorted(calls[call])) for call in sorted(calls)]
    for finding in system.findings[:MAX_FINDINGS_SHOWN]:
        registers = ""
        if finding.registers:
            ecx, eax, ebx = finding.registers
            registers = f" ecx={ecx:#x} eax={eax:#x} ebx={ebx:#x}"
        lines += [f"{finding.kind.upper()} at trap {finding.trap} in {finding.proc}:"
                  f"{registers} {finding.text}", f"  case: {finding.case}",
                  f"  reproduce: emu fuzz --seed {seed} --traps {finding.trap}"]
    return lines


def write_lines(lines):
    """Print the report; a reader that stops early (`| head`) is no error."""
    try:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")
