"""Exact decimal arithmetic for money values.

Amounts, prices, costs and fees are ``float`` in the API and on disk. Every computation that
accumulates (open/close values, fees, sums of fills, average entry, realized profit) runs in
:class:`decimal.Decimal` on a module-level :class:`decimal.Context` that is never installed as
the thread's context, so the caller's (global) decimal context is never read or changed.

Floats enter through :func:`dec` as ``Decimal(repr(x))`` (the shortest text that reads back to
the same double, which is also what freqtrade's ``FtPrecise`` uses), and results leave through
:func:`to_float` (one correctly rounded conversion).

With 100 significant digits, sums and products of a handful of doubles are exact. Division is
the one inexact operation: :func:`div18` reproduces freqtrade's ``FtPrecise`` division, which
truncates the quotient (towards zero) to 18 decimal places.
"""

from __future__ import annotations

from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    Overflow,
)
from decimal import InvalidOperation as _InvalidOperation

__all__ = [
    "CTX",
    "EXACT_SUM",
    "ONE",
    "ZERO",
    "dadd",
    "dec",
    "div18",
    "dmul",
    "dsub",
    "to_float",
]

#: The context every money computation uses (never installed as the thread's context).
CTX = Context(
    prec=100,
    rounding=ROUND_HALF_EVEN,
    Emin=-999999,
    Emax=999999,
    traps=[_InvalidOperation, DivisionByZero, Overflow],
)
#: Truncating context for :func:`div18`.
_CTX_DOWN = Context(
    prec=100,
    rounding=ROUND_DOWN,
    Emin=-999999,
    Emax=999999,
    traps=[_InvalidOperation, DivisionByZero, Overflow],
)

#: Context of exact sums: enough digits for any sum of doubles' shortest decimal texts
#: (10^308 down to 10^-340, plus carries); ``Inexact`` is trapped, so a rounding can
#: never pass silently.
EXACT_SUM = Context(prec=1000, Emin=-999999, Emax=999999,
                    traps=[Inexact, _InvalidOperation, Overflow])
ZERO = Decimal(0)
ONE = Decimal(1)
_Q18 = Decimal("1e-18")


_FLOAT_CACHE: dict[float, Decimal] = {}
_FLOAT_CACHE_MAX = 8192


def dec(value: float | int | str | Decimal) -> Decimal:
    """Return ``value`` as an exact ``Decimal``: floats via ``repr`` (as ``FtPrecise`` does).

    Raises:
        TypeError: ``value`` is ``None`` or of another type.
    """
    if type(value) is float:
        cached = _FLOAT_CACHE.get(value)
        if cached is None:
            cached = Decimal(repr(value))
            if value:  # 0.0 == -0.0 share a dict slot; keep the sign of zero exact
                if len(_FLOAT_CACHE) >= _FLOAT_CACHE_MAX:
                    _FLOAT_CACHE.clear()
                _FLOAT_CACHE[value] = cached
        return cached
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, str)):  # bool is an int
        return Decimal(value)
    raise TypeError(f"cannot convert {type(value).__name__} {value!r} to a decimal money value")


def dadd(a: Decimal, b: Decimal) -> Decimal:
    """``a + b`` in the money context."""
    return CTX.add(a, b)


def dsub(a: Decimal, b: Decimal) -> Decimal:
    """``a - b`` in the money context."""
    return CTX.subtract(a, b)


def dmul(a: Decimal, b: Decimal) -> Decimal:
    """``a * b`` in the money context."""
    return CTX.multiply(a, b)


def div18(a: Decimal, b: Decimal) -> Decimal:
    """``a / b`` truncated towards zero to 18 decimal places (``FtPrecise`` division).

    Raises:
        decimal.DivisionByZero: ``b`` is zero (a ``ZeroDivisionError`` subclass).
    """
    quotient = _CTX_DOWN.divide(a, b)
    return quotient.quantize(_Q18, rounding=ROUND_DOWN, context=_CTX_DOWN)


def to_float(value: Decimal) -> float:
    """Round ``value`` once to the nearest ``float``."""
    return float(value)
