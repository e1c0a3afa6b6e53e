"""Campaigns end to end: golden run, trials on fork servers, outcomes, the report, a kill
and a resume, exact replay, and the same trials on a Dask LocalCluster."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emu.cli import main
from tools.inject.forkserver import ForkServer
from tools.inject.outcome import SEED_ROWS

from tests.inject_support import stock_image

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return stock_image(tmp_path_factory)


def inject(image, db, *extra, faults=300, per_trial=30):
    return main(["inject", str(image), "--target", "printer", "--faults", str(faults),
                 "--per-trial", str(per_trial), "--db", str(db), "--no-progress", *extra])


def rows(db, sql):
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def digests(db):
    return dict(rows(db, "SELECT trial, digest FROM trial"))


@pytest.fixture(scope="module")
def campaign(image, tmp_path_factory):
    """A few hundred faults on two local workers."""
    db = tmp_path_factory.mktemp("campaign") / "results.sqlite"
    status = inject(image, db, "--workers", "2", "--seed", "11")
    return db, status


def test_a_small_campaign_stores_every_trial_and_fault_with_its_outcomes(campaign, capsys):
    db, status = campaign
    assert rows(db, "SELECT COUNT(*), SUM(faults) FROM trial") == [(10, 300)]
    assert rows(db, "SELECT COUNT(*) FROM fault") == [(300,)]
    # any kernel panic or trusted-server failure in a campaign fails the test
    assert rows(db, "SELECT SUM(panics), SUM(server_failures) FROM trial") == [(0, 0)]
    unrecovered = rows(db, "SELECT COUNT(*) FROM trial WHERE unrecovered > 0")[0][0]
    assert status == (1 if unrecovered else 0)
    activated, restarts = rows(db, "SELECT SUM(activated), SUM(restarts) FROM trial")[0]
    assert activated > 0 and restarts > 0                  # faults ran, RS recovered
    meta = rows(db, "SELECT image_sha256, settings, seed, version, golden FROM campaign")[0]
    assert len(meta[0]) == 64 and json.loads(meta[1])["per_trial"] == 30 and meta[2] == 11
    assert json.loads(meta[4])["round_output"].startswith("minix-emu printer test page")
    fault = rows(db, "SELECT type, trigger, symbol, line, original, new, before, after "
                     "FROM fault WHERE activated_at IS NOT NULL LIMIT 1")[0]
    assert fault[1] == "static" and fault[3].startswith("guest/") and fault[4] != fault[5]


def test_the_report_prints_the_seed_table_rates_and_plots(campaign, capsys, tmp_path):
    db, _ = campaign
    assert main(["report", str(db), "--plots", str(tmp_path / "plot")]) == 0
    out = capsys.readouterr().out
    for _, label in SEED_ROWS:
        assert label in out
    for needle in ("Illegal kernel request", "Hang caught by heartbeat", "Kernel panic",
                   "System not recovered", "Rates per fault type", "Symbols hit most"):
        assert needle in out
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "plot.svg").read_text()
    unrecovered = rows(db, "SELECT trial FROM trial WHERE unrecovered > 0")
    for (trial,) in unrecovered:
        assert f"emu replay {db} {trial}" in out


def test_replay_runs_a_trial_again_bit_for_bit(campaign, image, tmp_path, capsys):
    db, _ = campaign
    trial = rows(db, "SELECT trial FROM trial ORDER BY activated DESC LIMIT 1")[0][0]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert main(["replay", str(db), str(trial), "--trace", str(first)]) == 0
    assert "identical to the stored one" in capsys.readouterr().err
    assert main(["replay", str(db), str(trial), "--trace", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes() and first.stat().st_size > 10_000
    # the campaign's own path (a forked snapshot) makes the same trace
    campaign_row = rows(db, "SELECT settings, golden FROM campaign")[0]
    settings, golden = json.loads(campaign_row[0]), json.loads(campaign_row[1])
    forked = tmp_path / "forked.jsonl"
    server = ForkServer(image, settings, golden)
    result = server.run(trial, trace_path=forked)
    assert forked.read_bytes() == first.read_bytes()
    assert result["digest"] == digests(db)[trial]


def test_a_killed_campaign_resumes_with_nothing_lost_or_counted_twice(image, tmp_path):
    killed, whole = tmp_path / "killed.sqlite", tmp_path / "whole.sqlite"
    args = [sys.executable, "-m", "emu", "inject", str(image), "--target", "printer",
            "--faults", "1200", "--per-trial", "20", "--workers", "2", "--seed", "5",
            "--no-progress", "--db", str(killed)]
    process = subprocess.Popen(args, cwd=ROOT, start_new_session=True,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and stored < 8:
        time.sleep(0.05)
        if killed.exists():
            try:
                stored = rows(killed, "SELECT COUNT(*) FROM trial")[0][0]
            except sqlite3.OperationalError:
                pass
    os.killpg(process.pid, signal.SIGKILL)          # the campaign, its workers, trials
    process.wait()
    before = rows(killed, "SELECT COUNT(*) FROM trial")[0][0]
    assert 8 <= before < 60
    assert inject(image, killed, "--workers", "2", "--seed", "5", faults=1200,
                  per_trial=20) == 2                 # refuses without --resume
    inject(image, killed, "--workers", "2", "--seed", "5", "--resume", faults=1200,
           per_trial=20)
    assert rows(killed, "SELECT COUNT(*), COUNT(DISTINCT trial), SUM(faults) FROM trial") \
        == [(60, 60, 1200)]
    assert rows(killed, "SELECT COUNT(*) FROM fault") == [(1200,)]
    inject(image, whole, "--workers", "2", "--seed", "5", faults=1200, per_trial=20)
    assert digests(killed) == digests(whole)
    assert inject(image, killed, "--workers", "2", "--seed", "6", "--resume",
                  faults=1200, per_trial=20) == 2    # another campaign: refused


def test_the_same_trials_run_on_a_dask_local_cluster(campaign, image, tmp_path):
    from distributed import LocalCluster
    db, _ = campaign
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      scheduler_port=0, dashboard_address=None,
                      worker_dashboard_address=None) as cluster:
        dask_db = tmp_path / "dask.sqlite"
        inject(image, dask_db, "--seed", "11", "--cluster", cluster.scheduler_address,
               "--batch", "3")
    assert digests(dask_db) == digests(db)
