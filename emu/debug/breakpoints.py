"""Code breakpoints: `int3` patched into a process's text, or a one-address code hook.

Contract:
- A `CodeBreakpoint` is an address in one program's window, for every process of that
  program (`owner` None: the built-in debugger's breakpoints, which a restarted driver
  keeps) or for one process (`owner` = its endpoint: gdb's, one address space each).
  Software breakpoints write `int3` (0xCC) over the instruction's first byte and keep
  the original byte; hardware ones add a Unicorn code hook on that one address, which
  Unicorn only calls there.  Neither costs anything anywhere else, and nothing at all
  when there is no breakpoint.
- `Patches` keeps, per CPU, the original byte under each `int3` and the hook of each
  hardware address, counting breakpoints that share an address.  `read(cpu, a, n)`
  gives memory with the original bytes (what gdb, `x` and `disas` must see);
  `write(cpu, a, data)` writes around the patches (the new bytes become the originals).
  A CPU reset for a new process loses its patches: `forget(cpu)` and apply again.
- `CodeBreakpoints` is a session's table of them: it inserts a new one into every
  process it applies to, puts them back into a process that starts on a reset CPU
  (`reapply`), and finds the one a process met (`hit`).
- Every change of code goes through `Cpu.patch`, which flushes Unicorn's translation
  cache for the range, so the old code never runs again.
"""

from dataclasses import dataclass, field

from unicorn import UC_HOOK_CODE

INT3 = b"\xcc"


@dataclass(eq=False)
class CodeBreakpoint:
    number: int
    address: int
    program: int                    # image program index: the window of `address`
    owner: int | None = None        # endpoint of the one process it belongs to, or None
    hardware: bool = False
    where: str = ""                 # how the user named it
    hits: int = 0
    cpus: set = field(default_factory=set)    # CPUs it is inserted in

    def applies_to(self, proc):
        return proc.alive and proc.index == self.program and (
            self.owner is None or self.owner == proc.endpoint)

    @property
    def kind(self):
        return "hw breakpoint" if self.hardware else "breakpoint"


class Patches:
    """int3 patches and hardware hooks, per CPU (see the module docstring)."""

    def __init__(self, on_hook):
        self.saved = {}         # cpu -> {address: [original byte, users]}
        self.hooks = {}         # cpu -> {address: [hook handle, users]}
        self.on_hook = on_hook  # (cpu, address) -> None, from a hardware hook

    # -- software ---------------------------------------------------------------------------
    def insert(self, cpu, address, hardware=False):
        """Insert a breakpoint; False when the address is not mapped code."""
        if hardware:
            return self._hook(cpu, address)
        table = self.saved.setdefault(cpu, {})
        entry = table.get(address)
        if entry is not None:
            entry[1] += 1
            return True
        lo, hi = cpu.text_range
        original = cpu.read(address, 1)
        if not lo <= address < hi or not original:
            return False
        table[address] = [original, 1]
        cpu.patch(address, INT3)
        return True

    def remove(self, cpu, address, hardware=False):
        if hardware:
            return self._unhook(cpu, address)
        table = self.saved.get(cpu, {})
        entry = table.get(address)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del table[address]
            cpu.patch(address, entry[0])

    def patched(self, cpu, address):
        return address in self.saved.get(cpu, ())

    def hooked(self, cpu, address):
        return address in self.hooks.get(cpu, ())

    def lift(self, cpu, address):
        """Put the original byte back for one instruction (stepping over a breakpoint)."""
        cpu.patch(address, self.saved[cpu][address][0])

    def rearm(self, cpu, address):
        if self.patched(cpu, address):
            cpu.patch(address, INT3)

    def forget(self, cpu):
        """`cpu` was reset to its pristine image: its patches are gone."""
        self.saved.pop(cpu, None)

    # -- hardware ---------------------------------------------------------------------------
    def _hook(self, cpu, address):
        table = self.hooks.setdefault(cpu, {})
        entry = table.get(address)
        if entry is not None:
            entry[1] += 1
            return True
        if cpu.region_of(address, 1) is None:
            return False

        def hook(uc, at, size, user_data):
            self.on_hook(cpu, at)
        handle = cpu.uc.hook_add(UC_HOOK_CODE, hook, None, address, address)
        cpu.uc.ctl_remove_cache(address, address + 1)
        table[address] = [handle, 1]
        return True

    def _unhook(self, cpu, address):
        table = self.hooks.get(cpu, {})
        entry = table.get(address)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del table[address]
            cpu.uc.hook_del(entry[0])
            cpu.uc.ctl_remove_cache(address, address + 1)

    # -- memory as it was -------------------------------------------------------------------
    def read(self, cpu, address, size):
        """Memory with the original bytes under the patches; b'' when not mapped."""
        data = cpu.read(address, size)
        table = self.saved.get(cpu)
        if not data or not table:
            return data
        out = bytearray(data)
        for at, (original, _) in table.items():
            if address <= at < address + size:
                out[at - address] = original[0]
        return bytes(out)

    def write(self, cpu, address, data):
        """Write memory; a patched byte's new value becomes its original.  False when any
        of the range is not mapped."""
        if cpu.region_of(address, len(data)) is None:
            return False
        table = self.saved.get(cpu, {})
        out = bytearray(data)
        for at, entry in table.items():
            if address <= at < address + len(data):
                entry[0] = bytes((out[at - address],))
                out[at - address] = INT3[0]
        return cpu.patch(address, bytes(out))


class CodeBreakpoints:
    """The breakpoints of a session, and the CPUs they are inserted in."""

    def __init__(self, on_hook):
        self.patches = Patches(on_hook)
        self.items = []

    def add(self, bp, procs):
        self.items.append(bp)
        for proc in procs:
            if bp.applies_to(proc):
                self._insert(bp, proc.cpu)
        return bp

    def find(self, address, owner=None, hardware=False):
        for bp in self.items:
            if (bp.address, bp.owner, bp.hardware) == (address, owner, hardware):
                return bp
        return None

    def remove(self, bp):
        """Take `bp` out of every CPU; False when it is not one of these."""
        if bp not in self.items:
            return False
        self.items.remove(bp)
        for cpu in bp.cpus:
            self.patches.remove(cpu, bp.address, bp.hardware)
        bp.cpus.clear()
        return True

    def owned_by(self, endpoint):
        return [bp for bp in self.items if bp.owner == endpoint]

    def reapply(self, proc):
        """`proc` just started on a fresh or reset CPU: put its breakpoints back."""
        cpu = proc.cpu
        self.patches.forget(cpu)
        for bp in self.items:
            if not bp.hardware:
                bp.cpus.discard(cpu)
            want, have = bp.applies_to(proc), cpu in bp.cpus
            if want and not have:
                self._insert(bp, cpu)
            elif have and not want:
                self.patches.remove(cpu, bp.address, bp.hardware)
                bp.cpus.discard(cpu)

    def hit(self, proc, cpu, address, hardware):
        """The breakpoint `proc` met at `address`, or None."""
        for bp in self.items:
            if bp.address == address and bp.hardware == hardware and cpu in bp.cpus \
                    and bp.applies_to(proc):
                return bp
        return None

    def _insert(self, bp, cpu):
        if self.patches.insert(cpu, bp.address, bp.hardware):
            bp.cpus.add(cpu)
