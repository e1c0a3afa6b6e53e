"""Names for numbers, for traces, the debugger and reports: message types and their
payload fields (kernel calls and the stock protocols), errors, primitives, tasks.

Contract: `type_name(m_type)` is the name of a message type or the number itself;
`fields(m_type)` the names of its payload words from M_W0 on; `result_name(value)` the
name of an error (or OK) or the number.  Built once at import from `kernel.abi` and
`kernel.protocols`, the only sources of the numbers.
"""

from kernel import abi, protocols

MESSAGE_TYPE_NAMES = dict(abi.MESSAGE_TYPE_NAMES)
MESSAGE_TYPE_NAMES.update(protocols.request_names())
MESSAGE_FIELDS = dict(abi.MESSAGE_FIELDS)
MESSAGE_FIELDS.update(protocols.PROTOCOL_FIELDS)
ERROR_NAMES = abi.ERROR_NAMES
PRIMITIVE_NAMES = abi.PRIMITIVE_NAMES


def type_name(m_type):
    return MESSAGE_TYPE_NAMES.get(m_type, m_type)


def fields(m_type):
    return MESSAGE_FIELDS.get(m_type, ())


def result_name(value):
    return ERROR_NAMES.get(value, value)
