"""`emu bench --quick`: runs, prints every figure, writes the JSON report.

Targets are not asserted: shared machines are noisy.  Only that every figure is
measured against its floor and reported with positive numbers.
"""

import json
import subprocess
import sys

from tools.bench import FIGURES

REPORT_KEYS = ("ours_us", "floor_us", "ratio", "target")


def test_quick_bench_reports_every_figure(tmp_path):
    report = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "emu", "bench", "--quick", "--json",
                           str(report)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for figure in FIGURES:
        assert figure.title in done.stdout
    data = json.loads(report.read_text())
    for figure in FIGURES:
        result = data[figure.key]
        for key in REPORT_KEYS:
            assert isinstance(result[key], float) and result[key] > 0, (figure.key, key)
        assert isinstance(result["ok"], bool)
    machine = data["machine"]
    assert machine["python"] and machine["unicorn"] and machine["cpu_count"] > 0


def test_bench_reports_a_bad_json_path(tmp_path):
    done = subprocess.run([sys.executable, "-m", "emu", "bench", "--quick", "--json",
                           str(tmp_path / "missing" / "bench.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
