"""Stop-loss efficiency: how often stops end trades, their slippage, MAE/MFE and trailing.

Over the closed trades of the filter; ``dir`` is +1 for long and -1 for short trades;
``stop_loss`` is the trade's last stop price, ``initial_stop_loss`` its first one.

* Stop exits: ``exit_reason`` in ``stop_loss``, ``stoploss_on_exchange``,
  ``trailing_stop_loss`` (``liquidation`` is counted apart); ``stop_exit_share`` = stop exits /
  closed trades; ``exits_by_reason`` gives each stop reason's count.
* Slippage of a stop exit with a stop price and a close rate:
  ``slippage_ratio = dir · (close_rate - stop_loss) / stop_loss`` (negative: filled worse
  than the stop) and ``slippage_abs = dir · (close_rate - stop_loss) · amount`` in stake
  currency; mean and worst (minimum) ratio, Σ of the absolute amounts.
* Excursions from ``min_rate`` / ``max_rate`` relative to ``open_rate`` (price moves, not
  leveraged): ``MAE`` long ``(min_rate - open_rate) / open_rate``, short
  ``(open_rate - max_rate) / open_rate`` (≤ 0); ``MFE`` long ``(max_rate - open_rate) /
  open_rate``, short ``(open_rate - min_rate) / open_rate`` (≥ 0); mean, worst MAE and best
  MFE over trades where the rate is known.
* Trailing: trades whose stop moved (``is_stop_loss_trailing`` or ``stop_loss`` ≠
  ``initial_stop_loss``, both > 0): ``lock_in_ratio = dir · (stop_loss - initial_stop_loss) /
  open_rate`` (mean), ``lock_in_abs = dir · (stop_loss - initial_stop_loss) · amount`` (Σ), and
  how many ended with the stop beyond the entry (``dir · (stop_loss - open_rate) > 0``: a
  locked-in profit). For exits by ``trailing_stop_loss``:
  ``Σ dir · (close_rate - initial_stop_loss) · amount`` = what the trailing stop earned
  versus an exit at the initial stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Integer, and_, case, cast, func, or_, select

from tradeledger.services.analytics._sql import side_sign
from tradeledger.services.analytics.blocks import BlockScope, Kind, cached_blocked_rows, mean
from tradeledger.services.analytics.context import QueryContext
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.results import Result

__all__ = ["STOP_EXIT_REASONS", "StoplossReport", "stoploss_efficiency"]

STOP_EXIT_REASONS: tuple[str, ...] = ("stop_loss", "stoploss_on_exchange", "trailing_stop_loss")


@dataclass(frozen=True)
class StoplossReport(Result):
    """Stop-loss efficiency of closed trades (see the module docstring)."""

    trade_count: int
    stop_exits: int
    stop_exit_share: float
    liquidations: int
    exits_by_reason: dict[str, int]
    slippage_count: int
    avg_slippage_ratio: float | None
    worst_slippage_ratio: float | None
    total_slippage_abs: float
    excursion_count: int
    avg_mae: float | None
    worst_mae: float | None
    avg_mfe: float | None
    best_mfe: float | None
    trailing_count: int
    avg_lock_in_ratio: float | None
    total_lock_in_abs: float
    locked_profit_count: int
    trailing_exits: int
    trailing_exit_gain_abs: float


class _Totals(NamedTuple):
    n: int
    stops: int | None
    liqs: int | None
    n_slip: int | None
    sum_slip_ratio: float | None
    worst_slip: float | None
    sum_slip: float | None
    n_mae: int | None
    sum_mae: float | None
    worst_mae: float | None
    n_mfe: int | None
    sum_mfe: float | None
    best_mfe: float | None
    n_lock: int | None
    sum_lock_ratio: float | None
    sum_lock: float | None
    locked: int | None
    n_trail_exit: int | None
    trail_gain: float | None


def stoploss_efficiency(ctx: QueryContext, flt: TradeFilter | None = None) -> StoplossReport:
    """Stop-loss statistics of the closed trades matching ``flt``."""
    flt = flt or TradeFilter()
    t = ctx.trades.c
    where = flt.closed_clauses(ctx.trades, scan=True)
    d = side_sign(t.is_short)
    is_stop = t.exit_reason.in_(STOP_EXIT_REASONS)
    slip_ok = and_(is_stop, t.stop_loss > 0, t.close_rate.is_not(None))
    slip_ratio = case((slip_ok, d * (t.close_rate - t.stop_loss) / t.stop_loss), else_=None)
    slip_abs = case(
        (slip_ok, d * (t.close_rate - t.stop_loss) * func.coalesce(t.amount, 0.0)), else_=None
    )
    has_open = t.open_rate > 0
    mae = case(
        (
            has_open & t.is_short.is_(True) & (t.max_rate > 0),
            (t.open_rate - t.max_rate) / t.open_rate,
        ),
        (
            has_open & t.is_short.is_not(True) & (t.min_rate > 0),
            (t.min_rate - t.open_rate) / t.open_rate,
        ),
        else_=None,
    )
    mfe = case(
        (
            has_open & t.is_short.is_(True) & (t.min_rate > 0),
            (t.open_rate - t.min_rate) / t.open_rate,
        ),
        (
            has_open & t.is_short.is_not(True) & (t.max_rate > 0),
            (t.max_rate - t.open_rate) / t.open_rate,
        ),
        else_=None,
    )
    moved = and_(
        t.stop_loss > 0,
        t.initial_stop_loss > 0,
        has_open,
        or_(t.is_stop_loss_trailing.is_(True), t.stop_loss != t.initial_stop_loss),
    )
    lock_ratio = case((moved, d * (t.stop_loss - t.initial_stop_loss) / t.open_rate), else_=None)
    lock_abs = case(
        (moved, d * (t.stop_loss - t.initial_stop_loss) * func.coalesce(t.amount, 0.0)),
        else_=None,
    )
    trailing_exit = and_(
        t.exit_reason == "trailing_stop_loss",
        t.initial_stop_loss > 0,
        t.close_rate.is_not(None),
    )
    trail_gain = case(
        (trailing_exit, d * (t.close_rate - t.initial_stop_loss) * func.coalesce(t.amount, 0.0)),
        else_=None,
    )

    def count_if(cond: Any) -> Any:
        return func.sum(cast(case((cond, 1), else_=0), Integer))

    def build(scope: BlockScope) -> Any:
        return select(
            func.count().label("n"),
            count_if(is_stop).label("stops"),
            count_if(t.exit_reason == "liquidation").label("liqs"),
            func.count(slip_ratio).label("n_slip"),
            func.sum(slip_ratio).label("sum_slip_ratio"),
            func.min(slip_ratio).label("worst_slip"),
            func.sum(slip_abs).label("sum_slip"),
            func.count(mae).label("n_mae"),
            func.sum(mae).label("sum_mae"),
            func.min(mae).label("worst_mae"),
            func.count(mfe).label("n_mfe"),
            func.sum(mfe).label("sum_mfe"),
            func.max(mfe).label("best_mfe"),
            func.count(lock_ratio).label("n_lock"),
            func.sum(lock_ratio).label("sum_lock_ratio"),
            func.sum(lock_abs).label("sum_lock"),
            count_if(and_(moved, d * (t.stop_loss - t.open_rate) > 0)).label("locked"),
            count_if(trailing_exit).label("n_trail_exit"),
            func.sum(trail_gain).label("trail_gain"),
        ).where(*where, *scope.clauses(t.id))

    kinds: tuple[Kind, ...] = ("count", "sum", "sum", "count", "sum", "min", "sum", "count",
                               "sum", "min", "count", "sum", "max", "count", "sum", "sum",
                               "sum", "sum", "sum")
    merged = cached_blocked_rows(ctx, build, kinds)
    r = _Totals(*(merged[0] if merged else (0,) * len(kinds)))

    def build_reasons(scope: BlockScope) -> Any:
        return (
            select(t.exit_reason, func.count())
            .where(*where, is_stop, *scope.clauses(t.id))
            .group_by(t.exit_reason)
        )

    by_reason = {
        reason: int(cnt)
        for reason, cnt in sorted(cached_blocked_rows(ctx, build_reasons, ("key", "count")))
    }

    def opt(v: Any) -> float | None:
        return None if v is None else float(v)

    n = int(r.n or 0)
    stops = int(r.stops or 0)
    return StoplossReport(
        trade_count=n,
        stop_exits=stops,
        stop_exit_share=stops / n if n else 0.0,
        liquidations=int(r.liqs or 0),
        exits_by_reason=by_reason,
        slippage_count=int(r.n_slip or 0),
        avg_slippage_ratio=mean(r.sum_slip_ratio, r.n_slip),
        worst_slippage_ratio=opt(r.worst_slip),
        total_slippage_abs=float(r.sum_slip or 0.0),
        excursion_count=int(r.n_mae or 0),
        avg_mae=mean(r.sum_mae, r.n_mae),
        worst_mae=opt(r.worst_mae),
        avg_mfe=mean(r.sum_mfe, r.n_mfe),
        best_mfe=opt(r.best_mfe),
        trailing_count=int(r.n_lock or 0),
        avg_lock_in_ratio=mean(r.sum_lock_ratio, r.n_lock),
        total_lock_in_abs=float(r.sum_lock or 0.0),
        locked_profit_count=int(r.locked or 0),
        trailing_exits=int(r.n_trail_exit or 0),
        trailing_exit_gain_abs=float(r.trail_gain or 0.0),
    )
