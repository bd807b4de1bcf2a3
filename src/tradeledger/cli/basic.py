"""``tradeledger init`` and ``tradeledger status``."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from sqlalchemy import select

from tradeledger.cli.app import app
from tradeledger.cli.common import DEFAULT_DB, DbOption, console, handle_errors, shown
from tradeledger.db import init_db
from tradeledger.domain.timeutil import dt_now


def _fmt_dt(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


@app.command("init")
@handle_errors
def init_cmd(db: DbOption = DEFAULT_DB) -> None:
    """Create or upgrade the database and print its URL and schema revision.

    Example: tradeledger init --db postgresql://bot@localhost/trades
    """
    from tradeledger.migrations import current_revision

    engine = init_db(db)
    console.print(f"database: {shown(db)}")
    console.print(f"schema revision: {current_revision(engine) or 'none'}")


@app.command("status")
@handle_errors
def status_cmd(db: DbOption = DEFAULT_DB) -> None:
    """Show open trades, open orders and active pair locks.

    Example: tradeledger status --db sqlite:///tradeledger.sqlite
    """
    from tradeledger.models import Order, PairLock, Trade

    init_db(db)
    session = Trade.session
    trades = session.scalars(select(Trade).where(Trade.is_open.is_(True)).order_by(Trade.id)).all()
    console.print(f"database: {shown(db)}")
    table = Table(title=f"Open trades ({len(trades)})")
    for col in ("id", "pair", "side", "amount", "open rate", "stake", "leverage", "opened"):
        table.add_column(col)
    for t in trades:
        table.add_row(str(t.id), t.pair, "short" if t.is_short else "long", f"{t.amount:g}",
                      f"{t.open_rate:g}", f"{t.stake_amount:g}", f"{t.leverage or 1:g}",
                      _fmt_dt(t.open_date))
    console.print(table)

    orders = session.scalars(select(Order).where(Order.ft_is_open.is_(True))
                             .order_by(Order.id)).all()
    otable = Table(title=f"Open orders ({len(orders)})")
    for col in ("trade", "order id", "pair", "side", "type", "amount", "filled", "price",
                "status"):
        otable.add_column(col)
    for o in orders:
        otable.add_row(str(o.ft_trade_id), o.order_id, o.ft_pair, o.ft_order_side,
                       o.order_type or "", f"{o.amount or o.ft_amount:g}", f"{o.filled or 0:g}",
                       f"{o.price or o.ft_price:g}", o.status or "")
    console.print(otable)

    now = dt_now()
    locks = session.scalars(
        select(PairLock).where(PairLock.active.is_(True), PairLock.lock_end_time > now)
        .order_by(PairLock.lock_end_time)
    ).all()
    ltable = Table(title=f"Active pair locks ({len(locks)})")
    for col in ("id", "pair", "side", "until", "reason"):
        ltable.add_column(col)
    for lock in locks:
        ltable.add_row(str(lock.id), lock.pair, lock.side, _fmt_dt(lock.lock_end_time),
                       lock.reason or "")
    console.print(ltable)
