"""``tradeledger locks list | add | remove``: pair locks."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from tradeledger.cli.app import app
from tradeledger.cli.common import DEFAULT_DB, DbOption, console, handle_errors, shown
from tradeledger.cli.options import (
    dumps,
    lock_window_end,
    open_db,
    validate_pair,
    validate_side,
)
from tradeledger.domain.timeutil import dt_now
from tradeledger.exceptions import InvalidValueError
from tradeledger.services.journal import journal_actor

__all__ = ["locks_app"]

locks_app = typer.Typer(
    name="locks", help="List, add and remove pair locks.", no_args_is_help=True,
    add_completion=False, pretty_exceptions_enable=False,
)
app.add_typer(locks_app, name="locks")

SideOpt = Annotated[str, typer.Option(help="long, short or * (both sides).")]


def _fmt(value: object) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[attr-defined]


@locks_app.command("list")
@handle_errors
def list_cmd(
    db: DbOption = DEFAULT_DB,
    pair: Annotated[str | None, typer.Option("--pair", "-p", help="Only this pair (* = global).")
                    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Also expired and removed locks.")
                        ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the pair locks in force now (--all: every lock ever recorded).

    Example: tradeledger locks list --pair BTC/USDT --all
    """
    from tradeledger.models import PairLock

    if pair is not None:
        validate_pair(pair, allow_all=True)
    open_db(db)
    now = dt_now()
    stmt = select(PairLock)
    if not show_all:
        stmt = stmt.where(PairLock.active.is_(True), PairLock.lock_end_time > now)
    if pair is not None:
        stmt = stmt.where(PairLock.pair == pair)
    locks = PairLock.session.scalars(stmt.order_by(PairLock.id)).all()
    if as_json:
        typer.echo(dumps([lock.to_json() for lock in locks]))
        return
    console.print(f"database: {shown(db)}")
    table = Table(title=f"{'All' if show_all else 'Active'} pair locks ({len(locks)})")
    for col in ("id", "pair", "side", "from", "until", "active", "reason"):
        table.add_column(col)
    for lock in locks:
        in_force = bool(lock.active) and lock.lock_end_time_utc > now
        table.add_row(str(lock.id), lock.pair, lock.side, _fmt(lock.lock_time),
                      _fmt(lock.lock_end_time), "yes" if in_force else "no", lock.reason or "")
    console.print(table)


@locks_app.command("add")
@handle_errors
def add_cmd(
    pair: Annotated[str, typer.Argument(help="Pair to lock, or * for every pair.")],
    db: DbOption = DEFAULT_DB,
    minutes: Annotated[float | None, typer.Option(help="Lock for this many minutes.")] = None,
    until: Annotated[str | None, typer.Option(help="Lock until (YYYY-MM-DD[THH:MM], UTC).")
                     ] = None,
    reason: Annotated[str, typer.Option(help="Reason kept with the lock.")] = "manual",
    side: SideOpt = "*",
    timeframe: Annotated[str, typer.Option(
        help="Candle the end is rounded up to (PairLocks.timeframe).")] = "1m",
) -> None:
    """Lock a pair (or every pair with *) for some minutes or until a date.

    Example: tradeledger locks add BTC/USDT --minutes 90 --side long --reason "news"
    """
    from tradeledger.services.pairlocks import PairLocks

    validate_pair(pair, allow_all=True)
    validate_side(side, allowed=("long", "short", "*"))
    now = dt_now()
    end = lock_window_end(minutes, until, now)
    open_db(db, write=True)
    PairLocks.timeframe = timeframe
    with journal_actor("cli"):
        lock = PairLocks.lock_pair(pair, end, reason, now=now, side=side)
    console.print(f"locked {lock.pair} (side {lock.side}) until "
                  f"{_fmt(lock.lock_end_time)} UTC, lock id {lock.id}: {lock.reason}")


@locks_app.command("remove")
@handle_errors
def remove_cmd(
    pair: Annotated[str | None, typer.Argument(help="Pair whose locks to remove.")] = None,
    db: DbOption = DEFAULT_DB,
    lock_id: Annotated[int | None, typer.Option("--id", help="Remove this lock id.")] = None,
    side: Annotated[str | None, typer.Option(
        help="Only locks of this side: long, short or * (default: every side).")] = None,
    reason: Annotated[str | None, typer.Option(help="Remove every lock with this reason.")
                      ] = None,
) -> None:
    """Remove (deactivate) locks: by pair and side, by id, or by reason.

    Example: tradeledger locks remove BTC/USDT --side long
    """
    from tradeledger.models import PairLock
    from tradeledger.services.pairlocks import PairLocks

    given = [x is not None for x in (pair, lock_id, reason)]
    if sum(given) != 1:
        raise InvalidValueError("give exactly one of PAIR, --id or --reason")
    if pair is not None:
        validate_pair(pair, allow_all=True)
    validate_side(side, allowed=("long", "short", "*"))
    open_db(db, write=True)
    now = dt_now()
    session = PairLock.session
    with journal_actor("cli"):
        if lock_id is not None:
            lock = session.get(PairLock, lock_id)
            if lock is None:
                raise InvalidValueError(f"--id: no pair lock with id {lock_id}")
            lock.active = False
            session.commit()
            console.print(f"removed lock {lock_id} ({lock.pair}, side {lock.side})")
            return
        before = {int(lk.id or 0) for lk in PairLocks.get_pair_locks(None, now)}
        if reason is not None:
            PairLocks.unlock_reason(reason, now)
        elif side is not None:
            assert pair is not None
            PairLocks.unlock_pair(pair, now, side=side)
        else:
            for in_force in PairLocks.get_pair_locks(pair, now, None):
                in_force.active = False
            session.commit()
    session.expire_all()
    after = {int(lk.id or 0) for lk in PairLocks.get_pair_locks(None, now)}
    removed = sorted(before - after)
    console.print(f"removed {len(removed)} lock(s): {removed}" if removed
                  else "no lock in force matched")
