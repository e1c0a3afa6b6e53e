"""The host terminal while a boot reads from it: the guest's tty driver echoes what is
typed, as a terminal does, so the host terminal's own echo is switched off for the run
(line editing and Ctrl-D stay the host's) and restored afterwards, whatever happens.

Contract: `no_echo(stream)` is a context manager; it does nothing when `stream` is None
or not a terminal.
"""

import contextlib
import termios


@contextlib.contextmanager
def no_echo(stream):
    if stream is None or not stream.isatty():
        yield
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
