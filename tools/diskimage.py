"""The disk image: our file system (docs/OS.md; FS_* of kernel.protocols) in a disk file.

Layout: FS_DISK_SECTORS sectors of SECTOR_SIZE bytes.  Sector 0 is the directory:
FS_MAGIC (int32, little-endian) at FS_MAGIC_OFFSET, zeros up to FS_ENTRIES_OFFSET, then
FS_MAX_FILES entries of FS_ENTRY_SIZE bytes: the name (FS_NAME_MAX bytes at most,
NUL-padded; empty = a free entry), the size in bytes (int32 at FS_SIZE) and the first
sector of the entry's extent (int32 at FS_START).  Entry k's extent is the
FS_FILE_SECTORS sectors from FS_FIRST_SECTOR + k * FS_FILE_SECTORS, and every entry,
free ones too, names its start, so a file system server creates a file by filling in
a name and a size.  Unused bytes are zeros.

Contract: `make_disk(files, origin)` is the image of `files` ((name, bytes) pairs, in
entry order; `origin` names their folder in errors); `files_of(folder)` reads the files
of a folder (none if it does not exist), sorted by name, skipping hidden files (names
starting with "."); `write_disk(folder, path)` writes the image of a folder's files;
`read_files(image)` gives the files of an image back as a dict.  A file the file system
cannot hold (a sub-folder, a name too long or not printable ASCII without spaces, more
than FS_FILE_SECTORS sectors, more than FS_MAX_FILES files) or an unreadable image
raises `DiskImageError`, whose str is one line naming the file.
"""

import struct
from pathlib import Path

from kernel.protocols import (FS_DISK_SECTORS, FS_ENTRIES_OFFSET, FS_ENTRY_SIZE,
                              FS_FILE_SECTORS, FS_FIRST_SECTOR, FS_MAGIC, FS_MAGIC_OFFSET,
                              FS_MAX_FILES, FS_NAME, FS_NAME_MAX, FS_SIZE, FS_START,
                              SECTOR_SIZE)

FILE_MAX = FS_FILE_SECTORS * SECTOR_SIZE
_WORD = struct.Struct("<I")


class DiskImageError(Exception):
    """Files that do not fit the file system, or a bad image; str is one line."""


def extent_start(entry):
    """The first sector of directory entry `entry`'s extent."""
    return FS_FIRST_SECTOR + entry * FS_FILE_SECTORS


def make_disk(files, origin="files") -> bytes:
    files = list(files)
    if len(files) > FS_MAX_FILES:
        raise DiskImageError(f"{origin}: {len(files)} files: the file system holds "
                             f"{FS_MAX_FILES}")
    image = bytearray(FS_DISK_SECTORS * SECTOR_SIZE)
    _WORD.pack_into(image, FS_MAGIC_OFFSET, FS_MAGIC)
    for entry in range(FS_MAX_FILES):
        _WORD.pack_into(image, FS_ENTRIES_OFFSET + entry * FS_ENTRY_SIZE + FS_START,
                        extent_start(entry))
    for entry, (name, data) in enumerate(files):
        encoded = _name(name, f"{origin}/{name}")
        if len(data) > FILE_MAX:
            raise DiskImageError(f"{origin}/{name}: {len(data)} bytes: a file holds "
                                 f"{FILE_MAX}")
        at = FS_ENTRIES_OFFSET + entry * FS_ENTRY_SIZE
        image[at + FS_NAME:at + FS_NAME + len(encoded)] = encoded
        _WORD.pack_into(image, at + FS_SIZE, len(data))
        start = extent_start(entry) * SECTOR_SIZE
        image[start:start + len(data)] = data
    return bytes(image)


def _name(name, where):
    try:
        encoded = name.encode("ascii")
    except UnicodeEncodeError:
        encoded = b""
    if not encoded or not all(0x21 <= byte < 0x7F for byte in encoded):
        raise DiskImageError(f"{where}: a file name is printable ASCII without spaces")
    if len(encoded) > FS_NAME_MAX:
        raise DiskImageError(f"{where}: a file name has at most {FS_NAME_MAX} characters")
    return encoded


def files_of(folder):
    folder = Path(folder)
    if not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            continue
        if not path.is_file():
            raise DiskImageError(f"{path}: not a plain file (the file system has no folders)")
        try:
            files.append((path.name, path.read_bytes()))
        except OSError as error:
            raise DiskImageError(f"{path}: cannot read: {error.strerror or error}") from None
    return files


def write_disk(folder, path):
    Path(path).write_bytes(make_disk(files_of(folder), folder))


def read_files(image) -> dict:
    if len(image) < SECTOR_SIZE or _WORD.unpack_from(image, FS_MAGIC_OFFSET)[0] != FS_MAGIC:
        raise DiskImageError("not a file system: no FS_MAGIC in sector 0")
    files = {}
    for entry in range(FS_MAX_FILES):
        at = FS_ENTRIES_OFFSET + entry * FS_ENTRY_SIZE
        name = bytes(image[at + FS_NAME:at + FS_NAME + FS_NAME_MAX + 1]).split(b"\0", 1)[0]
        if not name:
            continue
        size = _WORD.unpack_from(image, at + FS_SIZE)[0]
        start = _WORD.unpack_from(image, at + FS_START)[0] * SECTOR_SIZE
        if size > FILE_MAX or start + size > len(image):
            raise DiskImageError(f"{name.decode('latin-1')}: entry {entry} out of the disk")
        files[name.decode("latin-1")] = bytes(image[start:start + size])
    return files
