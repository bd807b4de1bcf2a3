"""Margin interest formulas per exchange (freqtrade's ``leverage/interest.py``).

* binance: ``borrowed * rate * ceil(hours) / 24``
* kraken: ``borrowed * rate * (1 + ceil(hours / 4))``

Arithmetic is exact decimal, except the divisions, which truncate to 18 decimal places as
freqtrade's ``FtPrecise`` does, so results equal freqtrade's digit for digit.
"""

from __future__ import annotations

import math
from decimal import Decimal

from tradeledger.domain.money import ONE, dadd, dec, div18, dmul
from tradeledger.exceptions import UnsupportedExchangeError

__all__ = ["SUPPORTED_EXCHANGES", "interest"]

#: Exchanges with an interest formula.
SUPPORTED_EXCHANGES: tuple[str, ...] = ("binance", "kraken")

_FOUR = Decimal(4)
_TWENTY_FOUR = Decimal(24)


def interest(
    exchange_name: str,
    borrowed: Decimal | float,
    rate: Decimal | float,
    hours: Decimal | float,
) -> Decimal:
    """Return the interest owed on ``borrowed`` at ``rate`` after ``hours`` on an exchange.

    Args:
        exchange_name: exchange id, case-insensitive.
        borrowed: borrowed amount (quote currency for longs, base currency for shorts).
        rate: interest rate per period (per day on binance, per 4 hours on kraken).
        hours: time the position was open.

    Raises:
        UnsupportedExchangeError: no interest formula for this exchange (an
            ``OperationalException``; message as freqtrade's).
    """
    name = exchange_name.lower()
    borrowed_d = dec(borrowed)
    rate_d = dec(rate)
    hours_d = dec(hours)
    if name == "binance":
        periods = Decimal(math.ceil(hours_d))
        return div18(dmul(dmul(borrowed_d, rate_d), periods), _TWENTY_FOUR)
    if name == "kraken":
        periods = Decimal(math.ceil(div18(hours_d, _FOUR)))
        return dmul(dmul(borrowed_d, rate_d), dadd(ONE, periods))
    raise UnsupportedExchangeError(f"Leverage not available on {name} with freqtrade")
