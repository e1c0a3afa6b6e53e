"""Every place each fault type applies to in a text, worked out once: then a fault is a
few random draws (a million-fault campaign picks a fault every millisecond or so).

Contract: `Targets(text, where=None)` probes every instruction of a `faults.Text` (those
whose addresses are in `where`, when given) with each mutation of `tools.inject.faults`
once, with a probing random generator, and keeps what it needs: the instructions each
type applies to, the bytes of the deterministic mutations (NOPs, the inverted branch),
the byte offsets a bit-flip type chooses from.  `pick(fault_type, rng)` and
`pick_from(fault_type, start, rng)` give exactly the fault `faults.make_fault` and
`faults.fault_from` give for the same generator state, and leave the generator in the
same state, but without Capstone or Keystone; their `Fault`s carry no disassembly (the
injector disassembles what it writes).  `None` when the type applies nowhere.
"""

import bisect

from tools.inject.faults import TYPES, Fault, fault_at

FLIPS = frozenset(("dst", "src", "ptr"))       # one random bit of a chosen byte


class _Probe:
    """A random generator that records what a mutation asks of it."""

    def __init__(self):
        self.choices = None

    def choice(self, items):
        self.choices = list(items)
        return self.choices[0]

    def randrange(self, n):
        return 0


class Targets:
    def __init__(self, text, where=None):
        self.text = text
        self.instructions = text.instructions
        self.count = len(self.instructions)
        self.where = where
        self.allowed = [i for i, insn in enumerate(self.instructions)
                        if where is None or insn.address in where]
        self.applies = {}          # type -> sorted instruction numbers
        self.how = {}              # (type, number) -> new bytes, or the offsets to flip
        for fault_type in TYPES:
            if fault_type == "text":
                continue
            numbers = []
            for number in self.allowed:
                insn = self.instructions[number]
                probe = _Probe()
                fault = fault_at(text, fault_type, insn.address, probe)
                if fault is None:
                    continue
                numbers.append(number)
                self.how[fault_type, number] = probe.choices if fault_type in FLIPS \
                    else fault.new
            self.applies[fault_type] = numbers

    def pick(self, fault_type, rng):
        if not self.instructions:
            return None
        if fault_type == "random":
            fault_type = rng.choice(TYPES)
        if fault_type == "text":
            address = self.text.base + rng.randrange(len(self.text.code))
            return self._text(address, rng)
        return self.pick_from(fault_type, rng.randrange(self.count), rng)

    def pick_from(self, fault_type, start, rng):
        if fault_type == "text":
            numbers = self.allowed
        else:
            numbers = self.applies[fault_type]
        if not numbers:
            return None
        at = bisect.bisect_left(numbers, start % self.count)
        number = numbers[at] if at < len(numbers) else numbers[0]
        insn = self.instructions[number]
        if fault_type == "text":
            return self._text(insn.address + rng.randrange(insn.size), rng)
        original = bytes(insn.bytes)
        how = self.how[fault_type, number]
        if fault_type in FLIPS:
            data = bytearray(original)
            data[rng.choice(how)] ^= 1 << rng.randrange(8)
            how = bytes(data)
        return Fault(fault_type, insn.address, original, how, "", "")

    def _text(self, address, rng):
        original = self.text.bytes_at(address, 1)
        return Fault("text", address, original, bytes((original[0] ^ (1 << rng.randrange(8)),)),
                     "", "")
