"""Behaviour of ``LocalTrade`` / ``Trade`` beyond the golden vectors.

Hand-computed reference numbers of the facts sheet, every deliberate deviation from
freqtrade, the backtesting stores, the database-use switch and the DB query helpers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

import tradeledger.db as tl_db
from tradeledger.domain.custom_data import CustomDataWrapper
from tradeledger.domain.enums import TradingMode
from tradeledger.domain.order import LocalOrder
from tradeledger.domain.trade import LocalTrade, TradeStore
from tradeledger.exceptions import (
    BacktestingModeError,
    InvalidOrderError,
    InvalidValueError,
    MarginConfigError,
)
from tradeledger.models import Order, Trade
from tradeledger.services.pairlocks import PairLocks
from tradeledger.usedb import FtNoDBContext, disable_database_use, enable_database_use

OPEN = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def _kwargs(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "pair": "ADA/USDT",
        "exchange": "binance",
        "open_date": OPEN,
        "open_rate": 2.0,
        "amount": 30.0,
        "stake_amount": 60.0,
        "fee_open": 0.0025,
        "fee_close": 0.0025,
    }
    base.update(extra)
    return base


def _order(
    side: str, amount: float, price: float, n: int, *, pair: str = "ADA/USDT", **extra: Any
) -> LocalOrder:
    values: dict[str, Any] = {
        "order_id": f"o{n}",
        "ft_order_side": side,
        "ft_pair": pair,
        "ft_is_open": False,
        "ft_amount": amount,
        "ft_price": price,
        "status": "closed",
        "amount": amount,
        "filled": amount,
        "remaining": 0.0,
        "price": price,
        "average": price,
        "order_date": OPEN + timedelta(minutes=n),
        "order_filled_date": OPEN + timedelta(minutes=n),
    }
    values.update(extra)
    return LocalOrder(**values)


# ---- reference numbers (facts sheet §5.3, §5.8) ------------------------------------------


def test_spot_profit_reference_numbers() -> None:
    trade = LocalTrade(**_kwargs())
    # open value 30 * 2 * 1.0025 = 60.15; close 30 * 2.2 * 0.9975 = 65.835
    assert trade.open_trade_value == 60.15
    assert trade.calc_close_trade_value(2.2) == 65.835
    res = trade.calculate_profit(2.2)
    assert res.profit_abs == 5.685
    # 65.835 / 60.15 - 1 = 0.0945137157...: 8 decimals -> 0.09451372 (the facts sheet quotes
    # freqtrade's test value 0.09451371, compared there with approx)
    assert res.profit_ratio == 0.09451372
    assert trade.calc_profit(2.2) == 5.685
    assert trade.calc_profit_ratio(2.2) == 0.09451372


def test_margin_and_futures_reference_numbers() -> None:
    kw = _kwargs(trading_mode=TradingMode.MARGIN, interest_rate=0.0005, leverage=3.0)
    with time_machine.travel(OPEN + timedelta(minutes=10), tick=False):
        long = LocalTrade(**kw)
        # interest: 40 borrowed * 0.0005 / 24 = 0.000833...; 65.835 - 0.00083333 = 65.83416667
        assert round(long.calc_close_trade_value(2.2), 8) == 65.83416667
        assert long.calc_profit(2.2) == 5.68416667
        assert long.calc_profit_ratio(2.2) == 0.28349958
        short = LocalTrade(**kw, is_short=True)
        assert short.calc_profit(2.2) == pytest.approx(-6.3163784, abs=1e-7)
        assert short.calc_profit_ratio(2.2) == pytest.approx(-0.31661044, abs=1e-8)
    fut = LocalTrade(**_kwargs(trading_mode=TradingMode.FUTURES, leverage=3.0, funding_fees=1.0))
    # close 30 * 2.1 * 0.9975 + 1 = 63.8425; - 60.15 = 3.6925; ratio (63.8425/60.15-1)*3
    assert fut.calc_profit(2.1) == 3.6925
    assert fut.calc_profit_ratio(2.1) == 0.18416459  # 0.1841645885... (facts: 0.18416458 ~)


def test_close_rate_for_roi_inverts_profit_ratio() -> None:
    for short in (False, True):
        trade = LocalTrade(**_kwargs(is_short=short, leverage=2.0))
        rate = trade.calc_close_rate_for_roi(0.05)
        assert trade.calc_profit_ratio(rate) == pytest.approx(0.05, abs=1e-8)


def test_stop_loss_reference_numbers() -> None:
    trade = LocalTrade(**_kwargs(open_rate=1.0))
    trade.adjust_stop_loss(1.0, 0.05, initial=True)
    assert (trade.stop_loss, trade.initial_stop_loss, trade.stop_loss_pct) == (0.95, 0.95, -0.05)
    trade.adjust_stop_loss(1.3, -0.1)
    assert trade.stop_loss == pytest.approx(1.17) and trade.is_stop_loss_trailing
    trade.adjust_stop_loss(1.2, -0.1)  # lower: unchanged
    assert trade.stop_loss == pytest.approx(1.17)
    trade.adjust_stop_loss(1.0, -0.1, allow_refresh=True)  # refresh may move it down
    assert trade.stop_loss == pytest.approx(0.9) and trade.initial_stop_loss == 0.95
    short = LocalTrade(**_kwargs(open_rate=1.0, is_short=True))
    short.adjust_stop_loss(1.0, 0.05, initial=True)
    assert short.stop_loss == 1.05
    short.adjust_stop_loss(0.7, 0.1)
    assert short.stop_loss == pytest.approx(0.77)
    lev = LocalTrade(**_kwargs(open_rate=1.0, leverage=5.0))
    lev.adjust_stop_loss(1.0, 0.1, initial=True)
    assert lev.stop_loss == pytest.approx(0.98)  # 1 * (1 - 0.1 / 5)


def test_liquidation_and_minmax() -> None:
    trade = LocalTrade(**_kwargs(price_precision=0.01, precision_mode_price=4))
    trade.stop_loss = 1.8
    trade.set_liquidation_price(1.8543)
    assert trade.liquidation_price == 1.85
    assert trade.stoploss_or_liquidation == 1.85  # long: the higher one
    trade.set_liquidation_price(None)
    assert trade.liquidation_price == 1.85
    trade.adjust_min_max_rates(2.5, 1.5)
    assert (trade.max_rate, trade.min_rate) == (2.5, 1.5)
    trade.adjust_min_max_rates(2.4, 1.6)
    assert (trade.max_rate, trade.min_rate) == (2.5, 1.5)
    with pytest.raises(TypeError, match="current_price"):
        trade.adjust_min_max_rates(None, 1.0)  # type: ignore[arg-type]


# ---- deviations ---------------------------------------------------------------------------


def test_unknown_keyword_raises_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="'foo' is an invalid keyword argument for LocalTrade"):
        LocalTrade(**_kwargs(foo=1))
    with pytest.raises(TypeError, match="'foo' is an invalid keyword argument for Trade"):
        Trade(**_kwargs(foo=1))


def test_positional_arguments_are_refused() -> None:
    """``LocalTrade`` takes keywords only (its internal ``__init__`` has no ``*``)."""
    with pytest.raises(TypeError, match="keyword arguments only"):
        LocalTrade(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="keyword arguments only"):
        LocalTrade(1, pair="A/B")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Trade(1)  # type: ignore[call-arg]


def test_orders_keyword_is_kept() -> None:
    order = _order("buy", 30.0, 2.0, 1)
    trade = LocalTrade(**_kwargs(), orders=[order])
    assert trade.orders == [order]
    assert order._trade_bt is trade
    assert LocalTrade(**_kwargs()).orders == []  # not shared between instances


def test_update_trade_needs_no_database() -> None:
    trade = LocalTrade(**_kwargs(amount=0.0))
    entry = _order("buy", 30.0, 2.0, 1)
    trade.orders.append(entry)
    trade.update_trade(entry)  # freqtrade: AttributeError (Trade.session) without init_db
    exit_ = _order("sell", 30.0, 2.2, 2)
    trade.orders.append(exit_)
    trade.update_trade(exit_)
    assert not trade.is_open
    assert trade.close_profit_abs == 5.685
    assert trade.close_date == OPEN + timedelta(minutes=2)


def test_bad_inputs_raise_documented_exceptions() -> None:
    trade = LocalTrade(**_kwargs())
    bad = _order("foo", 30.0, 2.0, 1)
    trade.orders.append(bad)
    with pytest.raises(InvalidOrderError, match="ft_order_side='foo'") as info:
        trade.update_trade(bad)
    assert isinstance(info.value, ValueError)
    trade.close_rate = 2.0
    with pytest.raises(InvalidValueError, match="rate"):
        trade.calc_close_trade_value(None)
    with pytest.raises(TypeError, match="current_price"):
        trade.adjust_stop_loss(None, -0.1)  # type: ignore[arg-type]
    with pytest.raises(MarginConfigError):
        LocalTrade(**_kwargs(trading_mode=TradingMode.MARGIN, interest_rate=None))
    with pytest.raises(InvalidValueError, match="amount"):
        Trade(**{k: v for k, v in _kwargs().items() if k != "amount"})


def test_naive_datetimes_are_utc_and_text_is_cut() -> None:
    trade = LocalTrade(**_kwargs(open_date=datetime(2024, 3, 1, 10, 0)))
    assert trade.open_date == OPEN and trade.open_date.tzinfo is not None
    trade.exit_reason = "x" * 300
    trade.enter_tag = "y" * 300
    assert trade.exit_reason == "x" * 255 and trade.sell_reason == "x" * 255
    assert trade.enter_tag == "y" * 255 and trade.buy_tag == "y" * 255


def test_json_round_trip() -> None:
    trade = LocalTrade(**_kwargs(amount=0.0, id=7))
    for n, (side, amount, price) in enumerate([("buy", 30.0, 2.0), ("sell", 10.0, 2.2)]):
        order = _order(side, amount, price, n + 1)
        trade.orders.append(order)
        trade.update_trade(order)
    data = trade.to_json()
    back = LocalTrade.from_json(json.dumps(data))
    assert not hasattr(back, "__FROM_JSON")
    assert back.to_json() == data
    orm = Trade.from_json(json.dumps(data))
    assert isinstance(orm.orders[0], Order)
    assert orm.to_json() == data
    assert data["realized_profit"] == trade.realized_profit
    assert repr(trade).startswith("Trade(id=7, pair=ADA/USDT, amount=20, is_short=False")


# ---- backtesting stores ---------------------------------------------------------------------


def _bt_trade(n: int, pair: str, minutes: int) -> LocalTrade:
    return LocalTrade(**_kwargs(id=n, pair=pair, open_date=OPEN + timedelta(minutes=minutes)))


def test_backtesting_stores_and_queries() -> None:
    LocalTrade.reset_trades()
    trades = [_bt_trade(i + 1, ("A/USDT", "B/USDT")[i % 2], i * 10) for i in range(6)]
    for t in trades:
        LocalTrade.add_bt_trade(t)
    assert LocalTrade.get_open_trade_count() == 6
    assert LocalTrade.total_open_trades_stakes() == 360.0
    for i, t in enumerate(trades[:3]):
        t.close(2.2, show_msg=False)
        t.close_date = OPEN + timedelta(hours=5 - i)  # closed in reverse date order
        t.close_profit_abs = float(i + 1)
        LocalTrade.close_bt_trade(t)
    LocalTrade.remove_bt_trade(trades[5])
    assert LocalTrade.bt_open_open_trade_count == 2
    assert LocalTrade.bt_total_profit == 6.0 == LocalTrade.get_total_closed_profit()
    assert [t.id for t in LocalTrade.get_trades_proxy()] == [1, 2, 3, 4, 5]
    assert [t.id for t in LocalTrade.get_trades_proxy(is_open=True)] == [4, 5]
    assert [t.id for t in LocalTrade.get_trades_proxy(pair="A/USDT")] == [1, 3, 5]
    since = OPEN + timedelta(hours=3, minutes=30)
    # closed after 3:30 -> trades 1 (5:00) and 2 (4:00), in closing order
    assert [t.id for t in LocalTrade.get_trades_proxy(is_open=False, close_date=since)] == [1, 2]
    assert [
        t.id for t in LocalTrade.get_trades_proxy(pair="B/USDT", is_open=False, close_date=since)
    ] == [2]
    assert [t.id for t in LocalTrade.get_trades_proxy(open_date=OPEN + timedelta(minutes=15))] == [
        3,
        4,
        5,
    ]
    assert {p: [t.id for t in s] for p, s in LocalTrade.bt_trades_open_pp.items()} == {
        "A/USDT": [5],
        "B/USDT": [4],
    }
    assert [t.id for t in LocalTrade.get_open_trades()] == [4, 5]
    with pytest.raises(ValueError, match="not in this trade store"):
        LocalTrade.remove_bt_trade(trades[5])
    LocalTrade.reset_trades()
    assert len(LocalTrade.bt_trades) == 0 and LocalTrade.bt_total_profit == 0


def test_trade_store_is_list_like() -> None:
    a, b = _bt_trade(1, "A/USDT", 0), _bt_trade(2, "A/USDT", 0)
    store = TradeStore([a])
    store.append(b)
    assert len(store) == 2 and store[0] is a and store[-1] is b and store == [a, b]
    assert a in store and [*store, a] == [a, b, a]
    store.remove(a)
    assert list(store) == [b] and bool(store)


def test_stoploss_reinitialization() -> None:
    LocalTrade.reset_trades()
    keep = _bt_trade(1, "A/USDT", 0)
    keep.adjust_stop_loss(2.0, -0.1, initial=True)
    moved = _bt_trade(2, "A/USDT", 0)
    moved.adjust_stop_loss(2.0, -0.05, initial=True)
    for t in (keep, moved):
        LocalTrade.add_bt_trade(t)
    LocalTrade.stoploss_reinitialization(-0.1)
    assert keep.stop_loss == pytest.approx(1.8) and moved.stop_loss == pytest.approx(1.8)
    assert moved.initial_stop_loss_pct == -0.1
    LocalTrade.reset_trades()


def test_database_use_switch() -> None:
    with FtNoDBContext("5m"):
        assert not Trade.use_db and not PairLocks.use_db and not CustomDataWrapper.use_db
        assert PairLocks.timeframe == "5m"
        with pytest.raises(BacktestingModeError, match="not supported in backtesting") as info:
            Trade.get_trades()
        assert isinstance(info.value, NotImplementedError)
        LocalTrade.reset_trades()
        t = LocalTrade(**_kwargs(id=3))
        LocalTrade.add_bt_trade(t)
        assert Trade.get_open_trades() == [t]
        assert Trade.get_open_trade_count() == 1
        assert Trade.total_open_trades_stakes() == 60.0
        t.set_custom_data("k", {"a": 1})
        assert t.get_custom_data("k") == {"a": 1}
        assert [e.cd_key for e in t.get_all_custom_data()] == ["k"]
        t.delete_custom_data("k")
        assert t.get_custom_data("k", "default") == "default"
        LocalTrade.reset_trades()
    assert Trade.use_db and PairLocks.use_db and CustomDataWrapper.use_db
    disable_database_use("1h")
    assert not Trade.use_db
    enable_database_use()
    assert Trade.use_db and PairLocks.timeframe == ""


# ---- database helpers -----------------------------------------------------------------------


@pytest.fixture
def live_db(backend: str) -> Iterator[None]:
    tl_db.init_db(backend)
    yield
    Trade.session.rollback()
    Trade.session.remove()
    tl_db.close_db()


def _db_trade(n: int, *, is_open: bool, pair: str = "A/USDT", stake: float = 10.0) -> Trade:
    trade = Trade(**_kwargs(pair=pair, stake_amount=stake, amount=0.0))
    for i, (side, amount, price) in enumerate([("buy", 5.0, 2.0), ("sell", 5.0, 2.2)]):
        if side == "sell" and is_open:
            break
        order = Order(
            order_id=f"{n}-{i}",
            ft_order_side=side,
            ft_pair=pair,
            ft_is_open=False,
            ft_amount=amount,
            ft_price=price,
            status="closed",
            amount=amount,
            filled=amount,
            price=price,
            order_filled_date=OPEN + timedelta(minutes=n + i),
        )
        trade.orders.append(order)
        trade.update_trade(order)
    return trade


def test_db_query_helpers(live_db: None) -> None:
    trades = [_db_trade(i, is_open=i % 2 == 0, pair=("A/USDT", "B/USDT")[i % 2]) for i in range(4)]
    for t in trades:
        Trade.session.add(t)
    Trade.commit()
    assert Trade.get_open_trade_count() == 2
    assert Trade.total_open_trades_stakes() == 20.0  # 5 * 2 each
    closed_profit = sum(t.close_profit_abs or 0.0 for t in trades if not t.is_open)
    assert Trade.get_total_closed_profit() == pytest.approx(closed_profit, abs=1e-12)
    assert {t.id for t in Trade.get_open_trades_without_assigned_fees()} == {
        trades[0].id,
        trades[2].id,
    }
    assert {t.id for t in Trade.get_closed_trades_without_assigned_fees()} == {
        trades[1].id,
        trades[3].id,
    }
    assert [t.pair for t in Trade.get_trades_proxy(pair="B/USDT")] == ["B/USDT", "B/USDT"]
    assert len(Trade.get_trades_proxy(is_open=False, close_date=OPEN)) == 2
    assert len(Trade.get_trades([Trade.is_open.is_(True), Trade.pair == "A/USDT"]).all()) == 2
    assert len(Trade.get_trades(Trade.pair == "B/USDT", include_orders=False).all()) == 2
    victim = trades[1]
    victim.set_custom_data("note", "bye")
    victim_id = victim.id
    victim.delete()
    Trade.session.remove()
    assert Trade.session.get(Trade, victim_id) is None
    assert Order.session.query(Order).filter(Order.ft_trade_id == victim_id).count() == 0
    assert CustomDataWrapper.get_custom_data(trade_id=victim_id) == []


def test_trade_constructor_defaults_and_commit_hook(live_db: None) -> None:
    trade = Trade(pair="A/USDT", exchange="binance", open_rate=2.0, amount=1.0, stake_amount=2.0)
    # column defaults apply before the INSERT (freqtrade: None until flushed)
    assert (trade.is_open, trade.stop_loss, trade.leverage, trade.is_short) == (
        True,
        0.0,
        1.0,
        False,
    )
    assert trade.open_date.tzinfo is not None and trade.realized_profit == 0
    Trade.session.add(trade)
    Trade.commit()
    order = Order(
        order_id="x1",
        ft_order_side="buy",
        ft_pair="A/USDT",
        ft_is_open=False,
        ft_amount=1.0,
        ft_price=2.5,
        status="closed",
        amount=1.0,
        filled=1.0,
        price=2.5,
    )
    trade.orders.append(order)
    trade.update_trade(order)  # commits through the _commit hook
    trade_id = trade.id
    Trade.session.remove()
    fresh = Trade.session.get(Trade, trade_id)
    assert fresh is not None and fresh.open_rate == 2.5 and len(fresh.orders) == 1
