"""Addresses to names and source lines of one program, and back.

Contract:
  SymbolMap(symbols, lines)
    symbols: {name: (address, section)}; lines: [(address, size, file, line)] (as made by
    tools.asm.assemble and emu.elf.read_elf).
  describe(addr) -> "sym" at a label, "sym+0x12" after the nearest preceding label (of
    equal addresses the first defined), or "0x1000abc" when no label precedes addr.
  source_line(addr) -> (file, line) of the line entry covering addr, or None.
  address_of(name) -> the label's address, or None.
  address_of_line(file, line) -> the lowest address of `line` in `file` (matched by full
    name or by base name); when that line has no code, the next line of the file that has
    some (as gdb places breakpoints); None when there is none.
Look-ups are binary searches over tables built once.
"""
import bisect
import os


class SymbolMap:
    def __init__(self, symbols: dict, lines: list):
        order = sorted(enumerate(symbols.items()), key=lambda item: (item[1][1][0], item[0]))
        self._labels = [(address, name) for _, (name, (address, _)) in order]
        self._label_addresses = [address for address, _ in self._labels]
        self._addresses = {name: address for name, (address, _) in symbols.items()}
        self._lines = sorted(lines)
        self._line_starts = [entry[0] for entry in self._lines]
        self._by_file = {}
        for address, _, path, line in self._lines:
            for key in {path, os.path.basename(path)}:
                self._by_file.setdefault(key, {}).setdefault(line, address)
        self._file_lines = {key: sorted(table) for key, table in self._by_file.items()}

    def describe(self, addr: int) -> str:
        at = bisect.bisect_right(self._label_addresses, addr)
        if at == 0:
            return f"{addr:#x}"
        first = bisect.bisect_left(self._label_addresses, self._label_addresses[at - 1])
        address, name = self._labels[first]
        return name if addr == address else f"{name}+{addr - address:#x}"

    def source_line(self, addr: int):
        at = bisect.bisect_right(self._line_starts, addr) - 1
        if at < 0:
            return None
        address, size, path, line = self._lines[at]
        return (path, line) if addr < address + size else None

    def address_of(self, name: str):
        return self._addresses.get(name)

    def address_of_line(self, file: str, line: int):
        table = self._by_file.get(file)
        if table is None:
            return None
        numbers = self._file_lines[file]
        at = bisect.bisect_left(numbers, line)
        return table[numbers[at]] if at < len(numbers) else None
