"""``tradeledger journal history | list | verify | baseline``: the audit journal."""

from __future__ import annotations

from typing import Annotated, Any

import typer
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
from tradeledger.cli.options import dumps, open_db, parse_date

__all__ = ["journal_app"]

journal_app = typer.Typer(
    name="journal", help="The audit journal: who changed what, and when; verify it.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
app.add_typer(journal_app, name="journal")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _changes(rec: Any) -> str:
    if rec.op in ("insert", "baseline"):
        return f"{len(rec.after or {})} columns"
    if rec.op == "delete":
        return "row deleted"
    return ", ".join(f"{k}: {b!r} -> {a!r}" for k, (b, a) in rec.changes().items())


def _print(records: list[Any], title: str) -> None:
    table = Table(title=title)
    for col in ("id", "time (UTC)", "actor", "bot", "entity", "entity id", "trade", "op",
                "changes"):
        table.add_column(col, overflow="fold")
    for r in records:
        table.add_row(str(r.id), r.created_at.strftime("%Y-%m-%d %H:%M:%S.%f"), r.actor,
                      r.bot_id or "", r.entity, str(r.entity_id),
                      "" if r.trade_id is None else str(r.trade_id), r.op, _changes(r))
    console.print(table)


@journal_app.command("history")
@handle_errors
def history_cmd(
    trade_id: Annotated[int, typer.Argument(help="Trade id.")],
    db: DbOption = DEFAULT_DB,
    as_json: JsonOpt = False,
) -> None:
    """Every change of one trade, its orders and custom data, oldest first.

    Example: tradeledger journal history 42
    """
    from tradeledger.services.journal import trade_history

    open_db(db)
    records = trade_history(trade_id)
    if as_json:
        typer.echo(dumps([r.to_dict() for r in records]))
        return
    console.print(f"database: {shown(db)}")
    _print(records, f"Journal of trade {trade_id}")


@journal_app.command("list")
@handle_errors
def list_cmd(
    db: DbOption = DEFAULT_DB,
    since: Annotated[str | None, typer.Option(help="From (YYYY-MM-DD[THH:MM], UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Before (YYYY-MM-DD[THH:MM], UTC).")] = None,
    actor: Annotated[str | None, typer.Option(
        help="bot, api, cli, reconcile or migration.")] = None,
    entity: Annotated[str | None, typer.Option(
        help="trade, order, pairlock or custom_data.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries.", min=1)] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Journal entries in a time range, by actor or entity.

    Example: tradeledger journal list --since 2026-11-01 --actor cli
    """
    from tradeledger.services.journal import entries

    start, end = parse_date(since, name="--since"), parse_date(until, name="--until")
    open_db(db)
    records = entries(since=start, until=end, actor=actor, entity=entity, limit=limit)
    if as_json:
        typer.echo(dumps([r.to_dict() for r in records]))
        return
    console.print(f"database: {shown(db)}")
    _print(records, "Journal")


@journal_app.command("verify")
@handle_errors
def verify_cmd(
    db: DbOption = DEFAULT_DB,
    every: Annotated[bool, typer.Option("--all", help="Also pair locks and custom data.")
                     ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild every trade and order from the journal and compare with the tables.

    Exit code 10 when they differ (each difference is listed).

    Example: tradeledger journal verify
    """
    from tradeledger.services.journal import ENTITIES, verify

    open_db(db)
    report = verify(ENTITIES if every else ("trade", "order"))
    if as_json:
        typer.echo(dumps(report.to_dict()))
    else:
        console.print(f"database: {shown(db)}")
        checked = ", ".join(f"{n} {e.replace('_', ' ')} rows" for e, n in report.checked.items())
        if report.ok:
            console.print(f"[green]journal verified[/]: {checked} rebuilt, no difference")
        else:
            console.print(f"[red]{len(report.differences)} differences[/] ({checked}):")
            for d in report.differences[:200]:
                console.print(f"  {d}")
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@journal_app.command("baseline")
@handle_errors
def baseline_cmd(db: DbOption = DEFAULT_DB) -> None:
    """Record rows that have no journal entry yet (a database written without the journal).

    Example: tradeledger journal baseline
    """
    from tradeledger.services.journal import baseline

    open_db(db, write=True)
    counts = baseline()
    console.print("baseline recorded: " + ", ".join(f"{n} {e}" for e, n in counts.items()))
