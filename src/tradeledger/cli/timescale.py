"""``tradeledger timescale status | enable``: TimescaleDB hypertables and compression."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from tradeledger.cli.app import app
from tradeledger.cli.common import (
    DEFAULT_DB,
    EXIT_FAILURE,
    DbOption,
    console,
    err_console,
    handle_errors,
    shown,
)
from tradeledger.cli.options import dumps, open_db

__all__ = ["timescale_app"]

timescale_app = typer.Typer(
    name="timescale",
    help="TimescaleDB: hypertables and compression for the journal and wallet_history.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
app.add_typer(timescale_app, name="timescale")


@timescale_app.command("status")
@handle_errors
def status_cmd(db: DbOption = DEFAULT_DB,
               as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
               ) -> None:
    """Whether TimescaleDB is available, installed, and which tables are hypertables.

    Example: tradeledger timescale status --db postgresql://bot@db/trading
    """
    from tradeledger.services.timescale import detect

    engine = open_db(db)
    st = detect(engine)
    if as_json:
        typer.echo(dumps(st.__dict__))
        return
    console.print(f"database: {shown(db)}")
    if not st.available:
        console.print(f"TimescaleDB: [yellow]not available[/] ({st.reason})")
        return
    console.print(f"TimescaleDB {st.version}: "
                  + ("installed" if st.installed else "available, not installed")
                  + (f"; hypertables: {', '.join(st.hypertables)}" if st.hypertables else ""))


@timescale_app.command("enable")
@handle_errors
def enable_cmd(
    db: DbOption = DEFAULT_DB,
    chunk_days: Annotated[float, typer.Option(help="Days per chunk.", min=0.01)] = 7.0,
    compress_after_days: Annotated[float, typer.Option(
        help="Compress chunks older than this many days.", min=0.01)] = 30.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the SQL, change nothing.")
                       ] = False,
) -> None:
    """Turn the audit journal and wallet_history into compressed hypertables.

    Without TimescaleDB on the server: a message, exit code 1, nothing changed.

    Example: tradeledger timescale enable --db postgresql://bot@db/trading --dry-run
    """
    from tradeledger.exceptions import TimescaleUnavailableError
    from tradeledger.services.timescale import enable

    engine = open_db(db, write=True)
    try:
        result = enable(engine, chunk_interval=timedelta(days=chunk_days),
                        compress_after=timedelta(days=compress_after_days), dry_run=dry_run)
    except TimescaleUnavailableError as exc:
        err_console.print(f"[bold yellow]{exc}[/]")
        raise typer.Exit(EXIT_FAILURE) from None
    for step in result.steps:
        mark = "would run" if dry_run else "ran"
        console.print(f"{mark}: {step.description}\n  {step.sql};")
    if not result.steps:
        console.print("nothing to do: already enabled")
