"""Performance analytics computed in the database (and on backtesting snapshots).

One module per family: :mod:`.performance` (freqtrade's performance queries),
:mod:`.periods`, :mod:`.equity`, :mod:`.stats`, :mod:`.risk`, :mod:`.leverage`,
:mod:`.stoploss`; :mod:`.filters` selects trades; :class:`AnalyticsService` bundles them.
Every result is a frozen dataclass with ``to_dict()`` and ``to_dataframe()`` (pandas optional).
"""

from tradeledger.services.analytics.context import BacktestSnapshot, QueryContext, default_context
from tradeledger.services.analytics.equity import Drawdown, EquityCurve, EquityPoint
from tradeledger.services.analytics.filters import TradeFilter
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
    "default_context",
    "ratios_from_daily_profits",
]
