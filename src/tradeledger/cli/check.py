"""``tradeledger check``: SQLite integrity check plus the library's invariants."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tradeledger.cli.app import app
from tradeledger.cli.common import (
    DEFAULT_DB,
    EXIT_CHECK_FAILED,
    DbOption,
    console,
    handle_errors,
    shown,
)
from tradeledger.cli.options import dumps, plain_engine


@app.command("check")
@handle_errors
def check_cmd(
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the database; exit code 10 and every finding listed when anything is wrong.

    Checks: SQLite integrity_check and foreign keys, orders of missing trades, duplicate
    (pair, order id), NULLs in required columns, open trades whose amount disagrees with their
    filled orders, dates in the future, closed trades without close data. Read-only: works on
    old freqtrade databases as they are.

    Example: tradeledger check --db sqlite:///tradeledger.sqlite
    """
    from tradeledger.services.integrity import check_database

    engine = plain_engine(db)
    try:
        report = check_database(engine)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(dumps(report.to_dict()))
    else:
        console.print(f"database: {shown(db)}")
        console.print("checked: " + ", ".join(f"{n} {t}" for t, n in report.counts.items()))
        for item in report.skipped:
            console.print(f"[dim]skipped: {item}[/]")
        if report.ok:
            console.print("[bold green]OK[/]: no problem found")
        else:
            table = Table(title=f"{len(report.findings)} problem(s) found")
            for col in ("check", "table", "row", "problem"):
                table.add_column(col, overflow="fold")
            for f in report.findings:
                table.add_row(f.code, f.table, "" if f.row_id is None else str(f.row_id),
                              escape(f.message))
            console.print(table)
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)
