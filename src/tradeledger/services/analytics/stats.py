"""Trade statistics: win rate, profit factor, expectancy, averages, durations, best/worst.

Over the closed trades of the filter, with ``p = close_profit_abs`` and
``r = close_profit`` (the trade's profit ratio):

* ``wins`` (p > 0), ``losses`` (p < 0), ``draws`` (p = 0 or unknown);
  ``win_rate = wins / trade_count``.
* ``gross_profit = Σ p⁺``, ``gross_loss = Σ p⁻`` (≤ 0);
  ``profit_factor = gross_profit / |gross_loss|`` (None without losing trades).
* ``avg_win = gross_profit / wins``, ``avg_loss = |gross_loss| / losses`` (positive);
  ``expectancy = win_rate · avg_win - loss_rate · avg_loss = total_profit / trade_count``;
  ``expectancy_ratio = (1 + avg_win / avg_loss) · win_rate - 1`` (None without losses).
* ``avg_profit_ratio = mean(r)``.
* durations ``close_date - open_date`` in seconds (ms resolution): mean and median (the mean
  of the two middle values for an even count).
* best / worst trade: highest / lowest ``close_profit`` ratio (ties: lowest id).

Everything but the two best/worst rows and the median (``ORDER BY … LIMIT``, answered by the
``tl_ix_trades_closed_*`` indexes) is one aggregate query, computed per block of trade ids
(:mod:`~tradeledger.services.analytics.blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Integer, case, cast, func, select

from tradeledger.services.analytics._sql import duration_seconds_expr
from tradeledger.services.analytics.blocks import BlockScope, cached_blocked_rows, mean
from tradeledger.services.analytics.context import QueryContext
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.results import Result

__all__ = ["TradeRef", "TradeStats", "trade_stats"]


@dataclass(frozen=True)
class TradeRef:
    """A single trade picked by a statistic."""

    trade_id: int
    pair: str
    profit_ratio: float | None
    profit_abs: float | None


@dataclass(frozen=True)
class TradeStats(Result):
    """Statistics of closed trades (see the module docstring for every formula)."""

    trade_count: int
    wins: int
    losses: int
    draws: int
    win_rate: float
    total_profit_abs: float
    gross_profit: float
    gross_loss: float
    profit_factor: float | None
    avg_win: float
    avg_loss: float
    expectancy: float
    expectancy_ratio: float | None
    avg_profit_ratio: float
    avg_duration_seconds: float | None
    median_duration_seconds: float | None
    best_trade: TradeRef | None
    worst_trade: TradeRef | None


def _ref(row: Any) -> TradeRef | None:
    if row is None:
        return None
    return TradeRef(
        int(row.id),
        row.pair,
        None if row.close_profit is None else float(row.close_profit),
        None if row.close_profit_abs is None else float(row.close_profit_abs),
    )


class _Totals(NamedTuple):
    n: int
    wins: int | None
    losses: int | None
    total: float | None
    gross_profit: float | None
    gross_loss: float | None
    sum_ratio: float | None
    n_ratio: int
    sum_duration: float | None
    n_duration: int


def trade_stats(ctx: QueryContext, flt: TradeFilter | None = None) -> TradeStats:
    """Statistics of the closed trades matching ``flt``."""
    flt = flt or TradeFilter()
    t = ctx.trades
    where = flt.closed_clauses(t)
    p = t.c.close_profit_abs
    duration = duration_seconds_expr(t.c.close_date, t.c.open_date, ctx.dialect)

    def count_if(cond: Any) -> Any:
        return func.sum(cast(case((cond, 1), else_=0), Integer))

    def build(scope: BlockScope) -> Any:
        # per block: the id range, not the covering index that starts with is_open
        in_scope = [*flt.closed_clauses(t, scan=bool(scope.ranges)), *scope.clauses(t.c.id)]
        return select(
            func.count().label("n"),
            count_if(p > 0).label("wins"),
            count_if(p < 0).label("losses"),
            func.sum(p).label("total"),
            func.sum(case((p > 0, p), else_=0.0)).label("gross_profit"),
            func.sum(case((p < 0, p), else_=0.0)).label("gross_loss"),
            func.sum(t.c.close_profit).label("sum_ratio"),
            func.count(t.c.close_profit).label("n_ratio"),
            func.sum(duration).label("sum_duration"),
            func.count(duration).label("n_duration"),
        ).where(*in_scope)

    merged = cached_blocked_rows(ctx, build, ("count", "sum", "sum", "sum", "sum", "sum", "sum",
                                              "count", "sum", "count"))
    agg = _Totals(*(merged[0] if merged else (0, None, None, None, None, None, None, 0,
                                              None, 0)))
    n = int(agg.n or 0)
    avg_ratio = mean(agg.sum_ratio, agg.n_ratio)
    wins, losses = int(agg.wins or 0), int(agg.losses or 0)
    gross_profit = float(agg.gross_profit or 0.0)
    gross_loss = float(agg.gross_loss or 0.0)
    total = float(agg.total or 0.0)
    avg_win = gross_profit / wins if wins else 0.0
    avg_loss = -gross_loss / losses if losses else 0.0
    win_rate = wins / n if n else 0.0

    median: float | None = None
    n_dur = int(agg.n_duration or 0)
    if n_dur:
        middle = list(
            ctx.execute(
                select(duration.label("d"))
                .where(*where, duration.is_not(None))
                .order_by(duration)
                .limit(2 - n_dur % 2)
                .offset((n_dur - 1) // 2)
            ).scalars()
        )
        median = sum(float(v) for v in middle) / len(middle)

    cols = (t.c.id, t.c.pair, t.c.close_profit, t.c.close_profit_abs)
    best = worst = None
    if n:
        ratio = t.c.close_profit
        best = _ref(
            ctx.execute(
                select(*cols)
                .where(*where, ratio.is_not(None))
                .order_by(ratio.desc(), t.c.id)
                .limit(1)
            ).first()
        )
        worst = _ref(
            ctx.execute(
                select(*cols)
                .where(*where, ratio.is_not(None))
                .order_by(ratio.asc(), t.c.id)
                .limit(1)
            ).first()
        )
    return TradeStats(
        trade_count=n,
        wins=wins,
        losses=losses,
        draws=n - wins - losses,
        win_rate=win_rate,
        total_profit_abs=total,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        profit_factor=gross_profit / -gross_loss if gross_loss else None,
        avg_win=avg_win,
        avg_loss=avg_loss,
        expectancy=total / n if n else 0.0,
        expectancy_ratio=(1 + avg_win / avg_loss) * win_rate - 1 if avg_loss else None,
        avg_profit_ratio=0.0 if avg_ratio is None else avg_ratio,
        avg_duration_seconds=mean(agg.sum_duration, agg.n_duration),
        median_duration_seconds=median,
        best_trade=best,
        worst_trade=worst,
    )
