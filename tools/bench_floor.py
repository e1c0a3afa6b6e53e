"""The floors of `emu bench`: the same guest code on bare Unicorn, timed in the same run.

Contract: each `floor_*` function returns seconds of `clock()` (the thread's CPU time:
on a shared machine, wall time would also count the time slices of other processes;
everything timed runs in the calling thread) for work that the machine does in one
figure, done with nothing but Unicorn and the machine's own instruction counter:
- a `BareCpu` is one Unicorn i386 instance with a program (an ELF read by `emu.elf`)
  mapped at its window, the counting C hook of `emu._cpuhooks` registered as the machine
  registers it, and an `int 0x21` hook through raw ctypes; `run(budget)` starts
  emu_start exactly as `emu.cpu.Cpu.run` does (begin = eip, until = an unmapped
  address, no timeout, count 0, the budget enforced by the counting hook).
- `floor_round_trip`: two BareCpus switching at their IPC trap with emu_stop, two
  switches per round trip (the server stops at every second trap: its RECEIVE).
- `floor_alone`: one BareCpu whose trap hook returns at once, run in slices of the
  process's quantum until it retired exactly the instructions the machine's run did.
- `floor_boot`: create N instances and map one window in each (Unicorn initialises an
  instance lazily, on its first mapping, so a bare `Uc()` alone measures nothing).
Nothing here touches the kernel: the guest's traps get no answers, so the programs must
not depend on them for their control flow (the benchmark programs do not).
"""

import ctypes
import time

from unicorn import (UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INTR, UC_MODE_32, UC_PROT_ALL,
                     UC_PROT_EXEC, UC_PROT_READ, UC_PROT_WRITE, Uc)
from unicorn import x86_const as x86

from emu import unicorn_fast as fast
from emu._cpuhooks import addresses as _hook_addresses
from kernel.abi import PAGE_SIZE, STACK_SIZE, WINDOW_SIZE, window_base

UNTIL = 0xFFFFFFF0                   # as emu.cpu: an address never mapped
STOP = "stop"                        # every trap stops the CPU
STOP_EVERY_SECOND = "stop-every-second"   # traps 1, 3, 5... stop (a server's RECEIVEs)
RETURN = "return"                    # every trap returns at once

_ICOUNT_HOOK = _hook_addresses()[0]
clock = time.thread_time             # the clock of every time figure of emu bench


def _round_up(value):
    return (value + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE


class BareCpu:
    """One bare Unicorn instance running one program (see the module docstring)."""

    def __init__(self, program, on_trap, registers=None):
        self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.handle = uc._uch
        self.counter = fast.CpuContext(0, 0, uc._uch.value, 0, None, None)
        self.traps = 0
        self._eip = ctypes.c_uint32()
        fast.add_raw_hook(self.handle, UC_HOOK_CODE, _ICOUNT_HOOK,
                          ctypes.addressof(self.counter))
        self._callback = fast.INTR_CALLBACK(self._hook(on_trap))
        fast.add_raw_hook(self.handle, UC_HOOK_INTR,
                          ctypes.cast(self._callback, ctypes.c_void_p).value, 0)
        self._load(program)
        for name, value in (registers or {}).items():
            uc.reg_write(getattr(x86, f"UC_X86_REG_{name.upper()}"), value)

    def _hook(self, on_trap):
        counter, stop = self.counter, fast.uc_emu_stop

        def stop_now(handle, vector, user_data):      # what Cpu.stop does
            counter.limit = counter.count
            stop(handle)

        def stop_every_second(handle, vector, user_data):
            self.traps += 1
            if self.traps & 1:
                counter.limit = counter.count
                stop(handle)

        def return_now(handle, vector, user_data):
            pass

        return {STOP: stop_now, STOP_EVERY_SECOND: stop_every_second,
                RETURN: return_now}[on_trap]

    def _load(self, program):
        uc = self.uc
        text_size = _round_up(max(len(program.text), 1))
        uc.mem_map(program.text_base, text_size, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_write(program.text_base, bytes(program.text))
        data_size = len(program.data) + program.bss_size
        if data_size:
            uc.mem_map(program.data_base, _round_up(data_size), UC_PROT_READ | UC_PROT_WRITE)
            uc.mem_write(program.data_base, bytes(program.data))
        top = program.text_base + WINDOW_SIZE
        uc.mem_map(top - STACK_SIZE, STACK_SIZE, UC_PROT_READ | UC_PROT_WRITE)
        uc.reg_write(x86.UC_X86_REG_ESP, top)
        uc.reg_write(x86.UC_X86_REG_EIP, program.entry)

    def run(self, budget):
        """Run at most `budget` instructions; return how many ran (as Cpu.run)."""
        counter = self.counter
        counter.count = 0
        counter.limit = budget
        fast.uc_reg_read(self.handle, x86.UC_X86_REG_EIP, ctypes.byref(self._eip))
        fast.uc_emu_start(self.handle, self._eip.value, UNTIL, 0, 0)
        return counter.count


def floor_round_trip(client, server, trips, budget):
    """Seconds for `trips` round trips between two bare instances (two switches each)."""
    server_cpu = BareCpu(server, STOP_EVERY_SECOND, {"esi": 1})
    client_cpu = BareCpu(client, STOP, {"esi": trips})
    run_client, run_server = client_cpu.run, server_cpu.run
    run_server(budget)                  # to its first RECEIVE, as the machine's boot
    start = clock()
    for _ in range(trips):
        run_client(budget)
        run_server(budget)
    return clock() - start


def floor_alone(program, registers, insns, budget):
    """Seconds to retire exactly `insns` instructions of `program` in slices of `budget`,
    its traps returning at once."""
    cpu = BareCpu(program, RETURN, registers)
    run = cpu.run
    left = insns
    start = clock()
    while left > 0:
        ran = run(min(budget, left))
        if ran == 0:
            raise RuntimeError("bare floor: the program stopped running")
        left -= ran
    return clock() - start


def floor_boot(count):
    """Seconds to create `count` bare instances, each with one window mapped."""
    start = clock()
    instances = []
    for index in range(count):
        uc = Uc(UC_ARCH_X86, UC_MODE_32)
        uc.mem_map(window_base(index), WINDOW_SIZE, UC_PROT_ALL)
        instances.append(uc)
    elapsed = clock() - start
    del instances
    return elapsed

