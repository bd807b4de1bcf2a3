"""``tradeledger db``: schema revisions — upgrade, check, current, history, backup, set-mode."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tradeledger.cli.app import app
from tradeledger.cli.common import (
    DEFAULT_DB,
    EXIT_SCHEMA,
    DbOption,
    console,
    err_console,
    handle_errors,
    shown,
)
from tradeledger.cli.options import dumps, plain_engine

db_app = typer.Typer(
    name="db",
    help=(
        "Schema revisions of a tradeledger (or freqtrade) database: upgrade it (adopting a "
        "freqtrade database), check whether an upgrade is due, show the current revision and "
        "the history, take an online backup."
    ),
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")

ExtraOption = Annotated[
    list[Path] | None,
    typer.Option("--extra-migrations", "-x",
                 help="Directory with your own Alembic revisions (repeatable).",
                 exists=True, file_okay=False, dir_okay=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _status(db: str, extra: list[Path] | None) -> dict[str, Any]:
    from tradeledger.migrations import database_status

    engine = plain_engine(db)
    try:
        return database_status(engine, extra)
    finally:
        engine.dispose()


@db_app.command("upgrade")
@handle_errors
def upgrade_cmd(
    db: DbOption = DEFAULT_DB,
    extra: ExtraOption = None,
    mode: Annotated[str | None, typer.Option(
        "--mode", help="Record/verify the execution mode: live, dry_run or backtest.")] = None,
    bot_id: Annotated[str | None, typer.Option("--bot-id", help="Record the bot identity.")
                      ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create, adopt (freqtrade) or upgrade the schema to the newest revision.

    A SQLite file is backed up next to itself first (verified); PostgreSQL and SQLite change
    in one transaction. Safe to run while other processes start: they wait for the lock.

    Example: tradeledger db upgrade --db postgresql://bot@db/trades
    """
    from tradeledger.db import create_db_engine
    from tradeledger.migrations import prepare_database

    engine = create_db_engine(db)
    try:
        result = prepare_database(engine, migrate="auto", mode=mode, bot_id=bot_id,
                                  extra_migrations=extra)
    finally:
        engine.dispose()
    to = list(result.to_revisions) or list(result.from_revisions)
    out = {"action": result.action, "from": list(result.from_revisions), "to": to,
           "backup": str(result.backup_path) if result.backup_path else None,
           "details": result.details}
    if as_json:
        typer.echo(dumps(out))
        return
    console.print(f"database: {shown(db)}")
    if result.action == "none":
        console.print(f"already at {', '.join(result.from_revisions)}: nothing to do")
        return
    console.print(f"{result.action}: {', '.join(result.from_revisions) or '(none)'} -> "
                  f"{', '.join(to)}")
    if result.backup_path:
        console.print(f"backup (verified): {result.backup_path}")
    for line in result.details:
        console.print(f"  {line}")


@db_app.command("check")
@handle_errors
def check_cmd(db: DbOption = DEFAULT_DB, extra: ExtraOption = None,
              as_json: JsonOption = False) -> None:
    """Exit 0 if the schema is at the newest revision, else explain and exit non-zero.

    Exit codes: 6 the database is newer than this code, 7 an upgrade (or adoption) is due.
    Reads only. Example: tradeledger db check --db sqlite:///tradeledger.sqlite
    """
    status = _status(db, extra)
    if as_json:
        typer.echo(dumps(status))
    else:
        console.print(f"database: {shown(db)}")
        console.print(f"status: {status['status']}")
        console.print(f"current: {', '.join(status['current']) or '(none)'}; "
                      f"head: {', '.join(status['head'])}")
        if status["adoption"]:
            console.print(f"adoption: {status['adoption']}")
    if status["status"] == "up to date":
        return
    if status["status"] == "too new":
        from tradeledger.cli.common import EXIT_SCHEMA_TOO_NEW

        err_console.print("error: the database was written by a newer tradeledger (or with "
                          "extra migrations not given here)")
        raise typer.Exit(EXIT_SCHEMA_TOO_NEW)
    err_console.print("error: an upgrade is due; run `tradeledger db upgrade`")
    raise typer.Exit(EXIT_SCHEMA)


@db_app.command("current")
@handle_errors
def current_cmd(db: DbOption = DEFAULT_DB, extra: ExtraOption = None,
                as_json: JsonOption = False) -> None:
    """Show the revision(s) stamped in the database and its tradeledger metadata.

    Example: tradeledger db current --db sqlite:///tradeledger.sqlite
    """
    status = _status(db, extra)
    if as_json:
        typer.echo(dumps({"current": status["current"], "meta": status["meta"],
                          "status": status["status"]}))
        return
    console.print(f"database: {shown(db)}")
    console.print(f"current: {', '.join(status['current']) or '(not stamped)'} "
                  f"({status['status']})")
    meta = status["meta"] or {}
    if meta:
        console.print(f"mode: {meta.get('mode') or '-'}; bot: {meta.get('bot_id') or '-'}; "
                      f"last written by tradeledger {meta.get('library_version') or '-'}")


@db_app.command("history")
@handle_errors
def history_cmd(db: Annotated[str | None, typer.Option(
        "--db", envvar="TRADELEDGER_DB_URL",
        help="Mark the database's current revision (optional).")] = None,
                extra: ExtraOption = None, as_json: JsonOption = False) -> None:
    """List every revision, oldest first (library and --extra-migrations branches).

    Example: tradeledger db history
    """
    from tradeledger.migrations import get_script_directory

    script = get_script_directory(extra)
    current: set[str] = set()
    if db is not None:
        current = set(_status(db, extra)["current"])
    heads = set(script.get_heads())
    revs = list(reversed(list(script.walk_revisions())))
    rows = [{"revision": r.revision, "down_revision": r.down_revision,
             "branches": sorted(r.branch_labels), "doc": (r.doc or "").strip().splitlines()[0]
             if r.doc else "", "head": r.revision in heads, "current": r.revision in current}
            for r in revs]
    if as_json:
        typer.echo(dumps(rows))
        return
    for row in rows:
        marks = " ".join(m for m, on in (("(head)", row["head"]), ("(current)", row["current"]))
                         if on)
        down = row["down_revision"] or "<base>"
        console.print(f"{down} -> {row['revision']} {marks}: {row['doc']}".replace("  ", " "))


@db_app.command("backup")
@handle_errors
def db_backup_cmd(
    db: DbOption = DEFAULT_DB,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Backup file (default: next to a SQLite file).")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", help="auto, dump (pg_dump / mariadb-dump) or sqlite (logical copy).")
    ] = "auto",
    as_json: JsonOption = False,
) -> None:
    """Online backup, also while bots run (SQLite backup API + integrity_check).

    Example: tradeledger db backup --db sqlite:///tradeledger.sqlite -o /backups/tl.sqlite
    """
    from tradeledger.services.backup import backup_database

    if fmt not in ("auto", "dump", "sqlite"):
        raise ValueError(f"--format: expected auto, dump or sqlite, got {fmt!r}")
    if output is not None and output.exists():
        raise ValueError(f"--output: {output} exists already; choose a new file")
    engine = plain_engine(db)
    try:
        result = backup_database(engine, output, fmt)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    if as_json:
        typer.echo(dumps({"path": str(result.path), "method": result.method,
                          "integrity": result.integrity, "row_counts": result.row_counts}))
        return
    console.print(f"backup written: {result.path} ({result.method}, integrity "
                  f"{result.integrity})")


@db_app.command("set-mode")
@handle_errors
def set_mode_cmd(mode: Annotated[str, typer.Argument(help="live, dry_run or backtest")],
                 db: DbOption = DEFAULT_DB) -> None:
    """Re-tag the database's execution mode (deliberately, e.g. promoting dry run to live).

    Example: tradeledger db set-mode live --db sqlite:///tradeledger.sqlite
    """
    from tradeledger.migrations import set_database_mode

    engine = plain_engine(db)
    try:
        set_database_mode(engine, mode)
    finally:
        engine.dispose()
    console.print(f"database {shown(db)} is now tagged '{mode}'")
