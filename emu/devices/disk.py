"""The ATA disk at ports 0x1F0-0x1F7: PIO, LBA28, 512-byte sectors, IRQ 14.

Contract (SPEC section 2): `Disk(data, path=None)` is a master drive holding `data` (a
whole number of sectors; a partial last sector is padded with zeros) in memory; with a
`path`, the data is written to that file at every FLUSH CACHE and at `close()` when it
changed since.  Time is passed in by the bus (virtual time in instructions), so the
device is deterministic.

Registers: 0x1F0 data (16-bit; a byte access moves one byte, a long access two words),
0x1F1 error (read; features on write, ignored), 0x1F2 sector count (0 means 256),
0x1F3 / 0x1F4 / 0x1F5 LBA bits 0-7 / 8-15 / 16-23, 0x1F6 drive: bits 0-3 LBA bits
24-27, bit 4 the drive (only drive 0 exists), bit 6 LBA mode (required), 0x1F7 status
(read) and command (write).  Status: BSY 0x80 while busy (then no other bit), else DRDY
0x40, DRQ 0x08 while the data port holds a sector to move, ERR 0x01 after a failed
command (the error register says why: ABRT 0x04, IDNF 0x10).

Commands, as ATA PIO: READ SECTORS 0x20: busy SECTOR_INSNS, then the first sector is in
the data port (DRQ) and IRQ 14 is raised; once its 512 bytes are read, the next one
takes SECTOR_INSNS again (DRQ, IRQ), and after the last the drive is DRDY.  WRITE
SECTORS 0x30: DRQ at once (no IRQ); once 512 bytes are written the drive is busy
SECTOR_INSNS storing the sector, then raises IRQ 14 with DRQ for the next sector or
DRDY after the last.  FLUSH CACHE 0xE7: busy FLUSH_INSNS, the file is written, DRDY and
IRQ 14.  A command that fails (an unknown command, CHS mode, drive 1: ABRT; sectors past
the end of the disk: IDNF) is busy SECTOR_INSNS, then ERR and IRQ 14.  A command
written while busy is ignored; one written during a transfer ends that transfer.
The data port reads 0 and ignores writes when DRQ is clear.  The control block
(0x3F6: reset, interrupt disable) is not modelled.
"""

from pathlib import Path

SECTOR_SIZE = 512
DATA_PORT = 0x1F0
ERROR_PORT = 0x1F1
COUNT_PORT = 0x1F2
LBA_LOW_PORT = 0x1F3
DRIVE_PORT = 0x1F6
STATUS_PORT = 0x1F7
COMMAND_PORT = 0x1F7
PORTS = tuple(range(0x1F0, 0x1F8))
IRQ_LINE = 14

STATUS_BSY = 0x80
STATUS_DRDY = 0x40
STATUS_DRQ = 0x08
STATUS_ERR = 0x01
ERROR_ABRT = 0x04
ERROR_IDNF = 0x10
DRIVE_LBA = 0x40
DRIVE_SLAVE = 0x10

CMD_READ_SECTORS = 0x20
CMD_WRITE_SECTORS = 0x30
CMD_FLUSH_CACHE = 0xE7

SECTOR_INSNS = 100            # virtual instructions (microseconds) per sector
FLUSH_INSNS = 1000            # to write the cache to the medium

# what completes when the busy time is over
_LOADED, _STORED, _FLUSHED, _FAILED = range(4)


class Disk:
    """The drive's registers, its sector buffer, its busy time and its medium."""

    irq_line = IRQ_LINE
    ports = PORTS
    wide_ports = (DATA_PORT,)
    timed_reads = (DATA_PORT,)

    def __init__(self, data, path=None):
        self.data = bytearray(data)
        self.data.extend(bytes(-len(self.data) % SECTOR_SIZE))
        self.sectors = len(self.data) // SECTOR_SIZE
        self.path = Path(path) if path is not None else None
        self.dirty = False
        self.registers = bytearray(8)    # taskfile as written, indexed by port - 0x1F0
        self.error = 0
        self.failed = False
        self.drq = False
        self.buffer = bytearray(SECTOR_SIZE)
        self.position = 0
        self.writing = False
        self.lba = 0
        self.remaining = 0
        self.busy_until = None           # end of the busy time, with `completes`
        self.completes = None
        self.irq_due = None

    # -- the taskfile -----------------------------------------------------------------------
    def read(self, port, now):
        self._settle(now)
        if port == STATUS_PORT:
            if self.busy_until is not None:
                return STATUS_BSY
            return STATUS_DRDY | (STATUS_DRQ if self.drq else 0) | \
                (STATUS_ERR if self.failed else 0)
        if port == DATA_PORT:
            return self._take(1, now)[0]
        if port == ERROR_PORT:
            return self.error
        return self.registers[port - DATA_PORT]

    def write(self, port, value, now):
        self._settle(now)
        if port == COMMAND_PORT:
            self._command(value, now)
        elif port == DATA_PORT:
            self._put(bytes((value,)), now)
        else:
            self.registers[port - DATA_PORT] = value

    def read_wide(self, port, size, now):
        self._settle(now)
        return int.from_bytes(self._take(size, now), "little")

    def write_wide(self, port, size, value, now):
        self._settle(now)
        self._put(value.to_bytes(size, "little"), now)

    def read_block(self, port, size, count, now):
        self._settle(now)
        return self._take(count, now)

    def write_block(self, port, size, data, now):
        self._settle(now)
        self._put(data, now)

    # -- commands ---------------------------------------------------------------------------
    def _command(self, command, now):
        if self.busy_until is not None:
            return
        self.drq = False
        self.failed = False
        self.error = 0
        regs = self.registers
        drive = regs[DRIVE_PORT - DATA_PORT]
        count = regs[COUNT_PORT - DATA_PORT] or 256
        lba = (regs[3] | regs[4] << 8 | regs[5] << 16 | (drive & 0x0F) << 24)
        if drive & DRIVE_SLAVE or not drive & DRIVE_LBA or command not in (
                CMD_READ_SECTORS, CMD_WRITE_SECTORS, CMD_FLUSH_CACHE):
            self._busy(now, SECTOR_INSNS, _FAILED, ERROR_ABRT)
        elif command == CMD_FLUSH_CACHE:
            self._busy(now, FLUSH_INSNS, _FLUSHED)
        elif lba + count > self.sectors:
            self._busy(now, SECTOR_INSNS, _FAILED, ERROR_IDNF)
        else:
            self.lba, self.remaining = lba, count
            self.writing = command == CMD_WRITE_SECTORS
            if self.writing:
                self.drq, self.position = True, 0
            else:
                self._busy(now, SECTOR_INSNS, _LOADED)

    def _busy(self, now, insns, completes, error=0):
        self.busy_until = now + insns
        self.completes = completes
        self.error = error

    def _settle(self, now):
        """Complete the busy time if it is over by `now`; its IRQ is due at its end."""
        if self.busy_until is None or now < self.busy_until:
            return
        done, self.busy_until = self.busy_until, None
        self.irq_due = done
        if self.completes == _LOADED:
            start = self.lba * SECTOR_SIZE
            self.buffer[:] = self.data[start:start + SECTOR_SIZE]
            self.drq, self.position = True, 0
        elif self.completes == _STORED:
            start = self.lba * SECTOR_SIZE
            self.data[start:start + SECTOR_SIZE] = self.buffer
            self.dirty = True
            self.lba += 1
            self.remaining -= 1
            self.drq, self.position = self.remaining > 0, 0
        elif self.completes == _FLUSHED:
            self.close()
        else:
            self.failed = True

    # -- the data port ----------------------------------------------------------------------
    def _take(self, size, now):
        """`size` bytes of the sector being read; zeros where DRQ is clear."""
        if not self.drq or self.writing:
            return bytes(size)
        data = self.buffer[self.position:self.position + size]
        self.position += len(data)
        if self.position == SECTOR_SIZE:
            self.drq = False
            self.lba += 1
            self.remaining -= 1
            if self.remaining:
                self._busy(now, SECTOR_INSNS, _LOADED)
        return bytes(data) + bytes(size - len(data))

    def _put(self, data, now):
        """Bytes into the sector being written; dropped where DRQ is clear."""
        if not self.drq or not self.writing:
            return
        data = data[:SECTOR_SIZE - self.position]
        self.buffer[self.position:self.position + len(data)] = data
        self.position += len(data)
        if self.position == SECTOR_SIZE:
            self.drq = False
            self._busy(now, SECTOR_INSNS, _STORED)

    # -- the medium and the bus ---------------------------------------------------------------
    def close(self):
        """Write the medium to its file if it changed since it was last written."""
        if self.dirty and self.path is not None:
            self.path.write_bytes(self.data)
        self.dirty = False

    def next_event(self):
        """Virtual time of the next interrupt this device will raise, or None."""
        if self.irq_due is not None:
            return self.irq_due
        return self.busy_until

    def advance(self, now):
        """Return the IRQ lines raised by time `now`."""
        self._settle(now)
        if self.irq_due is not None and now >= self.irq_due:
            self.irq_due = None
            return (IRQ_LINE,)
        return ()
