"""Equity, drawdown and daily-profit charts (matplotlib, the optional ``plot`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tradeledger.exceptions import OptionalDependencyError

__all__ = ["PlotUnavailableError", "matplotlib_available", "write_performance_plot"]


class PlotUnavailableError(OptionalDependencyError):
    """matplotlib is not installed (``pip install 'tradeledger[plot]'``)."""


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_performance_plot(path: Path, *, starting_balance: float, flt: Any = None,
                           title: str = "tradeledger", daily: bool = True) -> Path:
    """Write a PNG: equity after every closed trade, its drawdown, and profit per UTC day.

    Args:
        path: the PNG file to write.
        starting_balance: equity before the first trade.
        flt: an analytics ``TradeFilter`` (default: every closed trade).
        title: figure title.
        daily: add the daily-profit panel.

    Raises:
        PlotUnavailableError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailableError(
            "matplotlib is not installed; install it with: pip install 'tradeledger[plot]'"
        ) from None
    from tradeledger.services.analytics import AnalyticsService

    svc = AnalyticsService()
    curve = svc.equity_curve(starting_balance, flt, granularity="trade")
    times = [r.time for r in curve.rows]
    equity = [r.equity for r in curve.rows]
    drawdown = [-r.drawdown_abs for r in curve.rows]
    panels = 3 if daily else 2
    fig, axes = plt.subplots(panels, 1, figsize=(10, 2.6 * panels + 0.6), sharex=True)
    ax_eq, ax_dd = axes[0], axes[1]
    ax_eq.step(times, equity, where="post", color="tab:blue")
    ax_eq.axhline(starting_balance, color="grey", linewidth=0.8, linestyle="--")
    ax_eq.set_ylabel("equity")
    ax_eq.set_title(title)
    ax_dd.fill_between(times, drawdown, 0, step="post", color="tab:red", alpha=0.4)
    ax_dd.set_ylabel("drawdown")
    if daily:
        days = svc.profit_by_period("day", flt)
        xs = [r.period_start for r in days.rows]
        ys = [r.profit_abs for r in days.rows]
        colors = ["tab:green" if y >= 0 else "tab:red" for y in ys]
        axes[2].bar(xs, ys, width=0.9, align="edge", color=colors)
        axes[2].set_ylabel("profit per day")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
