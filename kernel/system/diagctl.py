"""SYS_DIAGCTL: a line of text to the kernel log (debug output of any process).

Message in: M_TYPE = SYS_DIAGCTL, DIAG_ADDR (M_W0) = the text in the caller's memory (any
of its mapped regions), DIAG_LEN (M_W1) = its length, 1..DIAG_MAX.  Reply: M_TYPE = OK.
Errors: EINVAL for a bad length, EFAULT when the text is not in the caller's memory.
"""

from kernel.abi import DIAG_ADDR, DIAG_LEN, DIAG_MAX, EFAULT, EINVAL, OK


def do_diagctl(kernel, caller, msg):
    length = msg.get(DIAG_LEN)
    if not 1 <= length <= DIAG_MAX:
        kernel.system.reason = "bad DIAGCTL length"
        return EINVAL
    text = caller.cpu.read(msg.get_unsigned(DIAG_ADDR), length)
    if not text:
        kernel.system.reason = "text outside the caller"
        return EFAULT
    kernel.log(caller, text.decode("latin-1").rstrip("\n"))
    return OK
