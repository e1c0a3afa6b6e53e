"""The small parts of the fault injector: settings and trial numbering, outcome
categories, confidence intervals, output comparison, prompt counting, progress."""

import io
import random

import pytest

from kernel.abi import (EBADCALL, EBADSRCDST, ECALLDENIED, EDEADSRCDST, EFAULT, ENOTREADY,
                        ETRAPDENIED, SYS_DEVIO)
from tools.inject.outcome import Counters, wilson
from tools.inject.progress import Progress
from tools.inject.settings import make_settings, trial_count, trial_faults, trial_seed
from tools.inject.system import Shell
from tools.inject.verdict import divergence


def test_settings_number_the_trials_and_seed_each_from_its_number_alone():
    settings = make_settings("printer", 1050, per_trial=100)
    assert trial_count(settings) == 11
    assert [trial_faults(settings, t) for t in (0, 9, 10)] == [100, 100, 50]
    assert settings["window_time"] == 4 * settings["window"]
    assert trial_seed(1, 7) == trial_seed(1, 7) != trial_seed(1, 8) != trial_seed(2, 7)
    assert 0 <= trial_seed(123, 456) < 2 ** 63


@pytest.mark.parametrize("given, message", [
    ({"types": ["bogus"]}, "unknown fault type 'bogus'"),
    ({"trigger": "later"}, "unknown trigger"),
    ({"per_trial": 0}, "--per-trial must be a positive number"),
])
def test_bad_settings_are_one_line(given, message):
    with pytest.raises(ValueError, match=message):
        make_settings("printer", 10, **given)


class _Kernel:
    def __init__(self):
        self.denials, self.illegal_requests = {}, {}


def test_denials_fall_into_the_rows_of_the_seed_table_and_requests_name_their_reason():
    kernel = _Kernel()
    counters = Counters(kernel, "printer")
    kernel.denials[("printer", 1, EBADCALL)] = 2
    before = counters.snapshot()
    for error in (EBADCALL, EBADSRCDST, EDEADSRCDST, EFAULT, ETRAPDENIED, ECALLDENIED,
                  ENOTREADY):
        key = ("printer", 3, error)
        kernel.denials[key] = kernel.denials.get(key, 0) + 1
    kernel.denials[("vfs", 3, EFAULT)] = 5                   # not the target
    kernel.illegal_requests[("printer", SYS_DEVIO, -1, "port not allowed")] = 3
    kernel.illegal_requests[("printer", None, -107, "unknown call")] = 1
    denials, illegal = counters.since(before)
    assert denials == {"bad_primitive": 1, "bad_endpoint": 2, "bad_buffer": 1,
                       "unauthorized_primitive": 1, "unauthorized_endpoint": 1}
    assert illegal == {"DEVIO: port not allowed": 3, "unknown call": 1}


def test_wilson_intervals_hold_the_rate_and_narrow_with_more_faults():
    low, high = wilson(30, 100)
    assert low < 0.3 < high
    wide, narrow = wilson(3, 10), wilson(3000, 10000)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert wilson(0, 0) == (0.0, 0.0) and wilson(0, 50)[0] == 0.0


def test_wrong_output_is_where_the_printer_first_differs_from_the_golden_rounds():
    golden = {"round_output": "page\n", "offset": 2}
    assert divergence(golden, b"ge\npage\n", 2) is None
    assert divergence(golden, b"ge\npaXe\n", 2) == 5
    assert divergence(golden, b"ge\npa", 2) == 5                 # a truncated page
    assert divergence(golden, b"ge\npage\npage\n", 2) == 8        # a page too many


def test_the_shell_counts_prompts_at_line_starts_once():
    output = io.BytesIO(b"hello\n# ")

    class Console:
        input = bytearray()
    shell = Shell(Console(), output)
    shell.settle()
    shell.type(b"lp\n")
    assert shell.pending() == 1
    output.write(b"lp\nlp: # not a prompt\n#")
    assert shell.pending() == 1
    output.write(b" ")
    assert shell.pending() == 0 and Console.input == b"lp\n"


def test_progress_prints_rate_and_eta_lines_without_a_terminal():
    stream = io.StringIO()
    with Progress(1000, 100, enabled=False, quiet_every=0.0, stream=stream) as progress:
        progress.advance(100)
    line = stream.getvalue()
    assert "200/1,000 faults" in line and "faults/s" in line and "ETA" in line


def test_a_terminal_gets_the_bar(monkeypatch):
    stream = io.StringIO()
    with Progress(10, 0, enabled=True, stream=stream) as progress:
        progress.advance(random.Random(0).randrange(1, 10))
    assert "faults" in stream.getvalue()
