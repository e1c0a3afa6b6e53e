"""Direct access to the Unicorn C library for the hot paths.

The binding's public methods cost about three times what the C functions cost through
ctypes (measured: reg_read 1.4 us against 0.4 us).  This module exposes the C functions
the machine calls outside the C hooks (register writes, raw hook registration), the
addresses the C hooks of `emu._cpuhooks` call, and the context structure they share
with Python.  Everything else goes through the binding.
"""

import ctypes

from unicorn import unicorn as _unicorn_module

try:                                     # unicorn >= 2.1 keeps the library here
    from unicorn.unicorn_py3.unicorn import uclib
except ImportError:                      # pragma: no cover - older layouts
    uclib = _unicorn_module._uc

uc_emu_start = uclib.uc_emu_start
uc_emu_stop = uclib.uc_emu_stop
uc_reg_read = uclib.uc_reg_read
uc_reg_write = uclib.uc_reg_write
uc_reg_read_batch = uclib.uc_reg_read_batch
uc_reg_write_batch = uclib.uc_reg_write_batch
uc_hook_add = uclib.uc_hook_add
uc_hook_del = uclib.uc_hook_del

EMU_STOP_ADDRESS = ctypes.cast(uc_emu_stop, ctypes.c_void_p).value

# void (*)(uc_engine *uc, uint32_t intno, void *user_data)
INTR_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)


class CpuContext(ctypes.Structure):
    """The per-CPU context shared with the C hooks of `emu._cpuhooks` (same layout as
    its cpu_context_t): the instruction counter, the engine, the kernel's callables."""
    _fields_ = [("count", ctypes.c_uint64),
                ("limit", ctypes.c_uint64),
                ("uc", ctypes.c_void_p),
                ("pc", ctypes.c_uint64),
                ("on_ipc", ctypes.py_object),
                ("on_exception", ctypes.py_object),
                ("status", ctypes.c_int64)]


def add_raw_hook(handle, hook_type, callback_address, user_data_address, begin=1, end=0):
    """Register a C-level hook; returns the hook handle."""
    hook = ctypes.c_size_t()
    status = uc_hook_add(handle, ctypes.byref(hook), hook_type,
                         ctypes.c_void_p(callback_address),
                         ctypes.c_void_p(user_data_address), begin, end)
    if status != 0:
        raise RuntimeError(f"uc_hook_add failed with status {status}")
    return hook
