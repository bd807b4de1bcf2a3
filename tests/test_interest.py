"""Margin interest formulas and ``LocalTrade.calculate_interest`` (hand-computed cases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from tradeledger.domain.enums import TradingMode
from tradeledger.domain.interest import interest
from tradeledger.domain.trade import LocalTrade
from tradeledger.exceptions import OperationalException, UnsupportedExchangeError

OPEN = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def test_binance_formula() -> None:
    # 40 borrowed * 0.0005 * ceil(0.1667 h) = 1 hour / 24 = 0.000833333333333333 (18 places)
    result = interest("binance", 40.0, 0.0005, Decimal(1) / Decimal(6))
    assert result == Decimal("0.000833333333333333")


def test_kraken_formula() -> None:
    # 40 * 0.0005 * (1 + ceil(0.1667 / 4) = 1) = 0.04
    assert interest("Kraken", 40.0, 0.0005, Decimal("0.1666")) == Decimal("0.04")
    # 295 minutes = 4.9167 h: ceil(4.9167 / 4) = 2 -> 30 * 0.0005 * 3 = 0.045
    assert interest("kraken", 30.0, 0.0005, Decimal(295) / Decimal(60)) == Decimal("0.045")


def test_unsupported_exchange() -> None:
    with pytest.raises(UnsupportedExchangeError, match="Leverage not available on okx"):
        interest("OKX", 1.0, 0.001, 1.0)
    assert issubclass(UnsupportedExchangeError, OperationalException)


def _margin_trade(exchange: str, *, is_short: bool, leverage: float) -> LocalTrade:
    return LocalTrade(
        pair="ADA/USDT",
        exchange=exchange,
        open_date=OPEN,
        open_rate=2.0,
        amount=30.0,
        stake_amount=20.0,
        fee_open=0.0025,
        fee_close=0.0025,
        leverage=leverage,
        is_short=is_short,
        trading_mode=TradingMode.MARGIN,
        interest_rate=0.0005,
    )


@pytest.mark.parametrize(
    ("exchange", "is_short", "minutes", "expected"),
    [
        # long L=3: borrowed = 30 * 2 * (2/3) = 40 (float: 39.99999999999999 -> see below)
        ("binance", False, 10, None),
        # short: borrowed = amount = 30; binance 30 * 0.0005 * 1 / 24 = 0.000625
        ("binance", True, 10, Decimal("0.000625")),
        # kraken short, 295 min: 30 * 0.0005 * 3 = 0.045
        ("kraken", True, 295, Decimal("0.045")),
    ],
)
def test_calculate_interest(
    exchange: str, is_short: bool, minutes: int, expected: Decimal | None
) -> None:
    trade = _margin_trade(exchange, is_short=is_short, leverage=3.0)
    with time_machine.travel(OPEN + timedelta(minutes=minutes), tick=False):
        result = trade.calculate_interest()
    if expected is None:
        # borrowed is float arithmetic as in freqtrade: (30*2) * ((3-1)/3)
        borrowed = Decimal(repr((30.0 * 2.0) * ((3.0 - 1) / 3.0)))
        expected = (borrowed * Decimal("0.0005") / Decimal(24)).quantize(Decimal("1e-18"))
        assert float(result) == pytest.approx(0.00083333, abs=1e-8)
    assert result == expected


def test_no_interest_outside_margin_or_without_leverage() -> None:
    trade = _margin_trade("binance", is_short=False, leverage=1.0)
    with time_machine.travel(OPEN + timedelta(hours=5), tick=False):
        assert trade.calculate_interest() == 0
    trade = _margin_trade("okx", is_short=False, leverage=3.0)
    trade.trading_mode = TradingMode.FUTURES
    assert trade.calculate_interest() == 0


def test_closed_trade_uses_close_date() -> None:
    trade = _margin_trade("binance", is_short=True, leverage=3.0)
    trade.close_date = OPEN + timedelta(hours=2, minutes=1)  # 3 started hours
    # 30 * 0.0005 * 3 / 24 = 0.001875, independent of "now"
    with time_machine.travel(OPEN + timedelta(days=30), tick=False):
        assert trade.calculate_interest() == Decimal("0.001875")
