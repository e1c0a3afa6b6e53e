"""A GDB remote stub for the machine (SPEC section 9): every process a gdb inferior.

`wire` is the protocol on the wire (framing, checksums, escapes, acks) and knows no
command; `packets` answers each command over a `target.GdbTarget`, gdb's view of the
debugging core (`emu.debug.core`); `regs`, `hostio` (the ELF files, served from the
image) and `monitor` (`qRcmd`) serve their packets; `server` owns the socket and the
boot's run; `gdbinit` writes the gdb script for a target (`emu gdbinit`).
"""
