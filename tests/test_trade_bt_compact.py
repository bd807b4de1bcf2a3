"""Closed backtest trades keep their orders folded until they are read again.

When a backtest trade closes, ``close_bt_trade`` folds the orders of the trade closed before
it into one tuple of their field values (``tradeledger.domain.trade._fold_orders``), if
nothing but the trade holds them; the first read of ``trade.orders`` builds them again. These
tests prove that this is invisible:

* every field of every rebuilt order is the very same object as before the fold (random
  orders around every shape the fold encodes, and the backtest lifecycles);
* a backtest run with folding and one without give the same results for everything that reads
  the orders (to_json, the select_* helpers, the counters and dates, the order methods), the
  same trades, totals and queries;
* the rebuilt orders are built once and then kept (identity, mutation), ``orders`` can still be
  assigned and deleted, pickling and copying give what the plain trade gives;
* orders (or their list) held by anything else, orders with attributes of their own, other
  order and trade classes are never folded.
"""

from __future__ import annotations

import copy
import pickle
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeledger.domain import trade as trade_module
from tradeledger.domain.enums import TradingMode
from tradeledger.domain.order import ORDER_FIELDS, LocalOrder
from tradeledger.domain.trade import TRADE_FIELDS, LocalTrade

pytestmark = pytest.mark.skipif(
    not trade_module._FOLD, reason="folding needs CPython's reference counts"
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
PREC = {"amount_precision": 0.0001, "price_precision": 0.01, "precision_mode": 4,
        "precision_mode_price": 4, "contract_size": 1.0}


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    LocalTrade.reset_trades()
    yield
    LocalTrade.reset_trades()


@contextmanager
def folding(enabled: bool) -> Iterator[None]:
    saved = trade_module._FOLD
    trade_module._FOLD = enabled
    try:
        yield
    finally:
        trade_module._FOLD = saved


def _is_folded(trade: LocalTrade) -> bool:
    return type(trade) is trade_module._FoldedLocalTrade


def _exact(value: Any) -> Any:
    """A comparable form that tells apart what ``==`` does not (0.0/-0.0, 1/1.0/True, NaN)."""
    if isinstance(value, float | int):
        return (type(value).__name__, repr(value))
    if isinstance(value, list | tuple):
        return type(value).__name__, tuple(_exact(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _exact(v)) for k, v in value.items())
    return value


def _field_objects(trade: LocalTrade) -> list[tuple[Any, ...]]:
    """The field objects of every order of ``trade`` (the orders themselves are not kept)."""
    return [tuple(getattr(o, name) for name in ORDER_FIELDS) for o in trade.orders]


def _assert_same_objects(trade: LocalTrade, before: list[tuple[Any, ...]]) -> None:
    orders = trade.orders
    assert type(trade) is trade_module._PlainLocalTrade
    assert len(orders) == len(before)
    for order, values in zip(orders, before, strict=True):
        assert type(order) is LocalOrder
        for name, value in zip(ORDER_FIELDS, values, strict=True):
            assert getattr(order, name) is value, name
        assert order._trade_bt is trade
        assert order._trade_live is None
        assert order.trade is trade
        assert vars(order) == {}


# ---- the fold keeps the very same field objects ----------------------------------------------
def _base_order(n: int, side: str, price: float, at: datetime) -> dict[str, Any]:
    """Column values of an order as the backtest creates and ``close_bt_order`` fills it."""
    amount = 1.0 + n / 8
    return {"id": n, "ft_trade_id": 7, "ft_order_side": side, "ft_pair": "X/USDT",
            "ft_is_open": False, "ft_amount": None, "ft_price": price,
            "ft_cancel_reason": None, "order_id": str(n), "status": "closed",
            "symbol": "X/USDT", "order_type": "limit", "side": side, "price": price,
            "average": price, "amount": amount, "filled": amount, "remaining": 0,
            "cost": amount * price, "stop_price": None, "order_date": at,
            "order_filled_date": at, "order_update_date": at, "funding_fee": None,
            "ft_fee_base": None, "ft_order_tag": "tag"}


def _twin(value: Any) -> Any:
    """An object equal to ``value`` but not the same object (where one can exist)."""
    if type(value) is float:
        return float(repr(value))
    if type(value) is str and len(value) > 1:
        return "".join(list(value))
    if type(value) is datetime:
        return value + timedelta(0)
    return value


#: What a field may be changed to: an equal twin, another value of a close kind, None.
_CHANGES = st.sampled_from(["twin", "none", "zero", "negzero", "int", "false", "other"])


def _changed(value: Any, how: str) -> Any:
    return {"twin": _twin(value), "none": None, "zero": 0.0, "negzero": -0.0, "int": 0,
            "false": False, "other": "other" if isinstance(value, str) else 3.5}[how]


@st.composite
def order_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1-4 orders, each the backtest's filled order with some fields changed (or none)."""
    orders = []
    shared = {"ft_trade_id": 7, "ft_pair": "X/USDT", "status": "closed", "order_type": "limit"}
    for n in range(draw(st.integers(1, 4))):
        at = T0 + timedelta(minutes=5 * n)
        side = draw(st.sampled_from(["buy", "sell"]))
        values = _base_order(n + 1, side, draw(st.sampled_from([10.0, 11.5, 0.25])), at)
        values.update(shared)  # the same objects as the order before: the shared form
        if draw(st.booleans()):
            values["order_filled_date"] = at + timedelta(minutes=1)
        if draw(st.booleans()):
            values["funding_fee"] = draw(st.sampled_from([0.0, -0.5, 1]))
        if draw(st.booleans()):
            values["ft_trade_id"] = draw(st.sampled_from([8, None]))
        for name in draw(st.lists(st.sampled_from(ORDER_FIELDS), max_size=3, unique=True)):
            values[name] = _changed(values[name], draw(_CHANGES))
        orders.append(values)
    return orders


def _trade_with(orders: list[dict[str, Any]]) -> LocalTrade:
    """A closed trade holding orders with exactly these field objects (and nothing else does)."""
    trade = LocalTrade(id=7, pair="X/USDT", open_rate=10.0, open_date=T0, is_open=False)
    for values in orders:
        order = LocalOrder.__new__(LocalOrder)
        for name, value in values.items():
            setattr(order, name, value)
        order._trade_bt = trade
        order._trade_live = None
        trade.orders.append(order)
    return trade


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order_sets())
def test_fold_keeps_every_field_object(orders: list[dict[str, Any]]) -> None:
    trade = _trade_with(orders)
    before = _field_objects(trade)
    assert trade_module._fold_orders(trade)
    assert _is_folded(trade)
    _assert_same_objects(trade, before)


def test_every_order_code_is_used() -> None:
    """The lifecycle orders and a few variants take each encoding (else the test is void)."""
    at = T0 + timedelta(minutes=5)
    entry = _base_order(1, "buy", 10.0, T0)
    late = dict(_base_order(1, "buy", 10.0, T0), order_filled_date=at)
    exit_ = dict(_base_order(2, "sell", 11.0, at), ft_trade_id=7, ft_pair="X/USDT",
                 status="closed", order_type="limit")
    exit_late = dict(exit_, order_filled_date=at + timedelta(minutes=1))
    entry.update(ft_pair=exit_["ft_pair"], status=exit_["status"],
                 order_type=exit_["order_type"])
    late.update(ft_pair=exit_["ft_pair"], status=exit_["status"],
                order_type=exit_["order_type"])
    odd = dict(exit_, remaining=0.0)
    seen = set()
    for orders in ([entry, exit_], [late, exit_late], [entry, odd], [entry, exit_, exit_late],
                   [entry]):
        trade = _trade_with(orders)
        before = _field_objects(trade)
        assert trade_module._fold_orders(trade)
        seen.update(trade_module._ORDERS_SLOT.__get__(trade)[0])
        _assert_same_objects(trade, before)
    fast, date, shared = trade_module._F_FAST, trade_module._F_DATE, trade_module._F_SHARED
    assert seen == {0, fast, fast | date, fast | shared, fast | shared | date}


# ---- backtest runs with and without folding ---------------------------------------------------
def _run(kind: str, n: int = 12) -> list[LocalTrade]:
    """``n`` backtest lifecycles of one kind (the benchmark's loop, with variations)."""
    short = kind in ("short", "futures")
    mode = TradingMode.FUTURES if kind == "futures" else TradingMode.SPOT
    precision = PREC if kind in ("long", "short") else {}
    step = timedelta(minutes=5)
    for i in range(n):
        pair = f"C{i % 3}/USDT"
        rate = 100.0 + (i % 7) * 0.37
        amount = round(100.0 / rate, 4)
        open_date = T0 + step * i
        close_date = open_date + step * 6
        trade = LocalTrade(
            id=i + 1, pair=pair, base_currency=pair.split("/")[0], stake_currency="USDT",
            open_rate=rate, open_rate_requested=rate, open_date=open_date,
            stake_amount=100.0, amount=0, amount_requested=amount, fee_open=0.001,
            fee_close=0.001, is_open=True, enter_tag="bench", timeframe=5, exchange="binance",
            is_short=short, trading_mode=mode, leverage=2.0 if short else 1.0,
            interest_rate=0.0005, liquidation_price=None, orders=[], **precision)
        LocalTrade.add_bt_trade(trade)
        trade.adjust_stop_loss(trade.open_rate, -0.05, initial=True)
        if kind == "futures":
            trade.set_funding_fees(0.25 * (i % 3))
        entry_side, exit_side = trade.entry_side, trade.exit_side
        if kind == "canceled" and i % 2:  # an entry that never filled, then one that did
            dead = LocalOrder(id=100 + i, ft_trade_id=trade.id, ft_is_open=True, ft_pair=pair,
                              order_id=f"x{i}", symbol=pair, ft_order_side=entry_side,
                              side=entry_side, order_type="limit", status="open",
                              order_date=open_date, ft_price=rate, price=rate, amount=amount,
                              filled=0.0, remaining=amount)
            dead._trade_bt = trade
            trade.orders.append(dead)
            dead.status, dead.ft_is_open, dead.ft_cancel_reason = "canceled", False, "timeout"
            del dead
        fill_at = open_date + (step if kind == "late" else timedelta(0))
        entry = LocalOrder(
            id=2 * i + 1, ft_trade_id=trade.id, ft_is_open=True, ft_pair=pair,
            order_id=str(2 * i + 1), symbol=pair, ft_order_side=entry_side, side=entry_side,
            order_type="limit", status="open", order_date=open_date,
            order_filled_date=open_date, order_update_date=open_date, ft_price=rate,
            price=rate, average=rate, amount=amount, filled=0, remaining=amount,
            cost=amount * rate * 1.001, ft_order_tag="bench")
        entry._trade_bt = trade
        trade.orders.append(entry)
        entry.close_bt_order(fill_at, trade)
        trade.recalc_trade_from_orders()
        close_rate = rate * (1.02 if i % 3 else 0.97)
        trade.exit_reason = "roi" if i % 3 else "stop_loss"
        trade.close_date = close_date
        parts = (0.5, 1.0) if kind == "partial" else (1.0,)
        for part in parts:
            qty = trade.amount * part if part < 1.0 else trade.amount
            exit_order = LocalOrder(
                id=2 * i + 2 + int(part * 1000), ft_trade_id=trade.id, ft_is_open=True,
                ft_pair=pair, order_id=f"{2 * i + 2}-{part}", symbol=pair,
                ft_order_side=exit_side, side=exit_side, order_type="limit", status="open",
                order_date=close_date, order_filled_date=close_date,
                order_update_date=close_date, ft_price=close_rate, price=close_rate,
                average=close_rate, amount=qty, filled=0, remaining=qty,
                cost=qty * close_rate * 0.999, ft_order_tag="roi")
            exit_order._trade_bt = trade
            trade.orders.append(exit_order)
            exit_order.close_bt_order(close_date, trade)
            if part < 1.0:
                trade.recalc_trade_from_orders()
        if kind == "extra":
            trade.note = f"trade {i}"  # type: ignore[attr-defined]
        trade.close(exit_order.safe_price, show_msg=False)
        LocalTrade.close_bt_trade(trade)
    return list(LocalTrade.bt_trades)


KINDS = ("long", "plain", "short", "futures", "late", "canceled", "partial", "extra")


def _order_view(order: LocalOrder, entry_side: str) -> tuple[Any, ...]:
    return (
        tuple(_exact(getattr(order, name)) for name in ORDER_FIELDS),
        repr(order), _exact(order.to_json(entry_side)), _exact(order.to_json(entry_side, True)),
        _exact(order.to_ccxt_object()), _exact(order.safe_price), _exact(order.safe_amount),
        _exact(order.safe_filled), _exact(order.safe_remaining), _exact(order.safe_cost),
        _exact(order.safe_amount_after_fee), _exact(order.stake_amount),
        _exact(order.stake_amount_filled), order.order_date_utc, order.order_filled_utc,
        type(order).__name__, order.trade is not None, vars(order),
    )


def _observe(trade: LocalTrade) -> tuple[Any, ...]:
    """Everything public that reads a trade's orders (called on a trade as it was kept)."""
    first_class = type(trade).__name__
    orders = trade.orders
    entry = trade.entry_side
    ids = [o.order_id for o in orders]
    observed = (
        tuple(_exact(getattr(trade, name)) for name in TRADE_FIELDS),
        _exact(trade.to_json()), _exact(trade.to_json(minified=True)), repr(trade),
        tuple(_order_view(o, entry) for o in orders),
        [o.order_id for o in trade.select_filled_orders()],
        [o.order_id for o in trade.select_filled_orders(entry)],
        [o.order_id for o in trade.select_filled_orders(trade.exit_side)],
        [o.order_id for o in trade.select_filled_or_open_orders()],
        [getattr(trade.select_order(side, is_open, only_filled), "order_id", None)
         for side in (None, "buy", "sell") for is_open in (None, True, False)
         for only_filled in (False, True)],
        [getattr(trade.select_order_by_order_id(i), "id", None) for i in [*ids, "nope"]],
        trade.nr_of_successful_entries, trade.nr_of_successful_exits,
        trade.nr_of_successful_buys, trade.nr_of_successful_sells,
        trade.fully_canceled_entry_order_count, trade.canceled_exit_order_count,
        trade.get_canceled_exit_order_count(), trade.has_open_orders, trade.open_orders_ids,
        [o.order_id for o in trade.open_orders], [o.order_id for o in trade.sl_orders],
        [o.order_id for o in trade.open_sl_orders], trade.has_open_sl_orders,
        trade.date_last_filled_utc, trade.date_entry_fill_utc, trade.stoploss_last_update_utc,
        vars(trade), type(trade).__name__,
    )
    return first_class, observed


def _backtest(kind: str, fold: bool) -> tuple[list[Any], Any]:
    LocalTrade.reset_trades()
    with folding(fold):
        trades = _run(kind)
        classes = [type(t).__name__ for t in trades]
        observed = [_observe(t)[1] for t in trades]
        queries = (
            [t.id for t in LocalTrade.get_trades_proxy()],
            [t.id for t in LocalTrade.get_trades_proxy(pair="C1/USDT", is_open=False)],
            [t.id for t in LocalTrade.get_trades_proxy(close_date=T0 + timedelta(minutes=40))],
            _exact(LocalTrade.bt_total_profit), _exact(LocalTrade.get_total_closed_profit()),
            LocalTrade.bt_open_open_trade_count, len(LocalTrade.bt_trades),
        )
        observed_again = [_observe(t) for t in trades]  # every trade unfolded now: stable
    LocalTrade.reset_trades()
    assert [o for _, o in observed_again] == observed
    assert {c for c, _ in observed_again} == {"_PlainLocalTrade"}
    return observed, (classes, queries)


@pytest.mark.parametrize("kind", KINDS)
def test_backtest_with_folding_equals_without(kind: str) -> None:
    folded, (classes, queries) = _backtest(kind, True)
    plain, (plain_classes, plain_queries) = _backtest(kind, False)
    assert folded == plain
    assert queries == plain_queries
    assert set(plain_classes) == {"_PlainLocalTrade"}
    # every trade but the last one closed was folded (else this test proves nothing)
    assert classes == ["_FoldedLocalTrade"] * (len(classes) - 1) + ["_PlainLocalTrade"]


@pytest.mark.parametrize("kind", KINDS)
def test_backtest_orders_are_the_same_objects(kind: str) -> None:
    """Each trade's order fields, taken before the fold, are the rebuilt orders' fields."""
    before: dict[int, list[tuple[Any, ...]]] = {}
    original = LocalTrade.close_bt_trade

    def recording(trade: LocalTrade) -> None:
        original(trade)
        before[trade.id] = _field_objects(trade)  # holds the values, not the orders

    LocalTrade.close_bt_trade = staticmethod(recording)  # type: ignore[method-assign,assignment]
    try:
        trades = _run(kind)
    finally:
        LocalTrade.close_bt_trade = original  # type: ignore[method-assign]
    assert sum(_is_folded(t) for t in trades) == len(trades) - 1
    for trade in trades:
        _assert_same_objects(trade, before[trade.id])


# ---- rebuilt once, then ordinary ----------------------------------------------------------------
def _two_closed(kind: str = "plain") -> LocalTrade:
    trades = _run(kind, 2)
    assert _is_folded(trades[0])
    return trades[0]


def test_orders_built_once_then_kept() -> None:
    trade = _two_closed()
    orders = trade.orders
    assert trade.orders is orders
    assert trade.orders[0] is orders[0] and trade.orders[1] is orders[1]
    orders[0].ft_order_tag = "changed"
    orders.append(orders[1])
    assert trade.orders[0].ft_order_tag == "changed"
    assert len(trade.orders) == 3
    assert type(trade) is trade_module._PlainLocalTrade


def test_orders_assigned_or_deleted_on_a_folded_trade() -> None:
    trade = _two_closed()
    trade.orders = []
    assert trade.orders == [] and type(trade) is trade_module._PlainLocalTrade
    other = _run("plain", 3)[1]
    assert _is_folded(other)
    del other.orders
    assert type(other) is trade_module._PlainLocalTrade
    with pytest.raises(AttributeError):
        _ = other.orders


def test_trade_attributes_and_fields_stay_usable() -> None:
    trade = _two_closed()
    trade.note = "kept"  # type: ignore[attr-defined]
    trade.close_profit_abs = 1.5
    assert _is_folded(trade)
    assert vars(trade) == {"note": "kept"}
    assert isinstance(trade, LocalTrade)
    assert trade.nr_of_successful_entries == 1
    assert trade.note == "kept"  # type: ignore[attr-defined]
    assert trade.close_profit_abs == 1.5


@pytest.mark.parametrize(
    "clone",
    [copy.copy, copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))],
    ids=["copy", "deepcopy", "pickle"],
)
def test_copies_of_a_folded_trade_are_those_of_the_plain_trade(
    clone: Callable[[LocalTrade], LocalTrade],
) -> None:
    with folding(True):
        folded = _run("plain", 2)[0]
    LocalTrade.reset_trades()
    with folding(False):
        plain = _run("plain", 2)[0]
    assert _is_folded(folded) and not _is_folded(plain)
    folded_copy, plain_copy = clone(folded), clone(plain)
    assert type(folded_copy) is type(plain_copy) is trade_module._PlainLocalTrade
    assert _observe(folded_copy) == _observe(plain_copy)
    assert _observe(folded) == _observe(plain)


# ---- never folded --------------------------------------------------------------------------------
def test_not_folded_while_an_order_or_the_list_is_held() -> None:
    held: list[Any] = []
    original = LocalTrade.close_bt_trade

    def holding(trade: LocalTrade) -> None:
        original(trade)
        if trade.id == 1:
            held.append(trade.orders[1])
        elif trade.id == 2:
            held.append(trade.orders)

    LocalTrade.close_bt_trade = staticmethod(holding)  # type: ignore[method-assign,assignment]
    try:
        trades = _run("plain", 4)
    finally:
        LocalTrade.close_bt_trade = original  # type: ignore[method-assign]
    assert [_is_folded(t) for t in trades] == [False, False, True, False]
    assert trades[0].orders[1] is held[0]
    assert trades[1].orders is held[1]


def test_not_folded_with_an_order_attribute_of_its_own() -> None:
    original = LocalTrade.close_bt_trade

    def marking(trade: LocalTrade) -> None:
        original(trade)
        if trade.id == 1:
            trade.orders[0].monotonic_updates = False  # type: ignore[misc]

    LocalTrade.close_bt_trade = staticmethod(marking)  # type: ignore[method-assign,assignment]
    try:
        trades = _run("plain", 3)
    finally:
        LocalTrade.close_bt_trade = original  # type: ignore[method-assign]
    assert [_is_folded(t) for t in trades] == [False, True, False]
    assert vars(trades[0].orders[0]) == {"monotonic_updates": False}
    assert vars(trades[1].orders[0]) == {}


def test_not_folded_for_other_order_classes() -> None:
    class MyOrder(LocalOrder):
        __slots__ = ()

    trade = _trade_with([_base_order(1, "buy", 10.0, T0)])
    trade.orders[0] = _retype(trade.orders[0], MyOrder)
    assert not trade_module._fold_orders(trade)
    assert type(trade.orders[0]) is MyOrder


def _retype(order: LocalOrder, cls: type[LocalOrder]) -> LocalOrder:
    new = cls.__new__(cls)
    for name in (*ORDER_FIELDS, "_trade_bt", "_trade_live"):
        setattr(new, name, getattr(order, name))
    return new


def test_not_folded_with_a_deleted_field() -> None:
    trade = _trade_with([_base_order(1, "buy", 10.0, T0), _base_order(2, "sell", 11.0, T0)])
    del trade.orders[1].cost
    assert not trade_module._fold_orders(trade)
    assert not _is_folded(trade)
    assert not hasattr(trade.orders[1], "cost")


def test_reset_trades_forgets_the_pending_trade() -> None:
    trades = _run("plain", 2)
    assert trade_module._FOLD_NEXT is trades[1]
    LocalTrade.reset_trades()
    assert trade_module._FOLD_NEXT is None


def test_reference_count_calibration() -> None:
    """The folding code's reference count of an object held once (CPython 3.11-3.13: 3)."""
    assert trade_module._REFS_HELD == 3
    assert trade_module._refs_when_held_once() == 3 or sys.version_info >= (3, 14)
