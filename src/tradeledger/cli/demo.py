"""``tradeledger demo``: a simulated trading session that is killed, recovered and analysed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradeledger.cli.app import app
from tradeledger.cli.common import DEFAULT_DB, DbOption, console, handle_errors


@app.command("demo")
@handle_errors
def demo_cmd(
    db: DbOption = DEFAULT_DB,
    seed: Annotated[int, typer.Option(help="Seed of the market and the strategy.")] = 42,
    steps: Annotated[int, typer.Option(help="Length of the session in 5-minute candles.")] = 576,
    crash_at: Annotated[int | None, typer.Option(
        help="Candle from which the bot process is killed (default: midway).")] = None,
    fresh: Annotated[bool, typer.Option(
        "--fresh/--append",
        help="--fresh replaces a previous demo database (never one holding other trades); "
             "--append adds a new session to it.")] = True,
    plot: Annotated[Path, typer.Option(help="Equity / drawdown chart (PNG).")] = Path(
        "tradeledger-demo.png"),
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Do not write the chart.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Run a simulated trading session, SIGKILL it midway, recover, reconcile and analyse it.

    Several pairs (spot and futures), long and short, leverage, DCA entries, partial exits,
    stop-losses on the exchange, fees, funding and pair locks; every order goes through an
    order intent. Deterministic for a given --seed.

    Example: tradeledger demo --seed 7 --db sqlite:///demo.sqlite
    """
    from tradeledger.demo.runner import DemoConfig, run_demo

    run_demo(DemoConfig(db_url=db, seed=seed, steps=steps, crash_at=crash_at, fresh=fresh,
                        plot=None if no_plot else plot, progress=progress), console)
