"""Campaign results in SQLite (WAL): one campaign, its trials and their faults.

Contract: `ResultsDB(path)` opens or creates the database.  `start_campaign(meta)`
records the campaign once: image hash and path, settings, seed, tool version, the
golden run; a second start with the same image hash, settings and seed resumes it
(`CampaignMismatch` when they differ).  `done_trials()` is the set of trial numbers
stored; `add_trials(results)` stores trials and all their faults in one transaction
(a trial is there whole or not at all, and a trial already there is ignored), so a
campaign killed at any moment resumes with nothing lost or counted twice.  `totals()`,
`by_type()`, `symbols()`, `flagged()` and the helpers below answer the report.
"""

import json
import sqlite3

from tools.inject.outcome import FAULT_COLUMNS, MUST_BE_ZERO, TRIAL_COLUMNS

_FAULT_TEXT = ("type", "trigger", "program", "symbol", "line", "original", "new", "before",
               "after", "cpu_fault", "illegal")
_FAULT_INT = ("address", "injected_at", "activated_at", "window_end", "printed_at")
_FAULT_FIELDS = _FAULT_TEXT + _FAULT_INT + FAULT_COLUMNS

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS campaign (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    image_sha256 TEXT NOT NULL,
    image_path TEXT NOT NULL,
    settings TEXT NOT NULL,
    seed INTEGER NOT NULL,
    version TEXT NOT NULL,
    golden TEXT NOT NULL,
    started TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trial (
    trial INTEGER PRIMARY KEY,
    seed INTEGER NOT NULL,
    faults INTEGER NOT NULL,
    ticks INTEGER NOT NULL,
    {", ".join(f"{c} INTEGER NOT NULL" for c in TRIAL_COLUMNS)},
    details TEXT NOT NULL,
    digest TEXT NOT NULL,
    wall_ms REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fault (
    trial INTEGER NOT NULL REFERENCES trial(trial),
    idx INTEGER NOT NULL,
    {", ".join(f"{c} TEXT NOT NULL" for c in _FAULT_TEXT)},
    address INTEGER NOT NULL,
    injected_at INTEGER,
    activated_at INTEGER,
    window_end INTEGER NOT NULL,
    printed_at INTEGER NOT NULL,
    {", ".join(f"{c} INTEGER NOT NULL" for c in FAULT_COLUMNS)},
    PRIMARY KEY (trial, idx)
);
"""


class CampaignMismatch(Exception):
    """The database holds another campaign."""


class ResultsDB:
    """A campaign's results database."""

    def __init__(self, path):
        self.path = str(path)
        self.connection = sqlite3.connect(self.path, timeout=60)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.executescript(_SCHEMA)

    def close(self):
        self.connection.close()

    # -- the campaign ---------------------------------------------------------------------
    def start_campaign(self, meta):
        """Record the campaign (False), or check that the stored one is the same (True:
        a resume)."""
        row = self.connection.execute(
            "SELECT image_sha256, settings, seed FROM campaign WHERE id = 1").fetchone()
        settings = json.dumps(meta["settings"], sort_keys=True)
        if row is None:
            with self.connection:
                self.connection.execute(
                    "INSERT INTO campaign VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                    (meta["image_sha256"], meta["image_path"], settings, meta["seed"],
                     meta["version"], json.dumps(meta["golden"], sort_keys=True),
                     meta["started"]))
            return False
        if row != (meta["image_sha256"], settings, meta["seed"]):
            raise CampaignMismatch(f"{self.path}: holds another campaign (image, settings "
                                   "or seed differ)")
        return True

    def campaign(self):
        row = self.connection.execute(
            "SELECT image_sha256, image_path, settings, seed, version, golden, started "
            "FROM campaign").fetchone()
        if row is None:
            return None
        return {"image_sha256": row[0], "image_path": row[1], "settings": json.loads(row[2]),
                "seed": row[3], "version": row[4], "golden": json.loads(row[5]),
                "started": row[6]}

    # -- trials ---------------------------------------------------------------------------
    def done_trials(self):
        return {row[0] for row in self.connection.execute("SELECT trial FROM trial")}

    def add_trials(self, results):
        """Store trials (dicts of `tools.inject.trial`, with `digest` and `wall_ms`) and
        their faults atomically; trials already stored are ignored.  Returns how many
        were new."""
        added = 0
        with self.connection:
            for result in results:
                outcome = result["outcome"]
                cursor = self.connection.execute(
                    f"INSERT OR IGNORE INTO trial VALUES (?, ?, ?, ?, "
                    f"{', '.join('?' for _ in TRIAL_COLUMNS)}, ?, ?, ?)",
                    (result["trial"], result["seed"], len(result["faults"]), result["ticks"],
                     *(int(outcome.get(c, 0)) for c in TRIAL_COLUMNS),
                     json.dumps(result.get("details", {}), sort_keys=True),
                     result.get("digest", ""), result.get("wall_ms", 0.0)))
                if cursor.rowcount == 0:
                    continue
                added += 1
                self.connection.executemany(
                    f"INSERT INTO fault (trial, idx, {', '.join(_FAULT_FIELDS)}) VALUES "
                    f"(?, ?, {', '.join('?' for _ in _FAULT_FIELDS)})",
                    [(result["trial"], i, *_fault_values(f))
                     for i, f in enumerate(result["faults"])])
        return added

    def trial(self, number):
        row = self.connection.execute(
            "SELECT seed, faults, digest, details FROM trial WHERE trial = ?",
            (number,)).fetchone()
        if row is None:
            return None
        return {"seed": row[0], "faults": row[1], "digest": row[2],
                "details": json.loads(row[3])}

    def faults_of(self, number):
        cursor = self.connection.execute(
            f"SELECT {', '.join(_FAULT_FIELDS)} FROM fault WHERE trial = ? ORDER BY idx",
            (number,))
        return [dict(zip(_FAULT_FIELDS, row)) for row in cursor]

    # -- the report -----------------------------------------------------------------------
    def totals(self):
        """Sums of every outcome column, and the numbers of trials and faults."""
        columns = ", ".join(f"SUM({c})" for c in TRIAL_COLUMNS)
        row = self.connection.execute(
            f"SELECT COUNT(*), SUM(faults), SUM(wall_ms), {columns} FROM trial").fetchone()
        totals = {"trials": row[0] or 0, "faults": row[1] or 0, "wall_ms": row[2] or 0.0}
        totals.update({c: v or 0 for c, v in zip(TRIAL_COLUMNS, row[3:])})
        return totals

    def faults_hit(self):
        """For each fault column: how many faults had at least one."""
        columns = ", ".join(f"SUM({c} > 0)" for c in FAULT_COLUMNS)
        row = self.connection.execute(
            f"SELECT COUNT(*), SUM(injected_at IS NOT NULL), SUM(activated_at IS NOT NULL), "
            f"{columns} FROM fault").fetchone()
        hit = {"faults": row[0] or 0, "injected": row[1] or 0, "activated": row[2] or 0}
        hit.update({c: v or 0 for c, v in zip(FAULT_COLUMNS, row[3:])})
        return hit

    def by_type(self):
        """Per concrete fault type: faults, injected, activated, and faults with each
        outcome (at least one), plus faults with any IPC denial."""
        denial = " + ".join(("bad_primitive", "bad_endpoint", "bad_buffer",
                             "unauthorized_primitive", "unauthorized_endpoint", "deadlock"))
        columns = ", ".join(f"SUM({c} > 0)" for c in FAULT_COLUMNS)
        rows = self.connection.execute(
            f"SELECT type, COUNT(*), SUM(injected_at IS NOT NULL), "
            f"SUM(activated_at IS NOT NULL), SUM(({denial}) > 0), {columns} "
            f"FROM fault GROUP BY type ORDER BY type").fetchall()
        names = ("faults", "injected", "activated", "denied") + FAULT_COLUMNS
        return {row[0]: dict(zip(names, (v or 0 for v in row[1:]))) for row in rows}

    def symbols(self):
        """(symbol, faults, activated, crashes) for every symbol+offset hit."""
        return self.connection.execute(
            "SELECT symbol, COUNT(*), SUM(activated_at IS NOT NULL), SUM(cpu_faults > 0) "
            "FROM fault GROUP BY symbol").fetchall()

    def counted(self, column):
        """{key: count} summed over trials from a JSON dict in `details` (`illegal`,
        `cpu_faults`)."""
        totals = {}
        for (text,) in self.connection.execute("SELECT details FROM trial"):
            for key, count in json.loads(text).get(column, {}).items():
                totals[key] = totals.get(key, 0) + count
        return totals

    def flagged(self):
        """Trials with an outcome that must be zero: (trial, {outcome: count}, details)."""
        condition = " OR ".join(f"{c} > 0" for c in MUST_BE_ZERO)
        rows = self.connection.execute(
            f"SELECT trial, {', '.join(MUST_BE_ZERO)}, details FROM trial WHERE {condition} "
            f"ORDER BY trial").fetchall()
        return [(row[0], dict(zip(MUST_BE_ZERO, row[1:-1])), json.loads(row[-1]))
                for row in rows]


def _fault_values(record):
    values = []
    for name in _FAULT_TEXT:
        value = record.get(name, "")
        values.append(json.dumps(value, sort_keys=True) if name == "illegal" else value)
    for name in _FAULT_INT:
        values.append(record.get(name))
    values.extend(int(record.get(c, 0)) for c in FAULT_COLUMNS)
    return values
