"""Realised profit per UTC day, ISO week (Monday) or calendar month.

Trades count in the bucket of their ``close_date`` (UTC). The database groups the closed
trades by UTC hour (:func:`~tradeledger.services.analytics._sql.hour_expr`; TimescaleDB's
``time_bucket`` where the extension is installed); days, ISO weeks (Monday) and calendar
months are sums of those hourly rows (UTC hours nest in them), so every granularity reads the
table once through the same indexed expression. With ``fill_gaps`` (default) buckets
without closed trades are added with zeros, from the filter's ``start`` (or the first
trade) to its ``end`` (or the last trade).

Per bucket: ``profit_abs = Σ close_profit_abs``, ``trade_count``, ``wins`` (profit > 0),
``losses`` (profit < 0), ``capital = Σ stake_amount``,
``profit_ratio = profit_abs / capital`` (0.0 without capital), ``gross_profit`` (Σ of the
winning trades' profits) and ``gross_loss`` (Σ of the losing ones, <= 0).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from tradeledger.exceptions import InvalidValueError
from tradeledger.services.analytics._sql import GRANULARITIES, Granularity, hour_expr, to_hour
from tradeledger.services.analytics.blocks import BlockScope, cached_blocked_rows
from tradeledger.services.analytics.context import QueryContext
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.results import Result

__all__ = ["PeriodProfit", "PeriodRow", "bucket_start", "next_bucket", "profit_by_period"]


@dataclass(frozen=True)
class PeriodRow:
    """Realised profit of one bucket."""

    period_start: date
    profit_abs: float
    trade_count: int
    wins: int
    losses: int
    capital: float
    profit_ratio: float
    gross_profit: float = 0.0
    gross_loss: float = 0.0


@dataclass(frozen=True)
class PeriodProfit(Result):
    """Profit per bucket (oldest first)."""

    granularity: str
    rows: tuple[PeriodRow, ...]

    def _row_type(self) -> Any:
        return PeriodRow

    @property
    def total_profit_abs(self) -> float:
        """Σ profit_abs of every bucket."""
        return sum(r.profit_abs for r in self.rows)


def bucket_start(day: date, granularity: str) -> date:
    """First day of the bucket holding ``day`` (Python mirror of the SQL expressions)."""
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(start: date, granularity: str) -> date:
    """First day of the bucket after the one starting at ``start``."""
    if granularity == "day":
        return start + timedelta(days=1)
    if granularity == "week":
        return start + timedelta(days=7)
    days = calendar.monthrange(start.year, start.month)[1]
    return start + timedelta(days=days)


def _range_end_day(end: datetime) -> date:
    """Last day touched by the half-open range ending at ``end``."""
    return (end - timedelta(microseconds=1)).date()


def hourly_rows(
    ctx: QueryContext, flt: TradeFilter, *, detail: bool = True
) -> list[tuple[Any, PeriodRow]]:
    """``(hour bucket, sums)`` of the hours with closed trades matching ``flt`` (SQL ``GROUP BY``).

    The hour bucket is the value the database returned (bind it back to select that hour);
    ``PeriodRow.period_start`` holds the hour's day. Oldest first. ``detail=False`` sums only
    the profit, gains and losses (every aggregate costs time on a large table); the counts
    and the capital are then 0.
    """
    t = ctx.trades
    bucket = hour_expr(t.c.close_date, ctx.dialect, timescale=ctx.timescale).label("bucket")
    profit = func.coalesce(t.c.close_profit_abs, 0.0)
    zero: ColumnElement[Any] = literal_column("0")
    cols = [
        bucket,
        func.sum(profit).label("profit_abs"),
        func.sum(case((profit > 0, profit), else_=0.0)).label("gain"),
        func.sum(case((profit < 0, profit), else_=0.0)).label("loss"),
    ]
    if detail:
        cols += [
            func.count().label("cnt"),
            func.sum(cast(case((profit > 0, 1), else_=0), Integer)).label("wins"),
            func.sum(cast(case((profit < 0, 1), else_=0), Integer)).label("losses"),
            func.sum(func.coalesce(t.c.stake_amount, 0.0)).label("capital"),
        ]
    else:
        cols += [zero.label("cnt"), zero.label("wins"), zero.label("losses"), zero.label("capital")]
    def build(scope: BlockScope) -> Any:
        # per block: the id range, not the covering index that starts with is_open
        where = flt.closed_clauses(t, scan=bool(scope.ranges))
        return select(*cols).where(*where, *scope.clauses(t.c.id)).group_by(bucket)

    rows = cached_blocked_rows(ctx, build, ("key", "sum", "sum", "sum", "count", "sum", "sum",
                                            "sum"))
    out: list[tuple[datetime, Any, PeriodRow]] = []
    for raw, profit_sum, gain, loss, cnt, wins, losses, capital_sum in rows:
        if raw is None:  # a closed trade without close_date: no day to count it in
            continue
        hour = to_hour(raw)
        profit_abs = float(profit_sum or 0.0)
        capital = float(capital_sum or 0.0)
        out.append(
            (
                hour,
                raw,
                PeriodRow(
                    period_start=hour.date(),
                    profit_abs=profit_abs,
                    trade_count=int(cnt or 0),
                    wins=int(wins or 0),
                    losses=int(losses or 0),
                    capital=capital,
                    profit_ratio=profit_abs / capital if capital else 0.0,
                    gross_profit=float(gain or 0.0),
                    gross_loss=float(loss or 0.0),
                ),
            )
        )
    out.sort(key=lambda item: item[0])
    return [(raw, row) for _, raw, row in out]


def merge_rows(rows: list[PeriodRow], granularity: str) -> list[PeriodRow]:
    """Sum rows (ordered by time) into buckets of ``granularity`` (oldest first)."""
    merged: dict[date, list[PeriodRow]] = {}
    for row in rows:
        merged.setdefault(bucket_start(row.period_start, granularity), []).append(row)
    out = []
    for start, group in merged.items():
        profit_abs = sum(r.profit_abs for r in group)
        capital = sum(r.capital for r in group)
        out.append(
            PeriodRow(
                period_start=start,
                profit_abs=profit_abs,
                trade_count=sum(r.trade_count for r in group),
                wins=sum(r.wins for r in group),
                losses=sum(r.losses for r in group),
                capital=capital,
                profit_ratio=profit_abs / capital if capital else 0.0,
                gross_profit=sum(r.gross_profit for r in group),
                gross_loss=sum(r.gross_loss for r in group),
            )
        )
    return out


def daily_rows(
    ctx: QueryContext, flt: TradeFilter, granularity: str, *, detail: bool = True
) -> list[PeriodRow]:
    """Non-empty day / week / month buckets of closed trades matching ``flt``.

    The database groups by UTC hour (:func:`hourly_rows`, covered by the ``tl_`` indexes of
    :mod:`~tradeledger.services.analytics.indexes`); days, weeks and months are sums of
    those rows.
    """
    if granularity not in GRANULARITIES:
        raise InvalidValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    return merge_rows([row for _, row in hourly_rows(ctx, flt, detail=detail)], granularity)


def fill_buckets(rows: list[PeriodRow], granularity: str, flt: TradeFilter) -> list[PeriodRow]:
    """Add zero rows for buckets without trades (range: filter range, else first..last)."""
    by_start = {r.period_start: r for r in rows}
    first: date | None = None
    last: date | None = None
    if flt.date_field == "close_date" and flt.start is not None:
        first = bucket_start(flt.start.date(), granularity)
    if flt.date_field == "close_date" and flt.end is not None:
        last = bucket_start(_range_end_day(flt.end), granularity)
    if rows:
        first = first if first is not None else rows[0].period_start
        last = last if last is not None else rows[-1].period_start
    if first is None or last is None or first > last:
        return rows
    out: list[PeriodRow] = []
    cursor = first
    while cursor <= last:
        out.append(by_start.get(cursor) or PeriodRow(cursor, 0.0, 0, 0, 0, 0.0, 0.0))
        cursor = next_bucket(cursor, granularity)
    return out


def profit_by_period(
    ctx: QueryContext,
    granularity: Granularity = "day",
    flt: TradeFilter | None = None,
    *,
    fill_gaps: bool = True,
) -> PeriodProfit:
    """Realised profit per ``granularity`` bucket of the closed trades matching ``flt``."""
    flt = flt or TradeFilter()
    rows = daily_rows(ctx, flt, granularity)
    if fill_gaps:
        rows = fill_buckets(rows, granularity, flt)
    return PeriodProfit(granularity=granularity, rows=tuple(rows))
