"""SYS_VIRCOPY: copy between two processes' addresses, for servers (VFS and PM serving users).

Message in: M_TYPE = SYS_VIRCOPY, VC_SRC (M_W0) = the source endpoint (or SELF),
VC_SRC_ADDR (M_W1), VC_DST (M_W2) = the destination endpoint (or SELF), VC_DST_ADDR
(M_W3), VC_SIZE (M_W4) = bytes, 1..VIRCOPY_MAX.  The source range may lie in any mapped
region of the source (text included), the destination range only in the destination's
data, bss or stack.  Reply: M_TYPE = OK.  Errors, checked in this order, each before
anything is copied: EPERM when the caller is not a server (whatever its policy says),
EINVAL for a bad size, EBADSRCDST / EDEADSRCDST for a malformed / dead endpoint (a
kernel task, ANY and NONE are malformed), EFAULT for a range outside its process.
"""

from kernel.abi import (EFAULT, EINVAL, EPERM, OK, SELF, VC_DST, VC_DST_ADDR, VC_SIZE,
                        VC_SRC, VC_SRC_ADDR, VIRCOPY_MAX)
from kernel.system.common import copy_bytes


def do_vircopy(kernel, caller, msg):
    if not caller.is_server:
        kernel.system.reason = "VIRCOPY by a non-server"
        return EPERM
    size = msg.get(VC_SIZE)
    if not 1 <= size <= VIRCOPY_MAX:
        kernel.system.reason = "bad copy size"
        return EINVAL
    status, src = _process(kernel, caller, msg.get(VC_SRC))
    if not status:
        status, dst = _process(kernel, caller, msg.get(VC_DST))
    if status:
        kernel.system.reason = "no such process"
        return status
    src_addr = msg.get_unsigned(VC_SRC_ADDR)
    dst_addr = msg.get_unsigned(VC_DST_ADDR)
    if src.cpu.region_of(src_addr, size) is None:
        kernel.system.reason = "source outside its process"
        return EFAULT
    if not dst.cpu.in_rw(dst_addr, size):
        kernel.system.reason = "destination outside its process"
        return EFAULT
    copy_bytes(src.cpu, src_addr, dst.cpu, dst_addr, size)
    return OK


def _process(kernel, caller, ep):
    if ep == SELF:
        return OK, caller
    return kernel.table.lookup(ep)
