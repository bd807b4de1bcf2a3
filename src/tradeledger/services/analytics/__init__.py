"""Performance analytics computed in the database (and on backtesting snapshots).

One module per family: :mod:`.performance` (freqtrade's performance queries),
:mod:`.periods`, :mod:`.equity`, :mod:`.stats`, :mod:`.risk`, :mod:`.leverage`,
:mod:`.stoploss`; :mod:`.filters` selects trades; :class:`AnalyticsService` bundles them.
Every result is a frozen dataclass with ``to_dict()`` and ``to_dataframe()`` (pandas optional).

How it runs: every query is SQLAlchemy Core over the ``trades``/``orders`` tables and
aggregates in the database (``GROUP BY``, window functions); only small results (groups,
hours, a few candidate trades) reach Python. In backtesting mode (``Trade.use_db`` False)
the same SQL runs on an in-memory SQLite snapshot of ``LocalTrade``'s stores
(:class:`BacktestSnapshot`), so both modes answer alike. :mod:`.indexes` holds the optional
``tl_`` indexes for large databases.
"""

from tradeledger.services.analytics.context import BacktestSnapshot, QueryContext, default_context
from tradeledger.services.analytics.equity import Drawdown, EquityCurve, EquityPoint
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.indexes import (
    ANALYTICS_INDEXES,
    create_analytics_indexes,
    drop_analytics_indexes,
)
from tradeledger.services.analytics.leverage import (
    DEFAULT_LEVERAGE_EDGES,
    LeverageReport,
    LeverageRow,
)
from tradeledger.services.analytics.performance import PerformanceReport, PerformanceRow
from tradeledger.services.analytics.periods import PeriodProfit, PeriodRow
from tradeledger.services.analytics.results import Result
from tradeledger.services.analytics.risk import RiskMetrics, ratios_from_daily_profits
from tradeledger.services.analytics.service import AnalyticsService
from tradeledger.services.analytics.stats import TradeRef, TradeStats
from tradeledger.services.analytics.stoploss import STOP_EXIT_REASONS, StoplossReport

__all__ = [
    "ANALYTICS_INDEXES",
    "DEFAULT_LEVERAGE_EDGES",
    "STOP_EXIT_REASONS",
    "AnalyticsService",
    "BacktestSnapshot",
    "Drawdown",
    "EquityCurve",
    "EquityPoint",
    "LeverageReport",
    "LeverageRow",
    "PerformanceReport",
    "PerformanceRow",
    "PeriodProfit",
    "PeriodRow",
    "QueryContext",
    "Result",
    "RiskMetrics",
    "StoplossReport",
    "TradeFilter",
    "TradeRef",
    "TradeStats",
    "create_analytics_indexes",
    "default_context",
    "drop_analytics_indexes",
    "ratios_from_daily_profits",
]
