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
from tradeledger.services.analytics._sql import hour_expr, to_hour
from tradeledger.services.analytics.blocks import BlockScope, cached_blocked_rows
from tradeledger.services.analytics.context import QueryContext
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.periods import daily_rows, fill_buckets, hourly_rows
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


@dataclass(frozen=True)
class _Pick:
    dd: float
    rel: float | None
    peak: float
    trough: float
    end: Any
    peak_date: Any


def max_drawdown(
    ctx: QueryContext,
    starting_balance: float,
    flt: TradeFilter | None = None,
    *,
    method: Literal["buckets", "window"] = "buckets",
) -> Drawdown:
    """Maximum absolute and relative drawdown of the closed trades matching ``flt``.

    ``method="buckets"`` (default): the database sums each UTC hour (total, gains, losses);
    from those sums, bounds on every hour's lowest and highest equity show which few hours
    can hold the maximum drawdown (or its peak), and only the trades of those hours are read,
    in order, to find the exact trade-level values. ``method="window"``: running ``SUM`` /
    ``MAX`` window functions over every trade (simpler SQL, slower on large tables). Both
    give the same answer (``tests/test_analytics_generated.py``).
    """
    balance = _check_balance(starting_balance)
    flt = flt or TradeFilter()
    t = ctx.trades

    def build_head(scope: BlockScope) -> Any:
        return select(func.count(), func.min(t.c.open_date)).where(
            *flt.closed_clauses(t, scan=bool(scope.ranges)), t.c.close_date.is_not(None),
            *scope.clauses(t.c.id),
        )

    head = cached_blocked_rows(ctx, build_head, ("count", "min"))
    count = int(head[0][0] or 0) if head else 0
    first_open = head[0][1] if head else None
    if count == 0:
        return Drawdown(balance, 0, 0.0, None, None, None, None, None, 0.0, None, None, None, None)
    if method == "window":
        abs_pick, rel_pick = _picks_window(ctx, flt, balance)
    elif method == "buckets":
        abs_pick, rel_pick = _picks_days(ctx, flt, balance)
    else:
        raise InvalidValueError(f"method: expected 'buckets' or 'window', got {method!r}")

    def dates(pick: _Pick) -> tuple[datetime | None, datetime | None]:
        end = _aware(pick.end)
        start = _aware(pick.peak_date) if pick.peak_date is not None else _aware(first_open)
        return start, end

    start = end = rel_start = rel_end = None
    if abs_pick is not None and abs_pick.dd > 0:
        start, end = dates(abs_pick)
    else:
        abs_pick = None
    if rel_pick is not None and rel_pick.dd > 0 and rel_pick.rel is not None:
        rel_start, rel_end = dates(rel_pick)
    else:
        rel_pick = None
    return Drawdown(
        starting_balance=balance,
        trade_count=count,
        max_drawdown_abs=abs_pick.dd if abs_pick else 0.0,
        peak_equity=abs_pick.peak if abs_pick else None,
        trough_equity=abs_pick.trough if abs_pick else None,
        start=start,
        end=end,
        duration_seconds=(end - start).total_seconds() if start and end else None,
        max_drawdown_rel=rel_pick.rel if rel_pick and rel_pick.rel is not None else 0.0,
        rel_peak_equity=rel_pick.peak if rel_pick else None,
        rel_trough_equity=rel_pick.trough if rel_pick else None,
        rel_start=rel_start,
        rel_end=rel_end,
    )


def _picks_window(
    ctx: QueryContext, flt: TradeFilter, balance: float
) -> tuple[_Pick | None, _Pick | None]:
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
        row.kind: _Pick(
            float(row.dd),
            None if row.dd_rel is None else float(row.dd_rel),
            balance + float(row.peak),
            balance + float(row.cum),
            row.close_date,
            row.peak_date,
        )
        for row in ctx.execute(
            select(union_all(by_abs.subquery().select(), by_rel.subquery().select()).subquery())
        )
    }
    return picked.get(0), picked.get(1)


def _hour_key(value: Any) -> Any:
    return to_hour(value)


def _rel(peak: float, equity: float) -> float | None:
    return (peak - equity) / peak if peak > 0 else None


def _picks_days(
    ctx: QueryContext, flt: TradeFilter, balance: float
) -> tuple[_Pick | None, _Pick | None]:
    """Exact picks from hourly sums plus the trades of the hours that can matter.

    Below, a "day" ``d`` is one hour with trades. Within it every equity lies in
    ``[S_d + N_d, S_d + P_d]`` (``S_d`` the equity before it, ``P_d``/``N_d`` the sums of its
    gains/losses). The running peak before ``d`` is at least ``lo_d`` (the highest equity at
    the end of an earlier hour, or the balance) and at most ``hi_d``. Hour-end drawdowns are
    real drawdowns (a lower bound ``LB``); an hour whose upper bound is below ``LB`` cannot
    hold the maximum, and an hour whose highest possible equity is below ``lo_q`` cannot hold
    the peak of a trough in hour ``q``.
    """
    hours = hourly_rows(ctx, flt, detail=False)
    days = [row for _, row in hours]  # one row per hour with trades ("days" below)
    n = len(days)
    start_eq: list[float] = []
    equity = balance
    for d in days:
        start_eq.append(equity)
        equity += d.profit_abs
    lo: list[float] = []
    hi: list[float] = []
    run_lo = run_hi = balance
    lb_abs = 0.0
    lb_rel = 0.0
    for i, d in enumerate(days):
        lo.append(run_lo)
        hi.append(run_hi)
        end = start_eq[i] + d.profit_abs
        lb_abs = max(lb_abs, run_lo - end)
        if end <= 0 < run_lo:
            lb_rel = max(lb_rel, 1.0)
        elif run_lo > 0:
            lb_rel = max(lb_rel, (run_lo - end) / run_lo)
        run_lo = max(run_lo, end)
        run_hi = max(run_hi, start_eq[i] + d.gross_profit)
    candidates: set[int] = set()
    for i, d in enumerate(days):
        low = start_eq[i] + d.gross_loss
        peak_max = max(hi[i], start_eq[i] + d.gross_profit)
        ub_abs = peak_max - low
        if ub_abs > 0 and ub_abs >= lb_abs:
            candidates.add(i)
            continue
        denominator = lo[i] if low <= 0 else peak_max
        ub_rel = float("inf") if denominator <= 0 else 1 - low / denominator
        if ub_rel > 0 and ub_rel >= lb_rel:
            candidates.add(i)
    relevant = set(candidates)
    for q in sorted(candidates):
        for e in range(q):
            if e not in relevant and start_eq[e] + days[e].gross_profit >= lo[q]:
                relevant.add(e)
    trades_by_hour: dict[int, list[tuple[Any, float]]] = {}
    if relevant:
        t = ctx.trades
        hour = hour_expr(t.c.close_date, ctx.dialect, timescale=ctx.timescale)
        index_of = {_hour_key(hours[i][0]): i for i in relevant}
        wanted = [hours[i][0] for i in sorted(relevant)]
        for chunk_start in range(0, len(wanted), 500):
            chunk = wanted[chunk_start : chunk_start + 500]
            stmt = (
                select(hour.label("hour"), t.c.close_date, t.c.close_profit_abs)
                .where(*flt.closed_clauses(t), hour.in_(chunk))
                .order_by(t.c.close_date, t.c.id)
            )
            for row in ctx.execute(stmt):
                trades_by_hour.setdefault(index_of[_hour_key(row.hour)], []).append(
                    (row.close_date, float(row.close_profit_abs or 0.0))
                )
    peak = balance
    peak_date: Any = None
    best_abs: _Pick | None = None
    best_rel: _Pick | None = None
    equity = balance
    for i in range(n):
        if i not in relevant:
            equity = start_eq[i] + days[i].profit_abs
            if equity >= peak:  # cannot be the peak of a candidate trough (see above)
                peak = equity
            continue
        check = i in candidates
        for when, profit in trades_by_hour.get(i, []):
            equity += profit
            if equity >= peak:
                peak, peak_date = equity, when
            elif check:
                dd = peak - equity
                rel = _rel(peak, equity)
                if best_abs is None or dd > best_abs.dd:
                    best_abs = _Pick(dd, rel, peak, equity, when, peak_date)
                if rel is not None and (
                    best_rel is None or best_rel.rel is None or rel > best_rel.rel
                ):
                    best_rel = _Pick(dd, rel, peak, equity, when, peak_date)
    return best_abs, best_rel


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
        rows = fill_buckets(daily_rows(ctx, flt, "day", detail=False), "day", flt)
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
