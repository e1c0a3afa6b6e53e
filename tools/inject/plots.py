"""Plots of a campaign: the rate of each outcome per fault type (matplotlib, no display).

Contract: `plot_outcomes(types, rates, prefix)` draws one group of bars per fault type,
one bar per outcome of `rates` ((column, label) pairs; the share of the type's faults
with that outcome, with its 95% Wilson interval as an error bar), and writes
`<prefix>.png` and `<prefix>.svg`; returns the two paths.
"""

from pathlib import Path

from tools.inject.outcome import wilson


def plot_outcomes(types, rates, prefix):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(types)
    width = 0.8 / len(rates)
    figure, axes = plt.subplots(figsize=(max(8, 1.4 * len(names) + 3), 4.8))
    for k, (column, label) in enumerate(rates):
        values, low_err, high_err = [], [], []
        for name in names:
            row = types[name]
            total = max(row["faults"], 1)
            rate = row[column] / total
            low, high = wilson(row[column], row["faults"])
            values.append(100 * rate)
            low_err.append(100 * max(rate - low, 0))
            high_err.append(100 * max(high - rate, 0))
        positions = [i + (k - (len(rates) - 1) / 2) * width for i in range(len(names))]
        axes.bar(positions, values, width, yerr=[low_err, high_err], capsize=2, label=label)
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels([f"{n}\n({types[n]['faults']:,})" for n in names])
    axes.set_ylabel("faults with the outcome (%)")
    axes.set_ylim(0, 100)
    axes.set_title("Outcomes by fault type (95% confidence intervals)")
    axes.legend(fontsize="small", ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    figure.tight_layout()
    paths = [Path(f"{prefix}.png"), Path(f"{prefix}.svg")]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(figure)
    return paths
