"""Interoperability: the real freqtrade 2026.9 reads databases tradeledger created or upgraded.

``scripts/freqtrade_interop.sh`` creates (once, cached) a virtualenv with ``freqtrade==2026.9``
and reads a database with freqtrade's own ``init_db`` and models; the trades (``to_json``),
orders, custom data, pair locks and the total closed profit must equal what tradeledger
reads, and tradeledger must still find its schema at the head afterwards (freqtrade changed
nothing). If the virtualenv cannot be created the tests are skipped with the reason — or
fail, under ``CI=true`` or ``TRADELEDGER_INTEROP=required``.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import create_server_database, require_backend
from tests.test_fixtures_open import (
    _assert_json_equal,
    copy_fixture,
    fixture_json,
    load_legacy,
)
from tradeledger.db import close_db, init_db
from tradeledger.migrations import runner

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "freqtrade_interop.sh"


@lru_cache(maxsize=1)
def _venv_problem() -> str | None:
    proc = subprocess.run(["bash", str(SCRIPT), "ensure"], capture_output=True, text=True,
                          timeout=1800, check=False)
    if proc.returncode != 0:
        return f"freqtrade 2026.9 virtualenv unavailable: {proc.stderr.strip()[-500:]}"
    return None


def require_freqtrade() -> None:
    problem = _venv_problem()
    if problem is not None:
        required = os.environ.get("TRADELEDGER_INTEROP",
                                  "required" if os.environ.get("CI") else "")
        if required == "required":
            pytest.fail(problem)
        pytest.skip(problem)


def freqtrade_reads(url: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"ft-read-{len(list(tmp_path.glob('ft-read-*')))}.json"
    if url.startswith("postgresql+psycopg://"):
        url = url.replace("postgresql+psycopg://", "postgresql+psycopg2://", 1)
    proc = subprocess.run(["bash", str(SCRIPT), "read", url, str(out)], capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(out.read_text()))


def tradeledger_reads() -> dict[str, Any]:
    from tradeledger.domain.custom_data import CustomDataWrapper
    from tradeledger.models import Order, PairLock, Trade

    s = Trade.session
    trades = s.scalars(sa.select(Trade).order_by(Trade.id)).all()
    data = {
        "trades": {str(t.id): {
            "to_json": t.to_json(),
            "orders": [o.to_json(t.entry_side) for o in t.orders],
            "close_profit_abs": t.close_profit_abs,
            "realized_profit": t.realized_profit,
            "custom_data": [{"key": c.cd_key, "type": c.cd_type, "value": c.value}
                            for c in CustomDataWrapper.get_custom_data(trade_id=t.id)],
        } for t in trades},
        "total_closed_profit": Trade.get_total_closed_profit(),
        "orders": len(s.scalars(sa.select(Order)).all()),
        "pairlocks": [lock.to_json() for lock in s.scalars(sa.select(PairLock)
                                                           .order_by(PairLock.id))],
    }
    s.rollback()
    return data


def assert_same_reading(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert sorted(ours["trades"]) == sorted(theirs["trades"])
    for tid, mine in ours["trades"].items():
        _assert_json_equal(mine, theirs["trades"][tid], f"trade {tid}")
    _assert_json_equal(ours["total_closed_profit"], theirs["total_closed_profit"], "profit")
    assert ours["orders"] == theirs["orders"]
    _assert_json_equal(ours["pairlocks"], theirs["pairlocks"], "pairlocks")


def schema_snapshot(url: str) -> dict[str, Any]:
    eng = sa.create_engine(url)
    try:
        insp = sa.inspect(eng)
        return {t: sorted(c["name"] for c in insp.get_columns(t))
                for t in sorted(insp.get_table_names())}
    finally:
        eng.dispose()


def _reopen_unchanged(url: str, before: dict[str, Any]) -> None:
    assert schema_snapshot(url) == before
    init_db(url, migrate="check")
    assert runner.last_result is not None and runner.last_result.action == "none"
    close_db()


@pytest.mark.parametrize("version", ["2022.4", "2024.10", "2026.9"])
def test_freqtrade_reads_fixture_upgraded_by_tradeledger(version: str, tmp_path: Path) -> None:
    require_freqtrade()
    url = f"sqlite:///{copy_fixture(version, tmp_path)}"
    init_db(url)
    ours = tradeledger_reads()
    close_db()
    before = schema_snapshot(url)
    theirs = freqtrade_reads(url, tmp_path)
    assert_same_reading(ours, theirs)
    # and what freqtrade 2026.9 itself read from the original file
    expected = fixture_json(version)["trades"]
    for tid, exp in expected.items():
        _assert_json_equal(theirs["trades"][tid]["to_json"], exp["to_json"], f"ft {tid}")
    _reopen_unchanged(url, before)


def _make_trades() -> None:
    """A few trades written through tradeledger's API (spot DCA + exit, futures short)."""
    from tradeledger.domain.custom_data import CustomDataWrapper
    from tradeledger.domain.enums import TradingMode
    from tradeledger.models import Order, Trade

    t0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

    def order(trade: Trade, oid: str, side: str, amount: float, price: float,
              when: datetime) -> Order:
        o = Order(ft_order_side=side, ft_pair=trade.pair, ft_is_open=False, ft_amount=amount,
                  ft_price=price, order_id=oid, status="closed", symbol=trade.pair,
                  order_type="limit", side=side, price=price, average=price, amount=amount,
                  filled=amount, remaining=0.0, cost=amount * price, order_date=when,
                  order_filled_date=when)
        trade.orders.append(o)
        return o

    spot = Trade(pair="ETH/USDT", exchange="binance", base_currency="ETH",
                 stake_currency="USDT", open_rate=2000.0, amount=0.5, stake_amount=1000.0,
                 fee_open=0.001, fee_close=0.001, is_open=True, open_date=t0,
                 strategy="Interop", timeframe=5, trading_mode=TradingMode.SPOT,
                 enter_tag="dip")
    Trade.session.add(spot)
    Trade.session.flush()
    spot.update_trade(order(spot, "e1", "buy", 0.5, 2000.0, t0))
    spot.update_trade(order(spot, "e2", "buy", 0.5, 1900.0, t0.replace(hour=11)))
    spot.update_trade(order(spot, "x1", "sell", 1.0, 2100.0, t0.replace(hour=15)))
    short = Trade(pair="BTC/USDT:USDT", exchange="binance", base_currency="BTC",
                  stake_currency="USDT", open_rate=40000.0, amount=0.03, stake_amount=400.0,
                  fee_open=0.0005, fee_close=0.0005, is_open=True, open_date=t0,
                  strategy="Interop", timeframe=5, trading_mode=TradingMode.FUTURES,
                  is_short=True, leverage=3.0, interest_rate=0.0)
    Trade.session.add(short)
    Trade.session.flush()
    short.update_trade(order(short, "s1", "sell", 0.03, 40000.0, t0))
    Trade.session.commit()
    CustomDataWrapper.set_custom_data(trade_id=spot.id, key="note", value={"a": 1})


@pytest.mark.parametrize("where", ["sqlite-file", "postgresql", "mariadb"])
def test_freqtrade_reads_database_created_by_tradeledger(where: str, tmp_path: Path) -> None:
    require_freqtrade()
    drop = None
    if where == "sqlite-file":
        url = f"sqlite:///{tmp_path / 'tl.sqlite'}"
    else:
        require_backend(where)
        url, drop = create_server_database(where)
    try:
        init_db(url, mode="live")
        _make_trades()
        ours = tradeledger_reads()
        assert ours["trades"]["1"]["to_json"]["is_open"] is False
        close_db()
        before = schema_snapshot(url)
        assert_same_reading(ours, freqtrade_reads(url, tmp_path))
        _reopen_unchanged(url, before)
    finally:
        close_db()
        if drop is not None:
            drop()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_freqtrade_reads_server_database_adopted_by_tradeledger(server: str,
                                                                 tmp_path: Path) -> None:
    """freqtrade 2026.9 itself cannot migrate this database on PostgreSQL (its sequence bug);
    after tradeledger adopted it, freqtrade reads it as it is."""
    require_freqtrade()
    require_backend(server)
    url, drop = create_server_database(server)
    try:
        eng = sa.create_engine(url)
        load_legacy(eng, fixture_json("2023.1")["raw"])
        eng.dispose()
        init_db(url)
        ours = tradeledger_reads()
        close_db()
        assert_same_reading(ours, freqtrade_reads(url, tmp_path))
    finally:
        close_db()
        drop()
