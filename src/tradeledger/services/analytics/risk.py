"""Risk-adjusted returns: Sharpe, Sortino and Calmar ratios from the daily series.

The daily profit ``P_d`` (Σ ``close_profit_abs`` of trades closed that UTC day) comes from
the database's daily ``GROUP BY``; every calendar day from the first to the last day of the
range (the filter's ``start``/``end`` when given, else the first and last closing day) is in
the series, days without trades with ``P_d = 0`` (flat days count). Then, with
``E_0 = starting_balance`` and ``E_d = E_{d-1} + P_d``:

* daily return ``r_d = P_d / E_{d-1}`` (the return of the account's equity that day);
  ``rf_d = risk_free_rate / periods_per_year``; excess ``x_d = r_d - rf_d``; ``N`` days.
* ``sharpe = mean(x) / stdev(x) · √periods_per_year`` with the sample standard deviation
  (``N - 1``); None when ``N < 2`` or the deviation is 0.
* ``sortino = mean(x) / DD · √periods_per_year`` with the downside deviation
  ``DD = √(Σ min(x_d, 0)² / N)``; None when no day is below the risk-free rate.
* ``calmar = CAGR / max_drawdown_rel`` where ``CAGR = (E_N / E_0)^(periods_per_year / N) - 1``
  and ``max_drawdown_rel`` is the largest relative drop of the end-of-day equity from its
  running peak (``E_0`` included); None without a drawdown.

Defaults: ``periods_per_year = 365`` (crypto trades every day), ``risk_free_rate = 0``.
These are the formulas of quantstats / empyrical on a daily equity series (``rf`` given as an
annual rate divided by the periods); a day whose opening equity is ``<= 0`` ends the series
for the ratios (returns are undefined past a blown account).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradeledger.exceptions import InvalidValueError
from tradeledger.services.analytics.context import QueryContext
from tradeledger.services.analytics.filters import TradeFilter
from tradeledger.services.analytics.periods import daily_rows, fill_buckets
from tradeledger.services.analytics.results import Result

__all__ = ["RiskMetrics", "ratios_from_daily_profits", "risk_metrics"]


@dataclass(frozen=True)
class RiskMetrics(Result):
    """Sharpe, Sortino and Calmar ratios with the series they come from."""

    starting_balance: float
    risk_free_rate: float
    periods_per_year: int
    days: int
    mean_daily_return: float | None
    daily_volatility: float | None
    annualized_return: float | None
    annualized_volatility: float | None
    max_drawdown_rel: float
    sharpe: float | None
    sortino: float | None
    calmar: float | None


def ratios_from_daily_profits(
    profits: list[float],
    starting_balance: float,
    *,
    risk_free_rate: float = 0.0,
    periods_per_year: int = 365,
) -> RiskMetrics:
    """The ratios of a complete daily profit series (flat days as 0.0), see module docstring."""
    if starting_balance <= 0:
        raise InvalidValueError(
            f"starting_balance: expected a number > 0 for risk ratios, got {starting_balance!r}"
        )
    if periods_per_year <= 0:
        raise InvalidValueError(f"periods_per_year: expected > 0, got {periods_per_year!r}")
    returns: list[float] = []
    equity = float(starting_balance)
    peak = equity
    max_dd = 0.0
    for profit in profits:
        if equity <= 0:
            break
        returns.append(profit / equity)
        equity += profit
        peak = max(peak, equity)
        if peak > 0:
            max_dd = max(max_dd, (peak - equity) / peak)
    n = len(returns)
    rf_d = risk_free_rate / periods_per_year
    excess = [r - rf_d for r in returns]
    mean = sum(excess) / n if n else None
    std: float | None = None
    if n >= 2 and mean is not None:
        std = math.sqrt(sum((x - mean) ** 2 for x in excess) / (n - 1))
    ann = math.sqrt(periods_per_year)
    sharpe = mean / std * ann if mean is not None and std else None
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in excess) / n) if n else 0.0
    sortino = mean / downside * ann if mean is not None and downside else None
    cagr: float | None = None
    if n and equity > 0:
        cagr = (equity / starting_balance) ** (periods_per_year / n) - 1
    calmar = cagr / max_dd if cagr is not None and max_dd > 0 else None
    return RiskMetrics(
        starting_balance=float(starting_balance),
        risk_free_rate=risk_free_rate,
        periods_per_year=periods_per_year,
        days=n,
        mean_daily_return=sum(returns) / n if n else None,
        daily_volatility=std,
        annualized_return=cagr,
        annualized_volatility=std * ann if std is not None else None,
        max_drawdown_rel=max_dd,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
    )


def risk_metrics(
    ctx: QueryContext,
    starting_balance: float,
    flt: TradeFilter | None = None,
    *,
    risk_free_rate: float = 0.0,
    periods_per_year: int = 365,
) -> RiskMetrics:
    """Sharpe, Sortino and Calmar of the closed trades matching ``flt``."""
    flt = flt or TradeFilter()
    rows = fill_buckets(daily_rows(ctx, flt, "day", detail=False), "day", flt)
    return ratios_from_daily_profits(
        [r.profit_abs for r in rows],
        starting_balance,
        risk_free_rate=risk_free_rate,
        periods_per_year=periods_per_year,
    )
