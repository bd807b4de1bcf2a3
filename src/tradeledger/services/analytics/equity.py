"""Equity curve from a starting balance, and the maximum drawdown.

Definitions (closed trades of the filter, in order of ``(close_date, id)``):

* ``equity_i = starting_balance + Σ_{j<=i} close_profit_abs_j``; the curve starts at
  ``starting_balance`` before the first trade.
* ``peak_i = max(starting_balance, equity_1..equity_i)``; ``drawdown_abs_i = peak_i - equity_i``;
  ``drawdown_rel_i = drawdown_abs_i / peak_i`` (None when ``peak_i <= 0``).
* Maximum drawdown: the largest ``drawdown_abs``; ``end`` is the close date of the trough
  trade, ``start`` the close date of the trade that set the peak before it (when the peak is
  the starting balance itself: the earliest ``open_date`` of the selected trades);
  ``duration = end - start``. The largest ``drawdown_rel`` is reported with its own dates
  (it can be a different, smaller drawdown from a lower peak).
* Ties: the earliest trough wins.

The drawdown is computed at trade resolution in the database with window functions
(running ``SUM`` and ``MAX`` over ``ORDER BY close_date, id``); only a couple of rows reach
Python. The daily curve (``granularity="day"``) is built from the daily ``GROUP BY`` of
:mod:`~tradeledger.services.analytics.periods` (end-of-day equity, flat days included); the
per-trade curve (``granularity="trade"``) returns one row per closed trade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Float, case, func, literal, select, union_all

from tradeledger.domain.timeutil import to_aware_utc
from tradeledger.exceptions import InvalidValueError
from tradeledger.services.analytics.context import QueryContext
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.periods import daily_rows, fill_buckets
from tradeledger.services.analytics.results import Result

__all__ = ["Drawdown", "EquityCurve", "EquityPoint", "equity_curve", "max_drawdown"]


@dataclass(frozen=True)
class EquityPoint:
    """Equity after a trade (``granularity="trade"``) or at the end of a UTC day."""

    time: datetime | date
    profit_abs: float
    equity: float
    peak: float
    drawdown_abs: float
    drawdown_rel: float | None


@dataclass(frozen=True)
class EquityCurve(Result):
    """The equity curve (oldest first)."""

    starting_balance: float
    granularity: str
    final_equity: float
    rows: tuple[EquityPoint, ...]

    def _row_type(self) -> Any:
        return EquityPoint


@dataclass(frozen=True)
class Drawdown(Result):
    """Maximum drawdown of the trade-by-trade equity curve (see the module docstring)."""

    starting_balance: float
    trade_count: int
    max_drawdown_abs: float
    peak_equity: float | None
    trough_equity: float | None
    start: datetime | None
    end: datetime | None
    duration_seconds: float | None
    max_drawdown_rel: float
    rel_peak_equity: float | None
    rel_trough_equity: float | None
    rel_start: datetime | None
    rel_end: datetime | None


def _check_balance(starting_balance: float) -> float:
    if not isinstance(starting_balance, int | float) or starting_balance < 0:
        raise InvalidValueError(
            f"starting_balance: expected a number >= 0, got {starting_balance!r}"
        )
    return float(starting_balance)


def _peak_rows(points: list[tuple[Any, float]], balance: float) -> list[EquityPoint]:
    out: list[EquityPoint] = []
    equity = balance
    peak = balance
    for when, profit in points:
        equity += profit
        peak = max(peak, equity)
        dd = peak - equity
        out.append(EquityPoint(when, profit, equity, peak, dd, dd / peak if peak > 0 else None))
    return out


def _windowed(ctx: QueryContext, flt: TradeFilter, balance: float) -> Any:
    """SELECT with per-trade cum profit, peak, drawdowns and the last peak date."""
    t = ctx.trades
    order = (t.c.close_date, t.c.id)
    profit = func.coalesce(t.c.close_profit_abs, 0.0)
    s = (
        select(
            t.c.id.label("id"),
            t.c.close_date.label("close_date"),
            func.sum(profit).over(order_by=order, rows=(None, 0)).label("cum"),
        )
        .where(*flt.closed_clauses(t), t.c.close_date.is_not(None))
        .subquery("eq_s")
    )
    o2 = (s.c.close_date, s.c.id)
    m = select(
        s.c.id,
        s.c.close_date,
        s.c.cum,
        func.max(s.c.cum).over(order_by=o2, rows=(None, 0)).label("runmax"),
    ).subquery("eq_m")
    peak = case((m.c.runmax > 0, m.c.runmax), else_=0.0)
    bal = literal(balance, Float)
    p = select(
        m.c.id,
        m.c.close_date,
        m.c.cum,
        peak.label("peak"),
        (peak - m.c.cum).label("dd"),
        ((peak - m.c.cum) / func.nullif(bal + peak, 0.0)).label("dd_rel"),
        func.max(case((m.c.cum >= peak, m.c.close_date), else_=None))
        .over(order_by=(m.c.close_date, m.c.id), rows=(None, 0))
        .label("peak_date"),
    )
    return p


def max_drawdown(
    ctx: QueryContext, starting_balance: float, flt: TradeFilter | None = None
) -> Drawdown:
    """Maximum absolute and relative drawdown of the closed trades matching ``flt``."""
    balance = _check_balance(starting_balance)
    flt = flt or TradeFilter()
    t = ctx.trades
    head = ctx.execute(
        select(func.count(), func.min(t.c.open_date)).where(
            *flt.closed_clauses(t), t.c.close_date.is_not(None)
        )
    ).one()
    count = int(head[0] or 0)
    first_open = head[1]
    if count == 0:
        return Drawdown(balance, 0, 0.0, None, None, None, None, None, 0.0, None, None, None, None)
    p = _windowed(ctx, flt, balance).cte("eq_w")
    cols = (p.c.cum, p.c.peak, p.c.dd, p.c.dd_rel, p.c.close_date, p.c.peak_date)
    by_abs = (
        select(*cols, literal(0).label("kind"))
        .order_by(p.c.dd.desc(), p.c.close_date, p.c.id)
        .limit(1)
    )
    by_rel = (
        select(*cols, literal(1).label("kind"))
        .where(p.c.dd_rel.is_not(None))
        .order_by(p.c.dd_rel.desc(), p.c.close_date, p.c.id)
        .limit(1)
    )
    # one statement: the windowed CTE is computed once for both picks
    picked = {
        row.kind: row
        for row in ctx.execute(
            select(union_all(by_abs.subquery().select(), by_rel.subquery().select()).subquery())
        )
    }
    abs_row, rel_row = picked[0], picked.get(1)

    def dates(row: Any) -> tuple[datetime | None, datetime | None]:
        if float(row.dd) <= 0:
            return None, None
        end = _aware(row.close_date)
        start = _aware(row.peak_date) if row.peak_date is not None else _aware(first_open)
        return start, end

    start, end = dates(abs_row)
    dd_abs = float(abs_row.dd)
    rel: tuple[float, float | None, float | None]
    if rel_row is not None and float(rel_row.dd) > 0:
        rel_start, rel_end = dates(rel_row)
        rel = (float(rel_row.dd_rel), balance + float(rel_row.peak), balance + float(rel_row.cum))
    else:
        rel_start = rel_end = None
        rel = (0.0, None, None)
    return Drawdown(
        starting_balance=balance,
        trade_count=count,
        max_drawdown_abs=dd_abs,
        peak_equity=balance + float(abs_row.peak) if dd_abs > 0 else None,
        trough_equity=balance + float(abs_row.cum) if dd_abs > 0 else None,
        start=start,
        end=end,
        duration_seconds=(end - start).total_seconds() if start and end else None,
        max_drawdown_rel=rel[0],
        rel_peak_equity=rel[1],
        rel_trough_equity=rel[2],
        rel_start=rel_start,
        rel_end=rel_end,
    )


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return to_aware_utc(value)


def equity_curve(
    ctx: QueryContext,
    starting_balance: float,
    flt: TradeFilter | None = None,
    *,
    granularity: Literal["day", "trade"] = "day",
) -> EquityCurve:
    """The equity curve: end-of-day (flat days included) or after every trade."""
    balance = _check_balance(starting_balance)
    flt = flt or TradeFilter()
    if granularity == "day":
        rows = fill_buckets(daily_rows(ctx, flt, "day"), "day", flt)
        points: list[tuple[Any, float]] = [(r.period_start, r.profit_abs) for r in rows]
    elif granularity == "trade":
        t = ctx.trades
        stmt = (
            select(t.c.close_date, func.coalesce(t.c.close_profit_abs, 0.0))
            .where(*flt.closed_clauses(t), t.c.close_date.is_not(None))
            .order_by(t.c.close_date, t.c.id)
        )
        points = [(_aware(d), float(p)) for d, p in ctx.execute(stmt)]
    else:
        raise InvalidValueError(f"granularity: expected 'day' or 'trade', got {granularity!r}")
    out = _peak_rows(points, balance)
    return EquityCurve(
        starting_balance=balance,
        granularity=granularity,
        final_equity=out[-1].equity if out else balance,
        rows=tuple(out),
    )
