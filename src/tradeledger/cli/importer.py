"""``tradeledger import``: another database (any backend / version) or a freqtrade JSON export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from tradeledger.cli.app import app
from tradeledger.cli.common import (
    DEFAULT_DB,
    DbOption,
    console,
    err_console,
    handle_errors,
    shown,
)
from tradeledger.cli.options import dumps, open_db
from tradeledger.exceptions import InvalidValueError

__all__ = ["import_cmd"]


def _source_kind(source: str, fmt: str) -> tuple[str, str]:
    """``("db", url)`` or ``("json", path)``."""
    if fmt not in ("auto", "db", "json"):
        raise InvalidValueError(f"--format: expected auto, db or json, got {fmt!r}")
    if "://" in source:
        if fmt == "json":
            raise InvalidValueError(f"--format json needs a file, got the URL {shown(source)}")
        return "db", source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"source not found: {path}")
    if fmt == "json" or (fmt == "auto" and path.suffix.lower() == ".json"):
        return "json", str(path)
    return "db", f"sqlite:///{path.resolve()}"


@app.command("import")
@handle_errors
def import_cmd(
    source: Annotated[str, typer.Argument(
        help="Database URL, SQLite file, or freqtrade JSON export (.json) to import from.")],
    db: DbOption = DEFAULT_DB,
    fmt: Annotated[str, typer.Option("--format", help="auto, db or json.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    warm: Annotated[bool, typer.Option(
        help="Then compute every unfiltered metric once and store its partial results, so "
             "that no later process reads every trade again (as `stats --warm`).")] = True,
) -> None:
    """Import all trades, orders, locks, key-values, custom data and wallet history.

    The source (any supported backend, any freqtrade schema from 2022.3, or a freqtrade trade
    JSON export) is read from a private copy and never changed. One transaction; the row
    counts are verified before the commit.

    Example: tradeledger import freqtrade.sqlite --db postgresql://bot@localhost/ledger
    """
    from tradeledger.services.transfer import import_database, import_freqtrade_json

    kind, where = _source_kind(source, fmt)
    engine = open_db(db, write=True)
    bar = Progress(TextColumn("importing {task.description}"), BarColumn(),
                   MofNCompleteColumn(), console=console, disable=not progress or as_json,
                   transient=True)
    tasks: dict[str, TaskID] = {}

    def on_progress(table: str, done: int, total: int) -> None:
        if table not in tasks:
            tasks[table] = bar.add_task(table, total=total or 1)
        bar.update(tasks[table], completed=done if total else 1)

    with bar:
        if kind == "json":
            result = import_freqtrade_json(Path(where), progress=on_progress)
        else:
            result = import_database(where, engine, progress=on_progress)
    warmed = None
    if warm and result.ok:  # the import is committed: a failure here only costs speed
        from tradeledger.services.analytics import AnalyticsService

        try:
            warmed = sum(AnalyticsService(engine).warm().values())
        except Exception as exc:  # noqa: BLE001 - reported, the import itself succeeded
            err_console.print(f"[yellow]analytics not warmed[/] ({type(exc).__name__}: "
                              f"{escape(str(exc))}); run `tradeledger stats --warm` later")
    if as_json:
        out = result.to_dict()
        if warmed is not None:
            out["analytics_warm_s"] = round(warmed, 3)
        typer.echo(dumps(out))
        return
    console.print(f"imported {result.source} into {shown(db)}")
    table = Table(title="Verification")
    for col in ("table", "copied", "found in target"):
        table.add_column(col, justify="right" if col != "table" else "left")
    for name, n in result.copied.items():
        table.add_row(name, str(n), str(result.verified.get(name, 0)))
    console.print(table)
    if result.id_offsets:
        console.print("ids shifted (the target was not empty): "
                      + ", ".join(f"{t} +{o}" for t, o in result.id_offsets.items()))
    if result.truncated_values:
        console.print(f"[yellow]{result.truncated_values} text value(s) were longer than their "
                      "column and were cut[/]")
    console.print("[bold green]verified[/]: every row is in the target" if result.ok
                  else "[bold red]verification failed[/]")
    if warmed is not None:
        console.print(f"analytics warmed in {warmed:.2f} s")
