"""Trade filters of the analytics service.

A :class:`TradeFilter` selects trades by pair(s), strategy, enter tag, exit reason, side,
trading mode, a date range and status (closed / open / all). It becomes SQL ``WHERE``
clauses on the ``trades`` table (:meth:`TradeFilter.clauses`). Every field left at ``None``
does not filter. The date range is half open, ``start <= date < end``, on ``close_date``
(default) or ``open_date``; naive datetimes are taken as UTC.

Metrics built on realised profit (periods, equity, risk, stats, leverage, stop-loss) look at
closed trades; ``status="open"`` therefore gives empty results for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Table, false, true
from sqlalchemy.sql.elements import ColumnElement

from tradeledger.domain.enums import TradingMode
from tradeledger.domain.timeutil import to_aware_utc
from tradeledger.exceptions import InvalidValueError
from tradeledger.services.analytics._sql import closed_scan

__all__ = ["DateField", "Side", "Status", "TradeFilter"]

Side = Literal["long", "short"]
Status = Literal["closed", "open", "all"]
DateField = Literal["close_date", "open_date"]


def _trading_mode(value: TradingMode | str) -> TradingMode:
    if isinstance(value, TradingMode):
        return value
    for mode in TradingMode:
        if value in (mode.value, mode.name) or value.lower() == str(mode.value).lower():
            return mode
    raise InvalidValueError(f"trading_mode: unknown trading mode {value!r}")


@dataclass(frozen=True)
class TradeFilter:
    """Which trades an analytics query looks at.

    Attributes:
        pairs: one pair or several (a string is taken as one pair).
        strategy: strategy name.
        enter_tag: exact enter tag.
        exit_reason: exact exit reason.
        side: ``"long"`` or ``"short"``.
        trading_mode: ``TradingMode`` or its name/value (``"futures"``).
        start: first datetime included (UTC).
        end: first datetime excluded (UTC).
        date_field: ``"close_date"`` (default) or ``"open_date"`` for the date range.
        status: ``"closed"`` (default), ``"open"`` or ``"all"``.

    Raises:
        InvalidValueError: a field has an unusable value (the message names it).
    """

    pairs: tuple[str, ...] | str | None = None
    strategy: str | None = None
    enter_tag: str | None = None
    exit_reason: str | None = None
    side: Side | None = None
    trading_mode: TradingMode | str | None = None
    start: datetime | None = None
    end: datetime | None = None
    date_field: DateField = "close_date"
    status: Status = "closed"

    def __post_init__(self) -> None:
        pairs = self.pairs
        if isinstance(pairs, str):
            object.__setattr__(self, "pairs", (pairs,))
        elif pairs is not None:
            if not isinstance(pairs, Sequence) or not all(isinstance(p, str) for p in pairs):
                raise InvalidValueError(f"pairs: expected a pair or a list of pairs, got {pairs!r}")
            object.__setattr__(self, "pairs", tuple(pairs))
        if self.side not in (None, "long", "short"):
            raise InvalidValueError(f"side: expected 'long' or 'short', got {self.side!r}")
        if self.status not in ("closed", "open", "all"):
            raise InvalidValueError(
                f"status: expected 'closed', 'open' or 'all', got {self.status!r}"
            )
        if self.date_field not in ("close_date", "open_date"):
            raise InvalidValueError(
                f"date_field: expected 'close_date' or 'open_date', got {self.date_field!r}"
            )
        if self.trading_mode is not None:
            object.__setattr__(self, "trading_mode", _trading_mode(self.trading_mode))
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, datetime):
                    raise InvalidValueError(f"{name}: expected a datetime, got {value!r}")
                object.__setattr__(self, name, to_aware_utc(value))
        if self.start is not None and self.end is not None and self.start > self.end:
            raise InvalidValueError(f"start ({self.start}) is after end ({self.end})")

    def replace(self, **changes: Any) -> TradeFilter:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def closed_clauses(self, trades: Table, *, scan: bool = False) -> list[ColumnElement[bool]]:
        """:meth:`clauses` restricted to closed trades (``status="open"`` selects nothing)."""
        out = self.clauses(trades, scan=scan)
        if self.status != "closed":
            out.append(closed_scan(trades.c.is_open) if scan else trades.c.is_open == false())
        return out

    def clauses(self, trades: Table, *, scan: bool = False) -> list[ColumnElement[bool]]:
        """SQL conditions on the ``trades`` table.

        ``scan``: the statement reads most closed trades row by row (not from an index that
        starts with ``is_open``), so SQLite is told to scan the table (see
        :func:`~tradeledger.services.analytics._sql.closed_scan`).
        """
        c = trades.c
        out: list[ColumnElement[bool]] = []
        if self.pairs is not None:
            pairs = tuple(self.pairs)
            out.append(c.pair == pairs[0] if len(pairs) == 1 else c.pair.in_(pairs))
        if self.strategy is not None:
            out.append(c.strategy == self.strategy)
        if self.enter_tag is not None:
            out.append(c.enter_tag == self.enter_tag)
        if self.exit_reason is not None:
            out.append(c.exit_reason == self.exit_reason)
        if self.side == "long":
            out.append(c.is_short.is_not(True))
        elif self.side == "short":
            out.append(c.is_short.is_(True))
        if self.trading_mode is not None:
            out.append(c.trading_mode == self.trading_mode)
        date_col = c[self.date_field]
        if self.start is not None:
            out.append(date_col >= self.start)
        if self.end is not None:
            out.append(date_col < self.end)
        if self.status == "closed":
            out.append(closed_scan(c.is_open) if scan else c.is_open == false())
        elif self.status == "open":
            out.append(c.is_open == true())
        return out
