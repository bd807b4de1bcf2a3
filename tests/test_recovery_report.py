"""The crash-recovery report and reconciliation transaction boundaries, on every backend."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests.fake_exchange import FakeExchange
from tests.test_recovery_reconcile import PAIR, _now, _reconcile, _reload, bot_open_trade, bot_place
from tradeledger.db import get_engine, init_db
from tradeledger.models import Order, ReconcileLogEntry, Trade
from tradeledger.services.intents import record_intent
from tradeledger.services.reconcile import apply_reconciliation
from tradeledger.services.recovery import build_recovery_report


@pytest.fixture
def db(backend: str) -> str:
    init_db(backend)
    return backend


def test_report_contents(db: str) -> None:
    ex = FakeExchange()
    t1 = bot_open_trade(ex, amount=1.0, price=100.0)
    sl = bot_place(ex, t1, "stoploss", 1.0, 90.0, order_type="stop_loss_limit")
    t2 = bot_open_trade(ex, "ETH/USDT", amount=2.0, price=10.0, fill=False)
    closed = bot_open_trade(ex, "XRP/USDT", amount=5.0, price=1.0)
    exit_answer = bot_place(ex, closed, "sell", 5.0, 1.1)
    from tradeledger.services.intents import apply_exchange_update

    apply_exchange_update(closed, ex.fill(exit_answer["id"]))
    assert not _reload(closed.id).is_open
    pending = record_intent(pair="ETH/USDT", side="sell", amount=2.0, price=12.0,
                            trade_id=t2.id)
    later = _now(ex) + timedelta(hours=1)
    report = build_recovery_report(stale_after=timedelta(minutes=30), now=later)
    assert [t.id for t in report.open_trades] == [t1.id, t2.id]
    assert [o.order_id for o in report.open_trades[0].open_orders] == [sl["id"]]
    assert [o.order_id for o in report.stoploss_orders] == [sl["id"]]
    assert {o.order_id for o in report.open_orders} == {sl["id"], t2.orders[0].order_id}
    assert {o.order_id for o in report.stale_orders} == {o.order_id for o in report.open_orders}
    assert [i.client_order_id for i in report.pending_intents] == [pending.client_order_id]
    assert report.pending_intents[0].seconds_pending > 3000
    assert report.orphan_open_orders == ()
    assert report.pairs_to_check == ("BTC/USDT", "ETH/USDT")
    json.dumps(report.to_dict())  # serialisable
    fresh = build_recovery_report(stale_after=timedelta(minutes=30))
    assert fresh.stale_orders == ()


def test_report_survives_odd_rows(db: str) -> None:
    """An order without dates and an open order whose trade is closed do not stop a restart."""
    ex = FakeExchange()
    trade = bot_open_trade(ex, amount=1.0, price=100.0)
    sell = bot_place(ex, trade, "sell", 1.0, 120.0)
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE orders SET order_date = NULL, order_update_date = NULL "
                          "WHERE order_id = :oid"), {"oid": sell["id"]})
        conn.execute(text("UPDATE trades SET is_open = :f WHERE id = :tid"),
                     {"f": False, "tid": trade.id})
    Order.session.expire_all()
    report = build_recovery_report()
    assert report.open_trades == ()
    assert [o.order_id for o in report.orphan_open_orders] == [sell["id"]]
    assert [o.order_id for o in report.stale_orders] == [sell["id"]]  # no date: must be asked
    assert report.needs_exchange_check


def test_apply_rolls_back_committed_looking_steps(db: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """update_trade commits in freqtrade; inside apply those commits are deferred, so a failure
    on the second trade also undoes the first trade's booking."""
    ex = FakeExchange()
    a = bot_open_trade(ex, amount=1.0, price=100.0, fill=False)
    b = bot_open_trade(ex, "ETH/USDT", amount=2.0, price=10.0, fill=False)
    ex.fill(a.orders[0].order_id)
    ex.fill(b.orders[0].order_id)
    rec = _reconcile(ex, [PAIR, "ETH/USDT"])
    original = Trade.update_trade
    calls: list[int] = []

    def flaky(self: Any, order: Any, recalculating: bool = False) -> None:
        calls.append(self.id)
        if len(calls) == 2:
            raise RuntimeError("connection reset")
        original(self, order, recalculating)

    monkeypatch.setattr(Trade, "update_trade", flaky)
    with pytest.raises(RuntimeError):
        apply_reconciliation(rec, dry_run=False)
    monkeypatch.undo()
    assert len(calls) == 2
    for trade in (a, b):
        t = _reload(trade.id)
        assert t.amount == 0.0 and t.orders[0].ft_is_open
    count = Order.session.scalar(select(func.count()).select_from(ReconcileLogEntry))
    assert count == 0
    # the session is usable afterwards and the same report applies cleanly
    apply_reconciliation(rec, dry_run=False)
    assert _reload(a.id).amount == 1.0 and _reload(b.id).amount == 2.0
    assert _reconcile(ex, [PAIR, "ETH/USDT"]).is_clean


def test_reports_serialise(db: str) -> None:
    ex = FakeExchange()
    trade = bot_open_trade(ex, amount=1.0, price=100.0, fill=False)
    ex.fill(trade.orders[0].order_id)
    ex.external_order(PAIR, "buy", 1.0, 90.0, fill=False)
    rec = _reconcile(ex, [PAIR])
    data = json.loads(json.dumps(rec.to_dict()))
    assert {d["reason"] for d in data["differences"]} == {
        "missed_fill", "missing_fee", "unknown_exchange_order"}
    result = apply_reconciliation(rec, dry_run=False)
    rows = Order.session.scalars(select(ReconcileLogEntry).order_by(ReconcileLogEntry.id)).all()
    assert {r.run_id for r in rows} == {result.run_id}
    assert len(rows) == len(rec.differences)
    for row in rows:
        json.loads(row.before or "null")
        json.loads(row.after or "null")


def test_applying_a_report_twice_is_harmless(db: str) -> None:
    ex = FakeExchange()
    trade = bot_open_trade(ex, amount=1.0, price=100.0)
    sell = ex.external_order(PAIR, "sell", 1.0, 105.0)
    rec = _reconcile(ex, [PAIR], positions=ex.fetch_positions())
    apply_reconciliation(rec, dry_run=False)
    closed = _reload(trade.id)
    state = (closed.is_open, closed.close_rate, closed.close_profit_abs, len(closed.orders))
    second = apply_reconciliation(rec, dry_run=False)
    again = _reload(trade.id)
    assert (again.is_open, again.close_rate, again.close_profit_abs, len(again.orders)) == state
    assert second.trades_recalculated == ()
    assert Order.order_by_id(sell["id"], PAIR) is not None
