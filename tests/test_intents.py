"""Order intents: recorded before sending, committed on their own, resolved idempotently."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tradeledger.db import init_db
from tradeledger.domain.timeutil import dt_now
from tradeledger.exceptions import (
    DependencyException,
    InvalidOrderError,
    OrderMismatchError,
    UnknownIntentError,
)
from tradeledger.models import Order, OrderIntent, Trade
from tradeledger.services.intents import (
    apply_exchange_update,
    attach_exchange_response,
    get_intent,
    mark_intent_failed,
    new_client_order_id,
    pending_intents,
    record_intent,
)


@pytest.fixture
def db(backend: str) -> str:
    init_db(backend)
    return backend


def _trade(pair: str = "BTC/USDT") -> Trade:
    t = Trade(pair=pair, exchange="fake", open_rate=100.0, amount=0.0, stake_amount=100.0,
              fee_open=0.001, fee_close=0.001, leverage=1.0, is_open=True, open_date=dt_now())
    Trade.session.add(t)
    Trade.commit()
    return t


def _answer(oid: str, cid: str, status: str = "open", filled: float = 0.0) -> dict[str, Any]:
    return {"id": oid, "clientOrderId": cid, "symbol": "BTC/USDT", "type": "limit",
            "side": "buy", "price": 100.0, "amount": 1.0, "filled": filled,
            "remaining": 1.0 - filled, "average": 100.0 if filled else None,
            "cost": 100.0 * filled, "status": status, "timestamp": 1_700_000_000_000,
            "fee": {"cost": 0.1, "currency": "USDT"} if filled else None}


def _count(model: Any) -> int:
    return int(Order.session.scalar(select(func.count()).select_from(model)) or 0)


def test_client_order_id_shape() -> None:
    a, b = new_client_order_id(), new_client_order_id()
    assert a != b and len(a) == 32 and a.startswith("tl") and a.isalnum()


def test_intent_commits_on_its_own(db: str) -> None:
    trade = _trade()
    Trade.session.add(Trade(pair="ETH/USDT", exchange="fake", open_rate=1.0, amount=0.0,
                            stake_amount=0.0, fee_open=0.0, fee_close=0.0, open_date=dt_now()))
    intent = record_intent(pair="BTC/USDT", side="buy", amount=1.0, price=100.0,
                           trade_id=trade.id, order_type="limit", tag="entry-tag")
    Trade.session.rollback()  # the caller's pending work is dropped, the intent is not
    assert _count(Trade) == 1
    stored = get_intent(intent.client_order_id)
    assert stored.status == "pending" and stored.ft_order_tag == "entry-tag"
    assert stored.created_at.tzinfo is not None
    assert [i.client_order_id for i in pending_intents()] == [intent.client_order_id]


def test_attach_twice_is_idempotent_and_books_once(db: str) -> None:
    trade = _trade()
    intent = record_intent(pair="BTC/USDT", side="buy", amount=1.0, price=100.0,
                           trade_id=trade.id, tag="t1")
    answer = _answer("X1", intent.client_order_id, "closed", 1.0)
    first = attach_exchange_response(intent.client_order_id, answer)
    assert first.ft_order_tag == "t1"
    Trade.session.expire_all()
    t = Trade.session.get(Trade, trade.id)
    assert t is not None
    snapshot = (t.amount, t.open_rate, t.open_trade_value, t.fee_open_cost)
    attach_exchange_response(intent.client_order_id, answer)  # re-delivered answer
    Trade.session.expire_all()
    t = Trade.session.get(Trade, trade.id)
    assert t is not None
    assert (t.amount, t.open_rate, t.open_trade_value, t.fee_open_cost) == snapshot
    assert t.amount == 1.0 and t.fee_open_cost == 0.1
    assert _count(Order) == 1 and t.nr_of_successful_entries == 1
    stored = get_intent(intent.client_order_id)
    assert (stored.status, stored.exchange_order_id, stored.exchange_status) == (
        "acknowledged", "X1", "closed")
    with pytest.raises(OrderMismatchError):
        attach_exchange_response(intent.client_order_id, _answer("X2", intent.client_order_id))
    with pytest.raises(DependencyException):
        mark_intent_failed(intent.client_order_id, "late error")


def test_attach_errors_write_nothing(db: str) -> None:
    trade = _trade()
    intent = record_intent(pair="BTC/USDT", side="buy", amount=1.0, trade_id=trade.id)
    with pytest.raises(UnknownIntentError):
        attach_exchange_response("nope", _answer("X1", "nope"))
    with pytest.raises(InvalidOrderError):
        attach_exchange_response(intent.client_order_id,
                                 dict(_answer("X1", intent.client_order_id), amount=-1.0))
    orphan = record_intent(pair="BTC/USDT", side="buy", amount=1.0)
    with pytest.raises(DependencyException):
        attach_exchange_response(orphan.client_order_id, _answer("X9", orphan.client_order_id))
    assert _count(Order) == 0
    assert {i.status for i in pending_intents()} == {"pending"}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"side": "long"}, "side"),
    ({"amount": 0.0}, "amount"),
    ({"amount": float("nan")}, "amount"),
    ({"price": -1.0}, "price"),
    ({"amount": "1"}, "amount"),
    ({"pair": ""}, "pair"),
    ({"client_order_id": "x" * 65}, "client_order_id"),
])
def test_record_intent_validation(db: str, kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"pair": "BTC/USDT", "side": "buy", "amount": 1.0} | kwargs
    with pytest.raises(InvalidOrderError) as info:
        record_intent(**args)
    assert info.value.field == field
    assert _count(OrderIntent) == 0


def test_duplicate_client_order_id_refused(db: str) -> None:
    record_intent(pair="BTC/USDT", side="buy", amount=1.0, client_order_id="same")
    with pytest.raises(IntegrityError):
        record_intent(pair="BTC/USDT", side="buy", amount=2.0, client_order_id="same")
    assert _count(OrderIntent) == 1


def test_failed_and_age_filter(db: str) -> None:
    a = record_intent(pair="BTC/USDT", side="buy", amount=1.0)
    b = record_intent(pair="BTC/USDT", side="sell", amount=1.0)
    failed = mark_intent_failed(a.client_order_id, "insufficient balance " * 30)
    assert failed.status == "failed" and failed.error is not None and len(failed.error) == 255
    assert [i.client_order_id for i in pending_intents()] == [b.client_order_id]
    assert pending_intents(older_than=timedelta(minutes=1)) == []
    later = dt_now() + timedelta(minutes=2)
    assert len(pending_intents(older_than=timedelta(minutes=1), now=later)) == 1
    with pytest.raises(UnknownIntentError):
        mark_intent_failed("unknown", "x")


def test_apply_exchange_update_needs_side_for_unknown_orders(db: str) -> None:
    trade = _trade()
    with pytest.raises(InvalidOrderError):
        apply_exchange_update(trade, _answer("N1", "c"))
    order, outcome = apply_exchange_update(trade, _answer("N1", "c"), side="buy")
    assert outcome is None and order.ft_is_open
    order, outcome = apply_exchange_update(trade, _answer("N1", "c", "closed", 1.0))
    assert outcome is not None and outcome.closed_now and outcome.fill_delta == 1.0
    Trade.session.expire_all()
    t = Trade.session.get(Trade, trade.id)
    assert t is not None and t.amount == 1.0


def test_random_updates_through_the_service_write_nothing_bad() -> None:
    """Random CCXT-like dicts through ``apply_exchange_update``: documented error and the
    database unchanged, or a valid order."""
    from hypothesis import given, settings

    from tests.test_order_validation import _check_numbers, ccxt_like

    init_db("sqlite://")
    trade = _trade()
    apply_exchange_update(trade, _answer("R1", "c"), side="buy")

    def rows() -> list[Any]:
        Order.session.expire_all()
        return [(o.order_id, o.status, o.filled, o.amount, o.price, o.average, o.ft_is_open)
                for o in Order.session.scalars(select(Order).order_by(Order.id)).all()] + [
            (t.amount, t.open_rate, t.is_open)
            for t in Trade.session.scalars(select(Trade)).all()]

    @settings(max_examples=150, deadline=None)
    @given(order=ccxt_like)
    def run(order: dict[str, Any]) -> None:
        before = rows()
        t = Trade.session.get(Trade, trade.id)
        assert t is not None
        try:
            apply_exchange_update(t, order, side="buy")
        except (InvalidOrderError, OrderMismatchError, DependencyException) as exc:
            assert not isinstance(exc, DependencyException) or isinstance(
                exc, OrderMismatchError)
            assert rows() == before
            return
        for o in Order.session.scalars(select(Order)).all():
            _check_numbers(o)

    run()
