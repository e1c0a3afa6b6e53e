"""`emu bench --quick`: runs, prints every figure, writes the JSON report.

Targets are not asserted: shared machines are noisy.  Only that every figure is
measured against its floor and reported with positive numbers, in the shape of its kind.
"""

import json
import subprocess
import sys

from tools.bench import FIGURES

REPORT_KEYS = {"time": ("ours_us", "floor_us", "ratio", "target"),
               "memory": ("warmup_bytes", "end_bytes", "ratio", "target"),
               "campaign": ("ratio", "target")}


def test_quick_bench_reports_every_figure(tmp_path):
    report = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "emu", "bench", "--quick", "--json",
                           str(report)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert data["notes"] == [], data["notes"]          # this checkout has emu inject
    for figure in FIGURES:
        result = data[figure.key]
        assert result["title"] in done.stdout
        assert result["kind"] == figure.kind
        for key in REPORT_KEYS[figure.kind]:
            assert isinstance(result[key], (int, float)) and result[key] > 0, (figure.key, key)
        assert isinstance(result["ok"], bool)
    memory = data["kernel_memory_flood"]
    assert memory["messages"] > 0 and isinstance(memory["growth_bytes"], int)
    assert data["campaign_scaling"]["ours"] > 0 and data["campaign_scaling"]["floor"] > 0
    million = data["campaign_million"]
    assert million["seconds"] > 0 and million["extrapolated_from"] > 0
    machine = data["machine"]
    assert machine["python"] and machine["unicorn"] and machine["cpu_count"] > 0


def test_bench_reports_a_bad_json_path(tmp_path):
    done = subprocess.run([sys.executable, "-m", "emu", "bench", "--quick", "--json",
                           str(tmp_path / "missing" / "bench.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
