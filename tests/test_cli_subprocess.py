"""The ``tradeledger`` command as real processes, on a SQLite file and on PostgreSQL.

A freqtrade 2023.1 file (old schema) is imported, then listed, checked, analysed, exported
and locked through separate processes; the database URL comes from ``--db`` or from
``TRADELEDGER_DB_URL``. On PostgreSQL a short demo session also runs end to end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.conftest import FIXTURES_DIR

ROOT = Path(__file__).resolve().parents[1]


def tl(*args: str, db: str | None = None, env_db: str | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="160", PYTHONPATH=str(ROOT / "src"))
    env.pop("TRADELEDGER_DB_URL", None)
    if env_db is not None:
        env["TRADELEDGER_DB_URL"] = env_db
    cmd = [sys.executable, "-m", "tradeledger.cli", *args]
    if db is not None:
        cmd += ["--db", db]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=ROOT)


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout)


def test_commands_as_processes(process_backend: str, tmp_path: Path) -> None:
    url = process_backend
    src = tmp_path / "ft-2023.1.sqlite"
    shutil.copy(FIXTURES_DIR / "freqtrade-2023.1.sqlite", src)
    imported = ok_json(tl("import", str(src), "--json", db=url))
    assert imported["ok"] and imported["copied"]["trades"] == 21
    assert imported["copied"]["orders"] == 64

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n_closed = conn.scalar(sa.text("SELECT count(*) FROM trades WHERE NOT is_open"))
        profit = conn.scalar(sa.text(
            "SELECT sum(close_profit_abs) FROM trades WHERE NOT is_open"))
    engine.dispose()

    trades = ok_json(tl("trades", "--json", "--status", "closed", "-n", "100", env_db=url))
    assert trades["total"] == n_closed == len(trades["trades"])
    assert abs(sum(t["profit_abs"] for t in trades["trades"]) - profit) < 1e-6

    stats = ok_json(tl("stats", "--json", db=url))
    assert stats["summary"]["trade_count"] == n_closed
    assert abs(stats["summary"]["total_profit_abs"] - profit) < 1e-6

    added = tl("locks", "add", "BTC/USDT", "--minutes", "30", "--reason", "cli-test", db=url)
    assert added.returncode == 0, added.stderr
    status = tl("status", db=url)
    assert status.returncode == 0 and "cli-test" in status.stdout


def test_demo_on_postgresql(tmp_path: Path) -> None:
    from tests.conftest import make_backend_url
    from tradeledger.services.integrity import check_database

    url, drop = make_backend_url("postgresql", tmp_path)
    try:
        proc = tl("demo", "--steps", "100", "--seed", "11", "--no-plot", "--no-progress",
                  db=url, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "SIGKILL" in proc.stdout and "reconciling again: clean" in proc.stdout
        assert "Performance by pair" in proc.stdout
        # a second session appended to the same database
        again = tl("demo", "--steps", "80", "--seed", "5", "--no-plot", "--no-progress",
                   "--append", db=url, timeout=300)
        assert again.returncode == 0 and "appending" in again.stdout, again.stderr[-2000:]
        engine = sa.create_engine(url)
        try:
            assert check_database(engine).ok
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT t.strategy, o.order_id FROM orders o "
                    "JOIN trades t ON t.id = o.ft_trade_id")).all()
            # the appended session trades under its own name and order-id prefix
            assert rows and all(r.strategy == "DemoMomentum" or
                                r.strategy.startswith("DemoMomentum-a") for r in rows)
            for r in rows:
                appended = r.strategy != "DemoMomentum"
                assert r.order_id.startswith("a") == appended, r
        finally:
            engine.dispose()
    finally:
        drop()
