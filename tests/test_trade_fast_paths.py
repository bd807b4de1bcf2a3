"""The backtesting fast paths of ``LocalTrade`` give bit-identical results.

``tradeledger.domain.trade._FAST_PATHS`` switches off (1) the skip of a
``recalc_trade_from_orders()`` that would only repeat the previous recalculation of the trade
(``_recalc_settled``), (2) the inlined SPOT exit value, (3) ``_recalc_simple``, the
recalculation of the backtest lifecycle's two shapes (one filled entry; entry and exit of the
same amount), (4) the reuse of the ``filled`` float as the amount after a zero base fee, (5)
the memo of stop prices in ``adjust_stop_loss``, (6) the folded orders of closed backtest
trades (``_fold_orders``, switched by ``_FOLD`` together with them here;
tests/test_trade_bt_compact.py proves it on its own). Every
golden trade and backtest scenario, random backtest lifecycles (hypothesis, with fields and
orders changed between the calls so that a skip would be wrong) and random entry/exit/close
cycles near and off those shapes are replayed with and without them; the complete
state (every column of the trade and its orders, the backtesting totals, exceptions) must be
the same bit for bit after every step (floats compared by ``repr``, so ``-0.0`` is not
``0.0``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.golden_harness import GoldenReplayer, load_golden, local_start_values
from tradeledger.domain import trade as trade_module
from tradeledger.domain.enums import TradingMode
from tradeledger.domain.order import ORDER_FIELDS, LocalOrder
from tradeledger.domain.trade import TRADE_FIELDS, LocalTrade

TRADE_FILE = load_golden("trade_scenarios.json")
BT_FILE = load_golden("backtest_scenarios.json")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


#: ``set_*`` operations of the random lifecycles: the field each one sets before recalculating.
_SET_FIELD = {"set_fee_open": "fee_open", "set_leverage": "leverage",
              "set_stop_pct": "stop_loss_pct", "set_amount": "amount",
              "set_stop_loss": "stop_loss"}


def _exact(value: Any) -> Any:
    """A comparable form that tells apart what ``==`` does not (0.0/-0.0, 1/1.0, NaN)."""
    if isinstance(value, float | int):
        return (type(value).__name__, repr(value))
    return value


def exact_state(trade: Any) -> tuple[Any, ...]:
    fields = tuple(_exact(getattr(trade, name, "<unset>")) for name in TRADE_FIELDS)
    orders = tuple(
        tuple(_exact(getattr(o, name, "<unset>")) for name in ORDER_FIELDS) for o in trade.orders
    )
    totals = (
        _exact(LocalTrade.bt_total_profit),
        _exact(LocalTrade.get_total_closed_profit()),
        LocalTrade.bt_open_open_trade_count,
        len(LocalTrade.bt_trades),
    )
    return fields, orders, totals


@contextmanager
def fast_paths(enabled: bool) -> Iterator[None]:
    saved = trade_module._FAST_PATHS
    saved_fold = trade_module._FOLD
    trade_module._FAST_PATHS = enabled
    trade_module._FOLD = enabled and saved_fold
    trade_module._RECALC_FIXED = None
    trade_module._RECALC_NO_EXIT = None
    try:
        yield
    finally:
        trade_module._FAST_PATHS = saved
        trade_module._FOLD = saved_fold
        trade_module._RECALC_FIXED = None
        trade_module._RECALC_NO_EXIT = None


class RecordingReplayer(GoldenReplayer):
    """Records the exact state of the trade (or the exception) after every op."""

    def __init__(self) -> None:
        def factory(kwargs: dict[str, Any], created: dict[str, Any] | None) -> LocalTrade:
            trade = LocalTrade(**kwargs)
            if created is not None and "id" not in kwargs:
                trade.id = 1
            local_start_values(trade, created)
            return trade

        super().__init__(factory, LocalOrder, query_cls=LocalTrade)
        self.states: list[Any] = []

    def apply_op(self, trade: Any, op: dict[str, Any], at: datetime) -> None:
        try:
            super().apply_op(trade, op, at)
        except Exception as exc:
            self.states.append(("raised", type(exc).__name__, str(exc)))
            raise
        self.states.append(exact_state(trade))


def _replay(run: Callable[[RecordingReplayer], Any], enabled: bool) -> list[Any]:
    LocalTrade.reset_trades()
    replayer = RecordingReplayer()
    try:
        with fast_paths(enabled):
            run(replayer)
    finally:
        LocalTrade.reset_trades()
    return replayer.states


@pytest.mark.parametrize("scenario", TRADE_FILE["scenarios"], ids=lambda s: s["id"])
def test_trade_scenario_fast_equals_general(scenario: dict[str, Any]) -> None:
    fast = _replay(lambda r: r.run_trade_scenario(scenario), True)
    general = _replay(lambda r: r.run_trade_scenario(scenario), False)
    assert fast, "no op replayed"
    assert fast == general


@pytest.mark.parametrize("scenario", BT_FILE["scenarios"], ids=lambda s: s["id"])
def test_backtest_scenario_fast_equals_general(scenario: dict[str, Any]) -> None:
    fast = _replay(lambda r: r.run_backtest_scenario(scenario), True)
    general = _replay(lambda r: r.run_backtest_scenario(scenario), False)
    assert fast, "no op replayed"
    assert fast == general


def test_skip_really_happens() -> None:
    """The repeated recalculation after an entry fill is skipped (else the test is void)."""
    LocalTrade.reset_trades()
    calls: list[int] = []
    trade = LocalTrade(pair="A/B", open_rate=10.0, amount=0, stake_amount=10.0,
                       fee_open=0.001, fee_close=0.001, open_date=T0)
    LocalTrade.add_bt_trade(trade)
    order = LocalOrder(ft_order_side="buy", side="buy", ft_pair="A/B", order_id="1",
                       status="open", price=10.0, average=10.0, amount=1.0, filled=0.0,
                       ft_price=10.0)
    order._trade_bt = trade
    trade.orders.append(order)
    order.close_bt_order(T0, trade)
    original = LocalTrade.adjust_stop_loss

    def counting(self: LocalTrade, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        original(self, *args, **kwargs)

    try:
        LocalTrade.adjust_stop_loss = counting  # type: ignore[method-assign]
        trade.stop_loss_pct = -0.1
        trade.recalc_trade_from_orders()  # a field changed: recalculated
        assert len(calls) == 1
        trade.recalc_trade_from_orders()  # not settled by close_bt_order: recalculated
        assert len(calls) == 2
        order2 = LocalOrder(ft_order_side="buy", side="buy", ft_pair="A/B", order_id="2",
                            status="open", price=11.0, average=11.0, amount=1.0, filled=0.0,
                            ft_price=11.0)
        order2._trade_bt = trade
        trade.orders.append(order2)
        order2.close_bt_order(T0, trade)
        assert len(calls) == 4  # its recalculation and its own adjust_stop_loss
        trade.recalc_trade_from_orders()
        assert len(calls) == 4  # skipped
    finally:
        LocalTrade.adjust_stop_loss = original  # type: ignore[method-assign]
        LocalTrade.reset_trades()


# ---- random backtest lifecycles -------------------------------------------------------------
prices = st.one_of(
    st.floats(min_value=0.05, max_value=5000, allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 0.09999999999999999, 1e20, 3.0000000000000004, 1e-7]),
    st.integers(1, 10_000),
)
amounts = st.one_of(
    st.floats(min_value=0.0001, max_value=500, allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-9, max_value=1e7, allow_nan=False, allow_infinity=False),
    st.integers(1, 100),
)


#: No precision, tick size (mode 4), decimal places (mode 2), and a contract size of 10.
PRECISIONS = st.sampled_from(
    [
        {},
        {"amount_precision": 0.0001, "price_precision": 0.01, "precision_mode": 4,
         "precision_mode_price": 4, "contract_size": 1.0},
        {"amount_precision": 3, "price_precision": 4, "precision_mode": 2,
         "precision_mode_price": 2, "contract_size": None},
        {"amount_precision": 1.0, "price_precision": 0.5, "precision_mode": 4,
         "precision_mode_price": 4, "contract_size": 10.0},
    ]
)


@st.composite
def lifecycles(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from([TradingMode.SPOT, TradingMode.FUTURES, TradingMode.MARGIN]))
    is_short = draw(st.booleans()) if mode != TradingMode.SPOT else False
    precision: dict[str, Any] = draw(PRECISIONS)
    trade = {
        "pair": "X/USDT",
        "open_rate": draw(prices),
        "amount": 0,
        "stake_amount": 100.0,
        "fee_open": draw(st.sampled_from([0.0, 0.001, 0.0025])),
        "fee_close": draw(st.sampled_from([0.0, 0.001, 0.0025])),
        "is_short": is_short,
        "leverage": draw(st.sampled_from([1.0, 1, 2.0, 3.5])) if mode != TradingMode.SPOT else 1.0,
        "trading_mode": mode,
        "interest_rate": 0.0005,
        "exchange": "binance",
        **precision,
    }
    ops = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("entry"), prices, amounts, st.booleans()),
                st.tuples(st.just("exit"), prices, st.floats(0.05, 1.0)),
                st.tuples(st.just("recalc")),
                st.tuples(st.just("funding"), st.floats(-5, 5, allow_nan=False)),
                st.tuples(st.just("set_fee_open"), st.sampled_from([0.0, 0.001, 0.002])),
                st.tuples(st.just("set_leverage"), st.sampled_from([1.0, 2.0])),
                st.tuples(st.just("set_stop_pct"), st.sampled_from([-0.05, -0.1, 0.2])),
                st.tuples(st.just("set_amount"), amounts),
                st.tuples(st.just("set_stop_loss"), prices),
                st.tuples(st.just("trail"), prices),
                st.tuples(st.just("order_price"), prices),
                st.tuples(st.just("fee_base"), st.one_of(st.floats(0, 0.01), st.integers(0, 1))),
            ),
            min_size=1,
            max_size=10,
        )
    )
    return {"trade": trade, "ops": ops, "close": draw(prices), "stop": draw(st.sampled_from(
        [-0.05, -0.2, 0.1]))}


def _run_lifecycle(case: dict[str, Any]) -> list[Any]:
    states: list[Any] = []
    LocalTrade.reset_trades()
    try:
        trade = LocalTrade(id=1, open_date=T0, **case["trade"])
        LocalTrade.add_bt_trade(trade)
        trade.adjust_stop_loss(trade.open_rate, case["stop"], initial=True)
        at = T0
        n = 0
        for op in case["ops"]:
            at += timedelta(minutes=5)
            n += 1
            kind = op[0]
            try:
                if kind in ("entry", "exit"):
                    entry = kind == "entry"
                    side = trade.entry_side if entry else trade.exit_side
                    amount = op[2] if entry else max(trade.amount * op[2], 0.0001)
                    order = LocalOrder(id=n, ft_trade_id=1, ft_pair="X/USDT", order_id=str(n),
                                       ft_order_side=side, side=side, order_type="limit",
                                       status="open", order_date=at, ft_price=op[1],
                                       price=op[1], average=op[1], amount=amount, filled=0.0,
                                       remaining=amount, ft_is_open=True)
                    order._trade_bt = trade
                    trade.orders.append(order)
                    order.close_bt_order(at, trade)
                    if entry and op[3]:
                        trade.recalc_trade_from_orders()
                elif kind == "recalc":
                    trade.recalc_trade_from_orders()
                elif kind == "funding":
                    trade.set_funding_fees(op[1])
                elif kind in _SET_FIELD:
                    setattr(trade, _SET_FIELD[kind], op[1])
                    trade.recalc_trade_from_orders()
                elif kind == "trail":
                    trade.adjust_stop_loss(op[1], trade.stop_loss_pct)
                    trade.recalc_trade_from_orders()
                elif kind == "order_price" and trade.orders:
                    trade.orders[-1].average = op[1]
                    trade.recalc_trade_from_orders()
                elif kind == "fee_base" and trade.orders:
                    trade.orders[0].ft_fee_base = op[1]
                    trade.recalc_trade_from_orders()
            except Exception as exc:  # the same exception both ways
                states.append(("raised", kind, type(exc).__name__, str(exc)))
            states.append(exact_state(trade))
        _close_and_record(trade, at + timedelta(hours=1), case["close"], states)
    finally:
        LocalTrade.reset_trades()
    return states


def _close_and_record(trade: LocalTrade, at: datetime, rate: float, states: list[Any]) -> None:
    """Close ``trade`` at ``rate`` (recording an exception instead), then record its state."""
    trade.close_date = at
    try:
        trade.close(rate, show_msg=False)
        LocalTrade.close_bt_trade(trade)
    except Exception as exc:  # the same exception both ways
        states.append(("raised", "close", type(exc).__name__, str(exc)))
    states.append(exact_state(trade))


def _assert_fast_equals_general(run: Any, case: dict[str, Any]) -> None:
    with fast_paths(True):
        fast = run(case)
    with fast_paths(False):
        general = run(case)
    assert fast == general


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lifecycles())
def test_random_lifecycle_fast_equals_general(case: dict[str, Any]) -> None:
    _assert_fast_equals_general(_run_lifecycle, case)


# ---- the backtest lifecycle's own shapes (``_recalc_simple``) --------------------------------
@st.composite
def bt_cycles(draw: st.DrawFn) -> dict[str, Any]:
    """One entry, one exit of (usually) the whole amount, close: the backtest lifecycle."""
    mode = draw(st.sampled_from([TradingMode.SPOT, TradingMode.SPOT, TradingMode.FUTURES]))
    is_short = draw(st.booleans())
    precision: dict[str, Any] = draw(PRECISIONS)
    return {
        "trade": {
            "pair": "X/USDT", "amount": 0, "stake_amount": 100.0, "is_short": is_short,
            "fee_open": draw(st.sampled_from([0.0, 0.001, 0.0025, 1.5])),
            "fee_close": draw(st.sampled_from([0.0, 0.001, None, 0.0025])),
            "leverage": draw(st.sampled_from([1.0, 1, 2.0, None])),
            "trading_mode": mode, "interest_rate": 0.0005, "exchange": "binance", **precision,
        },
        "entry": draw(prices),
        "amount": draw(amounts),
        "exit": draw(prices),
        "exit_fraction": draw(st.sampled_from([1.0, 1.0, 1.0, 0.5])),
        "fee_base": draw(st.sampled_from([None, None, None, 0, 0.0, 1e-5])),
        "funding": draw(st.sampled_from([None, None, None, 0.0, 0.5])),
        "stop": draw(st.sampled_from([-0.05, -0.2, 0.1])),
        "recalc_twice": draw(st.booleans()),
    }


def _run_bt_cycle(case: dict[str, Any]) -> list[Any]:
    states: list[Any] = []
    LocalTrade.reset_trades()
    try:
        trade = LocalTrade(id=1, open_date=T0, open_rate=case["entry"], **case["trade"])
        LocalTrade.add_bt_trade(trade)
        trade.adjust_stop_loss(trade.open_rate, case["stop"], initial=True)
        states.append(exact_state(trade))
        at = T0
        for n, (side, price) in enumerate(
            ((trade.entry_side, case["entry"]), (trade.exit_side, case["exit"])), 1
        ):
            at += timedelta(minutes=5)
            entry = n == 1
            amount = case["amount"] if entry else trade.amount * case["exit_fraction"]
            order = LocalOrder(id=n, ft_trade_id=1, ft_pair="X/USDT", order_id=str(n),
                               ft_order_side=side, side=side, order_type="limit",
                               status="open", order_date=at, ft_price=price, price=price,
                               average=price, amount=amount, filled=0.0, remaining=amount,
                               ft_is_open=True)
            order._trade_bt = trade
            trade.orders.append(order)
            try:
                if case["funding"] is not None:
                    trade.set_funding_fees(case["funding"])
                order.close_bt_order(at, trade)
                if entry and case["fee_base"] is not None:
                    order.ft_fee_base = case["fee_base"]
                trade.recalc_trade_from_orders()
                if case["recalc_twice"]:
                    trade.recalc_trade_from_orders()
            except Exception as exc:  # the same exception both ways
                states.append(("raised", n, type(exc).__name__, str(exc)))
            states.append(exact_state(trade))
        _close_and_record(trade, at + timedelta(hours=1), trade.orders[-1].safe_price, states)
    finally:
        LocalTrade.reset_trades()
    return states


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bt_cycles())
def test_backtest_cycle_fast_equals_general(case: dict[str, Any]) -> None:
    _assert_fast_equals_general(_run_bt_cycle, case)


def test_simple_shapes_really_take_the_fast_path() -> None:
    """The plain SPOT lifecycle is recalculated by ``_recalc_simple`` (else the tests are void)."""
    taken: list[int] = []
    original = LocalTrade._recalc_simple

    def counting(self: LocalTrade, orders: list[Any], is_closing: bool) -> bool:
        done = original(self, orders, is_closing)
        taken.append(len(orders) if done else 0)
        return done

    case = {"trade": {"pair": "X/USDT", "amount": 0, "stake_amount": 100.0, "is_short": False,
                      "fee_open": 0.001, "fee_close": 0.001, "leverage": 1.0,
                      "trading_mode": TradingMode.SPOT, "amount_precision": 0.0001,
                      "price_precision": 0.01, "precision_mode": 4, "precision_mode_price": 4,
                      "contract_size": 1.0},
            "entry": 101.3, "amount": 0.9871, "exit": 103.33, "exit_fraction": 1.0,
            "fee_base": None, "funding": None, "stop": -0.05, "recalc_twice": False}
    try:
        LocalTrade._recalc_simple = counting  # type: ignore[method-assign]
        with fast_paths(True):
            fast = _run_bt_cycle(case)
    finally:
        LocalTrade._recalc_simple = original  # type: ignore[method-assign]
    # entry fill (1 order; armed for the skip, so the explicit recalc returns at once), exit
    # fill and close (2 orders, flat)
    assert taken == [1, 2, 2]
    with fast_paths(False):
        general = _run_bt_cycle(case)
    assert fast == general
    assert fast[-1][0][TRADE_FIELDS.index("close_profit_abs")] is not None  # closed


# ---- the one-entry key of the repeat skip (``_recalc_key1``) -----------------------------------
def _one_entry_trade() -> LocalTrade:
    trade = LocalTrade(id=1, pair="X/USDT", open_rate=10.0, amount=0, stake_amount=10.0,
                       fee_open=0.001, fee_close=0.001, open_date=T0)
    order = LocalOrder(ft_order_side="buy", side="buy", ft_pair="X/USDT", order_id="1",
                       status="open", price=10.0, average=10.0, amount=1.0, filled=0.0,
                       ft_price=10.0)
    order._trade_bt = trade
    trade.orders.append(order)
    order.close_bt_order(T0, trade)
    return trade


def test_one_entry_key_is_the_general_key() -> None:
    trade = _one_entry_trade()
    orders = trade.orders
    for name in trade_module._RECALC_TRADE_FIELDS.__reduce__()[1]:
        setattr(trade, name, object())  # every field a distinct object: no mix-up hides
    for name in trade_module._RECALC_ORDER_FIELDS.__reduce__()[1]:
        setattr(orders[0], name, object())
    key = trade_module._recalc_key1(trade, orders, orders[0])
    general = trade_module._recalc_key(trade, orders)
    assert len(key) == len(general) and all(map(lambda a, b: a is b, key, general))


@pytest.mark.parametrize(
    "field", [*trade_module._RECALC_TRADE_FIELDS.__reduce__()[1], "orders", "order"]
)
def test_one_entry_key_sees_every_field(field: str) -> None:
    """Each field of the key, replaced by an equal but other object, makes it differ."""
    trade = _one_entry_trade()
    orders = trade.orders
    key = trade_module._recalc_key1(trade, orders, orders[0])
    assert trade_module._recalc_same1(key, trade, orders, orders[0])
    if field == "orders":
        orders = list(orders)
    elif field == "order":
        orders = [copy.copy(orders[0])]
    else:
        setattr(trade, field, _other(getattr(trade, field)))
    assert not trade_module._recalc_same1(key, trade, orders, orders[0])


@pytest.mark.parametrize("field", trade_module._RECALC_ORDER_FIELDS.__reduce__()[1])
def test_one_entry_key_sees_every_order_field(field: str) -> None:
    trade = _one_entry_trade()
    orders = trade.orders
    key = trade_module._recalc_key1(trade, orders, orders[0])
    setattr(orders[0], field, _other(getattr(orders[0], field)))
    assert not trade_module._recalc_same1(key, trade, orders, orders[0])


def _other(value: Any) -> Any:
    """An object equal to ``value`` (where one can be) that is not ``value`` itself."""
    if type(value) is float:
        return float(repr(value))
    if type(value) is str:
        return "".join(list(value)) if len(value) > 1 else value + "x"
    if type(value) is bool:
        return not value
    if value is None:
        return 0.0
    if type(value) is int:
        return float(value)
    raise AssertionError(f"no other object for {value!r}")


def test_one_entry_skip_follows_an_appended_order() -> None:
    """The same list with one more order is not the settled state."""
    trade = _one_entry_trade()
    late = LocalOrder(ft_order_side="buy", side="buy", ft_pair="X/USDT", order_id="2",
                      status="closed", price=12.0, average=12.0, amount=1.0, filled=1.0,
                      ft_price=12.0, ft_is_open=False)
    late._trade_bt = trade
    trade.orders.append(late)
    trade.recalc_trade_from_orders()
    assert trade.amount == 2.0


# ---- the stop price memo of adjust_stop_loss --------------------------------------------------
_STOP_FIELDS = ("stop_loss", "stop_loss_pct", "initial_stop_loss", "initial_stop_loss_pct",
                "is_stop_loss_trailing")


def _stops(case: dict[str, Any]) -> list[Any]:
    trade = LocalTrade(id=1, pair="X/USDT", open_rate=10.0, open_date=T0, **case["trade"])
    states: list[Any] = []
    for price, stoploss, initial in case["calls"]:
        try:
            trade.adjust_stop_loss(price, stoploss, initial=initial)
        except Exception as exc:  # the same exception both ways
            states.append(("raised", type(exc).__name__, str(exc)))
        states.append(tuple(_exact(getattr(trade, name)) for name in _STOP_FIELDS))
    return states


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries({
        "trade": st.fixed_dictionaries({
            "is_short": st.booleans(),
            "leverage": st.sampled_from([1.0, 1, 2.0, 3.5, None, 0.0]),
            "price_precision": st.sampled_from([None, 0.01, 2]),
            "precision_mode_price": st.sampled_from([None, 4, 2]),
        }),
        "calls": st.lists(
            st.tuples(
                st.one_of(prices, st.sampled_from([0.0, -0.0, 0, 10.0, float("nan")])),
                st.sampled_from([-0.05, -0.1, 0.2, -0.0, 0.0, -1, float("nan"), -0.05]),
                st.booleans(),
            ),
            min_size=1,
            max_size=6,
        ),
    })
)
def test_stop_memo_equals_general(case: dict[str, Any]) -> None:
    _assert_fast_equals_general(_stops, case)


def test_stop_memo_shares_the_float() -> None:
    """Two trades stopped at the same price keep one float object (the memory it saves)."""
    with fast_paths(True):
        a = LocalTrade(pair="X/USDT", open_rate=101.3, open_date=T0)
        b = LocalTrade(pair="X/USDT", open_rate=101.3, open_date=T0)
        a.adjust_stop_loss(a.open_rate, -0.05, initial=True)
        b.adjust_stop_loss(b.open_rate, -0.05, initial=True)
    assert a.stop_loss == 101.3 * 0.95 and a.stop_loss is b.stop_loss
