"""The ABI has one source: kernel/abi.py; the guest include is generated from it."""

from kernel import abi
from tools import genabi


def test_guest_include_is_current():
    assert genabi.INCLUDE_PATH.read_text() == genabi.render(), \
        "guest/include/abi.inc is stale: run `make abi`"


def test_include_says_generated():
    assert "do not edit" in genabi.render().splitlines()[1]


def test_spec_numbers():
    assert (abi.SEND, abi.RECEIVE, abi.SENDREC, abi.NOTIFY, abi.NBSEND, abi.ASEND) == \
        (1, 2, 3, 4, 5, 16)
    assert abi.NONBLOCK == 0x100 and abi.IPC_VEC == 33
    assert (abi.HARDWARE, abi.SYSTEM, abi.CLOCK) == (-1, -2, -3)
    assert (abi.ANY, abi.NONE, abi.SELF) == (0x7ACE, 0x6ACE, 0x8ACE)
    assert (abi.ELOCKED, abi.EBADCALL, abi.EBADSRCDST, abi.ECALLDENIED, abi.EDEADSRCDST,
            abi.ENOTREADY, abi.EBADREQUEST, abi.ETRAPDENIED) == \
        (-101, -102, -103, -104, -105, -106, -107, -110)
    assert (abi.EPERM, abi.EIO, abi.EFAULT, abi.EINVAL, abi.ENOSYS) == (-1, -5, -14, -22, -38)
    assert abi.MSG_SIZE == 64 and abi.M_SOURCE == 0 and abi.M_TYPE == 4
    assert [getattr(abi, f"M_W{k}") for k in range(14)] == [8 + 4 * k for k in range(14)]
    assert abi.endpoint(3, 5) == 3 * 1024 + 5 and abi.NR_PROCS == 64
    assert (abi.AMF_VALID, abi.AMF_DONE, abi.AMF_NOTIFY) == (1, 2, 4)
    assert (abi.CPF_READ, abi.CPF_WRITE, abi.CPF_VALID) == (1, 2, 0x1000)
    assert (abi.DIO_INPUT, abi.DIO_OUTPUT, abi.DIO_BYTE, abi.DIO_WORD, abi.DIO_LONG) == \
        (1, 2, 0x10, 0x20, 0x30)
    assert abi.TICK_INSNS == 10_000 and abi.HZ == 100
    assert abi.window_base(2) == 0x01200000


def test_every_kernel_call_has_a_name():
    assert len(abi.KERNEL_CALL_NAMES) == abi.NR_SYS_CALLS
    assert abi.KERNEL_CALL_BY_NAME["DEVIO"] == abi.SYS_DEVIO
