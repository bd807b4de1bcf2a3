"""``tradeledger fleet report | locks | lock | unlock``: many bots on one PostgreSQL database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tradeledger.cli.app import app
from tradeledger.cli.common import DEFAULT_DB, DbOption, console, handle_errors, shown
from tradeledger.cli.options import dumps, lock_window_end, validate_pair, validate_side
from tradeledger.domain.timeutil import dt_now

__all__ = ["fleet_app"]

fleet_app = typer.Typer(
    name="fleet", help="Operator view over every bot schema of one PostgreSQL database.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
app.add_typer(fleet_app, name="fleet")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@fleet_app.command("report")
@handle_errors
def report_cmd(
    db: DbOption = DEFAULT_DB,
    schema: Annotated[list[str] | None, typer.Option(
        "--schema", help="Only these bot schemas (repeat); default: every one.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per-bot trades and profit, fleet totals, and per-pair performance over all bots.

    Example: tradeledger fleet report --db postgresql://ops@db/trading
    """
    from tradeledger.services.fleet import fleet_report

    rep = fleet_report(db, list(schema) if schema else None)
    if as_json:
        typer.echo(dumps(rep.to_dict()))
        return
    console.print(f"database: {shown(db)}")
    table = Table(title="Fleet")
    for col in ("schema", "bot", "mode", "open", "closed", "wins", "losses", "win rate",
                "profit"):
        table.add_column(col, justify="left" if col in ("schema", "bot", "mode") else "right")
    for b in rep.bots:
        table.add_row(b.schema, b.bot_id or "", b.mode or "", str(b.open_trades),
                      str(b.closed_trades), str(b.wins), str(b.losses),
                      f"{b.win_rate * 100:.1f} %", f"{b.total_profit_abs:,.2f}")
    table.add_row("[bold]all[/]", "", "", str(rep.open_trades), str(rep.closed_trades),
                  str(rep.wins), str(rep.losses), f"{rep.win_rate * 100:.1f} %",
                  f"{rep.total_profit_abs:,.2f}")
    console.print(table)


@fleet_app.command("locks")
@handle_errors
def locks_cmd(
    db: DbOption = DEFAULT_DB,
    show_all: Annotated[bool, typer.Option("--all", help="Also expired and released ones.")
                        ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fleet-wide locks in force (every bot that enabled fleet locks honours them)."""
    from tradeledger.services.fleet import list_fleet_locks

    rows = list_fleet_locks(db, include_expired=show_all)
    if as_json:
        typer.echo(dumps(rows))
        return
    table = Table(title="Fleet locks")
    for col in ("id", "pair", "side", "until (UTC)", "active", "reason", "by"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["pair"], r["side"],
                      r["lock_end_time"].strftime("%Y-%m-%d %H:%M:%S"), str(r["active"]),
                      r["reason"] or "", r["created_by"] or "")
    console.print(table)


@fleet_app.command("lock")
@handle_errors
def lock_cmd(
    pair: Annotated[str, typer.Argument(help="Pair to lock for every bot, or * for all pairs.")],
    db: DbOption = DEFAULT_DB,
    minutes: Annotated[float | None, typer.Option(help="Lock for this many minutes.")] = None,
    until: Annotated[str | None, typer.Option(help="Lock until (YYYY-MM-DD[THH:MM], UTC).")
                     ] = None,
    reason: Annotated[str, typer.Option(help="Reason shown by the bots.")] = "fleet",
    side: Annotated[str, typer.Option(help="long, short or * (both sides).")] = "*",
    by: Annotated[str | None, typer.Option(help="Who asks (kept with the lock).")] = None,
) -> None:
    """Lock a pair (or every pair) for every bot of the database.

    Example: tradeledger fleet lock '*' --minutes 60 --reason "exchange maintenance"
    """
    from tradeledger.services.fleet import lock_all_bots

    validate_pair(pair, allow_all=True)
    validate_side(side, allowed=("long", "short", "*"))
    now = dt_now()
    end = lock_window_end(minutes, until, now)
    lock_id = lock_all_bots(db, pair, end, reason, side=side, now=now, created_by=by)
    console.print(f"fleet lock {lock_id}: {pair} (side {side}) until "
                  f"{end:%Y-%m-%d %H:%M:%S} UTC: {reason}")


@fleet_app.command("unlock")
@handle_errors
def unlock_cmd(
    db: DbOption = DEFAULT_DB,
    pair: Annotated[str | None, typer.Option(help="Only locks of this pair.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only locks with this reason.")] = None,
    lock_id: Annotated[int | None, typer.Option("--id", help="Only this lock.")] = None,
) -> None:
    """Release fleet-wide locks (all, or those matching the options)."""
    from tradeledger.services.fleet import unlock_all_bots

    n = unlock_all_bots(db, pair, reason=reason, lock_id=lock_id)
    console.print(f"released {n} fleet lock(s)")
