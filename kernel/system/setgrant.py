"""SYS_SETGRANT: register the caller's grant table.

Message in: M_TYPE = SYS_SETGRANT, SG_ADDR (M_W0) = the table in the caller's data, bss
or stack, SG_COUNT (M_W1) = its entries, 0..GRANT_MAX; 0 removes the table (SG_ADDR is
then ignored).  A new table replaces the old one.  The kernel keeps only the address
and the count and reads the entries at every use (`kernel.system.grants`).  Reply:
M_TYPE = OK.  Errors: EINVAL for a bad count, EFAULT when the table is not in the
caller's data, bss or stack; the previous table stays in place on an error.
"""

from kernel.abi import EFAULT, EINVAL, GRANT_ENTRY_SIZE, GRANT_MAX, OK, SG_ADDR, SG_COUNT


def do_setgrant(kernel, caller, msg):
    count = msg.get(SG_COUNT)
    if not 0 <= count <= GRANT_MAX:
        kernel.system.reason = "bad grant table size"
        return EINVAL
    address = msg.get_unsigned(SG_ADDR)
    if count and not caller.cpu.in_rw(address, count * GRANT_ENTRY_SIZE):
        kernel.system.reason = "grant table outside the caller"
        return EFAULT
    caller.grant_addr = address if count else 0
    caller.grant_count = count
    return OK
