"""Debugging the machine: one core (`core.Debugger`) under two front ends.

- `core`: breakpoints (`breakpoints`: int3 patches or one-address code hooks), IPC
  catches at trap entry and return (`catches`), stepping, stops, and a record of every
  trap with the kernel's verdict (`traps`, `recorder`: the trace events of its handling).
- The built-in debugger, `emu debug IMAGE [-x SCRIPT]`: `cli` (the command line),
  `console` (its session), `commands` (one function per command), and the text views
  shared with gdb's `monitor` commands: `verdict`, `messages`, `views`, `places`.
- The GDB stub over the same core lives in `tools/gdbstub/`.
"""
