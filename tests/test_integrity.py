"""``services.integrity`` and ``tradeledger check``: a clean database passes; each planted
defect of a damaged database is found, on the right row, and the command exits with 10."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from tests.conftest import FIXTURES_DIR
from tradeledger.cli import app
from tradeledger.cli.common import EXIT_CHECK_FAILED
from tradeledger.db import close_db, init_db
from tradeledger.models import Order, Trade
from tradeledger.services.integrity import check_database

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def _order(oid: str, side: str, amount: float, price: float, when: datetime,
           pair: str = "BTC/USDT") -> Order:
    return Order(order_id=oid, ft_order_side=side, ft_pair=pair, ft_is_open=False,
                 ft_amount=amount, ft_price=price, status="closed", side=side,
                 order_type="limit", amount=amount, filled=amount, remaining=0.0, price=price,
                 average=price, cost=amount * price, order_date=when, order_filled_date=when)


def _build(url: str) -> None:
    """Trade 1 open (one filled entry), trades 2 and 3 closed (entry + exit)."""
    init_db(url)
    s = Trade.session
    for i, (is_open, pair) in enumerate(((True, "BTC/USDT"), (False, "ETH/USDT"),
                                         (False, "XRP/USDT")), start=1):
        t = Trade(pair=pair, exchange="binance", open_rate=100.0, amount=0.5,
                  stake_amount=50.0, fee_open=0.001, fee_close=0.001,
                  open_date=T0 + timedelta(hours=i), is_open=True)
        s.add(t)
        s.flush()
        entry = _order(f"e{i}", "buy", 0.5, 100.0, T0 + timedelta(hours=i), pair)
        t.orders.append(entry)
        t.update_trade(entry)
        if not is_open:
            exit_ = _order(f"x{i}", "sell", 0.5, 110.0, T0 + timedelta(hours=i, minutes=30), pair)
            t.exit_reason = "roi"
            t.orders.append(exit_)
            t.update_trade(exit_)
        s.commit()
    t1 = s.get(Trade, 1)
    assert t1 is not None
    t1.set_custom_data("note", "x")
    s.commit()
    close_db()


def test_clean_database_passes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clean.sqlite'}"
    _build(url)
    engine = create_engine(url)
    report = check_database(engine)
    engine.dispose()
    assert report.ok, report.findings
    assert report.counts == {"trades": 3, "orders": 5, "pairlocks": 0}


@pytest.mark.parametrize("name", ["2026.9", "2024.10", "2023.1", "2022.4"])
def test_freqtrade_fixtures_are_clean(tmp_path: Path, name: str) -> None:
    """Real freqtrade files (every release) pass; columns an old schema lacks are skipped."""
    path = tmp_path / "ft.sqlite"
    shutil.copy(FIXTURES_DIR / f"freqtrade-{name}.sqlite", path)
    engine = create_engine(f"sqlite:///{path}")
    report = check_database(engine)
    engine.dispose()
    assert report.ok, report.findings
    assert report.counts["trades"] == (61 if name == "2026.9" else 21)
    if name == "2022.4":
        assert "column pairlocks.side (missing)" in report.skipped


def _damage(path: Path) -> dict[str, set[tuple[str, int | None]]]:
    """Plant one defect per check with plain sqlite3; return the expected findings."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = OFF")
    # rebuild orders without constraints (a damaged copy: no PK, unique or NOT NULL left)
    con.executescript("""
        CREATE TABLE orders_copy AS SELECT * FROM orders;
        DROP TABLE orders;
        ALTER TABLE orders_copy RENAME TO orders;
    """)
    # orphan order (trade 999 does not exist)
    con.execute("INSERT INTO orders (id, ft_trade_id, ft_order_side, ft_pair, ft_is_open, "
                "ft_amount, ft_price, order_id, status, filled) VALUES "
                "(50, 999, 'buy', 'LTC/USDT', 0, 1.0, 10.0, 'lost1', 'closed', 1.0)")
    # duplicate (ft_pair, order_id): a second copy of order e2 (trade 2 is closed, so
    # the amounts of open trades are not touched)
    con.execute("INSERT INTO orders SELECT 51, ft_trade_id, ft_order_side, ft_pair, ft_is_open,"
                " ft_amount, ft_price, ft_cancel_reason, order_id, status, symbol, order_type,"
                " side, price, average, amount, filled, remaining, cost, stop_price, order_date,"
                " order_filled_date, order_update_date, funding_fee, ft_fee_base, ft_order_tag"
                " FROM orders WHERE order_id = 'e2'")
    # NULL in a required column
    con.execute("UPDATE orders SET ft_price = NULL WHERE order_id = 'x3'")
    # open trade 1 claims more than its filled orders hold
    con.execute("UPDATE trades SET amount = 0.75 WHERE id = 1")
    # a date in the future
    con.execute("UPDATE orders SET order_update_date = '2099-01-01 00:00:00.000000' "
                "WHERE order_id = 'e1'")
    # closed trade 2 without close rate
    con.execute("UPDATE trades SET close_rate = NULL WHERE id = 2")
    # closed trade 3 closed before it opened
    con.execute("UPDATE trades SET close_date = '2025-01-01 00:00:00.000000' WHERE id = 3")
    # custom data of a trade that does not exist (foreign key)
    con.execute("INSERT INTO trade_custom_data (id, ft_trade_id, cd_key, cd_type, cd_value, "
                "created_at) VALUES (90, 777, 'k', 'str', 'v', '2026-01-05 10:00:00.000000')")
    con.commit()
    ids: dict[str, int] = {}
    for oid, order_id in con.execute("SELECT id, order_id FROM orders ORDER BY id"):
        ids.setdefault(order_id, oid)  # the first copy of a duplicate is reported
    con.close()
    return {
        "orphan_order": {("orders", 50)},
        "duplicate_order": {("orders", ids["e2"])},
        "null_required": {("orders", ids["x3"])},
        "amount_mismatch": {("trades", 1)},
        "future_date": {("orders", ids["e1"])},
        "closed_without_close_data": {("trades", 2)},
        "close_before_open": {("trades", 3)},
        "foreign_key": {("trade_custom_data", 90)},
    }


def _corrupt_index(path: Path) -> None:
    """Swap the root pages of two indexes of ``trades``: integrity_check must complain."""
    con = sqlite3.connect(path)
    pages = dict(con.execute("SELECT name, rootpage FROM sqlite_master "
                             "WHERE name IN ('ix_trades_is_open', 'ix_trades_pair')").fetchall())
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = 'ix_trades_is_open'",
                (pages["ix_trades_pair"],))
    con.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = 'ix_trades_pair'",
                (pages["ix_trades_is_open"],))
    con.commit()
    con.close()


def test_each_planted_defect_is_found(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sqlite"
    _build(f"sqlite:///{path}")
    expected = _damage(path)
    engine = create_engine(f"sqlite:///{path}")
    report = check_database(engine)
    engine.dispose()
    found = {code: {(f.table, f.row_id) for f in items}
             for code, items in report.by_code().items()}
    assert found == expected
    assert not report.ok


def test_integrity_check_failure_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite"
    _build(f"sqlite:///{path}")
    _corrupt_index(path)
    engine = create_engine(f"sqlite:///{path}")
    report = check_database(engine)
    engine.dispose()
    codes = report.by_code()
    assert set(codes) == {"sqlite_integrity"}
    assert any("ix_trades" in f.message for f in codes["sqlite_integrity"])


def test_future_tolerance(tmp_path: Path) -> None:
    """Dates a little ahead (clock skew) pass; ``now`` moves the reference."""
    path = tmp_path / "clean.sqlite"
    _build(f"sqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    early = check_database(engine, now=T0)  # every date lies after T0 + 5 min
    engine.dispose()
    assert {f.code for f in early.findings} == {"future_date"}
    # trades: open_date of 3 trades + close_date of the 2 closed ones; orders: order_date
    # and order_filled_date of the 5 orders (order_update_date was never set)
    assert len(early.findings) == 3 + 2 + 5 * 2


def test_check_command_lists_findings_and_exits_10(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sqlite"
    _build(f"sqlite:///{path}")
    expected = _damage(path)
    from tradeledger.cli import common

    common.console.width = 200
    result = CliRunner().invoke(app, ["check", "--db", f"sqlite:///{path}"])
    assert result.exit_code == EXIT_CHECK_FAILED, result.output
    for code in expected:
        assert code in result.output
    ok = tmp_path / "ok.sqlite"
    _build(f"sqlite:///{ok}")
    result = CliRunner().invoke(app, ["check", "--db", f"sqlite:///{ok}", "--json"])
    assert result.exit_code == 0, result.output
    assert '"ok": true' in result.output


def test_defects_found_on_postgresql(tmp_path: Path) -> None:
    """The same invariants through SQL on a server database (no PRAGMA checks there)."""
    from tests.conftest import make_backend_url

    url, drop = make_backend_url("postgresql", tmp_path)
    try:
        _build(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE orders DROP CONSTRAINT IF EXISTS "
                                 "orders_ft_trade_id_fkey")
            for name in conn.exec_driver_sql(
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'orders'::regclass "
                    "AND contype IN ('f', 'u')").scalars().all():
                conn.exec_driver_sql(f'ALTER TABLE orders DROP CONSTRAINT "{name}"')
            conn.exec_driver_sql("ALTER TABLE orders ALTER COLUMN ft_price DROP NOT NULL")
            conn.exec_driver_sql(
                "INSERT INTO orders (id, ft_trade_id, ft_order_side, ft_pair, ft_is_open, "
                "ft_amount, ft_price, order_id, status, filled) VALUES "
                "(50, 999, 'buy', 'LTC/USDT', false, 1.0, 10.0, 'lost1', 'closed', 1.0)")
            conn.exec_driver_sql(
                "INSERT INTO orders (id, ft_trade_id, ft_order_side, ft_pair, ft_is_open, "
                "ft_amount, ft_price, order_id, status, filled) VALUES "
                "(51, 2, 'buy', 'ETH/USDT', false, 0.5, 100.0, 'e2', 'closed', 0.5)")
            conn.exec_driver_sql("UPDATE orders SET ft_price = NULL WHERE order_id = 'x3'")
            conn.exec_driver_sql("UPDATE trades SET amount = 0.75 WHERE id = 1")
            conn.exec_driver_sql("UPDATE orders SET order_update_date = '2099-01-01' "
                                 "WHERE order_id = 'e1'")
            conn.exec_driver_sql("UPDATE trades SET close_rate = NULL WHERE id = 2")
            conn.exec_driver_sql("UPDATE trades SET close_date = '2025-01-01' WHERE id = 3")
            ids = dict(conn.exec_driver_sql(
                "SELECT order_id, min(id) FROM orders GROUP BY order_id").all())
        report = check_database(engine)
        engine.dispose()
        found = {code: {(f.table, f.row_id) for f in items}
                 for code, items in report.by_code().items()}
        assert found == {
            "orphan_order": {("orders", 50)},
            "duplicate_order": {("orders", ids["e2"])},
            "null_required": {("orders", ids["x3"])},
            "amount_mismatch": {("trades", 1)},
            "future_date": {("orders", ids["e1"])},
            "closed_without_close_data": {("trades", 2)},
            "close_before_open": {("trades", 3)},
        }
    finally:
        drop()
