"""The ABI between the guest and the kernel: the one source of every shared number.

Everything a guest program, the kernel, the toolchain or a tool needs to agree on lives
here: the IPC trap, primitives and flags, endpoints, the message layout, error codes,
kernel-call numbers and their message fields, DEVIO / IRQ / grant / ASEND flags, the
address-space layout and virtual time.  `guest/include/abi.inc` is generated from this
module (`python -m tools.genabi`); a test fails when it is stale.

Only plain integer constants whose names are upper case are exported to the guest.
Tables (names of errors, message fields) are derived below for the kernel and tools.
"""

# ---------------------------------------------------------------------------------------
# The trap
IPC_VEC = 0x21                  # int 0x21; ecx = function, eax = endpoint, ebx = message

# Primitives (low 8 bits of ecx) and flags
SEND = 1
RECEIVE = 2
SENDREC = 3
NOTIFY = 4
NBSEND = 5
ASEND = 16
NONBLOCK = 0x100                # allowed on SEND (= NBSEND) and RECEIVE only
IPC_PRIMITIVE_MASK = 0xFF

# ---------------------------------------------------------------------------------------
# Endpoints: ENDPOINT(gen, slot) = gen * ENDPOINT_GEN_MUL + slot
NR_PROCS = 64                   # process slots 0..63
ENDPOINT_GEN_MUL = 1024         # endpoint = gen * 1024 + slot
MAX_GENERATION = 0x1FFFFF       # generations wrap back to 1 after this
HARDWARE = -1                   # source of interrupt notifications
SYSTEM = -2                     # kernel calls
CLOCK = -3                      # alarm notifications
NR_TASKS = 3                    # kernel tasks, numbered -NR_TASKS..-1
ANY = 0x7ACE                    # RECEIVE from anyone
NONE = 0x6ACE                   # no process
SELF = 0x8ACE                   # the caller (not an IPC endpoint)

# ---------------------------------------------------------------------------------------
# Messages: exactly MSG_SIZE bytes
MSG_SIZE = 64
M_SOURCE = 0                    # int32, written by the kernel on every delivery
M_TYPE = 4                      # int32
M_W0 = 8                        # payload words M_W0..M_W13 at 8 + 4k
M_W1 = 12
M_W2 = 16
M_W3 = 20
M_W4 = 24
M_W5 = 28
M_W6 = 32
M_W7 = 36
M_W8 = 40
M_W9 = 44
M_W10 = 48
M_W11 = 52
M_W12 = 56
M_W13 = 60
NR_PAYLOAD_WORDS = 14

# ---------------------------------------------------------------------------------------
# Error codes (MINIX 3, 2008).  OK = 0; every error is negative.
OK = 0
EPERM = -1
EIO = -5
EFAULT = -14
EINVAL = -22
ENOSYS = -38
ELOCKED = -101
EBADCALL = -102
EBADSRCDST = -103
ECALLDENIED = -104
EDEADSRCDST = -105
ENOTREADY = -106
EBADREQUEST = -107
ETRAPDENIED = -110

# ---------------------------------------------------------------------------------------
# Notifications: a message of this type, built by the kernel on delivery
NOTIFY_MESSAGE = 0x1000
NOTIFY_TICKS = M_W0             # virtual time of delivery, in clock ticks
NOTIFY_IRQS = M_W1              # from HARDWARE: the pending IRQ lines, bit n = IRQ n
NOTIFY_TIME_LO = M_W2           # virtual time of delivery, in instructions (low 32 bits)
NOTIFY_TIME_HI = M_W3           # ... (high 32 bits)

# ---------------------------------------------------------------------------------------
# ASEND: the table lives in the sender's memory, ASEND_ENTRY_SIZE bytes per entry
ASEND_MAX = 64                  # entries per table
AMF_VALID = 1                   # entry holds a message to send
AMF_DONE = 2                    # written by the kernel: delivered or failed, see result
AMF_NOTIFY = 4                  # notify the sender (from SYSTEM) when the entry is done
AMF_FLAGS_MASK = 7
ASEND_FLAGS = 0                 # offsets within an entry
ASEND_DST = 4
ASEND_RESULT = 8
ASEND_MSG = 12
ASEND_ENTRY_SIZE = 76

# ---------------------------------------------------------------------------------------
# Kernel calls: M_TYPE of a SENDREC to SYSTEM; the reply's M_TYPE is the result
KERNEL_CALL = 0x600
SYS_DEVIO = KERNEL_CALL + 0         # one port read or write
SYS_VDEVIO = KERNEL_CALL + 1        # up to VDEVIO_MAX port reads or writes
SYS_SDEVIO = KERNEL_CALL + 2        # string port I/O through a grant
SYS_IRQCTL = KERNEL_CALL + 3        # enable / disable / acknowledge an IRQ line
SYS_SETGRANT = KERNEL_CALL + 4      # register the caller's grant table
SYS_SAFECOPYFROM = KERNEL_CALL + 5  # copy from a granter into the caller
SYS_SAFECOPYTO = KERNEL_CALL + 6    # copy from the caller into a granter
SYS_VIRCOPY = KERNEL_CALL + 7       # copy between two processes (servers)
SYS_SETALARM = KERNEL_CALL + 8      # CLOCK notification after N ticks
SYS_TIMES = KERNEL_CALL + 9         # virtual time
SYS_DIAGCTL = KERNEL_CALL + 10      # a line to the kernel log
SYS_EXIT = KERNEL_CALL + 11         # end the caller
SYS_KILL = KERNEL_CALL + 12         # end another process
SYS_SPAWN = KERNEL_CALL + 13        # start a program of the image
SYS_GETINFO = KERNEL_CALL + 14      # process table
NR_SYS_CALLS = 15

# DEVIO: request = direction | size
DIO_INPUT = 1
DIO_OUTPUT = 2
DIO_DIR_MASK = 0x0F
DIO_BYTE = 0x10
DIO_WORD = 0x20
DIO_LONG = 0x30
DIO_SIZE_MASK = 0xF0
DIO_REQUEST = M_W0
DIO_PORT = M_W1
DIO_VALUE = M_W2

# VDEVIO: a vector of (port, value) int32 pairs in the caller's memory
VDEVIO_MAX = 16
VDIO_REQUEST = M_W0
VDIO_VEC_ADDR = M_W1
VDIO_VEC_COUNT = M_W2

# IRQCTL
IRQ_ENABLE = 1                  # route the line to the caller and unmask it
IRQ_DISABLE = 2                 # mask the line
IRQ_ACK = 3                     # unmask after handling (the kernel masks on delivery)
IRQ_REQUEST = M_W0
IRQ_LINE = M_W1
NR_IRQS = 16

# SETALARM / TIMES
ALARM_TICKS = M_W0              # in: ticks from now, 0 cancels; out: ticks that were left
T_TICKS = M_W0                  # out: uptime in ticks
T_TIME_LO = M_W1                # out: virtual time in instructions
T_TIME_HI = M_W2
T_USER_INSNS = M_W3             # out: instructions run by the caller (low 32 bits)

# DIAGCTL
DIAG_ADDR = M_W0                # the text, in the caller's memory
DIAG_LEN = M_W1
DIAG_MAX = 256

# EXIT
EXIT_STATUS = M_W0

# Grants (SETGRANT / SAFECOPY*): entry {flags, grantee, address, size}, 16 bytes
CPF_READ = 1
CPF_WRITE = 2
CPF_VALID = 0x1000
GRANT_ENTRY_SIZE = 16

# ---------------------------------------------------------------------------------------
# Requests of the stock guest protocols (servers and drivers)
DEV_RQ_BASE = 0x400
DEV_WRITE = DEV_RQ_BASE + 4     # character write with the data inline in the message
DEV_COUNT = M_W0                # bytes, 1..DEV_INLINE_MAX
DEV_DATA = M_W1                 # the bytes, packed from M_W1 on
DEV_INLINE_MAX = 40

# ---------------------------------------------------------------------------------------
# The machine: address-space layout and virtual time
WINDOW_BASE = 0x01000000        # program i owns [WINDOW_BASE + i*WINDOW_SIZE, +WINDOW_SIZE)
WINDOW_SIZE = 0x00100000
TEXT_OFFSET = 0x00000000        # text (r-x), at most TEXT_MAX
TEXT_MAX = 0x00080000
DATA_OFFSET = 0x00080000        # data then bss (rw-)
STACK_SIZE = 0x00010000         # stack (rw-), ending at the window's end
PAGE_SIZE = 0x1000
TICK_INSNS = 10000              # instructions per clock tick
HZ = 100                        # ticks per virtual second

# Scheduling: queues 0 (highest) .. NR_SCHED_QUEUES-1; quanta in clock ticks
NR_SCHED_QUEUES = 16
MIN_USER_Q = 14                 # the lowest queue a process can be demoted to
DEFAULT_PRIORITY_DRIVER = 2
DEFAULT_PRIORITY_SERVER = 3
DEFAULT_PRIORITY_USER = 7
DEFAULT_QUANTUM = 4             # ticks

# ---------------------------------------------------------------------------------------
# Derived tables (not exported to the guest)


def endpoint(gen: int, slot: int) -> int:
    """The endpoint of `slot` in its generation `gen`."""
    return gen * ENDPOINT_GEN_MUL + slot


def window_base(program_index: int) -> int:
    """The first address of program `program_index`'s 1 MiB window."""
    return WINDOW_BASE + program_index * WINDOW_SIZE



PRIMITIVE_NAMES = {SEND: "SEND", RECEIVE: "RECEIVE", SENDREC: "SENDREC", NOTIFY: "NOTIFY",
                   NBSEND: "NBSEND", ASEND: "ASEND"}
PRIMITIVE_BY_NAME = {name: value for value, name in PRIMITIVE_NAMES.items()}

ERROR_NAMES = {value: name for name, value in globals().items()
               if name.isupper() and isinstance(value, int)
               and name.startswith("E") and value < 0}
ERROR_NAMES[OK] = "OK"

TASK_NAMES = {HARDWARE: "HARDWARE", SYSTEM: "SYSTEM", CLOCK: "CLOCK"}
TASK_BY_NAME = {name: value for value, name in TASK_NAMES.items()}

KERNEL_CALL_NAMES = {value: name[4:] for name, value in globals().items()
                     if name.startswith("SYS_") and isinstance(value, int)}
KERNEL_CALL_BY_NAME = {name: value for value, name in KERNEL_CALL_NAMES.items()}

# M_TYPE values with a name, for traces and the debugger
MESSAGE_TYPE_NAMES = {NOTIFY_MESSAGE: "NOTIFY_MESSAGE", DEV_WRITE: "DEV_WRITE"}
MESSAGE_TYPE_NAMES.update({value: "SYS_" + name for value, name in KERNEL_CALL_NAMES.items()})

# The payload words of each message type, by name, in order from M_W0
MESSAGE_FIELDS = {
    NOTIFY_MESSAGE: ("NOTIFY_TICKS", "NOTIFY_IRQS", "NOTIFY_TIME_LO", "NOTIFY_TIME_HI"),
    SYS_DEVIO: ("DIO_REQUEST", "DIO_PORT", "DIO_VALUE"),
    SYS_VDEVIO: ("VDIO_REQUEST", "VDIO_VEC_ADDR", "VDIO_VEC_COUNT"),
    SYS_IRQCTL: ("IRQ_REQUEST", "IRQ_LINE"),
    SYS_SETALARM: ("ALARM_TICKS",),
    SYS_TIMES: ("T_TICKS", "T_TIME_LO", "T_TIME_HI", "T_USER_INSNS"),
    SYS_DIAGCTL: ("DIAG_ADDR", "DIAG_LEN"),
    SYS_EXIT: ("EXIT_STATUS",),
    DEV_WRITE: ("DEV_COUNT",) + tuple(f"DEV_DATA{i}" for i in range(10)),
}


def guest_constants():
    """Every constant the guest sees, as (name, value) in definition order."""
    return [(name, value) for name, value in globals().items()
            if name.isupper() and isinstance(value, int) and not isinstance(value, bool)]
