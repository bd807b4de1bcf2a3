"""``tradeledger stats``: performance tables from the analytics service, and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tradeledger.cli.app import app
from tradeledger.cli.common import DEFAULT_DB, DbOption, console, handle_errors, shown
from tradeledger.cli.options import dumps, open_db, parse_date, validate_pair, validate_side

__all__ = ["build_filter", "print_performance", "stats_cmd", "stats_dict"]


def build_filter(pair: list[str] | None = None, strategy: str | None = None,
                 side: str | None = None, since: str | None = None,
                 until: str | None = None) -> Any:
    """An analytics ``TradeFilter`` from command-line values (closed trades)."""
    from tradeledger.services.analytics import TradeFilter

    pairs = tuple(validate_pair(p) for p in pair) if pair else None
    return TradeFilter(pairs=pairs, strategy=strategy,
                       side=validate_side(side),  # type: ignore[arg-type]
                       start=parse_date(since, name="--since"),
                       end=parse_date(until, name="--until"))


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}%"


def stats_dict(starting_balance: float, flt: Any = None) -> dict[str, Any]:
    """Every table of ``tradeledger stats`` as plain values (``--json``)."""
    from tradeledger.services.analytics import AnalyticsService

    svc = AnalyticsService()
    return {
        "summary": svc.trade_stats(flt).to_dict(),
        "drawdown": svc.max_drawdown(starting_balance, flt).to_dict(),
        "by_pair": svc.performance("pair", flt).to_dict()["rows"],
        "by_enter_tag": svc.performance("enter_tag", flt).to_dict()["rows"],
        "by_exit_reason": svc.performance("exit_reason", flt).to_dict()["rows"],
        "daily": svc.profit_by_period("day", flt).to_dict()["rows"],
    }


def print_performance(out: Console, *, starting_balance: float, flt: Any = None,
                      daily_rows: int = 10) -> None:
    """Print the summary, drawdown, per-pair / enter-tag / exit-reason and daily tables."""
    from tradeledger.services.analytics import AnalyticsService

    svc = AnalyticsService()
    st = svc.trade_stats(flt)
    dd = svc.max_drawdown(starting_balance, flt)
    summary = Table(title="Summary (closed trades)", show_header=False)
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    pf = "" if st.profit_factor is None else f"{st.profit_factor:.2f}"
    avg = ("" if st.avg_duration_seconds is None
           else f"{st.avg_duration_seconds / 3600:.1f} h")
    for name, value in (
        ("trades", str(st.trade_count)),
        ("wins / draws / losses", f"{st.wins} / {st.draws} / {st.losses}"),
        ("win rate", _pct(st.win_rate)),
        ("total profit", _money(st.total_profit_abs)),
        ("profit factor", pf),
        ("expectancy per trade", _money(st.expectancy)),
        ("average duration", avg),
        ("starting balance", _money(starting_balance)),
        ("final balance", _money(starting_balance + st.total_profit_abs)),
        ("max drawdown", f"{_money(dd.max_drawdown_abs)} ({_pct(dd.max_drawdown_rel)})"),
    ):
        summary.add_row(name, value)
    if st.best_trade is not None and st.worst_trade is not None:
        summary.add_row("best trade", f"#{st.best_trade.trade_id} {st.best_trade.pair} "
                        f"{_pct(st.best_trade.profit_ratio)}")
        summary.add_row("worst trade", f"#{st.worst_trade.trade_id} {st.worst_trade.pair} "
                        f"{_pct(st.worst_trade.profit_ratio)}")
    out.print(summary)
    for by, title in (("pair", "Performance by pair"), ("enter_tag", "By enter tag"),
                      ("exit_reason", "By exit reason")):
        report = svc.performance(by, flt)  # type: ignore[arg-type]
        table = Table(title=title)
        for col in (by, "trades", "profit", "profit %"):
            table.add_column(col, justify="left" if col == by else "right")
        for row in report.rows:
            table.add_row(row.key, str(row.count), _money(row.profit_abs), f"{row.profit_pct:.2f}")
        out.print(table)
    days = svc.profit_by_period("day", flt)
    if days.rows:
        table = Table(title=f"Daily profit (last {min(daily_rows, len(days.rows))} days)")
        for col in ("day", "trades", "wins", "losses", "profit"):
            table.add_column(col, justify="right")
        for r in days.rows[-daily_rows:]:
            table.add_row(r.period_start.isoformat(), str(r.trade_count), str(r.wins),
                          str(r.losses), _money(r.profit_abs))
        out.print(table)


@app.command("stats")
@handle_errors
def stats_cmd(
    db: DbOption = DEFAULT_DB,
    pair: Annotated[list[str] | None, typer.Option("--pair", "-p",
                                                   help="Only this pair (repeatable).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Only this strategy.")] = None,
    side: Annotated[str | None, typer.Option(help="long or short.")] = None,
    since: Annotated[str | None, typer.Option(help="Closed on/after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Closed before (YYYY-MM-DD).")] = None,
    starting_balance: Annotated[float, typer.Option(
        help="Equity before the first trade (drawdown, final balance).")] = 10_000.0,
    plot: Annotated[Path | None, typer.Option(
        help="Write equity, drawdown and daily profit to this PNG (needs matplotlib).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    warm: Annotated[bool, typer.Option(
        "--warm", help="First compute every unfiltered metric and store its partial results "
                       "for later processes (after a bulk import); timings on stderr.")] = False,
) -> None:
    """Performance of closed trades: summary, drawdown, by pair / enter tag / exit reason, daily.

    Example: tradeledger stats --pair BTC/USDT --since 2026-01-01 --plot equity.png
    """
    flt = build_filter(pair, strategy, side, since, until)
    if starting_balance <= 0:
        raise ValueError(f"--starting-balance must be > 0, got {starting_balance!r}")
    open_db(db)
    if warm:
        from tradeledger.services.analytics import AnalyticsService

        err = Console(stderr=True)
        for name, seconds in AnalyticsService().warm().items():
            err.print(f"warmed {name}: {seconds:.3f} s")
    if as_json:
        typer.echo(dumps(stats_dict(starting_balance, flt)))
    else:
        console.print(f"database: {shown(db)}")
        print_performance(console, starting_balance=starting_balance, flt=flt)
    if plot is not None:
        from tradeledger.cli.plotting import write_performance_plot

        written = write_performance_plot(plot, starting_balance=starting_balance, flt=flt)
        (console if not as_json else Console(stderr=True)).print(f"plot written: {written}")
