"""Candle timeframes: parsing and rounding a time to the candle grid.

A timeframe is a positive integer followed by a unit: ``s`` (seconds), ``m`` (minutes),
``h`` (hours), ``d`` (days), ``w`` (weeks), ``M`` (months) or ``y`` (years), e.g. ``"5m"``,
``"4h"``, ``"1w"``, ``"1M"``.

The grid is the one of ccxt's ``round_timeframe`` (which freqtrade's
``timeframe_to_next_date``/``timeframe_to_prev_date`` use):

* ``s``/``m``/``h``/``d``: fixed-length candles counted from the Unix epoch
  (``1970-01-01T00:00Z``), so ``3d`` candles start every third day from the epoch.
* ``w``: calendar weeks starting Monday 00:00 UTC; ``Nw`` candles are counted from Monday
  ``1970-01-05``.
* ``M``: calendar months starting on the 1st, 00:00 UTC; ``NM`` candles are counted from
  month 0 of year 0 (so ``3M`` candles start in January, April, July and October).
* ``y``: calendar years starting on 1 January; ``Ny`` candles start in years divisible by N.

Rounding up (:func:`timeframe_to_next_date`) always returns the start of the candle *after*
the one ``date`` falls in, so a time exactly on a boundary moves one full candle later
(``12:00`` with ``5m`` -> ``12:05``). ccxt works on whole milliseconds; for a grid of whole
seconds that gives the same result as the exact rule "the first boundary strictly after
``date``", which is what is computed here (in exact integer arithmetic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from tradeledger.domain.timeutil import dt_now, to_aware_utc
from tradeledger.exceptions import InvalidLockError

__all__ = [
    "Timeframe",
    "parse_timeframe",
    "timeframe_to_minutes",
    "timeframe_to_next_date",
    "timeframe_to_prev_date",
    "timeframe_to_seconds",
]

_UNIT_SECONDS: dict[str, int] = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "M": 2592000,  # 30 days, ccxt's nominal length (only used by timeframe_to_seconds)
    "y": 31536000,  # 365 days, idem
}
_TIMEFRAME_RE = re.compile(r"([1-9][0-9]*)([smhdwMy])")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A parsed timeframe: ``amount`` candles of ``unit``."""

    amount: int
    unit: str

    @property
    def seconds(self) -> int:
        """Nominal length in seconds (months count 30 days and years 365, as in ccxt)."""
        return self.amount * _UNIT_SECONDS[self.unit]

    @property
    def is_calendar(self) -> bool:
        """Whether candles follow the calendar (weeks, months, years)."""
        return self.unit in ("w", "M", "y")

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def prev_date(self, date: datetime) -> datetime:
        """Return the start of the candle ``date`` falls in (aware UTC)."""
        date = to_aware_utc(date)
        if self.unit == "w":
            days = (date - _EPOCH_MONDAY).days  # floor division of the elapsed time
            weeks = days // 7
            return _EPOCH_MONDAY + timedelta(weeks=(weeks // self.amount) * self.amount)
        if self.unit == "M":
            months = date.year * 12 + date.month - 1
            start = (months // self.amount) * self.amount
            return _month_start(start)
        if self.unit == "y":
            return datetime((date.year // self.amount) * self.amount, 1, 1, tzinfo=UTC)
        step_us = self.seconds * 1_000_000
        elapsed_us = (date - _EPOCH) // _ONE_US
        return _EPOCH + timedelta(microseconds=elapsed_us - elapsed_us % step_us)

    def next_date(self, date: datetime) -> datetime:
        """Return the start of the candle after the one ``date`` falls in (aware UTC).

        A ``date`` exactly on a boundary therefore moves one full candle later.
        """
        start = self.prev_date(date)
        if self.unit == "w":
            return start + timedelta(weeks=self.amount)
        if self.unit == "M":
            return _month_start(start.year * 12 + start.month - 1 + self.amount)
        if self.unit == "y":
            return start.replace(year=start.year + self.amount)
        return start + timedelta(seconds=self.seconds)


def _month_start(months_since_year_zero: int) -> datetime:
    year, month0 = divmod(months_since_year_zero, 12)
    return datetime(year, month0 + 1, 1, tzinfo=UTC)


@lru_cache(maxsize=64)
def _parse(timeframe: str) -> Timeframe:
    match = _TIMEFRAME_RE.fullmatch(timeframe)
    if match is None:
        raise InvalidLockError(
            f"timeframe: invalid value {timeframe!r}; expected a positive whole number "
            "followed by one of s, m, h, d, w, M, y (e.g. '5m', '1h', '1d', '1w', '1M')"
        )
    return Timeframe(int(match.group(1)), match.group(2))


def parse_timeframe(timeframe: str | Timeframe) -> Timeframe:
    """Parse ``timeframe`` (e.g. ``"15m"``).

    Raises:
        InvalidLockError: ``timeframe`` is empty, not a string, or not of the form
            ``<positive int><unit>``. It is a ``ValueError``, as freqtrade's error here.
    """
    if isinstance(timeframe, Timeframe):
        return timeframe
    if not isinstance(timeframe, str):
        raise InvalidLockError(
            f"timeframe: expected a string such as '5m', got {type(timeframe).__name__} "
            f"{timeframe!r}"
        )
    if not timeframe:
        raise InvalidLockError(
            "timeframe: empty; set PairLocks.timeframe (or pass one to "
            "disable_database_use / FtNoDBContext) to a timeframe such as '5m' before "
            "creating locks"
        )
    return _parse(timeframe)


def timeframe_to_seconds(timeframe: str) -> int:
    """Nominal length of ``timeframe`` in seconds (``1M`` = 30 days, ``1y`` = 365 days)."""
    return parse_timeframe(timeframe).seconds


def timeframe_to_minutes(timeframe: str) -> int:
    """Nominal length of ``timeframe`` in whole minutes."""
    return parse_timeframe(timeframe).seconds // 60


def timeframe_to_prev_date(timeframe: str, date: datetime | None = None) -> datetime:
    """Start of the candle ``date`` (default: now) falls in, as aware UTC; naive means UTC."""
    return parse_timeframe(timeframe).prev_date(dt_now() if date is None else date)


def timeframe_to_next_date(timeframe: str, date: datetime | None = None) -> datetime:
    """Start of the next candle after ``date`` (default: now), as aware UTC.

    A ``date`` exactly on a candle boundary moves one full candle later (freqtrade/ccxt
    ``ROUND_UP``). A naive ``date`` is taken as UTC.

    Raises:
        InvalidLockError: the timeframe is empty or invalid.
    """
    return parse_timeframe(timeframe).next_date(dt_now() if date is None else date)
