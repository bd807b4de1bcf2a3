"""Crash recovery and reconciliation against a fake exchange, on every backend.

Scenarios (issue 4): (a) filled while the bot was down; (b) position closed by hand on the
exchange; (c) stop-loss filled during a cancel/replace; (d) the exchange answers with order id
``None``; (e) external orders; (f) a delisted pair; (g) duplicate and out-of-order fill
deliveries. (h), the SIGKILL between sending and committing, is in ``test_intents_crash.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.fake_exchange import BadSymbol, FakeExchange
from tradeledger.db import init_db
from tradeledger.domain.timeutil import dt_from_ts
from tradeledger.exceptions import MissingOrderIdError
from tradeledger.models import Order, OrderIntent, ReconcileLogEntry, Trade
from tradeledger.services.intents import (
    apply_exchange_update,
    attach_exchange_response,
    get_intent,
    pending_intents,
    record_intent,
    resolve_intent,
)
from tradeledger.services.reconcile import (
    FixAction,
    ReasonCode,
    apply_reconciliation,
    reconcile,
)
from tradeledger.services.recovery import build_recovery_report

PAIR = "BTC/USDT"


@pytest.fixture
def db(backend: str) -> str:
    init_db(backend)
    return backend


@pytest.fixture
def ex() -> FakeExchange:
    return FakeExchange()


def _now(ex: FakeExchange) -> Any:
    return dt_from_ts(ex.now_ms)


def bot_open_trade(ex: FakeExchange, pair: str = PAIR, amount: float = 1.0,
                   price: float = 100.0, *, fill: bool = True) -> Trade:
    """What a bot does: trade row, intent, exchange call, answer stored, fill applied."""
    trade = Trade(pair=pair, exchange="fake", open_rate=price, amount=0.0,
                  amount_requested=amount, stake_amount=amount * price, fee_open=0.001,
                  fee_close=0.001, leverage=1.0, is_open=True, open_date=_now(ex),
                  stake_currency="USDT", base_currency=pair.split("/")[0])
    Trade.session.add(trade)
    Trade.commit()
    intent = record_intent(pair=pair, side="buy", amount=amount, price=price,
                           trade_id=trade.id, order_type="limit")
    answer = ex.create_order(pair, "limit", "buy", amount, price,
                             {"clientOrderId": intent.client_order_id})
    attach_exchange_response(intent.client_order_id, answer)
    if fill:
        ex.tick(5)
        apply_exchange_update(trade, ex.fill(answer["id"]))
    return trade


def bot_place(ex: FakeExchange, trade: Trade, side: str, amount: float, price: float,
              *, order_type: str = "limit") -> dict[str, Any]:
    intent = record_intent(pair=trade.pair, side=side, amount=amount, price=price,
                           trade_id=trade.id, order_type=order_type)
    ccxt_side = trade.exit_side if side == "stoploss" else side
    answer = ex.create_order(trade.pair, order_type, ccxt_side, amount,
                             None if side == "stoploss" else price,
                             {"clientOrderId": intent.client_order_id},
                             stop_price=price if side == "stoploss" else None)
    attach_exchange_response(intent.client_order_id, answer)
    return answer


def _reload(trade_id: int) -> Trade:
    Trade.session.expire_all()
    t = Trade.session.get(Trade, trade_id)
    assert t is not None
    return t


def _count(model: Any) -> int:
    return int(Trade.session.scalar(select(func.count()).select_from(model)) or 0)


def _reconcile(ex: FakeExchange, pairs: list[str], **kw: Any) -> Any:
    orders: list[dict[str, Any]] = []
    unavailable = []
    for p in pairs:
        try:
            orders += ex.fetch_orders(p)
        except BadSymbol:
            unavailable.append(p)
    ok_pairs = [p for p in pairs if p not in unavailable]
    return reconcile(orders, pairs=ok_pairs, unavailable_pairs=unavailable,
                     since=_now(ex) - timedelta(days=1), **kw)


def _apply_and_recheck(ex: FakeExchange, pairs: list[str], report: Any, **kw: Any) -> Any:
    log_before = _count(ReconcileLogEntry)
    result = apply_reconciliation(report, dry_run=False)
    assert _count(ReconcileLogEntry) == log_before + len(report.differences)
    again = _reconcile(ex, pairs, **kw)
    assert again.is_clean, again.to_dict()
    return result


# ------------------------------------------------------------------ (a)
def test_a_filled_while_down(db: str, ex: FakeExchange) -> None:
    trade = bot_open_trade(ex, amount=2.0, price=50.0, fill=False)
    order_id = trade.orders[0].order_id
    # the bot stops; the exchange fills the order in two parts
    ex.tick(600)
    ex.fill(order_id, 0.5, 49.0)
    ex.tick(60)
    ex.fill(order_id, 1.5, 50.0)
    ex.tick(3600)
    # restart: what must be checked?
    report = build_recovery_report(stale_after=timedelta(minutes=30), now=_now(ex))
    assert [t.id for t in report.open_trades] == [trade.id]
    assert [o.order_id for o in report.open_orders] == [order_id]
    assert [o.order_id for o in report.stale_orders] == [order_id]
    assert report.pending_intents == () and report.needs_exchange_check
    assert report.pairs_to_check == (PAIR,)

    rec = _reconcile(ex, [PAIR])
    reasons = sorted(d.reason for d in rec.differences)
    assert reasons == [ReasonCode.MISSED_FILL, ReasonCode.MISSING_FEE]
    # dry run: nothing written
    before = (_reload(trade.id).amount, _count(ReconcileLogEntry))
    dry = apply_reconciliation(rec)
    assert dry.dry_run and dry.changes[0].after is not None
    assert dry.changes[0].after["filled"] == 2.0
    assert (_reload(trade.id).amount, _count(ReconcileLogEntry)) == before

    result = _apply_and_recheck(ex, [PAIR], rec)
    assert result.trades_recalculated == (trade.id,)
    t = _reload(trade.id)
    expected_avg = (0.5 * 49.0 + 1.5 * 50.0) / 2.0  # the exchange's average price
    assert t.amount == 2.0
    assert t.open_rate == pytest.approx(expected_avg, rel=1e-12)
    assert t.fee_open_cost == pytest.approx(2.0 * expected_avg * 0.001)
    assert not t.orders[0].ft_is_open and t.orders[0].status == "closed"
    assert not build_recovery_report(now=_now(ex)).open_orders


# ------------------------------------------------------------------ (b)
def test_b_position_closed_by_hand(db: str, ex: FakeExchange) -> None:
    trade = bot_open_trade(ex, amount=1.0, price=100.0)
    ex.tick(3600)
    manual = ex.external_order(PAIR, "sell", 1.0, 110.0)
    assert ex.fetch_positions()[PAIR] == 0.0

    # without position data the order is external: acknowledged, never adopted
    rec = _reconcile(ex, [PAIR])
    unknown = [d for d in rec.differences if d.reason == ReasonCode.UNKNOWN_EXCHANGE_ORDER]
    assert [d.fix for d in unknown] == [FixAction.ACKNOWLEDGE]

    # with the exchange position, the manual sell is recognised as the trade's exit
    rec = _reconcile(ex, [PAIR], positions=ex.fetch_positions())
    (diff,) = rec.differences
    assert diff.reason == ReasonCode.UNKNOWN_EXCHANGE_ORDER and diff.fix == FixAction.ADOPT_ORDER
    assert diff.order_id == manual["id"] and diff.trade_id == trade.id
    _apply_and_recheck(ex, [PAIR], rec, positions=ex.fetch_positions())
    t = _reload(trade.id)
    assert not t.is_open
    assert t.close_rate == 110.0
    assert t.exit_reason == "sold_on_exchange"
    assert t.close_profit_abs is not None and t.close_profit_abs > 0
    assert {o.order_id for o in t.orders} == {t.orders[0].order_id, manual["id"]}


def test_b_position_mismatch_is_reported(db: str, ex: FakeExchange) -> None:
    bot_open_trade(ex, amount=1.0, price=100.0)
    ex.positions[PAIR] = 0.25  # the exchange holds less, and nothing explains it
    rec = _reconcile(ex, [PAIR], positions=ex.fetch_positions())
    assert [d.reason for d in rec.differences] == [ReasonCode.POSITION_MISMATCH]
    _apply_and_recheck(ex, [PAIR], rec, positions=ex.fetch_positions())
    # a new difference in the position is reported again
    ex.positions[PAIR] = 0.0
    assert not _reconcile(ex, [PAIR], positions=ex.fetch_positions()).is_clean


# ------------------------------------------------------------------ (c)
def test_c_stoploss_filled_during_cancel_replace(db: str, ex: FakeExchange) -> None:
    trade = bot_open_trade(ex, amount=1.0, price=100.0)
    sl1 = bot_place(ex, trade, "stoploss", 1.0, 90.0, order_type="stop_loss_limit")
    # the bot cancels sl1 to move the stop; the exchange fills sl1 at the same moment, but
    # the cancel answer the bot got said "canceled"
    ex.tick(30)
    ex.fill(sl1["id"], price=90.0)
    stale_answer = dict(sl1, status="canceled")
    apply_exchange_update(trade, stale_answer)
    sl2 = bot_place(ex, trade, "stoploss", 1.0, 95.0, order_type="stop_loss_limit")
    t = _reload(trade.id)
    assert t.is_open  # the bot believes it still holds the position

    rec = _reconcile(ex, [PAIR], positions=ex.fetch_positions())
    by = rec.by_reason()
    assert [d.order_id for d in by[ReasonCode.MISSED_FILL]] == [sl1["id"]]
    assert [d.order_id for d in by[ReasonCode.ORPHAN_OPEN_ORDER]] == [sl2["id"]]
    assert ReasonCode.POSITION_MISMATCH not in by
    _apply_and_recheck(ex, [PAIR], rec, positions=ex.fetch_positions())
    t = _reload(trade.id)
    assert not t.is_open
    assert t.exit_reason == "stoploss_on_exchange"
    assert t.close_rate == 90.0
    # the replacement stop is still open on both sides: the bot must cancel it
    assert [o.order_id for o in Order.get_open_orders()] == [sl2["id"]]
    assert [o.order_id for o in build_recovery_report().orphan_open_orders] == [sl2["id"]]


# ------------------------------------------------------------------ (d)
@pytest.mark.parametrize("path", ["resolve", "reconcile"])
def test_d_exchange_answers_with_id_none(db: str, ex: FakeExchange, path: str) -> None:
    trade = bot_open_trade(ex, amount=1.0, price=100.0)
    intent = record_intent(pair=PAIR, side="sell", amount=1.0, price=120.0, trade_id=trade.id)
    ex.answer_with_none_id = True
    answer = ex.create_order(PAIR, "limit", "sell", 1.0, 120.0,
                             {"clientOrderId": intent.client_order_id})
    assert answer["id"] is None
    orders_before = _count(Order)
    with pytest.raises(MissingOrderIdError):
        attach_exchange_response(intent.client_order_id, answer)
    assert _count(Order) == orders_before  # nothing written, no poisoned row
    assert get_intent(intent.client_order_id).status == "pending"
    report = build_recovery_report()
    assert [i.client_order_id for i in report.pending_intents] == [intent.client_order_id]
    ex.tick(10)
    real_id = ex.fetch_order_by_client_id(intent.client_order_id)
    assert real_id is not None
    ex.fill(real_id["id"], price=120.0)
    if path == "resolve":
        found = ex.fetch_order_by_client_id(intent.client_order_id)
        resolved = resolve_intent(intent.client_order_id, found)
        assert resolved.status == "acknowledged" and resolved.exchange_order_id == real_id["id"]
    else:
        rec = _reconcile(ex, [PAIR])
        adopt = [d for d in rec.differences if d.fix == FixAction.ADOPT_ORDER]
        assert [d.client_order_id for d in adopt] == [intent.client_order_id]
        _apply_and_recheck(ex, [PAIR], rec)
        assert get_intent(intent.client_order_id).status == "acknowledged"
    t = _reload(trade.id)
    assert not t.is_open and t.close_rate == 120.0
    assert pending_intents() == []


# ------------------------------------------------------------------ (e)
def test_e_external_orders_never_adopted(db: str, ex: FakeExchange) -> None:
    trade = bot_open_trade(ex, amount=1.0, price=100.0)
    other = "ETH/USDT"
    open_ext = ex.external_order(PAIR, "buy", 3.0, 80.0, fill=False)
    filled_ext = ex.external_order(other, "buy", 2.0, 10.0)
    rec = _reconcile(ex, [PAIR, other])
    unknown = rec.by_reason()[ReasonCode.UNKNOWN_EXCHANGE_ORDER]
    assert sorted(d.order_id for d in unknown) == sorted([open_ext["id"], filled_ext["id"]])
    assert all(d.fix == FixAction.ACKNOWLEDGE for d in unknown)
    orders_before, trades_before = _count(Order), _count(Trade)
    _apply_and_recheck(ex, [PAIR, other], rec)
    assert (_count(Order), _count(Trade)) == (orders_before, trades_before)
    assert _reload(trade.id).amount == 1.0
    # the external order changes: it is reported again
    ex.fill(open_ext["id"], 1.0)
    again = _reconcile(ex, [PAIR, other])
    assert [d.order_id for d in again.differences] == [open_ext["id"]]
    assert again.suppressed == 1


# ------------------------------------------------------------------ (f)
def test_f_delisted_pair(db: str, ex: FakeExchange) -> None:
    old = "OLD/USDT"
    dead = bot_open_trade(ex, old, amount=10.0, price=1.0)
    bot_place(ex, dead, "sell", 10.0, 1.5)
    alive = bot_open_trade(ex, amount=1.0, price=100.0, fill=False)
    ex.delisted.add(old)
    ex.fill(alive.orders[0].order_id)
    report = build_recovery_report()  # does not fail on the delisted pair
    assert {t.pair for t in report.open_trades} == {old, PAIR}

    rec = _reconcile(ex, [old, PAIR])
    by = rec.by_reason()
    assert [d.trade_id for d in by[ReasonCode.PAIR_UNAVAILABLE]] == [dead.id]
    assert ReasonCode.GHOST_ORDER not in by  # its open order was not checked, not declared lost
    assert [d.order_id for d in by[ReasonCode.MISSED_FILL]] == [alive.orders[0].order_id]
    _apply_and_recheck(ex, [old, PAIR], rec)
    assert _reload(dead.id).is_open and _reload(alive.id).amount == 1.0


# ------------------------------------------------------------------ (g)
def test_g_duplicate_and_out_of_order_fills(db: str, ex: FakeExchange) -> None:
    trade = bot_open_trade(ex, amount=3.0, price=10.0, fill=False)
    oid = trade.orders[0].order_id
    snaps = []
    for qty, px in ((1.0, 10.0), (1.0, 9.0), (1.0, 11.0)):
        ex.tick(5)
        snaps.append(ex.fill(oid, qty, px))
    reference = bot_open_trade(ex, "REF/USDT", amount=3.0, price=10.0, fill=False)
    ref_snap = dict(snaps[-1], id=reference.orders[0].order_id, symbol="REF/USDT")
    apply_exchange_update(reference, ref_snap)
    ref = _reload(reference.id)

    for i in (1, 0, 2, 1, 2, 0, 2, 2):  # websocket, REST backfill and replay, mixed up
        apply_exchange_update(_reload(trade.id), snaps[i])
    t = _reload(trade.id)
    assert t.nr_of_successful_entries == 1
    assert len(t.orders) == 1
    assert t.orders[0].filled == 3.0 and not t.orders[0].ft_is_open
    for attr in ("amount", "open_rate", "stake_amount", "open_trade_value", "is_open"):
        assert getattr(t, attr) == getattr(ref, attr), attr
    # a late duplicate changes nothing at all
    _, outcome = apply_exchange_update(t, snaps[2])
    assert outcome is not None and not outcome.changed
    _, outcome = apply_exchange_update(t, snaps[0])
    assert outcome is not None and outcome.stale
    assert _reload(trade.id).amount == 3.0
    assert _reconcile(ex, [PAIR]).by_reason().keys() <= {ReasonCode.MISSING_FEE}


def test_ghost_order_unknown_on_exchange(db: str, ex: FakeExchange) -> None:
    trade = bot_open_trade(ex, amount=1.0, price=100.0)
    sell = bot_place(ex, trade, "sell", 1.0, 130.0)
    ex.orders.pop(sell["id"])  # the exchange lost it (or it never reached the book)
    rec = _reconcile(ex, [PAIR])
    (diff,) = rec.differences
    assert diff.reason == ReasonCode.GHOST_ORDER and diff.fix == FixAction.CLOSE_GHOST
    _apply_and_recheck(ex, [PAIR], rec)
    o = Order.order_by_id(sell["id"], PAIR)
    assert o is not None and not o.ft_is_open and o.status == "canceled"
    assert o.filled == 0.0  # no fill invented
    assert _reload(trade.id).is_open


def test_apply_is_one_transaction(db: str, ex: FakeExchange,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while booking rolls back every change of the run, the log included."""
    trade = bot_open_trade(ex, amount=1.0, price=100.0, fill=False)
    ex.fill(trade.orders[0].order_id)
    rec = _reconcile(ex, [PAIR])
    assert rec.differences

    def boom(self: Any, order: Any, recalculating: bool = False) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(Trade, "update_trade", boom)
    with pytest.raises(RuntimeError):
        apply_reconciliation(rec, dry_run=False)
    monkeypatch.undo()
    t = _reload(trade.id)
    assert t.orders[0].ft_is_open and t.amount == 0.0
    assert _count(ReconcileLogEntry) == 0
    assert _count(OrderIntent) == 1


def test_b_closed_by_hand_seen_in_balance(db: str, ex: FakeExchange) -> None:
    """Spot: the base-currency balance (no position data) identifies the manual exit."""
    trade = bot_open_trade(ex, amount=1.5, price=100.0)
    manual = ex.external_order(PAIR, "sell", 1.5, 90.0)
    assert ex.fetch_balance()["BTC"] == 0.0
    rec = _reconcile(ex, [PAIR], balances=ex.fetch_balance())
    assert [(d.reason, d.fix, d.order_id) for d in rec.differences] == [
        (ReasonCode.UNKNOWN_EXCHANGE_ORDER, FixAction.ADOPT_ORDER, manual["id"])]
    _apply_and_recheck(ex, [PAIR], rec, balances=ex.fetch_balance())
    t = _reload(trade.id)
    assert not t.is_open and t.close_rate == 90.0
    assert t.close_profit_abs is not None and t.close_profit_abs < 0


def test_balance_shortfall_reported(db: str, ex: FakeExchange) -> None:
    bot_open_trade(ex, amount=2.0, price=100.0)
    rec = _reconcile(ex, [PAIR], balances={"BTC": 2.5, "USDT": 10.0})  # more is fine
    assert rec.is_clean
    rec = _reconcile(ex, [PAIR], balances={"BTC": 1.998})  # e.g. fee taken in BTC
    (diff,) = rec.differences
    assert diff.reason == ReasonCode.POSITION_MISMATCH and "BTC" in diff.detail
    _apply_and_recheck(ex, [PAIR], rec, balances={"BTC": 1.998})
