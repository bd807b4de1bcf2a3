"""``AnalyticsService``: every metric family over one place to query.

Usage::

    from tradeledger.services.analytics import AnalyticsService, TradeFilter

    svc = AnalyticsService()                      # Trade.session, or backtesting stores
    svc.profit_by_period("week", TradeFilter(pairs="BTC/USDT"))
    svc.max_drawdown(1000.0)
    svc.risk(1000.0).sharpe

``AnalyticsService(bind)`` runs on a session, connection or engine (e.g. a read replica:
``AnalyticsService(tradeledger.db.get_read_engine())``).
``AnalyticsService.from_trades(trades)`` runs on any list of ``LocalTrade`` objects, and when
``Trade.use_db`` is False the default service reads ``LocalTrade``'s backtesting stores — in
both cases through an in-memory SQLite snapshot, so the SQL (and the answers) are the same
as in database mode.

In database mode every metric's result is cached for the current state of the ``trades``
and ``orders`` tables (:mod:`~tradeledger.services.analytics.cache`, migration ``tl_0005``):
a repeated call costs one point query until any connection writes either table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from tradeledger.services.analytics._sql import Granularity
from tradeledger.services.analytics.cache import cached_call
from tradeledger.services.analytics.context import BacktestSnapshot, QueryContext, default_context
from tradeledger.services.analytics.equity import Drawdown, EquityCurve, equity_curve, max_drawdown
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.leverage import (
    DEFAULT_LEVERAGE_EDGES,
    LeverageReport,
    leverage_performance,
)
from tradeledger.services.analytics.performance import GroupBy, PerformanceReport, performance
from tradeledger.services.analytics.periods import PeriodProfit, profit_by_period
from tradeledger.services.analytics.risk import RiskMetrics, risk_metrics
from tradeledger.services.analytics.stats import TradeStats, trade_stats
from tradeledger.services.analytics.stoploss import StoplossReport, stoploss_efficiency

if TYPE_CHECKING:
    from tradeledger.domain.trade import LocalTrade

__all__ = ["AnalyticsService"]

_R = TypeVar("_R")


class AnalyticsService:
    """Analytics over the database (or a backtesting snapshot).

    Args:
        bind: session, scoped session, connection or engine; default ``Trade.session`` (the
            read replica instead when ``init_db(read_url=...)`` configured one), or a
            snapshot of the backtesting stores when ``Trade.use_db`` is False.
        timescale: force (True/False) the TimescaleDB ``time_bucket`` path; default: detect
            the extension on PostgreSQL.
    """

    def __init__(self, bind: Any = None, *, timescale: bool | None = None) -> None:
        if bind is None:
            from tradeledger.db import get_read_replica
            from tradeledger.models.trade import Trade

            if Trade.use_db:
                bind = get_read_replica()  # None without a replica: Trade.session
        self.context: QueryContext = default_context(bind, timescale=timescale)

    @classmethod
    def from_context(cls, context: QueryContext) -> AnalyticsService:
        """A service on an existing :class:`QueryContext`."""
        svc = cls.__new__(cls)
        svc.context = context
        return svc

    @classmethod
    def from_trades(cls, trades: Iterable[LocalTrade]) -> AnalyticsService:
        """A service on a snapshot of the given trades (backtesting results, tests)."""
        return cls.from_context(BacktestSnapshot(trades).context())

    @property
    def backtesting(self) -> bool:
        """The service reads a backtesting snapshot."""
        return self.context.backtesting

    def _cached(self, key: tuple[Any, ...], compute: Callable[[], _R]) -> _R:
        """``compute()``, or its result cached for the same database state (see ``cache``)."""
        ctx = self.context
        if not ctx.use_cache or ctx.backtesting:
            return compute()
        result: _R = cached_call(ctx.bind, ctx.dialect, (*key, ctx.timescale), compute)
        return result

    def performance(
        self, by: GroupBy = "pair", flt: TradeFilter | None = None
    ) -> PerformanceReport:
        """Performance by pair, enter tag, exit reason or mix tag."""
        return self._cached(("performance", by, flt),
                            lambda: performance(self.context, by, flt))

    def profit_by_period(
        self,
        granularity: Granularity = "day",
        flt: TradeFilter | None = None,
        *,
        fill_gaps: bool = True,
    ) -> PeriodProfit:
        """Realised profit per UTC day, ISO week or month."""
        return self._cached(
            ("profit_by_period", granularity, flt, fill_gaps),
            lambda: profit_by_period(self.context, granularity, flt, fill_gaps=fill_gaps),
        )

    def equity_curve(
        self,
        starting_balance: float,
        flt: TradeFilter | None = None,
        *,
        granularity: Literal["day", "trade"] = "day",
    ) -> EquityCurve:
        """Equity from ``starting_balance``: end of every UTC day, or after every trade."""
        return self._cached(
            ("equity_curve", starting_balance, flt, granularity),
            lambda: equity_curve(self.context, starting_balance, flt, granularity=granularity),
        )

    def max_drawdown(self, starting_balance: float, flt: TradeFilter | None = None) -> Drawdown:
        """Maximum drawdown (absolute, relative, start, end, duration)."""
        return self._cached(("max_drawdown", starting_balance, flt),
                            lambda: max_drawdown(self.context, starting_balance, flt))

    def trade_stats(self, flt: TradeFilter | None = None) -> TradeStats:
        """Win rate, profit factor, expectancy, averages, durations, best/worst trade."""
        return self._cached(("trade_stats", flt), lambda: trade_stats(self.context, flt))

    def risk(
        self,
        starting_balance: float,
        flt: TradeFilter | None = None,
        *,
        risk_free_rate: float = 0.0,
        periods_per_year: int = 365,
    ) -> RiskMetrics:
        """Sharpe, Sortino and Calmar ratios from the daily series."""
        return self._cached(
            ("risk", starting_balance, flt, risk_free_rate, periods_per_year),
            lambda: risk_metrics(
                self.context,
                starting_balance,
                flt,
                risk_free_rate=risk_free_rate,
                periods_per_year=periods_per_year,
            ),
        )

    def leverage(
        self, flt: TradeFilter | None = None, *, edges: Sequence[float] = DEFAULT_LEVERAGE_EDGES
    ) -> LeverageReport:
        """Performance and liquidation proximity by leverage bucket and side."""
        return self._cached(
            ("leverage", flt, tuple(edges)),
            lambda: leverage_performance(self.context, flt, edges=edges),
        )

    def stoploss(self, flt: TradeFilter | None = None) -> StoplossReport:
        """Stop-loss exits, slippage, MAE/MFE and trailing lock-in."""
        return self._cached(("stoploss", flt), lambda: stoploss_efficiency(self.context, flt))

    def warm(self) -> dict[str, float]:
        """Compute every unfiltered metric once; the seconds each took, by name.

        For an operator, after a bulk import or the migration of a large database: the
        per-block partial results are then kept in this process and, on SQLite files and
        PostgreSQL, stored in the database for every later process
        (:mod:`~tradeledger.services.analytics.partials`), so that no process pays the
        computation over every trade again. Filtered metrics are stored on their first use.
        """
        from tradeledger.services.analytics import performance as perf

        bind = self.context.bind
        steps: dict[str, Callable[[], object]] = {
            "performance(pair)": lambda: self.performance("pair"),
            "performance(enter_tag)": lambda: self.performance("enter_tag"),
            "performance(exit_reason)": lambda: self.performance("exit_reason"),
            "performance(mix_tag)": lambda: self.performance("mix_tag"),
        }
        steps.update({
            "profit_by_period": lambda: self.profit_by_period("day"),
            "max_drawdown": lambda: self.max_drawdown(1.0),
            "trade_stats": self.trade_stats,
            "leverage": self.leverage,
            "stoploss": self.stoploss,
        })
        if not self.backtesting:  # the freqtrade-shaped queries have statements of their own
            steps.update({
                "get_overall_performance": lambda: perf.get_overall_performance(bind=bind),
                "get_enter_tag_performance": lambda: perf.get_enter_tag_performance(
                    None, bind=bind),
                "get_exit_reason_performance": lambda: perf.get_exit_reason_performance(
                    None, bind=bind),
                "get_mix_tag_performance": lambda: perf.get_mix_tag_performance(None, bind=bind),
                "get_trading_volume": lambda: perf.get_trading_volume(bind=bind),
            })
        seconds: dict[str, float] = {}
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            seconds[name] = time.perf_counter() - started
        return seconds
