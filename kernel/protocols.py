"""The protocols of the stock servers and drivers: request types and their message fields.

Every request is a message; its M_TYPE is one of the request types below and the reply's
M_TYPE is the result (>= 0) or a negative error (SPEC section 5).  Users and servers call
by SENDREC.  Drivers answer VFS without ever blocking (NBSEND or ASEND), and VFS sends
them requests by ASEND or NBSEND (asymmetric trust).  These constants are exported to
the guest with those of `kernel.abi` (`guest/include/abi.inc`, generated).

Strings in messages (labels, paths, arguments) are inline, NUL-padded, in consecutive
payload words.
"""

from kernel import abi
from kernel.abi import END_FAULT, END_KILL, M_W0, M_W1, M_W2, M_W3, M_W4, M_W5, M_W8

# ---------------------------------------------------------------------------------------
# Character and block devices (drivers), served to VFS through grants
DEV_RQ_BASE = 0x400
DEV_READ = DEV_RQ_BASE + 3      # read into the grant
DEV_WRITE = DEV_RQ_BASE + 4     # a user's direct write with the data inline (no VFS)
CDEV_READ = DEV_RQ_BASE + 5     # character read: DEV_GRANT, DEV_BYTES, DEV_ID
CDEV_WRITE = DEV_RQ_BASE + 6    # character write: DEV_GRANT, DEV_BYTES, DEV_ID
BDEV_READ = DEV_RQ_BASE + 7     # block read: DEV_GRANT, DEV_BYTES, DEV_ID, DEV_BLOCK
BDEV_WRITE = DEV_RQ_BASE + 8    # block write: same
DEV_REPLY = DEV_RQ_BASE + 9     # a driver's answer to VFS: DEV_ID, DEV_RESULT
DEV_COUNT = M_W0                # DEV_WRITE: bytes, 1..DEV_INLINE_MAX
DEV_DATA = M_W1                 # DEV_WRITE: the bytes, packed from M_W1 on
DEV_INLINE_MAX = 40
DEV_GRANT = M_W0                # grant id in VFS's table
DEV_BYTES = M_W1                # bytes to move (block: a multiple of SECTOR_SIZE)
DEV_ID = M_W2                   # VFS's tag of the request, echoed in DEV_REPLY
DEV_BLOCK = M_W3                # block devices: first sector
DEV_RESULT = M_W1               # DEV_REPLY: bytes moved or a negative error
SECTOR_SIZE = 512

# Heartbeats: RS notifies a driver every `heartbeat` ticks; the driver notifies RS back.

# ---------------------------------------------------------------------------------------
# DS: the name server
DS_RQ_BASE = 0x0E00
DS_PUBLISH = DS_RQ_BASE + 1     # DS_LABEL, DS_ENDPOINT (RS only)
DS_LOOKUP = DS_RQ_BASE + 2      # DS_LABEL -> DS_ENDPOINT
DS_SUBSCRIBE = DS_RQ_BASE + 3   # DS_LABEL: a NOTIFY from DS at every change of it
DS_CHECK = DS_RQ_BASE + 4       # -> DS_LABEL, DS_ENDPOINT of a change not yet seen
DS_LABEL = M_W0                 # 16 bytes: M_W0..M_W3
DS_ENDPOINT = M_W4
DS_MAX_ENTRIES = 32
DS_MAX_SUBSCRIBERS = 16         # subscriptions in all
DS_SUB_MAX = 4                  # subscriptions per subscriber

# ---------------------------------------------------------------------------------------
# RS: the reincarnation server
RS_RQ_BASE = 0x0F00
RS_STATUS = RS_RQ_BASE + 1      # RS_LABEL -> RS_RESTARTS, RS_ENDPOINT of a driver
RS_LABEL = M_W0                 # 16 bytes: M_W0..M_W3
RS_ENDPOINT = M_W4
RS_RESTARTS = M_W5
RS_MISSED_BEATS = 2             # heartbeats missed before RS kills a driver
RS_BACKOFF_MAX_TICKS = 256

# ---------------------------------------------------------------------------------------
# PM: processes for users
PM_RQ_BASE = 0x0700
PM_EXIT = PM_RQ_BASE + 1        # PM_STATUS; no reply
PM_GETPID = PM_RQ_BASE + 2      # -> the caller's endpoint
PM_SPAWN = PM_RQ_BASE + 3       # PM_LABEL, PM_ARGS -> the child's endpoint
PM_WAIT = PM_RQ_BASE + 4        # PM_CHILD (or ANY) -> the exit status; PM_CHILD out
PM_STATUS = M_W0
PM_CHILD = M_W0
PM_END_HOW = M_W1               # PM_WAIT reply: END_EXIT, END_FAULT or END_KILL
PM_END_STATUS = M_W2            # PM_WAIT reply: the kernel's status
WAIT_FAULTED = 0x100 + END_FAULT  # PM_WAIT's result for a child that faulted
WAIT_KILLED = 0x100 + END_KILL  # ... and for a child killed by someone else
PM_LABEL = M_W0                 # 16 bytes: M_W0..M_W3
PM_ARGS = M_W4                  # NUL-terminated, at most PM_ARGS_MAX bytes: M_W4..M_W13
PM_ARGS_MAX = 39
PM_MAX_PROCS = 32
PM_CHILD_MAX = 8                # children per parent, alive or not yet waited for

# ---------------------------------------------------------------------------------------
# VFS: files and devices for users (user data moves by VIRCOPY)
VFS_RQ_BASE = 0x0800
VFS_OPEN = VFS_RQ_BASE + 1      # VFS_PATH, VFS_FLAGS -> fd
VFS_READ = VFS_RQ_BASE + 2      # VFS_FD, VFS_BUFFER, VFS_NBYTES -> bytes read
VFS_WRITE = VFS_RQ_BASE + 3     # VFS_FD, VFS_BUFFER, VFS_NBYTES -> bytes written
VFS_CLOSE = VFS_RQ_BASE + 4     # VFS_FD
VFS_UNLINK = VFS_RQ_BASE + 5    # VFS_PATH
VFS_PATH = M_W0                 # 32 bytes: M_W0..M_W7, NUL-terminated
VFS_FLAGS = M_W8
VFS_FD = M_W0
VFS_BUFFER = M_W1
VFS_NBYTES = M_W2
VFS_PATH_MAX = 31
VFS_IO_MAX = 4096               # bytes per READ or WRITE
VFS_MAX_FDS = 8                 # per process
O_RDONLY = 0
O_WRONLY = 1
O_RDWR = 2
O_ACCMODE = 3
O_CREAT = 0x40
O_TRUNC = 0x200
O_APPEND = 0x400

# The file system on the disk (our own, minimal): sector 0 is the directory
FS_MAGIC = 0x5346584D           # "MXFS"
FS_MAGIC_OFFSET = 0
FS_ENTRIES_OFFSET = 32          # then FS_MAX_FILES entries of FS_ENTRY_SIZE bytes
FS_ENTRY_SIZE = 32
FS_NAME = 0                     # within an entry: 24 bytes, NUL-padded (empty: free)
FS_SIZE = 24                    # bytes in the file
FS_START = 28                   # first sector of its extent
FS_NAME_MAX = 23
FS_MAX_FILES = 15
FS_FILE_SECTORS = 16            # every file has one extent of 16 sectors (8 KiB)
FS_FIRST_SECTOR = 1
FS_DISK_SECTORS = FS_FIRST_SECTOR + FS_MAX_FILES * FS_FILE_SECTORS

# Message fields by request type, for traces and the debugger
PROTOCOL_FIELDS = {
    DEV_WRITE: ("DEV_COUNT",) + tuple(f"DEV_DATA{i}" for i in range(10)),
    CDEV_READ: ("DEV_GRANT", "DEV_BYTES", "DEV_ID"),
    CDEV_WRITE: ("DEV_GRANT", "DEV_BYTES", "DEV_ID"),
    BDEV_READ: ("DEV_GRANT", "DEV_BYTES", "DEV_ID", "DEV_BLOCK"),
    BDEV_WRITE: ("DEV_GRANT", "DEV_BYTES", "DEV_ID", "DEV_BLOCK"),
    DEV_REPLY: ("DEV_W0", "DEV_RESULT", "DEV_ID"),
    DS_PUBLISH: ("DS_LABEL0", "DS_LABEL1", "DS_LABEL2", "DS_LABEL3", "DS_ENDPOINT"),
    DS_LOOKUP: ("DS_LABEL0", "DS_LABEL1", "DS_LABEL2", "DS_LABEL3", "DS_ENDPOINT"),
    DS_SUBSCRIBE: ("DS_LABEL0", "DS_LABEL1", "DS_LABEL2", "DS_LABEL3"),
    DS_CHECK: ("DS_LABEL0", "DS_LABEL1", "DS_LABEL2", "DS_LABEL3", "DS_ENDPOINT"),
    PM_EXIT: ("PM_STATUS",),
    PM_WAIT: ("PM_CHILD", "PM_END_HOW", "PM_END_STATUS"),
    VFS_OPEN: tuple(f"VFS_PATH{i}" for i in range(8)) + ("VFS_FLAGS",),
    VFS_READ: ("VFS_FD", "VFS_BUFFER", "VFS_NBYTES"),
    VFS_WRITE: ("VFS_FD", "VFS_BUFFER", "VFS_NBYTES"),
    VFS_CLOSE: ("VFS_FD",),
}

REQUEST_TYPES = ("DEV_READ", "DEV_WRITE", "CDEV_READ", "CDEV_WRITE", "BDEV_READ",
                 "BDEV_WRITE", "DEV_REPLY", "DS_PUBLISH", "DS_LOOKUP", "DS_SUBSCRIBE",
                 "DS_CHECK", "RS_STATUS", "PM_EXIT", "PM_GETPID", "PM_SPAWN", "PM_WAIT",
                 "VFS_OPEN", "VFS_READ", "VFS_WRITE", "VFS_CLOSE", "VFS_UNLINK")


def protocol_constants():
    """Every constant the guest sees from this module, as (name, value)."""
    return [(name, value) for name, value in globals().items()
            if name.isupper() and isinstance(value, int) and not isinstance(value, bool)
            and not hasattr(abi, name)]


def request_names():
    """M_TYPE value -> name for every request type defined here."""
    return {globals()[name]: name for name in REQUEST_TYPES}
