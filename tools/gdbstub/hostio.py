"""gdb's host I/O (`vFile:`) over the image: each program's ELF, served from memory.

Contract: `exec_path(image, index)` is the path the stub gives gdb for program `index`
(`qXfer:exec-file:read`): `build/guest/<label>.elf` next to the image when that file
holds the very bytes of the image's ELF (so a local `set sysroot` works too), else
`/minix-emu/<label>.elf`.  gdb's default sysroot `target:` reads it through `vFile:`
packets, which `HostIO.handle(text)` answers from the image's ELF bytes: `setfs`,
`open` (read-only), `pread`, `fstat`, `close`; writing, deleting and any other file
is refused with a gdb errno (`F-1,errno`).  Replies are bytes (binary data escaped).
"""

import hashlib
import os
import struct
from pathlib import Path

from tools.gdbstub.wire import escape

ENOENT, EBADF, EACCES, EINVAL, EMFILE = 2, 9, 13, 22, 24
O_ACCMODE = 3
S_IFREG = 0o100000
MAX_FILES = 1024                # open files at once (gdb keeps its ELF files open)


def exec_path(image, index):
    program = image.programs[index]
    label = program.policy.label
    local = Path(image.path).resolve().parent / "guest" / f"{label}.elf"
    try:
        if hashlib.sha256(local.read_bytes()).digest() == hashlib.sha256(program.elf).digest():
            return str(local)
    except OSError:
        pass
    return f"/minix-emu/{label}.elf"


class HostIO:
    def __init__(self, image, paths):
        self.image = image
        self.by_path = {path: index for index, path in enumerate(paths)}
        self.by_name = {os.path.basename(path): index for index, path in enumerate(paths)}
        self.files = {}                 # fd -> program index

    def handle(self, text):
        name, _, args = text.partition(":")
        handler = getattr(self, "_" + name, None) if name in _CALLS else None
        if handler is None:
            return b""
        try:
            return handler(args)
        except (ValueError, IndexError, UnicodeDecodeError):
            return _error(EINVAL)

    def _setfs(self, args):
        return b"F0"

    def _open(self, args):
        path_hex, flags, _ = args.split(",")
        path = bytes.fromhex(path_hex).decode()
        if path.startswith("target:"):
            path = path[len("target:"):]
        if int(flags, 16) & O_ACCMODE:
            return _error(EACCES)
        index = self.by_path.get(path, self.by_name.get(os.path.basename(path)))
        if index is None or not path.endswith(".elf"):
            return _error(ENOENT)
        if len(self.files) >= MAX_FILES:
            return _error(EMFILE)
        fd = next(n for n in range(3, 3 + MAX_FILES + 1) if n not in self.files)
        self.files[fd] = index
        return b"F%x" % fd

    def _pread(self, args):
        fd, count, offset = (int(x, 16) for x in args.split(","))
        if fd not in self.files:
            return _error(EBADF)
        data = self.image.programs[self.files[fd]].elf[offset:offset + min(count, 0x3000)]
        return b"F%x;" % len(data) + escape(data)

    def _fstat(self, args):
        fd = int(args, 16)
        if fd not in self.files:
            return _error(EBADF)
        size = len(self.image.programs[self.files[fd]].elf)
        stat = struct.pack(">7IQQQ3I", 0, fd, S_IFREG | 0o444, 1, 0, 0, 0, size, 4096,
                           (size + 511) // 512, 0, 0, 0)
        return b"F%x;" % len(stat) + escape(stat)

    def _close(self, args):
        if self.files.pop(int(args, 16), None) is None:
            return _error(EBADF)
        return b"F0"

    def _pwrite(self, args):
        return _error(EACCES)

    def _unlink(self, args):
        return _error(EACCES)

    def _readlink(self, args):
        return _error(ENOENT)


_CALLS = frozenset(("setfs", "open", "pread", "fstat", "close", "pwrite", "unlink",
                    "readlink"))


def _error(errno):
    return b"F-1,%x" % errno
