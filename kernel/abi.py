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
ENOENT = -2
ESRCH = -3
EIO = -5
E2BIG = -7
EBADF = -9
EAGAIN = -11
ENOMEM = -12
EFAULT = -14
EBUSY = -16
EEXIST = -17
ENODEV = -19
EISDIR = -21
EINVAL = -22
EMFILE = -24
EFBIG = -27
ENOSPC = -28
ENAMETOOLONG = -36
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
ALARM_FLAGS = M_W1              # in: ALARM_PERIODIC for a heartbeat-like alarm
ALARM_PERIODIC = 1              # not work to wait for: `--until-idle` does not wait for it
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

# Grants: a table of entries {flags, grantee, address, size} in the granter's memory
CPF_READ = 1                    # the grantee may copy from the granter
CPF_WRITE = 2                   # the grantee may copy into the granter
CPF_VALID = 0x1000
CPF_FLAGS_MASK = 0x1003
GRANT_FLAGS = 0                 # offsets within an entry
GRANT_GRANTEE = 4
GRANT_ADDRESS = 8
GRANT_SIZE = 12
GRANT_ENTRY_SIZE = 16
GRANT_MAX = 64                  # entries per table

# SETGRANT
SG_ADDR = M_W0                  # the table (0 with count 0: no table)
SG_COUNT = M_W1

# SAFECOPYFROM / SAFECOPYTO: copy between the caller and a granter through a grant
SC_GRANTER = M_W0               # endpoint of the granter
SC_GRANT = M_W1                 # grant id: index in the granter's table
SC_OFFSET = M_W2                # offset within the granted area
SC_SIZE = M_W3                  # bytes, 1..SAFECOPY_MAX
SC_ADDR = M_W4                  # the caller's own address
SAFECOPY_MAX = 0x10000

# SDEVIO: string port I/O between a port and a grant (disk sectors)
SDIO_REQUEST = M_W0             # DIO_INPUT / DIO_OUTPUT | DIO_BYTE / DIO_WORD / DIO_LONG
SDIO_PORT = M_W1
SDIO_GRANTER = M_W2             # SELF for the caller's own memory through its own grant
SDIO_GRANT = M_W3
SDIO_OFFSET = M_W4
SDIO_COUNT = M_W5               # bytes, a multiple of the access size, 1..SDEVIO_MAX
SDEVIO_MAX = 4096

# VIRCOPY: copy between two processes' addresses (servers only)
VC_SRC = M_W0                   # endpoint (SELF: the caller)
VC_SRC_ADDR = M_W1
VC_DST = M_W2
VC_DST_ADDR = M_W3
VC_SIZE = M_W4                  # bytes, 1..VIRCOPY_MAX
VIRCOPY_MAX = 0x10000

# KILL
KILL_ENDPOINT = M_W0

# SPAWN: start a program of the image by label; the new process finds its argument
# string (NUL-terminated) at the top of its stack: esi = its address, edi = its length
SPAWN_LABEL = M_W0              # 16 bytes, NUL-padded: M_W0..M_W3
SPAWN_ARGS_ADDR = M_W4          # in the caller's memory
SPAWN_ARGS_LEN = M_W5           # 0..ARGS_MAX
SPAWN_ENDPOINT = M_W0           # out: the new endpoint
ARGS_MAX = 128
LABEL_SIZE = 16

# GETINFO
GI_REQUEST = M_W0
GI_WHICH = M_W1                 # slot (GI_PROC) or program index (GI_PROGRAM)
GI_ADDR = M_W2                  # where to copy PROCINFO entries in the caller
GI_PROC = 1                     # one slot's entry
GI_PROCTAB = 2                  # NR_PROCS entries
GI_PROGRAM = 3                  # an image program's policy, as an entry (endpoint NONE)
GI_ENDED = 4                    # next ended process not yet reported to the caller
GI_END_ENDPOINT = M_W1          # out (GI_ENDED): who ended
GI_END_PROGRAM = M_W2
GI_END_HOW = M_W3               # END_EXIT, END_FAULT, END_KILL
GI_END_STATUS = M_W4
GI_COUNT = M_W5                 # out (GI_PROCTAB): entries; (GI_PROGRAM): programs
END_EXIT = 1
END_FAULT = 2
END_KILL = 3
# a PROCINFO entry
PI_ENDPOINT = 0
PI_STATE = 4                    # PS_* bits
PI_PROGRAM = 8
PI_PRIORITY = 12
PI_KIND = 16                    # KIND_*
PI_HEARTBEAT = 20
PI_RESTART = 24                 # RESTART_*
PI_FAULTS = 28
PI_LABEL = 32                   # 16 bytes
PROCINFO_SIZE = 48
PS_ALIVE = 1
PS_SENDING = 2
PS_RECEIVING = 4
PS_READY = 8
KIND_DRIVER = 1
KIND_SERVER = 2
KIND_USER = 3
RESTART_ALWAYS = 1
RESTART_NEVER = 2
RESTART_BACKOFF = 3

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

# M_TYPE values with a name, for traces and the debugger (kernel.names adds the
# requests of kernel.protocols)
MESSAGE_TYPE_NAMES = {NOTIFY_MESSAGE: "NOTIFY_MESSAGE"}
MESSAGE_TYPE_NAMES.update({value: "SYS_" + name for value, name in KERNEL_CALL_NAMES.items()})

# The payload words of each message type, by name, in order from M_W0
MESSAGE_FIELDS = {
    NOTIFY_MESSAGE: ("NOTIFY_TICKS", "NOTIFY_IRQS", "NOTIFY_TIME_LO", "NOTIFY_TIME_HI"),
    SYS_DEVIO: ("DIO_REQUEST", "DIO_PORT", "DIO_VALUE"),
    SYS_VDEVIO: ("VDIO_REQUEST", "VDIO_VEC_ADDR", "VDIO_VEC_COUNT"),
    SYS_IRQCTL: ("IRQ_REQUEST", "IRQ_LINE"),
    SYS_SETALARM: ("ALARM_TICKS", "ALARM_FLAGS"),
    SYS_TIMES: ("T_TICKS", "T_TIME_LO", "T_TIME_HI", "T_USER_INSNS"),
    SYS_DIAGCTL: ("DIAG_ADDR", "DIAG_LEN"),
    SYS_EXIT: ("EXIT_STATUS",),
    SYS_SETGRANT: ("SG_ADDR", "SG_COUNT"),
    SYS_SAFECOPYFROM: ("SC_GRANTER", "SC_GRANT", "SC_OFFSET", "SC_SIZE", "SC_ADDR"),
    SYS_SAFECOPYTO: ("SC_GRANTER", "SC_GRANT", "SC_OFFSET", "SC_SIZE", "SC_ADDR"),
    SYS_SDEVIO: ("SDIO_REQUEST", "SDIO_PORT", "SDIO_GRANTER", "SDIO_GRANT", "SDIO_OFFSET",
                 "SDIO_COUNT"),
    SYS_VIRCOPY: ("VC_SRC", "VC_SRC_ADDR", "VC_DST", "VC_DST_ADDR", "VC_SIZE"),
    SYS_KILL: ("KILL_ENDPOINT",),
    SYS_SPAWN: ("SPAWN_LABEL0", "SPAWN_LABEL1", "SPAWN_LABEL2", "SPAWN_LABEL3",
                "SPAWN_ARGS_ADDR", "SPAWN_ARGS_LEN"),
    SYS_GETINFO: ("GI_REQUEST", "GI_WHICH", "GI_ADDR"),
}


def guest_constants():
    """Every constant the guest sees, as (name, value) in definition order."""
    return [(name, value) for name, value in globals().items()
            if name.isupper() and isinstance(value, int) and not isinstance(value, bool)]
