"""SYS_SAFECOPYFROM and SYS_SAFECOPYTO: copy between the caller and a granter through a grant.

Message in: M_TYPE = SYS_SAFECOPYFROM (granter -> caller) or SYS_SAFECOPYTO (caller ->
granter), SC_GRANTER (M_W0) = the granter's endpoint (or SELF), SC_GRANT (M_W1) = the
grant id, SC_OFFSET (M_W2) = the offset within the granted area, SC_SIZE (M_W3) =
bytes, 1..SAFECOPY_MAX, SC_ADDR (M_W4) = the caller's own address.  Reply: M_TYPE = OK.
Errors, checked in this order, each before anything is copied: EINVAL for a bad size,
EFAULT when the caller's own range is not in its data, bss or stack, EPERM for a bad
grant (every check of `kernel.system.grants`; FROM needs CPF_READ, TO needs CPF_WRITE).
"""

from kernel.abi import (CPF_READ, CPF_WRITE, EFAULT, EINVAL, EPERM, OK, SAFECOPY_MAX,
                        SC_ADDR, SC_GRANT, SC_GRANTER, SC_OFFSET, SC_SIZE)
from kernel.system.common import copy_bytes
from kernel.system.grants import granted_area


def do_safecopyfrom(kernel, caller, msg):
    return _safecopy(kernel, caller, msg, CPF_READ)


def do_safecopyto(kernel, caller, msg):
    return _safecopy(kernel, caller, msg, CPF_WRITE)


def _safecopy(kernel, caller, msg, access):
    size = msg.get(SC_SIZE)
    if not 1 <= size <= SAFECOPY_MAX:
        kernel.system.reason = "bad copy size"
        return EINVAL
    address = msg.get_unsigned(SC_ADDR)
    if not caller.cpu.in_rw(address, size):
        kernel.system.reason = "buffer outside the caller"
        return EFAULT
    area = granted_area(kernel, caller, msg.get(SC_GRANTER), msg.get(SC_GRANT),
                        msg.get(SC_OFFSET), size, access)
    if area is None:
        return EPERM
    granter_cpu, granted = area
    if access == CPF_READ:
        copy_bytes(granter_cpu, granted, caller.cpu, address, size)
    else:
        copy_bytes(caller.cpu, address, granter_cpu, granted, size)
    return OK
