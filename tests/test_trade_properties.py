"""Property tests: ``LocalTrade`` against a small exact reference model.

The reference model works in exact fractions on the float inputs: average entry price,
each exit valued at the running average, exit fee, entry fee, and (futures) the funding
accrued since the previous exit. Random sequences of DCA entries (some paying their fee in
the base currency), partial exits, funding updates and a final exit are applied to a
``LocalTrade`` through ``update_trade`` (the live path) and compared after every step.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeledger.domain.enums import TradingMode
from tradeledger.domain.order import LocalOrder
from tradeledger.domain.trade import LocalTrade

OPEN = datetime(2024, 1, 1, tzinfo=UTC)
F = Fraction


def _close(a: float, b: float, *, rel: float = 1e-9, abs_: float = 1e-7) -> bool:
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


@dataclass
class Model:
    """Exact reference of the DCA / partial-exit accounting."""

    is_short: bool
    leverage: F
    fee_open: F
    fee_close: F
    futures: bool
    amount: F = field(default_factory=Fraction)
    stake: F = field(default_factory=Fraction)
    entry_value: F = field(default_factory=Fraction)  # entry values incl. fee, never reduced
    realized: F = field(default_factory=Fraction)
    exit_profits: list[F] = field(default_factory=list)
    running_funding: F = field(default_factory=Fraction)
    funding_since_exit: F = field(default_factory=Fraction)
    entered: F = field(default_factory=Fraction)
    exited: F = field(default_factory=Fraction)

    @property
    def avg(self) -> F:
        return self.stake / self.amount

    def open_value(self, amount: F, price: F) -> F:
        value = amount * price
        return value * (1 - self.fee_open) if self.is_short else value * (1 + self.fee_open)

    def close_value(self, amount: F, price: F, funding: F) -> F:
        value = amount * price
        if self.is_short:
            base = value * (1 + self.fee_close)
            return base - funding if self.futures else base
        base = value * (1 - self.fee_close)
        return base + funding if self.futures else base

    def _take_funding(self) -> None:
        self.funding_since_exit += self.running_funding
        self.running_funding = F(0)

    def entry(self, amount: F, price: F) -> None:
        self._take_funding()
        self.amount += amount
        self.stake += amount * price
        self.entry_value += self.open_value(amount, price)
        self.entered += amount

    def exit(self, amount: F, price: F) -> None:
        self._take_funding()
        avg = self.avg
        ov = self.open_value(amount, avg)
        cv = self.close_value(amount, price, self.funding_since_exit)
        profit = ov - cv if self.is_short else cv - ov
        self.exit_profits.append(profit)
        self.realized += profit
        self.funding_since_exit = F(0)
        self.stake -= avg * amount
        self.amount -= amount
        self.exited += amount


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    steps: list[tuple[Any, ...]] = [
        (
            "entry",
            draw(st.floats(0.01, 1000)),
            draw(st.floats(0.1, 1000)),
            draw(st.sampled_from([0.0, 0.0, 0.001])),
        )
    ]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["entry", "exit", "exit", "funding"]))
        if kind == "entry":
            steps.append(
                (
                    "entry",
                    draw(st.floats(0.01, 1000)),
                    draw(st.floats(0.1, 1000)),
                    draw(st.sampled_from([0.0, 0.0, 0.001])),
                )
            )
        elif kind == "exit":
            steps.append(("exit", draw(st.floats(0.05, 0.9)), draw(st.floats(0.1, 1000))))
        else:
            steps.append(("funding", draw(st.floats(-5, 5))))
    steps.append(("final_exit", draw(st.floats(0.1, 1000))))
    return {
        "is_short": draw(st.booleans()),
        "futures": draw(st.booleans()),
        "leverage": draw(st.sampled_from([1.0, 2.0, 3.0, 5.5])),
        "fee": draw(st.sampled_from([0.0, 0.001, 0.0025, 0.0075])),
        "steps": steps,
    }


def _order(
    trade: LocalTrade, n: int, side: str, amount: float, price: float, fee_base: float
) -> LocalOrder:
    return LocalOrder(
        order_id=f"o{n}",
        ft_order_side=side,
        ft_pair=trade.pair,
        ft_is_open=False,
        ft_amount=amount,
        ft_price=price,
        status="closed",
        amount=amount,
        filled=amount,
        remaining=0.0,
        price=price,
        average=price,
        ft_fee_base=fee_base or None,
        order_date=OPEN + timedelta(minutes=n),
        order_filled_date=OPEN + timedelta(minutes=n),
    )


def _context_state() -> tuple[Any, ...]:
    ctx = decimal.getcontext()
    return (
        ctx.prec,
        ctx.rounding,
        ctx.Emin,
        ctx.Emax,
        ctx.capitals,
        ctx.clamp,
        {k: v for k, v in ctx.traps.items()},
        {k: v for k, v in ctx.flags.items()},
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_trade_matches_exact_model(scn: dict[str, Any]) -> None:
    before = _context_state()
    is_short = scn["is_short"]
    leverage = scn["leverage"] if (scn["futures"] or is_short or scn["leverage"] != 1.0) else 1.0
    trade = LocalTrade(
        pair="BTC/USDT:USDT" if scn["futures"] else "BTC/USDT",
        exchange="binance",
        open_date=OPEN,
        open_rate=scn["steps"][0][2],
        amount=0.0,
        stake_amount=0.0,
        fee_open=scn["fee"],
        fee_close=scn["fee"],
        leverage=leverage,
        is_short=is_short,
        trading_mode=TradingMode.FUTURES if scn["futures"] else TradingMode.SPOT,
        funding_fees=0.0 if scn["futures"] else None,
    )
    model = Model(
        is_short=is_short,
        leverage=F(leverage),
        fee_open=F(scn["fee"]),
        fee_close=F(scn["fee"]),
        futures=scn["futures"],
    )
    entry, exit_ = trade.entry_side, trade.exit_side
    exit_amounts = 0.0
    entry_amounts = 0.0
    for n, step in enumerate(scn["steps"]):
        kind = step[0]
        if kind == "funding":
            if not scn["futures"]:
                continue
            trade.set_funding_fees(step[1])
            model.running_funding = F(step[1])
            continue
        if kind == "entry":
            _, amount, price, fee_frac = step
            fee_base = amount * fee_frac
            order = _order(trade, n, entry, amount, price, fee_base)
            trade.orders.append(order)
            trade.update_trade(order)
            model.entry(F(order.safe_amount_after_fee), F(price))
            entry_amounts += order.safe_amount_after_fee
        else:
            if kind == "exit":
                amount = trade.amount * step[1]
                price = step[2]
            else:
                amount = trade.amount
                price = step[1]
            order = _order(trade, n, exit_, amount, price, 0.0)
            trade.orders.append(order)
            trade.update_trade(order)
            model.exit(F(amount), F(price))
            exit_amounts += amount
        # the sum of exit amounts never exceeds the entries
        assert exit_amounts <= entry_amounts * (1 + 1e-12)
        assert trade.amount >= 0
        if kind != "final_exit":
            assert trade.is_open
            assert _close(trade.amount, float(model.amount), abs_=1e-12)
            assert _close(trade.open_rate, float(model.avg))
            assert _close(trade.stake_amount, float(model.stake / model.leverage))
            # open_trade_value * profit_ratio / leverage == profit_abs (within rounding)
            rate = scn["steps"][0][2] * 1.01
            res = trade.calculate_profit(rate)
            ov = trade.open_trade_value or 0.0
            assert abs(ov * res.profit_ratio / leverage - res.profit_abs) <= (
                1e-8 + 1e-8 * ov / leverage + 1e-9 * abs(res.profit_abs)
            )
        if model.exit_profits:
            # realized profit equals the sum of the exit profits
            n_exits = len(model.exit_profits)
            assert _close(trade.realized_profit or 0.0, float(model.realized), abs_=1e-7 * n_exits)
    assert not trade.is_open
    n_exits = len(model.exit_profits)
    dust = trade.amount <= 1e-9 * entry_amounts
    if not dust:
        # nothing left (amount keeps the last open value): close_profit_abs is the total
        assert _close(trade.close_profit_abs or 0.0, float(model.realized), abs_=1e-7 * n_exits)
    else:
        # freqtrade keeps a decimal residual of the float exit amounts (dust, as in its
        # kucoin test): the trade closes, but close_profit_abs stays the last exit's profit
        assert _close(trade.close_profit_abs or 0.0, float(model.exit_profits[-1]), abs_=1e-7)
    expected_ratio = float(model.realized / model.entry_value * model.leverage)
    # each exit profit is rounded to 8 decimals (freqtrade's rounding): allow that much
    slack = 5e-9 * len(model.exit_profits) * leverage / float(model.entry_value)
    assert _close(trade.close_profit or 0.0, expected_ratio, abs_=slack + 1e-12)
    assert abs(model.exited - model.entered) <= F(1, 10**9) * model.entered
    assert _context_state() == before


def test_global_decimal_context_is_never_used() -> None:
    """A hostile global context (2 digits, traps on Inexact) does not affect the results."""
    with decimal.localcontext() as ctx:
        ctx.prec = 2
        ctx.traps[decimal.Inexact] = True
        ctx.traps[decimal.Rounded] = True
        trade = LocalTrade(
            pair="ETH/USDT",
            exchange="binance",
            open_date=OPEN,
            open_rate=1234.5678,
            amount=1.2345678,
            stake_amount=1.0,
            fee_open=0.001,
            fee_close=0.001,
        )
        order = _order(trade, 1, "buy", 1.2345678, 1234.5678, 0.0)
        trade.orders.append(order)
        trade.update_trade(order)
        value = trade.open_trade_value
        profit = trade.calc_profit(1300.123)
        assert ctx.prec == 2
    # 1.2345678 * 1234.5678 = 1524.15768327684; * 1.001 = 1525.6818409601168...
    assert value == float(
        decimal.Decimal("1.2345678") * decimal.Decimal("1234.5678") * decimal.Decimal("1.001")
    )
    assert profit != 0
