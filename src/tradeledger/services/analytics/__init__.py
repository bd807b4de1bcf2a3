"""Performance analytics computed in the database (and on backtesting snapshots)."""

from tradeledger.services.analytics.context import BacktestSnapshot, QueryContext, default_context
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.performance import PerformanceReport, PerformanceRow

__all__ = [
    "BacktestSnapshot",
    "PerformanceReport",
    "PerformanceRow",
    "QueryContext",
    "TradeFilter",
    "default_context",
]
