"""One guest process's CPU and address space: a Unicorn i386 instance mapping one window.

Contract:
- `Cpu(window_base, trap)` owns a Unicorn instance in 32-bit mode and a 1 MiB host buffer
  backing the program's window.  `load()` maps text (r-x), data+bss (rw-) and the stack
  (rw-, 64 KiB ending at the window's end) from that buffer; nothing else is mapped, so
  isolation is by construction.  The kernel reads and writes guest memory through `mem`
  (a memoryview of the window; offset = address - window_base) after checking `regions`.
- `run(budget)` runs at most `budget` instructions and returns how many ran (exactly,
  counted by the C hook of `emu._cpuhooks`).  It returns early when a trap handler
  called `stop()`, or on a fault, which is left in `fault` (an `emu.faults.Fault`).
- `int 0x21` calls `trap(eax, ebx, ecx)` from the C hook, with eip already past the
  instruction; an int it returns goes into eax, None leaves eax alone.  The handler
  calls `stop()` when the process must not go on (it blocked, or another must run).
  `set_result()` gives a stopped CPU's eax its value before it next runs.
- Every other way of leaving the guest's sandbox is a fault: invalid opcode, unmapped or
  protected access, divide error, a foreign `int N`, `hlt`, port I/O, `syscall` and
  `sysenter`; `int3` calls `breakpoint(cpu)` if set and true-returning, else faults.
- `reset()` restores the pristine image and registers for a restart (the instance is
  reused: creating one costs milliseconds); `patch()` changes code and flushes
  Unicorn's translation cache for the range.  Text changes only through `write` and
  `patch` (the guest cannot write it, the kernel writes only data, bss and stack), so a
  reset flushes the translations of just the ranges changed since the last one: the
  rest of the code, translated by the previous incarnation, is the same code.
"""

import ctypes
import mmap

from unicorn import (UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_INSN_INVALID,
                     UC_HOOK_INTR, UC_HOOK_MEM_INVALID, UC_MODE_32, UC_PROT_EXEC,
                     UC_PROT_READ, UC_PROT_WRITE, Uc)
from unicorn import x86_const as x86

from emu import _cpuhooks, faults
from emu import unicorn_fast as fast
from kernel.abi import (DATA_OFFSET, IPC_VEC, PAGE_SIZE, STACK_SIZE, TEXT_MAX,
                        WINDOW_SIZE)

UNTIL = 0xFFFFFFF0            # an address never mapped: emu_start's end marker
MAX_PATCHED = 256             # text ranges a reset flushes one by one
INITIAL_EFLAGS = 0x202

_COUNT_HOOK, _INTR_HOOK = _cpuhooks.addresses()
_cpuhooks.init(ctypes.cast(fast.uc_emu_start, ctypes.c_void_p).value, fast.EMU_STOP_ADDRESS,
               ctypes.cast(fast.uc_reg_read, ctypes.c_void_p).value,
               ctypes.cast(fast.uc_reg_write, ctypes.c_void_p).value,
               x86.UC_X86_REG_EAX, x86.UC_X86_REG_EBX, x86.UC_X86_REG_ECX,
               x86.UC_X86_REG_EIP, IPC_VEC, UNTIL)
_run_slice = _cpuhooks.run
_stop = _cpuhooks.stop

_MEM_CAUSES = {
    19: faults.READ_UNMAPPED, 20: faults.WRITE_UNMAPPED, 21: faults.FETCH_UNMAPPED,
    22: faults.WRITE_PROTECTED, 23: faults.READ_PROTECTED, 24: faults.FETCH_PROTECTED,
}
_EXCEPTION_CAUSES = {0: faults.DIVIDE_ERROR, 6: faults.INVALID_OPCODE}

GENERAL_REGISTERS = (
    ("eax", x86.UC_X86_REG_EAX), ("ecx", x86.UC_X86_REG_ECX), ("edx", x86.UC_X86_REG_EDX),
    ("ebx", x86.UC_X86_REG_EBX), ("esp", x86.UC_X86_REG_ESP), ("ebp", x86.UC_X86_REG_EBP),
    ("esi", x86.UC_X86_REG_ESI), ("edi", x86.UC_X86_REG_EDI), ("eip", x86.UC_X86_REG_EIP),
    ("eflags", x86.UC_X86_REG_EFLAGS), ("cs", x86.UC_X86_REG_CS), ("ss", x86.UC_X86_REG_SS),
    ("ds", x86.UC_X86_REG_DS), ("es", x86.UC_X86_REG_ES), ("fs", x86.UC_X86_REG_FS),
    ("gs", x86.UC_X86_REG_GS),
)
REGISTER_IDS = dict(GENERAL_REGISTERS)


def _round_up(value, unit=PAGE_SIZE):
    return (value + unit - 1) // unit * unit


class Cpu:
    """A process's CPU and private address space (see the module docstring)."""

    def __init__(self, window_base, trap, breakpoint=None):
        self.window_base = window_base
        self.breakpoint = breakpoint
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.handle = self.uc._uch
        # private, not shared: a forked copy of the machine (the fault injector's
        # snapshots) gets its memory copy-on-write instead of writing into the parent's
        self.backing = mmap.mmap(-1, WINDOW_SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.mem = memoryview(self.backing)
        self._backing_address = ctypes.addressof(ctypes.c_char.from_buffer(self.backing))
        self.context = fast.CpuContext(0, 0, self.handle.value, 0, trap, self._on_exception)
        self._context_address = ctypes.addressof(self.context)
        self.fault = None
        self.stopped = False
        self.running = False
        self.pending_result = None   # eax to write before the next slice
        self.regions = ()          # ((lo, hi, writable), ...) of mapped memory
        self.rw_regions = ()       # ((lo, hi), ...): data+bss and stack
        self.text_range = (window_base, window_base)
        self.entry = window_base
        self._pristine = None
        self._fresh_state = None     # the whole CPU state of the new instance
        self._mapped = []
        self._dirty = False          # memory may hold more than zeros and the image
        self._patched = None         # text ranges written since the last reset; None: all
        self._eip = ctypes.c_uint32()
        self._result = ctypes.c_uint32()
        self._install_hooks()

    @property
    def trap(self):
        return self.context.on_ipc

    @trap.setter
    def trap(self, handler):
        self.context.on_ipc = handler

    # -- set-up ---------------------------------------------------------------------------
    def _install_hooks(self):
        fast.add_raw_hook(self.handle, UC_HOOK_CODE, _COUNT_HOOK, self._context_address)
        fast.add_raw_hook(self.handle, UC_HOOK_INTR, _INTR_HOOK, self._context_address)
        self.uc.hook_add(UC_HOOK_MEM_INVALID, self._on_memory_fault)
        self.uc.hook_add(UC_HOOK_INSN_INVALID, self._on_invalid_instruction)
        self.uc.hook_add(UC_HOOK_INSN, self._on_port_in, None, 1, 0, x86.UC_X86_INS_IN)
        self.uc.hook_add(UC_HOOK_INSN, self._on_port_out, None, 1, 0, x86.UC_X86_INS_OUT)
        for insn in (x86.UC_X86_INS_SYSCALL, x86.UC_X86_INS_SYSENTER):
            self.uc.hook_add(UC_HOOK_INSN, self._on_system_instruction, None, 1, 0, insn)

    def load(self, text_base, text, data_base, data, bss_size, entry):
        """Map the program's regions and copy its image in; set the initial registers."""
        wb = self.window_base
        if text_base != wb or data_base != wb + DATA_OFFSET:
            raise ValueError("program not linked at its window")
        if len(text) > TEXT_MAX:
            raise ValueError("text larger than TEXT_MAX")
        data_size = len(data) + bss_size
        if data_size > WINDOW_SIZE - DATA_OFFSET - STACK_SIZE:
            raise ValueError("data and bss overlap the stack")
        for address, size in self._mapped:
            self.uc.mem_unmap(address, size)
            if self._dirty:
                offset = address - wb
                self.mem[offset:offset + size] = bytes(size)
        self._dirty = False          # a fresh mapping of zeroed memory
        self._mapped = []
        text_size = _round_up(max(len(text), 1))
        stack_lo = wb + WINDOW_SIZE - STACK_SIZE
        regions = [(wb, wb + text_size, False)]
        self._map(wb, text_size, UC_PROT_READ | UC_PROT_EXEC)
        rw = []
        if data_size:
            mapped = _round_up(data_size)
            self._map(data_base, mapped, UC_PROT_READ | UC_PROT_WRITE)
            regions.append((data_base, data_base + mapped, True))
            rw.append((data_base, data_base + mapped))
        self._map(stack_lo, STACK_SIZE, UC_PROT_READ | UC_PROT_WRITE)
        regions.append((stack_lo, wb + WINDOW_SIZE, True))
        rw.append((stack_lo, wb + WINDOW_SIZE))
        self.regions = tuple(regions)
        self.rw_regions = tuple(rw)
        self.text_range = (wb, wb + len(text))
        self.entry = entry
        self._pristine = (bytes(text), bytes(data), data_size)
        self._patched = None         # new code: no translation of the old one may stay
        self.reset()

    def _map(self, address, size, perms):
        self.uc.mem_map_ptr(address, size, perms,
                            self._backing_address + (address - self.window_base))
        self._mapped.append((address, size))

    def reset(self):
        """Back to the pristine image: text, data, zeroed bss and stack, fresh registers."""
        text, data, data_size = self._pristine
        mem, wb = self.mem, self.window_base
        if self._dirty:
            for lo, hi, _ in self.regions:
                mem[lo - wb:hi - wb] = bytes(hi - lo)
        self._dirty = True
        mem[0:len(text)] = text
        mem[DATA_OFFSET:DATA_OFFSET + len(data)] = data
        if self._patched is None:
            self.uc.ctl_remove_cache(wb, wb + _round_up(max(len(text), 1)))
        else:
            for lo, hi in self._patched:
                self.uc.ctl_remove_cache(lo, hi)
        self._patched = []
        # every register a process can change (segments, FPU, flags...) starts fresh: a
        # restarted driver must not inherit a segment register its faulty predecessor set
        if self._fresh_state is None:
            self._fresh_state = self.uc.context_save()
        else:
            self.uc.context_restore(self._fresh_state)
        for name, reg in GENERAL_REGISTERS[:8]:
            self.uc.reg_write(reg, 0)
        self.uc.reg_write(x86.UC_X86_REG_ESP, wb + WINDOW_SIZE)
        self.uc.reg_write(x86.UC_X86_REG_EIP, self.entry)
        self.uc.reg_write(x86.UC_X86_REG_EFLAGS, INITIAL_EFLAGS)
        self.fault = None
        self.pending_result = None

    # -- running --------------------------------------------------------------------------
    def run(self, budget):
        """Run at most `budget` instructions; return how many ran."""
        self.stopped = False
        self.running = True
        result, self.pending_result = self.pending_result, None
        ran = _run_slice(self._context_address, budget, result)
        self.running = False
        if ran < budget and self.fault is None and not self.stopped:
            self._explain_early_return(self.context.status)
        return ran

    def _explain_early_return(self, status):
        eip = self.eip
        if eip == UNTIL:
            self.fault = faults.Fault(faults.FETCH_UNMAPPED, eip, eip)
        elif status != 0:
            self.fault = faults.Fault(faults.CPU_EXCEPTION, eip, eip, f"unicorn error {status}")
        elif self.read(eip - 1, 1) == b"\xf4":
            self.fault = faults.Fault(faults.HALT, eip - 1, eip - 1)
        else:
            self.fault = faults.Fault(faults.CPU_EXCEPTION, eip, eip, "stopped unexpectedly")

    def stop(self):
        """Stop after the current instruction (from a hook): the count hook stops the CPU
        before the next one."""
        self.stopped = True
        _stop(self._context_address)

    def _fail(self, fault):
        self.fault = fault
        context = self.context
        context.limit = context.count

    # -- hooks ------------------------------------------------------------------------------
    def _on_exception(self, vector):
        """Every interrupt vector but the IPC one (from the C hook).  The counter knows
        the instruction that raised it; its first byte tells a software interrupt
        (`int N`, `int3`, `into`) from a CPU exception (divide error...)."""
        at = self.context.pc
        opcode = self.read(at, 1)
        if opcode == b"\xcc" or (vector == 3 and self.read(at, 2) == b"\xcd\x03"):
            if self.breakpoint is not None and self.breakpoint(self):
                return
            self._fail(faults.Fault(faults.BREAKPOINT, at, at))
        elif opcode == b"\xcd":
            self._fail(faults.Fault(faults.BAD_INTERRUPT, vector, at, f"int {vector:#x}"))
        else:
            cause = _EXCEPTION_CAUSES.get(vector, faults.CPU_EXCEPTION)
            self._fail(faults.Fault(cause, at, at, f"vector {vector}"))

    def _on_memory_fault(self, uc, access, address, size, value, user_data):
        cause = _MEM_CAUSES.get(access, faults.CPU_EXCEPTION)
        self._fail(faults.Fault(cause, address, self.eip, f"{size} bytes"))
        return False

    def _on_invalid_instruction(self, uc, user_data):
        at = self.context.pc
        code = self.read(at, 2)
        if code[:1] == b"\xcd":                 # Unicorn takes `int 6` for an invalid opcode
            self._fail(faults.Fault(faults.BAD_INTERRUPT, code[1], at, f"int {code[1]:#x}"))
        else:
            self._fail(faults.Fault(faults.INVALID_OPCODE, at, at))
        return False

    def _on_port_in(self, uc, port, size, user_data):
        self._fail(faults.Fault(faults.PORT_IO, port, self.eip, f"in, {size} bytes"))
        return 0xFFFFFFFF

    def _on_port_out(self, uc, port, size, value, user_data):
        self._fail(faults.Fault(faults.PORT_IO, port, self.eip, f"out, {size} bytes"))

    def _on_system_instruction(self, uc, user_data):
        eip = self.eip
        self._fail(faults.Fault(faults.INVALID_OPCODE, eip, eip, "syscall/sysenter"))

    # -- registers --------------------------------------------------------------------------
    def set_result(self, value):
        """The result of an IPC call that completed while the process was blocked: eax
        gets it before the process runs again (at once if it is running)."""
        if self.running:
            self._result.value = value & 0xFFFFFFFF
            fast.uc_reg_write(self.handle, x86.UC_X86_REG_EAX, ctypes.byref(self._result))
        else:
            self.pending_result = value

    def _flush_result(self):
        if self.pending_result is not None:
            result, self.pending_result = self.pending_result, None
            self.uc.reg_write(x86.UC_X86_REG_EAX, result & 0xFFFFFFFF)

    @property
    def eip(self):
        fast.uc_reg_read(self.handle, x86.UC_X86_REG_EIP, ctypes.byref(self._eip))
        return self._eip.value

    def registers(self):
        """All general registers by name (debugger, panic reports)."""
        self._flush_result()
        return {name: self.uc.reg_read(reg) & 0xFFFFFFFF for name, reg in GENERAL_REGISTERS}

    def set_register(self, name, value):
        self._flush_result()
        self.uc.reg_write(REGISTER_IDS[name], value & 0xFFFFFFFF)

    # -- memory -----------------------------------------------------------------------------
    def region_of(self, address, size):
        """The mapped region holding all of [address, address+size), or None."""
        end = address + size
        for lo, hi, writable in self.regions:
            if lo <= address and end <= hi:
                return (lo, hi, writable)
        return None

    def in_rw(self, address, size):
        """True when [address, address+size) lies in data+bss or in the stack."""
        end = address + size
        for lo, hi in self.rw_regions:
            if lo <= address and end <= hi:
                return True
        return False

    def read(self, address, size):
        """Bytes of mapped memory; b'' when any of the range is not mapped."""
        if self.region_of(address, size) is None:
            return b""
        offset = address - self.window_base
        return bytes(self.mem[offset:offset + size])

    def write(self, address, data):
        """Write into mapped memory (any region); False when not mapped."""
        if self.region_of(address, len(data)) is None:
            return False
        offset = address - self.window_base
        self.mem[offset:offset + len(data)] = data
        lo, hi, _ = self.regions[0]
        if address < hi and address + len(data) > lo:
            self.uc.ctl_remove_cache(address, address + len(data))
            patched = self._patched
            if patched is not None:
                if len(patched) < MAX_PATCHED:
                    patched.append((address, address + len(data)))
                else:
                    self._patched = None        # many changes: the next reset flushes all
        return True

    def patch(self, address, data):
        """Change code at `address` and flush the translation cache for it."""
        return self.write(address, data)
