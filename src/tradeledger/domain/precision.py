"""Price and amount precision rounding, written from the ccxt definitions (no ccxt import).

Counting modes (``precision_mode`` / ``precision_mode_price``):

* ``DECIMAL_PLACES`` (2): ``precision`` is a number of decimal places (may be negative:
  ``-2`` rounds to hundreds);
* ``SIGNIFICANT_DIGITS`` (3): ``precision`` is a number of significant digits;
* ``TICK_SIZE`` (4): ``precision`` is the step itself (``0.05``, ``0.001``, ``25``).

Rounding modes:

* ``TRUNCATE`` (0): towards zero;
* ``ROUND`` (1): to the nearest step, ties away from zero (ccxt ``ROUND_HALF_UP``);
* ``ROUND_UP`` (2): towards +infinity (freqtrade's stop-loss rounding for longs);
* ``ROUND_DOWN`` (3): towards -infinity (stop-loss rounding for shorts).

All arithmetic is exact decimal on ``repr`` of the float inputs; each public function rounds
back to ``float`` once. When ``precision`` or ``mode`` is ``None`` the value is returned
unchanged (as freqtrade does).

Compatibility notes:

* :func:`price_to_precision` with ``TICK_SIZE`` and ``ROUND_UP``/``ROUND_DOWN`` returns the
  input unchanged when it already lies on a step, else the stepped value passed through
  ``round(x, 14)`` -- freqtrade does exactly this, and the golden vectors depend on it.
* :func:`price_to_precision` with ``DECIMAL_PLACES`` and ``ROUND_UP``/``ROUND_DOWN`` computes
  ``ceil/floor(price * 10**n) / 10**n`` in float, as freqtrade does: the float product can
  move a price that already lies on the grid by one step (``1.4265`` up → ``1.4266``). The
  stop-loss values of the golden vectors depend on it, so it is reproduced, not fixed.
* ccxt breaks ties of ``SIGNIFICANT_DIGITS``/``ROUND`` with a negative exponent (``12500`` to
  two digits) towards zero; here every ``ROUND`` tie goes away from zero.
"""

from __future__ import annotations

import decimal
import math
from decimal import Decimal

from tradeledger.domain.enums import (
    DECIMAL_PLACES,
    ROUND,
    ROUND_DOWN,
    ROUND_UP,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    TRUNCATE,
)
from tradeledger.domain.money import CTX, dec, div18, dmul
from tradeledger.exceptions import InvalidValueError

__all__ = [
    "amount_to_contract_precision",
    "amount_to_contracts",
    "amount_to_precision",
    "contracts_to_amount",
    "decimal_to_precision",
    "price_to_precision",
]

_DECIMAL_ROUNDING: dict[int, str] = {
    TRUNCATE: decimal.ROUND_DOWN,  # decimal's ROUND_DOWN is towards zero
    ROUND: decimal.ROUND_HALF_UP,  # ties away from zero
    ROUND_UP: decimal.ROUND_CEILING,
    ROUND_DOWN: decimal.ROUND_FLOOR,
}


def _check_modes(rounding_mode: int, counting_mode: int) -> None:
    if rounding_mode not in _DECIMAL_ROUNDING:
        raise InvalidValueError(f"unknown rounding_mode: {rounding_mode!r}")
    if counting_mode not in (DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE):
        raise InvalidValueError(f"unknown precision_mode: {counting_mode!r}")


def _round_to_tick(value: Decimal, tick: Decimal, rounding_mode: int) -> Decimal:
    if tick <= 0:
        raise InvalidValueError(f"tick size must be positive, got {tick}")
    remainder = CTX.remainder(value, tick)  # sign of value, |remainder| < tick
    if remainder == 0:
        return value
    quotient = CTX.divide_int(value, tick)  # truncated towards zero
    if remainder != 0:
        sign = 1 if remainder > 0 else -1
        if rounding_mode == ROUND:
            if CTX.multiply(abs(remainder), Decimal(2)) >= tick:
                quotient += sign
        elif rounding_mode == ROUND_UP:
            if remainder > 0:
                quotient += 1
        elif rounding_mode == ROUND_DOWN and remainder < 0:
            quotient -= 1
    return CTX.multiply(quotient, tick)


def decimal_to_precision(
    value: Decimal, rounding_mode: int, precision: Decimal | float | int, counting_mode: int
) -> Decimal:
    """Round ``value`` to ``precision`` in ``counting_mode`` with ``rounding_mode`` (exact).

    Raises:
        InvalidValueError: unknown mode, or a non-positive tick size.
    """
    _check_modes(rounding_mode, counting_mode)
    if counting_mode == TICK_SIZE:
        return _round_to_tick(value, dec(precision), rounding_mode)
    digits = int(precision)
    rounding = _DECIMAL_ROUNDING[rounding_mode]
    if counting_mode == DECIMAL_PLACES:
        exponent = -digits
    else:
        if value == 0:
            return Decimal(0)
        if digits <= 0:
            return Decimal(0)
        exponent = value.adjusted() - digits + 1
    return value.quantize(Decimal(1).scaleb(exponent), rounding=rounding, context=CTX)


#: Memo of price_to_precision / amount_to_contract_precision for float inputs (pure functions;
#: a backtest rounds the same prices and amounts many times). Cleared when full.
#: Zeros are keyed by their text ("0.0" / "-0.0"): 0.0 == -0.0 would share a float key.
_PRICE_MEMO: dict[tuple[float | str, float | None, int, int], float] = {}
_AMOUNT_MEMO: dict[tuple[float | str, float, int, float | None], float] = {}
_MEMO_MAX = 4096


def price_to_precision(
    price: float,
    price_precision: float | None,
    precision_mode: int | None,
    *,
    rounding_mode: int = ROUND,
) -> float:
    """Round a price as freqtrade's ``price_to_precision`` does (identity without precision)."""
    if price_precision is None or precision_mode is None:
        return price
    if type(price) is float:
        key = (price or repr(price), price_precision, precision_mode, rounding_mode)
        result = _PRICE_MEMO.get(key)
        if result is None:
            result = _price_to_precision(price, price_precision, precision_mode, rounding_mode)
            if len(_PRICE_MEMO) >= _MEMO_MAX:
                _PRICE_MEMO.clear()
            _PRICE_MEMO[key] = result
        return result
    return _price_to_precision(price, price_precision, precision_mode, rounding_mode)


def _price_to_precision(
    price: float, price_precision: float, precision_mode: int, rounding_mode: int
) -> float:
    if precision_mode == DECIMAL_PLACES and rounding_mode in (ROUND_UP, ROUND_DOWN):
        # freqtrade computes this in float: ceil/floor(price * 10**n) / 10**n. The float
        # product can land just above/below the grid, moving a price that already lies on
        # the grid by one step (1.4265 -> 1.4266 up); stop-loss values depend on it.
        scale = float(10 ** int(price_precision))  # exact for the digits exchanges use
        if rounding_mode == ROUND_UP:
            return math.ceil(price * scale) / scale
        return math.floor(price * scale) / scale
    value = dec(price)
    if precision_mode == TICK_SIZE and rounding_mode in (ROUND_UP, ROUND_DOWN):
        _check_modes(rounding_mode, precision_mode)
        stepped = _round_to_tick(value, dec(price_precision), rounding_mode)
        if stepped == value:
            return price
        return round(float(stepped), 14)
    result = decimal_to_precision(value, rounding_mode, price_precision, precision_mode)
    return price if result is value else float(result)


def amount_to_precision(
    amount: float, amount_precision: float | None, precision_mode: int | None
) -> float:
    """Truncate an amount to the exchange precision (identity without precision)."""
    if amount_precision is None or precision_mode is None:
        return amount
    value = dec(amount)
    result = decimal_to_precision(value, TRUNCATE, amount_precision, precision_mode)
    return amount if result is value else float(result)


def amount_to_contracts(amount: float, contract_size: float | None) -> float:
    """Convert an amount in base currency to a number of contracts."""
    if contract_size and contract_size != 1:
        return float(div18(dec(amount), dec(contract_size)))
    return amount


def contracts_to_amount(num_contracts: float, contract_size: float | None) -> float:
    """Convert a number of contracts to an amount in base currency."""
    if contract_size and contract_size != 1:
        return float(dmul(dec(num_contracts), dec(contract_size)))
    return num_contracts


def amount_to_contract_precision(
    amount: float,
    amount_precision: float | None,
    precision_mode: int | None,
    contract_size: float | None,
) -> float:
    """Amount → contracts → truncated to precision → amount (identity without precision)."""
    if amount_precision is None or precision_mode is None:
        return amount
    if type(amount) is float:
        key = (amount or repr(amount), amount_precision, precision_mode, contract_size)
        result = _AMOUNT_MEMO.get(key)
        if result is None:
            result = _amount_to_contract_precision(
                amount, amount_precision, precision_mode, contract_size
            )
            if len(_AMOUNT_MEMO) >= _MEMO_MAX:
                _AMOUNT_MEMO.clear()
            _AMOUNT_MEMO[key] = result
        return result
    return _amount_to_contract_precision(amount, amount_precision, precision_mode, contract_size)


def _amount_to_contract_precision(
    amount: float, amount_precision: float, precision_mode: int, contract_size: float | None
) -> float:
    contracts = amount_to_contracts(amount, contract_size)
    truncated = amount_to_precision(contracts, amount_precision, precision_mode)
    return contracts_to_amount(truncated, contract_size)
