"""Leverage performance: profit, ratios, win rate and liquidation proximity by bucket and side.

Closed trades of the filter are grouped by leverage bucket and side (``long``/``short``).
Buckets come from ascending ``edges`` (default ``1, 2, 3, 5, 10, 20, 50``): bucket 0 is
``leverage <= edges[0]``, bucket ``i`` is ``edges[i-1] < leverage <= edges[i]``, the last is
``leverage > edges[-1]``; labels ``"<=1x"``, ``"1-2x"``, …, ``">50x"``. A missing leverage
counts as 1.

Per group (one SQL ``GROUP BY``):

* ``trade_count``, ``wins`` (profit > 0), ``win_rate``; ``profit_abs = Σ close_profit_abs``;
  ``capital = Σ stake_amount`` (the margin put up); ``profit_ratio = profit_abs / capital``;
  ``avg_profit_ratio = mean(close_profit)`` (per-trade ratios, already leveraged).
* liquidation proximity, over trades with a ``liquidation_price > 0``
  (``with_liquidation_price`` of them), where ``L`` is the liquidation price:
  ``entry_distance = |open_rate - L| / open_rate`` (room at entry; mean and minimum) and
  ``closest_distance`` = room left at the worst price reached, long
  ``(min_rate - L) / min_rate``, short ``(L - max_rate) / max_rate`` (``min_rate`` /
  ``max_rate`` default to ``open_rate``; mean and minimum, negative = went through ``L``).
* ``liquidations``: trades whose ``exit_reason`` is ``"liquidation"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, case, cast, func, literal_column, select

from tradeledger.exceptions import InvalidValueError
from tradeledger.services.analytics.blocks import BlockScope, cached_blocked_rows, mean
from tradeledger.services.analytics.context import QueryContext
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.results import Result

__all__ = ["DEFAULT_LEVERAGE_EDGES", "LeverageReport", "LeverageRow", "leverage_performance"]

DEFAULT_LEVERAGE_EDGES: tuple[float, ...] = (1, 2, 3, 5, 10, 20, 50)


@dataclass(frozen=True)
class LeverageRow:
    """One leverage bucket and side."""

    bucket: str
    min_leverage: float | None
    max_leverage: float | None
    side: str
    trade_count: int
    wins: int
    win_rate: float
    profit_abs: float
    capital: float
    profit_ratio: float
    avg_profit_ratio: float
    liquidations: int
    with_liquidation_price: int
    avg_entry_distance: float | None
    min_entry_distance: float | None
    avg_closest_distance: float | None
    min_closest_distance: float | None


@dataclass(frozen=True)
class LeverageReport(Result):
    """Rows by bucket (ascending leverage), long before short."""

    edges: tuple[float, ...]
    rows: tuple[LeverageRow, ...]

    def _row_type(self) -> Any:
        return LeverageRow


def _fmt(x: float) -> str:
    return f"{x:g}"


def bucket_labels(edges: Sequence[float]) -> list[tuple[str, float | None, float | None]]:
    """``(label, lower bound exclusive, upper bound inclusive)`` of every bucket."""
    out: list[tuple[str, float | None, float | None]] = [(f"<={_fmt(edges[0])}x", None, edges[0])]
    for lo, hi in itertools.pairwise(edges):
        out.append((f"{_fmt(lo)}-{_fmt(hi)}x", lo, hi))
    out.append((f">{_fmt(edges[-1])}x", edges[-1], None))
    return out


def leverage_performance(
    ctx: QueryContext,
    flt: TradeFilter | None = None,
    *,
    edges: Sequence[float] = DEFAULT_LEVERAGE_EDGES,
) -> LeverageReport:
    """Performance by leverage bucket and side of the closed trades matching ``flt``."""
    edges = tuple(float(e) for e in edges)
    if not edges or any(b <= a for a, b in itertools.pairwise(edges)):
        raise InvalidValueError(f"edges: expected a non-empty ascending sequence, got {edges!r}")
    flt = flt or TradeFilter()
    t = ctx.trades.c
    lev = func.coalesce(t.leverage, 1.0)
    bucket = case(
        *[(lev <= literal_column(repr(e)), i) for i, e in enumerate(edges)], else_=len(edges)
    ).label("bucket")
    short = case((t.is_short.is_(True), 1), else_=0).label("short")
    p = t.close_profit_abs
    liq = t.liquidation_price
    has_liq = liq > 0
    entry_dist = case(
        (has_liq, func.abs(t.open_rate - liq) / func.nullif(t.open_rate, 0)), else_=None
    )
    low = func.coalesce(func.nullif(t.min_rate, 0), t.open_rate)
    high = func.coalesce(func.nullif(t.max_rate, 0), t.open_rate)
    closest = case(
        (has_liq & (t.is_short.is_(True)), (liq - high) / func.nullif(high, 0)),
        (has_liq, (low - liq) / func.nullif(low, 0)),
        else_=None,
    )

    def count_if(cond: Any) -> Any:
        return func.sum(cast(case((cond, 1), else_=0), Integer))

    where = flt.closed_clauses(ctx.trades, scan=True)

    def build(scope: BlockScope) -> Any:
        return (
            select(
                bucket,
                short,
                func.count().label("n"),
                count_if(p > 0).label("wins"),
                func.sum(p).label("profit_abs"),
                func.sum(func.coalesce(t.stake_amount, 0.0)).label("capital"),
                func.sum(t.close_profit).label("sum_ratio"),
                func.count(t.close_profit).label("n_ratio"),
                count_if(t.exit_reason == "liquidation").label("liquidations"),
                count_if(has_liq).label("n_liq"),
                func.sum(entry_dist).label("sum_entry"),
                func.count(entry_dist).label("n_entry"),
                func.min(entry_dist).label("min_entry"),
                func.sum(closest).label("sum_closest"),
                func.count(closest).label("n_closest"),
                func.min(closest).label("min_closest"),
            )
            .where(*where, *scope.clauses(t.id))
            .group_by(bucket, short)
        )

    merged = cached_blocked_rows(
        ctx, build,
        ("key", "key", "count", "sum", "sum", "sum", "sum", "count", "sum", "sum",
         "sum", "count", "min", "sum", "count", "min"),
    )
    merged.sort(key=lambda r: (int(r[0]), int(r[1])))
    labels = bucket_labels(edges)
    rows: list[LeverageRow] = []

    def opt(v: Any) -> float | None:
        return None if v is None else float(v)

    for (b, is_short, n, wins_sum, profit_sum, capital_sum, sum_ratio, n_ratio, liqs, n_liq,
         sum_entry, n_entry, min_entry, sum_closest, n_closest, min_closest) in merged:
        label, lo, hi = labels[int(b)]
        n = int(n)
        wins = int(wins_sum or 0)
        profit = float(profit_sum or 0.0)
        capital = float(capital_sum or 0.0)
        rows.append(
            LeverageRow(
                bucket=label,
                min_leverage=lo,
                max_leverage=hi,
                side="short" if int(is_short) else "long",
                trade_count=n,
                wins=wins,
                win_rate=wins / n if n else 0.0,
                profit_abs=profit,
                capital=capital,
                profit_ratio=profit / capital if capital else 0.0,
                avg_profit_ratio=mean(sum_ratio, n_ratio) or 0.0,
                liquidations=int(liqs or 0),
                with_liquidation_price=int(n_liq or 0),
                avg_entry_distance=mean(sum_entry, n_entry),
                min_entry_distance=opt(min_entry),
                avg_closest_distance=mean(sum_closest, n_closest),
                min_closest_distance=opt(min_closest),
            )
        )
    return LeverageReport(edges=edges, rows=tuple(rows))
