"""``tradeledger backup``: an online, verified backup (services/backup.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradeledger.cli.app import app
from tradeledger.cli.common import DEFAULT_DB, DbOption, console, handle_errors, shown
from tradeledger.cli.options import dumps, plain_engine


@app.command("backup")
@handle_errors
def backup_cmd(
    db: DbOption = DEFAULT_DB,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o",
        help="Backup file (default: <db file>.<UTC timestamp>.bak next to a SQLite file).")
    ] = None,
    fmt: Annotated[str, typer.Option(
        "--format", help="auto, dump (pg_dump / mariadb-dump) or sqlite (logical copy).")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Back up the database while bots keep running, then verify the copy.

    SQLite: the online backup API, integrity_check and row counts of the copy. Servers:
    pg_dump / mariadb-dump when installed, else a verified SQLite copy of every table.

    Example: tradeledger backup --db sqlite:///tradeledger.sqlite -o /backups/tl.sqlite
    """
    from tradeledger.services.backup import backup_database

    if fmt not in ("auto", "dump", "sqlite"):
        raise ValueError(f"--format: expected auto, dump or sqlite, got {fmt!r}")
    if output is not None and output.exists():
        raise ValueError(f"--output: {output} exists already; choose a new file")
    if output is not None and not output.parent.exists():
        raise FileNotFoundError(f"--output: directory {output.parent} does not exist")
    engine = plain_engine(db)
    try:
        result = backup_database(engine, output, fmt)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    if as_json:
        typer.echo(dumps({"path": str(result.path), "method": result.method,
                          "integrity": result.integrity, "row_counts": result.row_counts}))
        return
    console.print(f"database: {shown(db)}")
    console.print(f"backup written: {result.path} ({result.method})")
    console.print(f"verified: integrity {result.integrity}; rows: "
                  + ", ".join(f"{t} {n}" for t, n in sorted(result.row_counts.items())))
