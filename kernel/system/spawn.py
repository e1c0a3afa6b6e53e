"""SYS_SPAWN: start a fresh process of a program of the image, by label, with its policy.

Message in: M_TYPE = SYS_SPAWN, SPAWN_LABEL (M_W0..M_W3) = the program's label,
NUL-padded (the bytes up to the first NUL), SPAWN_ARGS_ADDR (M_W4) = the argument
string in any mapped region of the caller, SPAWN_ARGS_LEN (M_W5) = its length,
0..ARGS_MAX (the address is not read when 0).  The process starts in the program's own
boot slot if that slot is free, else in the lowest free slot past the image's programs,
else in the lowest free slot; a reused slot's generation goes up by one.  It finds its
arguments as `Kernel.start_process` places them (copied as given, a NUL appended).
Reply: M_TYPE = OK, SPAWN_ENDPOINT (M_W0) = the new endpoint.  Errors, in this order,
each before anything starts: ENOENT for a label that is no program of the image,
EINVAL for a bad length, EFAULT for arguments outside the caller, EAGAIN when every
slot is in use.
"""

from kernel.abi import (ARGS_MAX, EAGAIN, EFAULT, EINVAL, ENOENT, LABEL_SIZE, OK,
                        SPAWN_ARGS_ADDR, SPAWN_ARGS_LEN, SPAWN_ENDPOINT, SPAWN_LABEL)


def do_spawn(kernel, caller, msg):
    label = bytes(msg.data[SPAWN_LABEL:SPAWN_LABEL + LABEL_SIZE]).split(b"\0", 1)[0]
    index = kernel.labels.get(label.decode("latin-1"))
    if index is None:
        kernel.system.reason = "no such program"
        return ENOENT
    length = msg.get(SPAWN_ARGS_LEN)
    if not 0 <= length <= ARGS_MAX:
        kernel.system.reason = "bad argument length"
        return EINVAL
    args = b""
    if length:
        args = caller.cpu.read(msg.get_unsigned(SPAWN_ARGS_ADDR), length)
        if not args:
            kernel.system.reason = "arguments outside the caller"
            return EFAULT
    slot = _free_slot(kernel.table.procs, index, len(kernel.programs))
    if slot is None:
        kernel.system.reason = "no free slot"
        return EAGAIN
    policy, program = kernel.programs[index]
    proc = kernel.start_process(index, policy, program, slot, args, by=caller.label)
    msg.set(SPAWN_ENDPOINT, proc.endpoint)
    return OK


def _free_slot(procs, index, nr_programs):
    if not procs[index].alive:
        return index
    for proc in procs[nr_programs:]:
        if not proc.alive:
            return proc.slot
    for proc in procs:
        if not proc.alive:
            return proc.slot
    return None
