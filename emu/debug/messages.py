"""A 64-byte message in a process's memory, decoded with names.

Contract: `message_text(debugger, proc, address)` shows the message at `address` in
`proc`'s memory: `M_SOURCE` with the endpoint's name, `M_TYPE` with its name, and each
payload word under the name of that type's field (kernel calls and the stock protocols,
`kernel.names`), as hex and signed decimal; endpoint fields get their process's name and
inline strings (labels, paths) their text.  A reply, whose `M_TYPE` is the result, is
decoded with the fields of the request this process last sent from that address (its
last trap), so `msg` after a kernel call shows e.g. `DIO_VALUE 0xcd`.  Returns lines.
"""

from kernel.abi import M_SOURCE, M_TYPE, MSG_SIZE, NR_PAYLOAD_WORDS
from kernel.names import MESSAGE_TYPE_NAMES, fields, result_name

_ENDPOINT_FIELDS = ("ENDPOINT", "GRANTER", "CHILD", "VC_SRC", "VC_DST")
_STRING_STEMS = ("DS_LABEL", "SPAWN_LABEL", "PM_LABEL", "VFS_PATH", "DEV_DATA", "RS_LABEL")


def _word(data, index):
    return int.from_bytes(data[8 + 4 * index:12 + 4 * index], "little", signed=True)


def message_text(debugger, proc, address):
    data = debugger.read_memory(proc, address, MSG_SIZE)
    if len(data) != MSG_SIZE:
        return [f"msg: {address:#x} is not mapped in {proc.label} (64 bytes)"]
    table = debugger.table
    source = int.from_bytes(data[M_SOURCE:M_SOURCE + 4], "little", signed=True)
    m_type = int.from_bytes(data[M_TYPE:M_TYPE + 4], "little", signed=True)
    names = fields(m_type)
    type_text = MESSAGE_TYPE_NAMES.get(m_type)
    record = debugger.traps.get(proc)
    if type_text is None:
        type_text = str(result_name(m_type))
        if record is not None and record.message == address and record.m_type is not None \
                and record.done:
            names = fields(record.m_type)
            request = MESSAGE_TYPE_NAMES.get(record.m_type, f"{record.m_type:#x}")
            type_text += f" (reply to {request})"
    where = debugger.places.describe(address, with_line=False) if debugger.places else ""
    lines = [f"message at {address:#010x} {where} in {proc.label}:",
             f"  M_SOURCE  {source:>11}  {table.name_of(source)}",
             f"  M_TYPE    {m_type & 0xFFFFFFFF:#011x}  {type_text}"]
    last = max([i for i in range(NR_PAYLOAD_WORDS) if _word(data, i)] + [len(names) - 1, -1])
    for i in range(last + 1):
        value = _word(data, i)
        name = names[i] if i < len(names) else f"M_W{i}"
        extra = _extra(name, value, data, i, table)
        lines.append(f"  {name:<16}{value & 0xFFFFFFFF:#010x} {value:>11}{extra}")
    if last + 1 < NR_PAYLOAD_WORDS:
        lines.append(f"  M_W{last + 1}..M_W{NR_PAYLOAD_WORDS - 1} are 0")
    return lines


def _extra(name, value, data, index, table):
    if any(key in name for key in _ENDPOINT_FIELDS):
        return f"  {table.name_of(value)}"
    if any(name.startswith(stem) for stem in _STRING_STEMS):
        chunk = data[8 + 4 * index:12 + 4 * index]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk.rstrip(b"\0"))
        return f"  {text!r}" if text else ""
    return ""
