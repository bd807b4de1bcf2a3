"""The command line through typer's CliRunner, on a SQLite copy of the freqtrade 2026.9 fixture.

The fixture has 61 trades (42 closed, 19 open), 188 orders (21 stop-loss orders), 8 pair
locks; expected numbers below are read from the database itself, never typed in.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from tests.conftest import FIXTURES_DIR, make_backend_url, selected_backends
from tradeledger.cli import app
from tradeledger.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_BAD_URL,
    EXIT_CHECK_FAILED,
    EXIT_MISSING_FILE,
    EXIT_SCHEMA,
    EXIT_SCHEMA_TOO_NEW,
    EXIT_UNAVAILABLE,
)
from tradeledger.db import close_db

COMMANDS = ("init", "status", "demo", "trades", "orders", "stats", "export", "import",
            "backup", "check", "recover", "reconcile")


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    from tradeledger.cli import common

    # the consoles are created at import time: give them a fixed width (no wrapped words)
    common.console.width = common.err_console.width = 200
    try:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    finally:
        close_db()


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("cli")
    src = tmp / "freqtrade.sqlite"
    shutil.copy(FIXTURES_DIR / "freqtrade-2026.9.sqlite", src)
    url = f"sqlite:///{tmp / 'ledger.sqlite'}"
    result = run("import", str(src), "--db", url, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    yield url


def _raw(url: str, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("command", [*COMMANDS, "locks list", "locks add", "locks remove"])
def test_help_has_an_example(command: str) -> None:
    result = run(*command.split(), "--help")
    assert result.exit_code == 0, result.output
    assert "Example: tradeledger" in result.output
    if command not in ("init", "demo", "locks add", "import"):
        assert "--db" in result.output


def test_trades_filters_and_pagination(db: str) -> None:
    total = _raw(db, "SELECT count(*) FROM trades")[0][0]
    closed = _raw(db, "SELECT count(*) FROM trades WHERE is_open = 0")[0][0]
    out = as_json(run("trades", "--db", db, "--json", "-n", "1000"))
    assert out["total"] == total == len(out["trades"])
    assert as_json(run("trades", "--db", db, "--json", "--status", "closed"))["total"] == closed
    assert as_json(run("trades", "--db", db, "--json", "--status", "open"))["total"] == (
        total - closed)
    eth = as_json(run("trades", "--db", db, "--json", "-p", "ETH/USDT", "-n", "1000"))
    assert eth["total"] == _raw(db, "SELECT count(*) FROM trades WHERE pair='ETH/USDT'")[0][0]
    assert {t["pair"] for t in eth["trades"]} == {"ETH/USDT"}
    shorts = as_json(run("trades", "--db", db, "--json", "--side", "short", "-n", "1000"))
    assert shorts["trades"] and all(t["is_short"] for t in shorts["trades"])
    assert shorts["total"] == _raw(db, "SELECT count(*) FROM trades WHERE is_short = 1")[0][0]
    # pages of 10, oldest first: the pages concatenate to every trade exactly once
    ids: list[int] = []
    pages = (total + 9) // 10
    for page in range(1, pages + 1):
        part = as_json(run("trades", "--db", db, "--json", "-n", "10", "--page", str(page),
                           "--oldest-first"))
        ids += [t["trade_id"] for t in part["trades"]]
    assert sorted(ids) == sorted(r[0] for r in _raw(db, "SELECT id FROM trades"))
    assert len(ids) == len(set(ids))
    # dates: opened in [since, until)
    dates = sorted(r[0] for r in _raw(db, "SELECT open_date FROM trades"))
    since, until = dates[10][:10], dates[40][:10]
    part = as_json(run("trades", "--db", db, "--json", "--since", since, "--until", until,
                       "-n", "1000"))
    expected = [d for d in dates if since <= d[:10] < until]
    assert part["total"] == len(expected) > 0
    table = run("trades", "--db", db, "-n", "5")
    assert table.exit_code == 0 and f"rows 1-5 of {total}" in table.output


def test_orders_filters(db: str) -> None:
    total = _raw(db, "SELECT count(*) FROM orders")[0][0]
    assert as_json(run("orders", "--db", db, "--json"))["total"] == total
    sl = as_json(run("orders", "--db", db, "--json", "--side", "stoploss", "-n", "1000"))
    assert sl["total"] == _raw(
        db, "SELECT count(*) FROM orders WHERE ft_order_side='stoploss'")[0][0] > 0
    one = as_json(run("orders", "--db", db, "--json", "--trade", "1", "-n", "1000"))
    assert {o["ft_trade_id"] for o in one["orders"]} == {1}
    assert one["total"] == _raw(db, "SELECT count(*) FROM orders WHERE ft_trade_id=1")[0][0]
    still_open = as_json(run("orders", "--db", db, "--json", "--status", "open", "-n", "1000"))
    assert still_open["total"] == _raw(
        db, "SELECT count(*) FROM orders WHERE ft_is_open=1")[0][0]
    shorts = as_json(run("orders", "--db", db, "--json", "--side", "short", "-n", "1000"))
    assert shorts["total"] == _raw(
        db, "SELECT count(*) FROM orders o JOIN trades t ON t.id = o.ft_trade_id "
            "WHERE t.is_short = 1")[0][0]


def test_locks_list_add_remove(db: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locks.sqlite'}"
    shutil.copy(db.removeprefix("sqlite:///"), url.removeprefix("sqlite:///"))
    every = as_json(run("locks", "list", "--db", url, "--all", "--json"))
    assert len(every) == _raw(url, "SELECT count(*) FROM pairlocks")[0][0] == 8
    before = as_json(run("locks", "list", "--db", url, "--json"))
    added = run("locks", "add", "SOL/USDT", "--db", url, "--minutes", "90", "--side", "long",
                "--reason", "news")
    assert added.exit_code == 0, added.output
    now = as_json(run("locks", "list", "--db", url, "--json"))
    new = [lk for lk in now if lk["pair"] == "SOL/USDT"]
    assert len(now) == len(before) + 1 and new[0]["side"] == "long"
    assert new[0]["reason"] == "news"
    end = datetime.fromisoformat(new[0]["lock_end_time"]).replace(tzinfo=UTC)
    assert timedelta(minutes=89) < end - datetime.now(UTC) <= timedelta(minutes=92)
    removed = run("locks", "remove", "SOL/USDT", "--db", url)
    assert removed.exit_code == 0 and "removed 1 lock" in removed.output
    assert len(as_json(run("locks", "list", "--db", url, "--json"))) == len(before)
    by_id = run("locks", "remove", "--db", url, "--id", str(new[0]["id"]))
    assert by_id.exit_code == 0
    assert run("locks", "remove", "--db", url, "--id", "9999").exit_code == EXIT_BAD_INPUT
    assert run("locks", "add", "SOL/USDT", "--db", url, "--minutes", "5", "--side", "up"
               ).exit_code == EXIT_BAD_INPUT
    assert run("locks", "add", "SOLUSDT", "--db", url, "--minutes", "5").exit_code == (
        EXIT_BAD_INPUT)


def test_stats_json_and_plot(db: str, tmp_path: Path) -> None:
    from tradeledger.db import init_db
    from tradeledger.services.analytics import AnalyticsService

    png = tmp_path / "stats.png"
    out = as_json(run("stats", "--db", db, "--json", "--plot", str(png)))
    init_db(db, migrate="check")
    try:
        svc = AnalyticsService()
        assert out["summary"]["trade_count"] == svc.trade_stats().trade_count > 0
        assert [r["key"] for r in out["by_pair"]] == [r.key for r in svc.performance().rows]
    finally:
        close_db()
    assert png.read_bytes()[:4] == b"\x89PNG"
    table = run("stats", "--db", db, "--pair", "ETH/USDT")
    assert table.exit_code == 0 and "Performance by pair" in table.output
    assert "BTC/USDT " not in table.output


def test_export_formats(db: str, tmp_path: Path) -> None:
    n_trades = _raw(db, "SELECT count(*) FROM trades")[0][0]
    n_orders = _raw(db, "SELECT count(*) FROM orders")[0][0]
    js = tmp_path / "t.json"
    assert run("export", str(js), "--db", db).exit_code == 0
    doc = json.loads(js.read_text())
    assert len(doc["trades"]) == n_trades
    assert sum(len(t["orders"]) for t in doc["trades"]) == n_orders
    first = doc["trades"][0]
    raw = _raw(db, "SELECT open_rate, amount, close_profit_abs, fee_open_cost FROM trades "
                   f"WHERE id = {int(first['id'])}")[0]
    assert (first["open_rate"], first["amount"], first["close_profit_abs"],
            first["fee_open_cost"]) == raw
    cs = tmp_path / "t.csv"
    assert run("export", str(cs), "--db", db, "--status", "closed").exit_code == 0
    with open(cs) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == _raw(db, "SELECT count(*) FROM trades WHERE is_open = 0")[0][0]
    with open(tmp_path / "t.orders.csv") as fh:
        orders = list(csv.DictReader(fh))
    closed_ids = {r["id"] for r in rows}
    assert orders and all(o["ft_trade_id"] in closed_ids for o in orders)
    pq = tmp_path / "t.parquet"
    assert run("export", str(pq), "--db", db).exit_code == 0
    import pyarrow.parquet as papq

    table = papq.read_table(pq)
    assert table.num_rows == n_trades
    assert papq.read_table(tmp_path / "t.orders.parquet").num_rows == n_orders
    col = table.column("open_rate").to_pylist()
    assert sorted(col) == sorted(r[0] for r in _raw(db, "SELECT open_rate FROM trades"))
    # an existing file is not overwritten without --force
    assert run("export", str(js), "--db", db).exit_code == EXIT_BAD_INPUT
    assert run("export", str(tmp_path / "t.xlsx"), "--db", db).exit_code == EXIT_BAD_INPUT


def test_check_backup(db: str, tmp_path: Path) -> None:
    assert run("check", "--db", db).exit_code == 0
    dest = tmp_path / "copy.sqlite"
    result = run("backup", "--db", db, "-o", str(dest), "--json")
    out = as_json(result)
    assert out["row_counts"]["trades"] == _raw(db, "SELECT count(*) FROM trades")[0][0]
    assert dest.exists()
    assert run("check", "--db", f"sqlite:///{dest}").exit_code == 0
    assert run("backup", "--db", db, "-o", str(dest)).exit_code == EXIT_BAD_INPUT


def test_recover_and_reconcile(db: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rec.sqlite'}"
    shutil.copy(db.removeprefix("sqlite:///"), url.removeprefix("sqlite:///"))
    rep = as_json(run("recover", "--db", url, "--json"))
    assert len(rep["open_trades"]) == _raw(url, "SELECT count(*) FROM trades WHERE is_open=1"
                                           )[0][0]
    assert rep["pending_intents"] == []
    # one open entry order: the exchange says it filled
    tid, oid, pair, amount, price = _raw(
        url, "SELECT o.ft_trade_id, o.order_id, o.ft_pair, o.amount, o.price FROM orders o "
             "JOIN trades t ON t.id = o.ft_trade_id WHERE o.ft_is_open = 1 AND t.is_open = 1 "
             "AND o.ft_order_side = CASE WHEN t.is_short THEN 'sell' ELSE 'buy' END "
             "ORDER BY o.id LIMIT 1")[0]
    side = _raw(url, f"SELECT side FROM orders WHERE order_id = '{oid}'")[0][0]
    # the exchange's view of every order of that pair: as stored, except that one is filled
    cols = ("order_id", "status", "side", "order_type", "amount", "filled", "remaining",
            "price", "average", "cost", "stop_price")
    exchange: list[dict[str, Any]] = []
    for row in _raw(url, f"SELECT {', '.join(cols)} FROM orders WHERE ft_pair = '{pair}'"):
        o = dict(zip(cols, row, strict=True))
        exchange.append({"id": o["order_id"], "symbol": pair, "status": o["status"],
                         "side": o["side"], "type": o["order_type"], "amount": o["amount"],
                         "filled": o["filled"], "remaining": o["remaining"],
                         "price": o["price"], "average": o["average"], "cost": o["cost"],
                         "stopPrice": o["stop_price"]})
    filled = next(o for o in exchange if o["id"] == oid)
    filled.update(status="closed", filled=amount, remaining=0.0, average=price,
                  cost=amount * price, lastTradeTimestamp=1704700000000)
    file = tmp_path / "ex.json"
    file.write_text(json.dumps({"orders": exchange, "pairs": [pair]}))
    dry = run("reconcile", str(file), "--db", url, "--json")
    assert dry.exit_code == EXIT_CHECK_FAILED, dry.output
    report = json.loads(dry.stdout)
    assert [d["reason"] for d in report["differences"]] == ["missed_fill"]
    assert report["applied"] is False
    applied = run("reconcile", str(file), "--db", url, "--apply")
    assert applied.exit_code == 0, applied.output
    assert _raw(url, f"SELECT ft_is_open, filled FROM orders WHERE order_id = '{oid}'"
                ) == [(0, amount)]
    again = run("reconcile", str(file), "--db", url)
    assert again.exit_code == 0 and "clean" in again.output, again.output
    # a pending intent, resolved from a file of exchange orders
    from tradeledger.db import init_db
    from tradeledger.services.intents import record_intent

    init_db(url)
    intent = record_intent(pair=pair, side=side, amount=1.0, price=price, trade_id=tid)
    close_db()
    rep = as_json(run("recover", "--db", url, "--json"))
    assert [i["client_order_id"] for i in rep["pending_intents"]] == [intent.client_order_id]
    answer = dict(filled, id="new-1", clientOrderId=intent.client_order_id, status="open",
                  filled=0.0, remaining=1.0, amount=1.0)
    file.write_text(json.dumps([answer]))
    res = as_json(run("recover", "--db", url, "--orders", str(file), "--json"))
    assert res["resolved"] == [{"client_order_id": intent.client_order_id,
                                "status": "acknowledged", "exchange_order_id": "new-1"}]
    assert res["pending_intents"] == []


def test_bad_input_exit_codes(db: str, tmp_path: Path) -> None:
    assert run("trades", "--db", "nosuchdb://x").exit_code == EXIT_BAD_URL
    assert run("trades", "--db", "sqlite:///").exit_code == EXIT_BAD_URL
    missing = run("trades", "--db", f"sqlite:///{tmp_path / 'nope.sqlite'}")
    assert missing.exit_code == EXIT_MISSING_FILE and "not found" in missing.output
    assert not (tmp_path / "nope.sqlite").exists()
    assert run("check", "--db", f"sqlite:///{tmp_path / 'nope.sqlite'}").exit_code == (
        EXIT_MISSING_FILE)
    assert run("import", str(tmp_path / "none.sqlite"), "--db", db).exit_code == (
        EXIT_MISSING_FILE)
    assert run("reconcile", str(tmp_path / "none.json"), "--db", db).exit_code == (
        EXIT_MISSING_FILE)
    bad_pair = run("trades", "--db", db, "--pair", "BTCUSDT")
    assert bad_pair.exit_code == EXIT_BAD_INPUT and "unknown pair format" in bad_pair.output
    assert run("orders", "--db", db, "--since", "yesterday").exit_code == EXIT_BAD_INPUT
    assert run("trades", "--db", db, "--status", "pending").exit_code == EXIT_BAD_INPUT
    assert run("trades", "--db", db, "--page", "0").exit_code == EXIT_BAD_INPUT
    # a schema revision this code does not know
    newer = tmp_path / "newer.sqlite"
    shutil.copy(db.removeprefix("sqlite:///"), newer)
    con = sqlite3.connect(newer)
    con.execute("UPDATE alembic_version SET version_num = 'tl_9999_from_the_future'")
    con.commit()
    con.close()
    res = run("trades", "--db", f"sqlite:///{newer}")
    assert res.exit_code == EXIT_SCHEMA_TOO_NEW and "tl_9999_from_the_future" in res.output
    # an unmigrated freqtrade file: read-only commands do not migrate it
    ft = tmp_path / "ft.sqlite"
    shutil.copy(FIXTURES_DIR / "freqtrade-2024.10.sqlite", ft)
    before = ft.read_bytes()
    res = run("trades", "--db", f"sqlite:///{ft}")
    assert res.exit_code == EXIT_SCHEMA and "tradeledger db upgrade" in res.output
    assert ft.read_bytes() == before
    # passwords are never printed
    res = run("trades", "--db", "postgresql://bot:s3cr3t@127.0.0.1:1/ledger")
    assert res.exit_code == EXIT_UNAVAILABLE and "s3cr3t" not in res.output
    assert "***" in res.output


def test_db_url_from_environment(db: str) -> None:
    out = as_json(run("trades", "--json", "-n", "1", env={"TRADELEDGER_DB_URL": db}))
    assert out["total"] == _raw(db, "SELECT count(*) FROM trades")[0][0]


def test_import_json_export_via_cli(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    shutil.copy(FIXTURES_DIR / "freqtrade-2024.10.json", path)
    url = f"sqlite:///{tmp_path / 'j.sqlite'}"
    res = as_json(run("import", str(path), "--db", url, "--json"))
    assert res["ok"] and res["copied"]["trades"] == 21
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM trades")) == 21
    engine.dispose()


def test_missing_optional_package_exit_code(db: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Without matplotlib / pyarrow: a message naming the extra and exit code 4."""
    import builtins

    from tradeledger.cli.common import EXIT_MISSING_DRIVER

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith(("matplotlib", "pyarrow")):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    res = run("stats", "--db", db, "--plot", str(tmp_path / "x.png"))
    assert res.exit_code == EXIT_MISSING_DRIVER and "tradeledger[plot]" in res.output
    res = run("export", str(tmp_path / "x.parquet"), "--db", db)
    assert res.exit_code == EXIT_MISSING_DRIVER and "tradeledger[parquet]" in res.output


@pytest.mark.parametrize("backend", [b for b in selected_backends() if b != "sqlite-memory"])
def test_json_export_imports_back_exactly(db: str, tmp_path: Path, backend: str) -> None:
    """``tradeledger export x.json`` then ``tradeledger import x.json``: every column kept."""
    from tradeledger.models import Order, Trade

    path = tmp_path / "export.json"
    assert run("export", str(path), "--db", db).exit_code == 0
    doc = json.loads(path.read_text())
    assert doc["format"] == "tradeledger-export" and any(not t["orders"] for t in doc["trades"])
    target, drop = make_backend_url(backend, tmp_path)
    try:
        res = as_json(run("import", str(path), "--db", target, "--json", "--no-warm"))
        assert res["ok"] and res["copied"]["trades"] == len(doc["trades"])
        for table in (Trade.__table__, Order.__table__):
            rows = []
            for url in (db, target):
                engine = sa.create_engine(url)
                with engine.connect() as conn:
                    rows.append([dict(r._mapping) for r in conn.execute(
                        sa.select(table).order_by(table.c.id))])
                engine.dispose()
            assert rows[0] == rows[1], table.name
        again = run("import", str(path), "--db", target, "--json")
        assert again.exit_code != 0 and "already exists" in again.output
        bad = dict(doc, version=99)
        path.write_text(json.dumps(bad))
        refused = run("import", str(path), "--db", target)
        assert refused.exit_code != 0 and "version 99" in refused.output
    finally:
        close_db()
        drop()


def test_import_succeeds_when_warming_fails(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from tradeledger.services.analytics import AnalyticsService

    def broken(self: AnalyticsService) -> dict[str, float]:
        raise RuntimeError("no analytics today")

    monkeypatch.setattr(AnalyticsService, "warm", broken)
    src = tmp_path / "freqtrade.sqlite"
    shutil.copy(FIXTURES_DIR / "freqtrade-2026.9.sqlite", src)
    url = f"sqlite:///{tmp_path / 'target.sqlite'}"
    result = run("import", str(src), "--db", url, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "analytics not warmed" in result.stderr and "no analytics today" in result.stderr
    assert _raw(url, "SELECT count(*) FROM trades")[0][0] == 61
