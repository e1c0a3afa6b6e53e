"""`emu report DB`: a campaign's results, as the seed reported them and more.

Contract: `run(args, BadInput)` prints, from the results database: the campaign (image,
settings, progress); the seed's table (its five rows of denied IPC calls, in its order,
with our counts: calls denied, and faults that caused at least one) and our extra rows
(illegal kernel requests, CPU faults, hangs, exits, lost requests, restarts, wrong
output, trusted-server failures, kernel panics, unrecovered systems); illegal kernel
requests by call and sub-reason; CPU faults by cause; the rate of each outcome per
fault type with its 95% confidence interval (Wilson); the symbols hit most; and every
trial with an outcome that must be zero, with its replay command.  It writes plots of
the outcomes by fault type (`<DB>-outcomes.png` and `.svg`, or `--plots PREFIX`).
Exit status 0, 2 for a missing or empty database.
"""

import sys
from pathlib import Path

from tools.inject.outcome import EXTRA_ROWS, FAULT_COLUMNS, MUST_BE_ZERO, SEED_ROWS, wilson

HELP = "the report of a fault-injection campaign: the seed's table, rates, plots"
RATES = (("activated", "activated"), ("denied", "IPC denied"),
         ("illegal_requests", "illegal request"), ("cpu_faults", "CPU fault"),
         ("hangs", "hang"), ("stuck", "lost request"), ("restarts", "restart"),
         ("wrong_output", "wrong output"))


def add_arguments(parser):
    parser.add_argument("db", help="the results database")
    parser.add_argument("--plots", metavar="PREFIX",
                        help="where the plots go (default: next to DB, PREFIX-outcomes.png)")
    parser.add_argument("--no-plots", action="store_true", help="no plots")
    parser.add_argument("--top", type=int, default=10, metavar="N",
                        help="symbols to list (default 10)")


def run(args, BadInput):
    from tools.inject.db import ResultsDB
    from tools.inject.settings import trial_count
    if not Path(args.db).is_file():
        raise BadInput(f"emu report: {args.db}: no such file")
    db = ResultsDB(args.db)
    try:
        campaign = db.campaign()
        if campaign is None:
            raise BadInput(f"emu report: {args.db}: holds no campaign")
        totals, hit, types = db.totals(), db.faults_hit(), db.by_type()
        out = sys.stdout
        settings = campaign["settings"]
        out.write(f"Campaign {args.db}: {settings['faults']:,} faults into "
                  f"'{settings['target']}' ({settings['trigger']} trigger, types "
                  f"{','.join(settings['types'])}, {settings['per_trial']} per trial, "
                  f"seed {settings['seed']}); image {campaign['image_sha256'][:12]}, "
                  f"minix-emu {campaign['version']}\n")
        out.write(f"Done: {totals['trials']:,} of {trial_count(settings):,} trials, "
                  f"{hit['faults']:,} faults ({hit['injected']:,} injected, "
                  f"{hit['activated']:,} activated); {totals['wall_ms'] / 1000:,.1f} s of "
                  f"trial time\n\n")
        _seed_table(out, totals, hit)
        _counted(out, "Illegal kernel requests by call and reason", db.counted("illegal"))
        _counted(out, "Driver CPU faults by cause", db.counted("cpu_faults"))
        _rates(out, types)
        _symbols(out, db.symbols(), args.top)
        _flagged(out, db.flagged(), args.db)
        if not args.no_plots and types:
            prefix = args.plots or str(Path(args.db).with_suffix("")) + "-outcomes"
            from tools.inject.plots import plot_outcomes
            written = plot_outcomes(types, RATES, prefix)
            out.write(f"\nPlots: {', '.join(str(p) for p in written)}\n")
    finally:
        db.close()
    return 0


def _seed_table(out, totals, hit):
    faults = max(hit["faults"], 1)
    out.write("IPC calls denied (the seed's table, our counts)\n")
    out.write(f"  {'':34} {'calls denied':>14} {'faults':>10} {'% of faults':>12}\n")
    for column, label in SEED_ROWS:
        out.write(f"  {label:34} {totals[column]:>14,} {hit[column]:>10,} "
                  f"{100 * hit[column] / faults:>11.2f}%\n")
    denied = sum(totals[c] for c, _ in SEED_ROWS)
    out.write(f"  {'Total':34} {denied:>14,}\n\n")
    out.write("Other outcomes\n")
    for column, label in EXTRA_ROWS:
        trials_only = column in ("unrecovered", "panics", "server_failures") or \
            column not in FAULT_COLUMNS
        count = totals[column]
        faults_with = "" if trials_only else f"{hit[column]:>10,}"
        unit = "trials" if column in ("wrong_output", "unrecovered", "panics") else ""
        out.write(f"  {label:34} {count:>14,} {faults_with:>10} {unit}\n")
    out.write("\n")


def _counted(out, title, counts):
    if not counts:
        return
    out.write(f"{title}\n")
    for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        out.write(f"  {key:50} {count:>10,}\n")
    out.write("\n")


def _rates(out, types):
    out.write("Rates per fault type (share of faults, 95% confidence interval)\n")
    out.write(f"  {'type':10} {'faults':>8} " + " ".join(f"{label:>22}" for _, label in RATES)
              + "\n")
    for fault_type, row in sorted(types.items()):
        cells = []
        for column, _ in RATES:
            low, high = wilson(row[column], row["faults"])
            cells.append(f"{100 * row[column] / max(row['faults'], 1):5.1f}% "
                         f"[{100 * low:4.1f},{100 * high:5.1f}]")
        out.write(f"  {fault_type:10} {row['faults']:>8,} " +
                  " ".join(f"{c:>22}" for c in cells) + "\n")
    out.write("\n")


def _symbols(out, rows, top):
    by_function = {}
    for symbol, faults, activated, crashes in rows:
        name = symbol.split("+", 1)[0]
        entry = by_function.setdefault(name, [0, 0, 0])
        entry[0] += faults
        entry[1] += activated or 0
        entry[2] += crashes or 0
    out.write(f"Symbols hit most (top {top})\n")
    out.write(f"  {'symbol':28} {'faults':>10} {'activated':>10} {'CPU faults':>10}\n")
    ranked = sorted(by_function.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
    for name, (faults, activated, crashes) in ranked:
        out.write(f"  {name:28} {faults:>10,} {activated:>10,} {crashes:>10,}\n")
    out.write("\n")


def _flagged(out, flagged, db_name):
    from tools.inject.campaign import replay_command
    if not flagged:
        out.write(f"No {', '.join(m.replace('_', ' ') for m in MUST_BE_ZERO)}: "
                  "every trial recovered.\n")
        return
    out.write(f"Trials that must not happen ({len(flagged)})\n")
    for trial, outcome, details in flagged:
        what = ", ".join(k.replace("_", " ") for k, v in outcome.items() if v)
        why = details.get("error") or details.get("panic", {}).get("error", "")
        out.write(f"  trial {trial}: {what}{': ' + why.splitlines()[-1] if why else ''}\n"
                  f"    replay with: {replay_command(db_name, trial)}\n")
