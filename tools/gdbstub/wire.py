"""The GDB remote serial protocol on the wire: framing, checksums, escapes, acks.

Contract: nothing here knows a command.
- `PacketReader.feed(data)` takes bytes as they come from the socket, in any pieces,
  and returns events: `("packet", payload)` for a well-formed `$payload#cs` (payload as
  sent, still escaped), `("bad", payload)` for a wrong checksum, `("ack",)` /
  `("nack",)` for `+` / `-`, `("interrupt",)` for a Ctrl-C byte (0x03) between packets.
  Bytes between packets are ignored; a `$` inside a packet restarts it; a packet longer
  than `MAX_PACKET` is dropped whole (`("bad", b"")`), so no input can grow memory.
- `frame(payload)` is `$payload#cs`; `escape(data)` / `unescape(data)` the binary escape
  (`}` then the byte xor 0x20, for `#`, `$`, `}` and `*`).
"""

MAX_PACKET = 0x10000
INTERRUPT = 0x03
_SPECIAL = frozenset(b"#$}*")


def checksum(payload):
    return sum(payload) & 0xFF


def frame(payload):
    return b"$" + payload + b"#" + b"%02x" % checksum(payload)


def escape(data):
    out = bytearray()
    for byte in data:
        if byte in _SPECIAL:
            out += bytes((0x7D, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def unescape(data):
    out = bytearray()
    it = iter(data)
    for byte in it:
        if byte == 0x7D:
            nxt = next(it, None)
            if nxt is None:
                break
            out.append(nxt ^ 0x20)
        else:
            out.append(byte)
    return bytes(out)


class PacketReader:
    """Bytes in, protocol events out (see the module docstring)."""

    def __init__(self):
        self.payload = None          # bytearray while inside a packet
        self.sum_digits = None       # bytearray while reading the checksum
        self.overflow = False

    def feed(self, data):
        events = []
        for byte in data:
            event = self._byte(byte)
            if event is not None:
                events.append(event)
        return events

    def _byte(self, byte):
        if self.sum_digits is not None:
            self.sum_digits.append(byte)
            if len(self.sum_digits) < 2:
                return None
            return self._finish()
        if self.payload is None:
            if byte == ord("$"):
                self.payload, self.overflow = bytearray(), False
            elif byte == ord("+"):
                return ("ack",)
            elif byte == ord("-"):
                return ("nack",)
            elif byte == INTERRUPT:
                return ("interrupt",)
            return None
        if byte == ord("#"):
            self.sum_digits = bytearray()
        elif byte == ord("$"):
            self.payload, self.overflow = bytearray(), False
        elif len(self.payload) >= MAX_PACKET:
            self.overflow = True
        else:
            self.payload.append(byte)
        return None

    def _finish(self):
        payload, digits = bytes(self.payload), bytes(self.sum_digits)
        self.payload = self.sum_digits = None
        if self.overflow:
            return ("bad", b"")
        try:
            expected = int(digits, 16)
        except ValueError:
            return ("bad", payload)
        if expected != checksum(payload):
            return ("bad", payload)
        return ("packet", payload)
