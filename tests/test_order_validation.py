"""Bad CCXT input: documented exceptions naming field and value; nothing changes or is written."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._order_golden import COLUMNS
from tradeledger.db import init_db
from tradeledger.domain.order import LocalOrder
from tradeledger.exceptions import (
    DependencyException,
    InvalidOrderError,
    MissingOrderIdError,
    OrderMismatchError,
)
from tradeledger.models import Order, Trade

BASE = {"id": "o-1", "symbol": "BTC/USDT", "type": "limit", "side": "buy", "price": 100.0,
        "amount": 2.0, "filled": 0.5, "remaining": 1.5, "cost": 50.0, "status": "open",
        "timestamp": 1_700_000_000_000}


def _order() -> LocalOrder:
    return LocalOrder.parse_from_ccxt_object(dict(BASE), "BTC/USDT", "buy")


def _state(o: Any) -> dict[str, Any]:
    return {c: getattr(o, c) for c in COLUMNS}


BAD_UPDATES: list[tuple[dict[str, Any], str]] = [
    ({"id": "o-1", "amount": float("nan")}, "amount"),
    ({"id": "o-1", "price": float("inf")}, "price"),
    ({"id": "o-1", "average": -float("inf")}, "average"),
    ({"id": "o-1", "filled": -0.1}, "filled"),
    ({"id": "o-1", "cost": -1.0}, "cost"),
    ({"id": "o-1", "remaining": -1e-9}, "remaining"),
    ({"id": "o-1", "stopPrice": -5.0}, "stopPrice"),
    ({"id": "o-1", "price": "100.0"}, "price"),
    ({"id": "o-1", "amount": "2"}, "amount"),
    ({"id": "o-1", "filled": True}, "filled"),
    ({"id": "o-1", "status": "partially_filled"}, "status"),
    ({"id": "o-1", "status": "CLOSED"}, "status"),
    ({"id": "o-1", "status": 1}, "status"),
    ({"id": "o-1", "filled": 2.5}, "filled"),  # > stored amount 2.0
    ({"id": "o-1", "amount": 1.0, "filled": 1.5}, "filled"),
    ({"id": "o-1", "timestamp": -1}, "timestamp"),
    ({"id": "o-1", "timestamp": "1700000000000"}, "timestamp"),
    ({"id": "o-1", "lastTradeTimestamp": float("nan")}, "lastTradeTimestamp"),
    ({"id": "o-1", "timestamp": 1e300}, "timestamp"),
    ({"id": 1.5}, "id"),
    ({"id": None}, "id"),
    ({"id": ""}, "id"),
    ({}, "id"),
]


@pytest.mark.parametrize(("update", "field"), BAD_UPDATES,
                         ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_UPDATES)])
def test_bad_update_raises_and_changes_nothing(update: dict[str, Any], field: str) -> None:
    o = _order()
    before = _state(o)
    with pytest.raises(InvalidOrderError) as info:
        o.update_from_ccxt_object(update)
    assert info.value.field == field
    assert field in str(info.value) or field == "id"
    assert _state(o) == before


@pytest.mark.parametrize("bad", [None, [], "order", 42, ("id", "x")])
def test_non_dict_raises(bad: Any) -> None:
    o = _order()
    before = _state(o)
    with pytest.raises(InvalidOrderError) as info:
        o.update_from_ccxt_object(bad)
    assert info.value.field == "order"
    with pytest.raises(InvalidOrderError):
        LocalOrder.parse_from_ccxt_object(bad, "BTC/USDT", "buy")
    assert _state(o) == before


def test_update_orders_non_dict_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """freqtrade's contract for the batch helper: warn, change nothing."""
    o = _order()
    before = _state(o)
    LocalOrder.update_orders([o], "garbage")
    LocalOrder.update_orders([o], {"id": "unknown", "status": "closed"})
    assert _state(o) == before
    assert "not a valid response object" in caplog.text
    assert "Did not find order" in caplog.text
    with pytest.raises(InvalidOrderError):
        LocalOrder.update_orders([o], {"id": "o-1", "filled": float("nan")})
    assert _state(o) == before


def test_missing_id_is_both_keyerror_and_invalid_order_error() -> None:
    with pytest.raises(KeyError):
        LocalOrder.parse_from_ccxt_object({"status": "open"}, "BTC/USDT", "buy")
    with pytest.raises(MissingOrderIdError) as info:
        LocalOrder.parse_from_ccxt_object({"id": None}, "BTC/USDT", "buy")
    assert isinstance(info.value, InvalidOrderError)
    assert info.value.field == "id"
    assert "None" in str(info.value)


def test_mismatched_id_is_dependency_exception() -> None:
    o = _order()
    before = _state(o)
    with pytest.raises(DependencyException) as info:
        o.update_from_ccxt_object({"id": "o-2", "status": "closed"})
    assert isinstance(info.value, OrderMismatchError)
    assert "o-1" in str(info.value) and "o-2" in str(info.value)
    assert _state(o) == before


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"side": "long"}, "side"),
    ({"pair": ""}, "pair"),
    ({"amount": -1.0}, "amount"),
    ({"price": float("nan")}, "price"),
    ({"price": "1"}, "price"),
])
def test_parse_arguments_validated(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"pair": "BTC/USDT", "side": "buy"} | kwargs
    with pytest.raises(InvalidOrderError) as info:
        LocalOrder.parse_from_ccxt_object(dict(BASE), **args)
    assert info.value.field == field


def test_unknown_constructor_keyword() -> None:
    with pytest.raises(TypeError, match="bogus"):
        LocalOrder(order_id="x", bogus=1)


# ----------------------------------------------------------------------------- hypothesis
_numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1e6),
    st.integers(min_value=-5, max_value=10**6),
    st.text(max_size=5),
    st.booleans(),
)
_statuses = st.one_of(st.none(), st.sampled_from(
    ["open", "closed", "canceled", "cancelled", "expired", "rejected", "new", "FILLED", ""]),
    st.integers())
_ids = st.one_of(st.just("o-1"), st.just("o-2"), st.none(), st.integers(0, 3), st.just(""),
                 st.floats(0, 2))
_ts = st.one_of(st.none(), st.integers(-10, 2 * 10**12), st.floats(allow_nan=True),
                st.text(max_size=3))

ccxt_like = st.fixed_dictionaries(
    {},
    optional={
        "id": _ids, "status": _statuses, "price": _numbers, "amount": _numbers,
        "filled": _numbers, "remaining": _numbers, "average": _numbers, "cost": _numbers,
        "stopPrice": _numbers, "timestamp": _ts, "lastTradeTimestamp": _ts,
        "symbol": st.one_of(st.none(), st.just("BTC/USDT"), st.integers()),
        "type": st.one_of(st.none(), st.just("limit"), st.integers()),
        "side": st.one_of(st.none(), st.sampled_from(["buy", "sell"])),
        "fee": st.one_of(st.none(), st.just({"cost": 0.1, "currency": "USDT"})),
        "info": st.just({}),
    },
)
_ALLOWED = (InvalidOrderError, OrderMismatchError)


def _check_numbers(o: Any) -> None:
    for name in ("price", "amount", "filled", "remaining", "average", "cost", "stop_price"):
        value = getattr(o, name)
        assert value is None or (type(value) is float and math.isfinite(value) and value >= 0)
    if o.filled is not None and o.amount is not None:
        assert o.filled <= o.amount * (1 + 1e-9) + 1e-12
    assert o.status is None or o.status in ("open", "closed", "canceled", "cancelled",
                                            "expired", "rejected")
    assert o.order_date is None or o.order_date.tzinfo is not None


@settings(max_examples=400, deadline=None)
@given(order=ccxt_like)
def test_random_dicts_parse(order: dict[str, Any]) -> None:
    try:
        o = LocalOrder.parse_from_ccxt_object(order, "BTC/USDT", "buy")
    except _ALLOWED as exc:
        assert isinstance(exc, InvalidOrderError)
        assert exc.field is not None
        return
    assert o.order_id == str(order["id"])
    _check_numbers(o)


@settings(max_examples=400, deadline=None)
@given(order=ccxt_like)
def test_random_dicts_update(order: dict[str, Any]) -> None:
    o = _order()
    before = _state(o)
    try:
        o.update_from_ccxt_object(order)
    except _ALLOWED as exc:
        assert _state(o) == before
        if isinstance(exc, InvalidOrderError):
            assert exc.field is not None
        return
    _check_numbers(o)


@pytest.fixture(scope="module")
def memdb() -> str:
    init_db("sqlite://")
    return "sqlite://"


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=ccxt_like)
def test_random_dicts_never_write_bad_rows(memdb: str, order: dict[str, Any]) -> None:
    """ORM: a rejected update leaves the session clean and the stored row unchanged."""
    init_db(memdb)
    session = Order.session
    trade = Trade(pair="BTC/USDT", exchange="binance", open_rate=100.0, amount=0.0,
                  fee_open=0.0, fee_close=0.0, stake_amount=0.0, leverage=1.0,
                  open_date=datetime(2024, 1, 1, tzinfo=UTC))
    o = Order.parse_from_ccxt_object(dict(BASE), "BTC/USDT", "buy")
    trade.orders.append(o)
    session.add(trade)
    session.commit()
    before = _state(o)
    try:
        o.update_from_ccxt_object(order)
    except _ALLOWED:
        assert not session.is_modified(o)
        session.commit()
        session.expire_all()
        assert _state(session.get(Order, o.id)) == before
    else:
        session.commit()
        session.expire_all()
        _check_numbers(session.get(Order, o.id))
    finally:
        session.rollback()
        session.delete(session.get(Trade, trade.id))
        session.commit()


@settings(max_examples=300, deadline=None)
@given(order=st.one_of(ccxt_like, st.none(), st.integers(), st.text(max_size=3)))
def test_random_input_update_orders(order: Any) -> None:
    """The batch helper: ignores non-dicts and unknown ids, rejects bad dicts unchanged."""
    orders = [_order(), LocalOrder.parse_from_ccxt_object(dict(BASE, id="o-2"), "BTC/USDT",
                                                          "sell")]
    before = [_state(o) for o in orders]
    try:
        LocalOrder.update_orders(orders, order)
    except InvalidOrderError as exc:
        assert exc.field is not None
        assert [_state(o) for o in orders] == before
        return
    for o in orders:
        _check_numbers(o)


def test_amount_below_stored_filled_rejected() -> None:
    """Found by hypothesis: an update shrinking ``amount`` below the stored ``filled``."""
    o = _order()  # filled 0.5
    before = _state(o)
    with pytest.raises(InvalidOrderError) as info:
        o.update_from_ccxt_object({"id": "o-1", "amount": 0.0})
    assert info.value.field == "amount"
    assert _state(o) == before
