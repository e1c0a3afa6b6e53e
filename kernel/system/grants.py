"""Grants: the check of one access to a granter's memory through its grant table.

A process registers a table of GRANT_ENTRY_SIZE-byte entries `{flags, grantee, address,
size}` in its own data, bss or stack (SETGRANT); entry `i` is grant id `i`.  The kernel
keeps only the table's address and count, and re-reads the entry at every use, so the
granter may change or revoke a grant at any time.

Contract: `granted_area(kernel, caller, granter_ep, grant_id, offset, size, access)` is
(granter's cpu, address) of the `size` bytes at `offset` in the granted area, or None
after setting `kernel.system.reason`: the handler then answers EPERM.  `access` is
CPF_READ (the caller reads the granter's memory) or CPF_WRITE.  The checks, in order:
the granter is SELF (the caller) or a live process's current endpoint; it has a table;
the id is in it; the entry has CPF_VALID and no unknown flag; its grantee is the
caller's endpoint; it allows `access`; 0 <= offset and offset + size <= the grant's
size; the whole granted area lies in the granter's data, bss or stack.
"""

from kernel.abi import (CPF_FLAGS_MASK, CPF_VALID, GRANT_ADDRESS, GRANT_ENTRY_SIZE,
                        GRANT_GRANTEE, GRANT_SIZE, SELF)
from kernel.message import read_int32


def granted_area(kernel, caller, granter_ep, grant_id, offset, size, access):
    if granter_ep == SELF:
        granter = caller
    else:
        status, granter = kernel.table.lookup(granter_ep)
        if status:
            return _deny(kernel, "granter not alive")
    if not granter.grant_count:
        return _deny(kernel, "granter has no grant table")
    if not 0 <= grant_id < granter.grant_count:
        return _deny(kernel, "grant id out of range")
    cpu = granter.cpu
    entry = granter.grant_addr + grant_id * GRANT_ENTRY_SIZE
    flags = read_int32(cpu, entry) & 0xFFFFFFFF
    if not flags & CPF_VALID or flags & ~CPF_FLAGS_MASK:
        return _deny(kernel, "grant not valid")
    if read_int32(cpu, entry + GRANT_GRANTEE) != caller.endpoint:
        return _deny(kernel, "grant of another grantee")
    if not flags & access:
        return _deny(kernel, "access not granted")
    address = read_int32(cpu, entry + GRANT_ADDRESS) & 0xFFFFFFFF
    granted = read_int32(cpu, entry + GRANT_SIZE) & 0xFFFFFFFF
    if offset < 0 or offset + size > granted:
        return _deny(kernel, "outside the grant")
    if not cpu.in_rw(address, granted):
        return _deny(kernel, "granted area outside the granter")
    return cpu, address + offset


def _deny(kernel, reason):
    kernel.system.reason = reason
    return None
