"""The report of `emu bench`: the table it prints and the machine it ran on.

Contract: `format_table(figures, results, notes)` is the printed table, one row per
figure of `figures` that has a result (figure, ours, floor, ratio, target, pass/FAIL;
each kind of figure fills the cells its own way, see `tools.bench`), a line on the units
and floors, and the notes.  `machine_info()` is the JSON's "machine": Python, Unicorn,
the CPU model and count, the platform and the load average when the run ended.
"""

import os
import platform

from tools.bench_scale import LARGE, SMALL


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info():
    import unicorn
    return {"python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "unicorn": unicorn.__version__, "cpu_count": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "platform": platform.platform(), "machine": platform.machine(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def _cells(figure, r):
    """(ours, floor, ratio, target) of a table row."""
    sign = ">=" if figure.higher_is_better else "<="
    if figure.kind == "memory":
        return (f"{r['growth_bytes'] / 1024:+.1f} KiB", f"{r['warmup_bytes'] / 1024:.0f} KiB "
                f"at warm-up", f"{r['ratio']:.3f}x", f"<= +{figure.target / 1024:.0f} KiB")
    if figure.key == "campaign_scaling":
        return (f"{r['ours']:,.0f} f/s", f"{r['floor']:,.0f} f/s", f"{r['ratio']:.2f}x",
                f"{sign} {figure.target}x")
    if figure.key == "campaign_million":
        return (f"{r['seconds'] / 60:.1f} min", f"from {r['extrapolated_from']:,} faults",
                "", f"<= {figure.target / 60:.0f} min (aim {r['aim'] / 60:.0f})")
    what = "speed " if figure.higher_is_better else ""
    return (f"{r['ours_us']:.3f} us", f"{r['floor_us']:.3f} us", f"{what}{r['ratio']:.2f}x",
            f"{sign} {figure.target}x")


def format_table(figures, results, notes=()):
    header = ("figure", "ours", "floor", "ratio", "target", "result")
    rows = []
    for figure in figures:
        r = results.get(figure.key)
        if r is not None:
            rows.append((r["title"],) + _cells(figure, r) + ("pass" if r["ok"] else "FAIL",))
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                       for i, cell in enumerate(row)) for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    units = "; ".join(f"{f.title.split(' (')[0]}: {f.unit}" for f in figures
                      if f.kind == "time" and f.key in results)
    floors = (f"(times per unit of work, thread CPU time: {units}; the floor of the "
              f"{LARGE}-process round trip is ours with {SMALL}; campaigns: the real "
              f"emu inject into the printer driver, wall time, f/s = faults per second, "
              f"the slope between campaigns of two sizes)")
    return "\n".join(lines + [floors] + [f"note: {note}" for note in notes])
