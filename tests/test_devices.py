"""The printer and the console behave as SPEC section 2 says, in virtual time."""

import io

from emu.devices.console import Console
from emu.devices.printer import PRINT_TIME, Printer
from emu.ports import PortBus


def test_printer_status_strobe_and_busy_time():
    out = io.BytesIO()
    printer = Printer(out)
    assert printer.read(0xAB, 0) == 0xCD
    printer.write(0xAC, ord("A"), 0)
    printer.write(0xAD, 0x01, 5)             # STROBE rising edge prints
    assert out.getvalue() == b"A"
    assert printer.read(0xAB, 6) == 0x4D     # busy for 20 virtual microseconds
    assert printer.read(0xAB, 5 + PRINT_TIME) == 0xCD
    assert PRINT_TIME == 20


def test_printer_strobe_while_busy_is_lost_and_level_does_not_repeat():
    out = io.BytesIO()
    printer = Printer(out)
    printer.write(0xAC, ord("x"), 0)
    printer.write(0xAD, 0x01, 0)
    printer.write(0xAD, 0x01, 100)           # still high: no new edge
    printer.write(0xAD, 0x00, 100)
    printer.write(0xAC, ord("y"), 101)
    printer.write(0xAD, 0x01, 102)           # edge, ready again
    printer.write(0xAD, 0x00, 103)
    printer.write(0xAD, 0x01, 104)           # edge while busy: lost
    assert out.getvalue() == b"xy"


def test_printer_irq_when_enabled():
    printer = Printer(io.BytesIO())
    printer.write(0xAD, 0x11, 10)            # IRQ enable + strobe
    assert printer.next_event() == 10 + PRINT_TIME
    assert printer.advance(10 + PRINT_TIME - 1) == ()
    assert printer.advance(10 + PRINT_TIME) == (7,)
    assert printer.next_event() is None


def test_console_output_input_and_line_status():
    out = io.BytesIO()
    console = Console(out, b"ab")
    assert console.read(0x3FD, 0) & 0x21 == 0x21
    assert console.read(0x3F8, 0) == ord("a")
    assert console.advance(0) == (4,)
    assert console.read(0x3F8, 0) == ord("b")
    assert console.read(0x3FD, 0) & 0x11 == 0x10         # no data; the input has ended
    assert console.advance(0) == (4,)                    # one interrupt for the end
    assert console.advance(0) == ()
    console.write(0x3F8, ord("z"), 0)
    assert out.getvalue() == b"z"


def test_port_bus_splits_words_and_floats_unknown_ports():
    out = io.BytesIO()
    bus = PortBus([Printer(out)])
    assert bus.read(0x60, 1, 0) == 0xFF
    assert bus.read(0xAB, 2, 0) == 0xCD | (0 << 8)
    bus.write(0x61, 4, 0x12345678, 0)        # nobody there: ignored
    assert bus.next_event() is None
