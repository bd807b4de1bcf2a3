"""Replay every golden trade scenario through the ORM ``Trade`` on every backend.

After each op the session is committed, emptied, and the trade is reloaded from the database
before its whole state is compared with the recorded one. Raising cases must raise the
documented exception and leave the database as it was before the failing op.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy import inspect as sa_inspect

import tradeledger.db as tl_db
from tests.conftest import reset_database
from tests.golden_harness import (
    GoldenReplayer,
    compare,
    load_golden,
    raised_matches,
    snapshot,
)
from tradeledger.domain.trade import LocalTrade
from tradeledger.exceptions import InvalidValueError
from tradeledger.models import Order, Trade
from tradeledger.usedb import FtNoDBContext

TRADE_FILE = load_golden("trade_scenarios.json")
BT_FILE = load_golden("backtest_scenarios.json")


@pytest.fixture
def db(module_backend: str) -> Iterator[Engine]:
    """The module's database, initialised, emptied and with a fresh session."""
    engine = tl_db._engine
    if engine is None or str(engine.url) != str(tl_db.make_url(module_backend)):
        engine = tl_db.init_db(module_backend)
    reset_database(engine)
    Trade.session.remove()
    yield engine
    Trade.session.rollback()
    Trade.session.remove()


def db_factory(kwargs: dict[str, Any], created: dict[str, Any] | None) -> Trade:
    trade = Trade(**kwargs)
    Trade.session.add(trade)
    Trade.commit()
    return trade


def reload(trade: Trade) -> Trade:
    """Commit, forget every object, and load the trade again from the database."""
    trade_id = trade.id
    Trade.commit()
    Trade.session.expunge_all()
    fresh = Trade.session.get(Trade, trade_id)
    assert fresh is not None
    return fresh


def after_error(trade: Trade) -> Trade:
    identity = sa_inspect(trade).identity
    assert identity is not None
    Trade.rollback()
    Trade.session.expunge_all()
    fresh = Trade.session.get(Trade, identity[0])
    assert fresh is not None
    return fresh


def _replayer() -> GoldenReplayer:
    return GoldenReplayer(db_factory, Order, after_op=reload, on_error=after_error, cut_text=True)


@pytest.mark.parametrize("scenario", TRADE_FILE["scenarios"], ids=lambda s: s["id"])
def test_trade_scenario_db(db: Engine, scenario: dict[str, Any]) -> None:
    mismatches = _replayer().run_trade_scenario(scenario)
    assert not mismatches, "\n".join(mismatches[:20])


@pytest.mark.parametrize(
    "case", [c for c in TRADE_FILE["raising"] if c["mode"] == "live"], ids=lambda c: c["id"]
)
def test_raising_case_db(db: Engine, case: dict[str, Any]) -> None:
    mismatches, exc, trade = _replayer().run_raising(case)
    assert not mismatches, "\n".join(mismatches)
    assert exc is not None, f"{case['id']}: expected {case['raises']}, nothing raised"
    assert raised_matches(case["raises"], exc), f"{case['raises']} vs {exc!r}"
    index = case["raises"]["op_index"]
    if index == -1:
        # the constructor raised: nothing may have reached the database
        Trade.rollback()
        assert Trade.session.query(Trade).count() == 0
        if case["id"].startswith("raise-missing"):
            assert isinstance(exc, InvalidValueError)
        return
    # the failing op must leave the stored trade as it was after the last successful op
    previous = [
        op["expect"] for op in case["ops"][:index] if "expect" in op and op["op"] != "probe"
    ]
    expected_state = previous[-1] if previous else case.get("created")
    if expected_state is not None and case["ops"][index]["op"] != "probe_raw":
        problems = compare(expected_state, snapshot(trade))
        assert not problems, "\n".join(problems)


def test_backtest_scenarios_via_trade_class() -> None:
    """Backtesting through ``Trade``'s query helpers with database use switched off."""
    failures: list[str] = []
    with FtNoDBContext("5m"):
        for scenario in BT_FILE["scenarios"]:
            LocalTrade.reset_trades()
            replayer = GoldenReplayer(lambda kw, _c: LocalTrade(**kw), Order, query_cls=Trade)
            failures.extend(replayer.run_backtest_scenario(scenario))
    LocalTrade.reset_trades()
    assert not failures, "\n".join(failures[:20])


def test_loading_trades_costs_constant_queries(db: Engine) -> None:
    """Loading many trades with their orders is two SELECTs, not one per trade/order."""
    from datetime import UTC, datetime

    for i in range(30):
        trade = Trade(
            pair=f"P{i % 3}/USDT",
            exchange="binance",
            open_rate=1.0,
            amount=1.0,
            stake_amount=1.0,
            open_date=datetime(2024, 1, 1, tzinfo=UTC),
        )
        for j in range(3):
            trade.orders.append(
                Order(
                    order_id=f"{i}-{j}",
                    ft_order_side="buy",
                    ft_pair=trade.pair,
                    ft_amount=1.0,
                    ft_price=1.0,
                    status="closed",
                    ft_is_open=False,
                    amount=1.0,
                    filled=1.0,
                    price=1.0,
                )
            )
        Trade.session.add(trade)
    Trade.commit()
    Trade.session.remove()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db, "before_cursor_execute", count)
    try:
        trades = Trade.get_trades_proxy(is_open=True)
        assert len(trades) == 30
        assert sum(len(t.orders) for t in trades) == 90
        assert all(o._trade_live is t for t in trades for o in t.orders)
    finally:
        event.remove(db, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 2, selects
