"""Workloads and health checks of fault-injection campaigns, per target driver.

Contract: a `Profile` says how a campaign keeps its target busy and how it checks,
after the faults, that the system serves a fresh request correctly.  Both are lines
typed on the console of an image whose `init` runs a shell (the stock OS): `workload`
is one round of the work (fed again whenever the console has taken all its input, so
the target stays busy while faults go in), `health` is the fresh request, typed once
the faults are over and the target has been restarted; `output` names where a round
prints (the printer or the console): wrong output is judged there.  `PROFILES` is the table, by
target label; `--workload NAME` picks another entry.  Adding a driver to campaigns is
one line here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    workload: bytes        # console input of one round of the workload
    health: bytes          # console input of the health check (a fresh request)
    what: str              # one line for the report
    output: str = "printer"    # where the workload's rounds print: "printer", "console"


PROFILES = {
    # the seed's target: print jobs (the test page) through VFS and the printer driver
    "printer": Profile("printer", b"lp\n", b"lp\n", "print jobs of the test page (lp)"),
    # the console driver: files to the console
    "tty": Profile("tty", b"cat notes.txt\n", b"cat motd\n", "files to the console (cat)",
                   "console"),
    # the disk driver: files written, read back and compared
    "disk": Profile("disk", b"cp notes.txt copy\n", b"cat notes.txt\n",
                    "file copies and reads (cp, cat)", "console"),
    # the stock OS's campaign program: files and printing, every driver at once
    "workload": Profile("workload", b"workload 1\n", b"lp\n",
                        "the workload program: files and printing"),
}


def profile_for(target, name=None):
    """The profile named `name`, else the one of the target's label; None if neither."""
    return PROFILES.get(name or target)
