"""The backtesting totals (``bt_open_open_trade_count``, ``bt_total_profit``).

They read like class attributes of ``LocalTrade`` but are kept outside the class, so a
backtest cycle assigns no class attribute (an assignment invalidates the type and its
subclasses, and with it CPython's specialised attribute access on every trade). Values
assigned to the class attributes by other code are taken over.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tradeledger.domain.order import LocalOrder
from tradeledger.domain.trade import LocalTrade

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    LocalTrade.reset_trades()
    yield
    LocalTrade.reset_trades()


def _cycle(n: int, close_rate: float = 11.0) -> LocalTrade:
    """One backtest lifecycle: open, fill the entry, fill the exit, close."""
    trade = LocalTrade(id=n, pair="A/B", open_rate=10.0, amount=0, stake_amount=10.0,
                       fee_open=0.001, fee_close=0.001, open_date=T0)
    LocalTrade.add_bt_trade(trade)
    trade.adjust_stop_loss(trade.open_rate, -0.1, initial=True)
    for k, (side, rate) in enumerate((("buy", 10.0), ("sell", close_rate))):
        amount = 1.0 if side == "buy" else trade.amount
        order = LocalOrder(id=2 * n + k, ft_order_side=side, side=side, ft_pair="A/B",
                           order_id=f"{n}-{k}", status="open", price=rate, average=rate,
                           amount=amount, filled=0.0, ft_price=rate)
        order._trade_bt = trade
        trade.orders.append(order)
        order.close_bt_order(T0 + timedelta(minutes=k), trade)
    trade.close(close_rate, show_msg=False)
    LocalTrade.close_bt_trade(trade)
    return trade


def test_totals_follow_the_backtest() -> None:
    trade = LocalTrade(id=1, pair="A/B", open_rate=10.0, amount=0, stake_amount=10.0,
                       fee_open=0.0, fee_close=0.0, open_date=T0)
    LocalTrade.add_bt_trade(trade)
    assert LocalTrade.bt_open_open_trade_count == 1 == LocalTrade.get_open_trade_count()
    assert trade.bt_open_open_trade_count == 1  # read through an instance too
    LocalTrade.remove_bt_trade(trade)
    assert LocalTrade.bt_open_open_trade_count == 0
    closed = _cycle(2)
    assert LocalTrade.bt_open_open_trade_count == 0
    assert closed.close_profit_abs
    assert LocalTrade.bt_total_profit == closed.close_profit_abs
    assert LocalTrade.get_total_closed_profit() == closed.close_profit_abs
    LocalTrade.reset_trades()
    assert LocalTrade.bt_open_open_trade_count == 0
    assert LocalTrade.bt_total_profit == 0


def test_a_cycle_assigns_no_class_attribute() -> None:
    _cycle(1)  # warm: stores and caches exist
    before = {name: id(value) for name, value in vars(LocalTrade).items()}
    _cycle(2, close_rate=9.0)
    after = {name: id(value) for name, value in vars(LocalTrade).items()}
    assert before == after
    assert LocalTrade.bt_open_open_trade_count == 0
    assert len(LocalTrade.bt_trades) == 2


def test_assigned_class_values_are_taken_over() -> None:
    LocalTrade.bt_open_open_trade_count = 5
    assert LocalTrade.bt_open_open_trade_count == 5
    assert LocalTrade.get_open_trade_count() == 5
    trade = LocalTrade(id=1, pair="A/B", open_rate=10.0, amount=0, stake_amount=10.0,
                       open_date=T0)
    LocalTrade.add_bt_trade(trade)
    assert LocalTrade.bt_open_open_trade_count == 6
    LocalTrade.remove_bt_trade(trade)
    assert LocalTrade.bt_open_open_trade_count == 5
    LocalTrade.bt_total_profit = 7.5
    assert LocalTrade.bt_total_profit == 7.5
    LocalTrade.bt_open_open_trade_count = 0
    closed = _cycle(3)
    # as before: the shown total is the exact running sum of the closed profits
    assert LocalTrade.bt_total_profit == closed.close_profit_abs
    assert LocalTrade.bt_open_open_trade_count == 0
    LocalTrade.bt_total_profit = 1.0
    LocalTrade.reset_trades()
    assert LocalTrade.bt_total_profit == 0
    assert LocalTrade.bt_open_open_trade_count == 0


def test_closed_trades_by_pair_keep_filing_order_without_duplicates() -> None:
    trades = []
    for n, pair in enumerate(("A/B", "C/D", "A/B")):
        trade = LocalTrade(id=n, pair=pair, open_rate=10.0, amount=1.0, stake_amount=10.0,
                           open_date=T0, is_open=False, close_profit_abs=1.0)
        trades.append(trade)
        LocalTrade.add_bt_trade(trade)
    LocalTrade.add_bt_trade(trades[0])  # filed again: keeps its first place
    assert LocalTrade.get_trades_proxy(pair="A/B", is_open=False) == [trades[0], trades[2]]
    assert LocalTrade.get_trades_proxy(pair="C/D", is_open=False) == [trades[1]]
    assert LocalTrade.get_trades_proxy(pair="X/Y", is_open=False) == []
    assert list(LocalTrade.bt_trades) == trades


def test_stores_replaced_by_lists_still_work() -> None:
    """Code may put plain lists in place of the stores (the inlined appends check the type)."""
    LocalTrade.bt_trades = []  # type: ignore[assignment]
    LocalTrade.bt_trades_open = []  # type: ignore[assignment]
    first = _cycle(1)
    second = _cycle(2)
    assert LocalTrade.bt_trades == [first, second]
    assert LocalTrade.bt_trades_open == []
    with pytest.raises(ValueError):
        LocalTrade.remove_bt_trade(first)  # not open: list.remove raises


def test_removing_a_trade_that_is_not_open_raises() -> None:
    trade = _cycle(1)
    with pytest.raises(ValueError, match="is not in this trade store"):
        LocalTrade.remove_bt_trade(trade)
