"""Places in the guest: addresses, symbols, source lines and processes, by name.

Contract: `Places(debugger)` names things for both front ends.
- `describe(address)` is `sym+0x12 (file.asm:40)` in the program whose window holds the
  address (windows are unique per program, so an address names one program);
  `label_of(address)` the program's label.
- `proc(text)` finds a live process by label, slot (`#5`), or endpoint number; the most
  recently started process of a label when several run.
- `address(text, proc)` reads an address: a number, `$reg` (of `proc`), a symbol or
  `FILE:LINE` of `proc`'s program, `PROC:SYMBOL`, `PROC:ADDR`, `PROC:FILE:LINE`, each
  with an optional `+N` / `-N`.  It raises `PlaceError` with a one-line reason.
"""

import os
import re

from kernel.abi import STACK_SIZE, WINDOW_SIZE, window_base

from emu.symbols import SymbolMap


class PlaceError(Exception):
    """A name that does not name a place (its text is the reason)."""


_OFFSET = re.compile(r"^(.*?)\s*([+-])\s*((?:0x)?[0-9a-fA-F]+)$")


def parse_number(text):
    try:
        return int(text, 0)
    except ValueError:
        return None


class Places:
    def __init__(self, debugger):
        self.debugger = debugger
        self.session = debugger.session
        self.table = debugger.table
        self._maps = {}

    # -- programs -----------------------------------------------------------------------------
    def programs(self):
        return self.session.image.programs

    def label_of(self, address):
        index = self.debugger.program_of(address)
        return None if index is None else self.programs()[index].policy.label

    def program_index(self, label):
        return self.session.kernel.labels.get(label)

    def symbols(self, index):
        if index not in self._maps:
            loaded = self.session.programs[index]
            self._maps[index] = SymbolMap(loaded.symbols, loaded.lines)
        return self._maps[index]

    def describe(self, address, with_line=True):
        index = self.debugger.program_of(address)
        if index is None:
            return f"{address:#010x}"
        loaded = self.session.programs[index]
        data_end = loaded.data_base + len(loaded.data) + loaded.bss_size
        if not (loaded.text_base <= address < loaded.text_base + len(loaded.text)
                or loaded.data_base <= address < data_end):
            top = window_base(index) + WINDOW_SIZE
            where = "stack" if top - STACK_SIZE <= address < top else "unmapped"
            return f"{address:#010x} ({where})"
        symbols = self.symbols(index)
        text = symbols.describe(address)
        if with_line:
            line = symbols.source_line(address)
            if line is not None:
                text += f" ({os.path.basename(line[0])}:{line[1]})"
        return text

    def source_line(self, address):
        index = self.debugger.program_of(address)
        return None if index is None else self.symbols(index).source_line(address)

    # -- processes ----------------------------------------------------------------------------
    def proc(self, text):
        text = text.strip()
        live = self.debugger.live()
        if text.startswith("#"):
            slot = parse_number(text[1:])
            found = [p for p in live if p.slot == slot]
        else:
            number = parse_number(text)
            if number is not None:
                found = [p for p in live if p.endpoint == number]
            else:
                found = [p for p in live if p.label == text]
        if not found:
            raise PlaceError(f"no live process {text!r}")
        return max(found, key=lambda p: (p.restarts, p.slot))

    # -- addresses ----------------------------------------------------------------------------
    def address(self, text, proc):
        text = text.strip()
        match = _OFFSET.match(text)
        if match and match.group(1) and not match.group(1).endswith(":"):
            base = self.address(match.group(1), proc)
            offset = int(match.group(3), 0)
            return base + offset if match.group(2) == "+" else base - offset
        number = parse_number(text)
        if number is not None:
            return number
        if text.startswith("$"):
            if proc is None:
                raise PlaceError("no process for a register")
            registers = proc.cpu.registers()
            if text[1:] not in registers:
                raise PlaceError(f"no register {text}")
            return registers[text[1:]]
        head, _, rest = text.partition(":")
        if rest and self.program_index(head) is not None:
            return self._in_program(self.program_index(head), rest)
        if rest and head.endswith(".asm"):
            return self._line_anywhere(head, rest)
        if proc is None:
            raise PlaceError(f"no process to look up {text!r} in")
        return self._in_program(proc.index, text)

    def _in_program(self, index, text):
        number = parse_number(text)
        if number is not None:
            return number
        symbols = self.symbols(index)
        file, _, line = text.rpartition(":")
        if file and parse_number(line) is not None:
            address = symbols.address_of_line(file, parse_number(line))
            if address is None:
                raise PlaceError(f"no code at {text} in {self.programs()[index].policy.label}")
            return address
        address = symbols.address_of(text)
        if address is None:
            raise PlaceError(f"no symbol {text!r} in {self.programs()[index].policy.label}")
        return address

    def _line_anywhere(self, file, line):
        number = parse_number(line)
        if number is None:
            raise PlaceError(f"bad line number {line!r}")
        for index in range(len(self.session.programs)):
            address = self.symbols(index).address_of_line(file, number)
            if address is not None:
                return address
        raise PlaceError(f"no code at {file}:{line}")
