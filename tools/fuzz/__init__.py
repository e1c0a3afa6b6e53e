"""`emu fuzz`: a property-based fuzz of the IPC trap and of the kernel calls.

Two untrusted fuzzers make traps with drawn registers, messages, ASEND tables and
kernel-call payloads through the real trap path, next to a server, a sink, processes
blocked in each IPC state, a client that keeps asking the server, and an outsider no
fuzzer may reach; the kernel's invariants are checked after every trap and every step.

  programs  the system under fuzz: guest programs, policies, system.toml
  cases     case generation: symbolic cases drawn from a seed (`draw_case`)
  inject    a fuzzer's next case, resolved and written where its program reads it
  layout    where the regions, buffers and watched ranges are in the windows
  trap      the trap wrapper: inject, call the kernel, check
  state     invariant: a denied trap leaves the kernel's state unchanged (`fingerprint`)
  memory    invariant: a trap writes other processes only where delivery or grants may
  table     invariant: the process table, queues, IRQ lines and alarms are consistent
  service   invariant: the client is served, the outsider untouched
  boot      the first boot, the warm reboot, a fuzzer's restart
  system    `FuzzSystem`: the coordinator, one step (a clock tick) at a time
  driver    `fuzz()`: a seeded run of N traps
  command   the CLI's `emu fuzz`: HELP, add_arguments, run
  words     32-bit words: MASK, signed

The package exports the command (`HELP`, `add_arguments`, `run`) and `fuzz`.
"""

from tools.fuzz.command import HELP, add_arguments, run
from tools.fuzz.driver import fuzz

__all__ = ["HELP", "add_arguments", "run", "fuzz"]
