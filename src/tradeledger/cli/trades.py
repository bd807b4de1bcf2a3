"""``tradeledger trades`` and ``tradeledger orders``: filtered, paginated listings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Select, func, select

from tradeledger.cli.app import app
from tradeledger.cli.common import DEFAULT_DB, DbOption, console, handle_errors, shown
from tradeledger.cli.options import dumps, open_db, parse_date, validate_pair, validate_side
from tradeledger.exceptions import InvalidValueError

__all__ = ["orders_cmd", "trades_cmd"]

PairOpt = Annotated[list[str] | None, typer.Option("--pair", "-p",
                                                   help="Only this pair (repeatable).")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", help="Rows per page.")]
PageOpt = Annotated[int, typer.Option(help="Page number (1 = first).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fmt_dt(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _num(value: float | None, fmt: str = "g") -> str:
    return "" if value is None else format(value, fmt)


def _page(limit: int, page: int) -> int:
    if limit < 1 or limit > 10_000:
        raise InvalidValueError(f"--limit: expected 1..10000, got {limit}")
    if page < 1:
        raise InvalidValueError(f"--page: expected 1 or more, got {page}")
    return (page - 1) * limit


def _count(stmt: Select[Any]) -> int:
    from tradeledger.models import Trade

    return int(Trade.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def _footer(total: int, offset: int, shown_rows: int, page: int, limit: int) -> str:
    if total == 0:
        return "no rows"
    pages = (total + limit - 1) // limit
    return (f"rows {offset + 1}-{offset + shown_rows} of {total} (page {page} of {pages}; "
            "--page N for more)")


@app.command("trades")
@handle_errors
def trades_cmd(
    db: DbOption = DEFAULT_DB,
    pair: PairOpt = None,
    strategy: Annotated[str | None, typer.Option(help="Only this strategy.")] = None,
    side: Annotated[str | None, typer.Option(help="long or short.")] = None,
    status: Annotated[str, typer.Option(help="open, closed or all.")] = "all",
    since: Annotated[str | None, typer.Option(help="Opened on/after (YYYY-MM-DD[THH:MM]).")
                     ] = None,
    until: Annotated[str | None, typer.Option(help="Opened before (YYYY-MM-DD[THH:MM]).")
                     ] = None,
    limit: LimitOpt = 50,
    page: PageOpt = 1,
    oldest_first: Annotated[bool, typer.Option(help="Oldest first (default: newest).")
                            ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List trades with filters and pagination (--json: freqtrade's to_json with orders).

    Example: tradeledger trades --pair BTC/USDT --status closed --since 2026-01-01 -n 20
    """
    from tradeledger.models import Trade

    pairs = [validate_pair(p) for p in pair] if pair else None
    validate_side(side)
    if status not in ("open", "closed", "all"):
        raise InvalidValueError(f"--status: expected open, closed or all, got {status!r}")
    start, end = parse_date(since, name="--since"), parse_date(until, name="--until")
    offset = _page(limit, page)
    open_db(db)
    stmt = select(Trade)
    if pairs:
        stmt = stmt.where(Trade.pair.in_(pairs))
    if strategy is not None:
        stmt = stmt.where(Trade.strategy == strategy)
    if side is not None:
        stmt = stmt.where(Trade.is_short.is_(side == "short"))
    if status != "all":
        stmt = stmt.where(Trade.is_open.is_(status == "open"))
    if start is not None:
        stmt = stmt.where(Trade.open_date >= start)
    if end is not None:
        stmt = stmt.where(Trade.open_date < end)
    total = _count(stmt)
    order = (Trade.open_date.asc(), Trade.id.asc()) if oldest_first else (
        Trade.open_date.desc(), Trade.id.desc())
    rows = Trade.session.scalars(stmt.order_by(*order).offset(offset).limit(limit)).all()
    if as_json:
        typer.echo(dumps({"total": total, "page": page, "limit": limit,
                          "trades": [t.to_json() for t in rows]}))
        return
    console.print(f"database: {shown(db)}")
    table = Table(title="Trades")
    right = ("id", "open rate", "close rate", "profit", "profit %")
    for col in ("id", "pair", "side", "open rate", "close rate", "profit", "profit %", "opened",
                "closed", "exit reason"):
        table.add_column(col, justify="right" if col in right else "left",
                         no_wrap=col in ("pair", "opened", "closed"))
    for t in rows:
        if t.is_open:
            profit, ratio = None, None
        else:
            profit, ratio = t.close_profit_abs, t.close_profit
        lev = t.leverage or 1.0
        side = ("short" if t.is_short else "long") + (f" {lev:g}x" if lev != 1 else "")
        table.add_row(str(t.id), t.pair, side, _num(t.open_rate, ".6g"),
                      _num(t.close_rate, ".6g"), _num(profit, ",.2f"),
                      "" if ratio is None else f"{ratio * 100:.2f}", _fmt_dt(t.open_date),
                      _fmt_dt(t.close_date), t.exit_reason or ("open" if t.is_open else ""))
    console.print(table)
    console.print(_footer(total, offset, len(rows), page, limit))


@app.command("orders")
@handle_errors
def orders_cmd(
    db: DbOption = DEFAULT_DB,
    pair: PairOpt = None,
    trade: Annotated[int | None, typer.Option("--trade", help="Only orders of this trade id.")
                     ] = None,
    strategy: Annotated[str | None, typer.Option(help="Only orders of this strategy.")] = None,
    side: Annotated[str | None, typer.Option(
        help="buy, sell or stoploss (ft_order_side), or long/short (the trade's side).")
    ] = None,
    status: Annotated[str, typer.Option(help="open, closed or all.")] = "all",
    since: Annotated[str | None, typer.Option(help="Placed on/after (YYYY-MM-DD[THH:MM]).")
                     ] = None,
    until: Annotated[str | None, typer.Option(help="Placed before (YYYY-MM-DD[THH:MM]).")
                     ] = None,
    limit: LimitOpt = 50,
    page: PageOpt = 1,
    oldest_first: Annotated[bool, typer.Option(help="Oldest first (default: newest).")
                            ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List orders with filters and pagination.

    Example: tradeledger orders --pair ETH/USDT:USDT --side stoploss --status open --json
    """
    from tradeledger.models import Order, Trade

    pairs = [validate_pair(p) for p in pair] if pair else None
    validate_side(side, allowed=("buy", "sell", "stoploss", "long", "short"))
    if status not in ("open", "closed", "all"):
        raise InvalidValueError(f"--status: expected open, closed or all, got {status!r}")
    start, end = parse_date(since, name="--since"), parse_date(until, name="--until")
    offset = _page(limit, page)
    open_db(db)
    stmt = select(Order)
    if pairs:
        stmt = stmt.where(Order.ft_pair.in_(pairs))
    if trade is not None:
        stmt = stmt.where(Order.ft_trade_id == trade)
    if strategy is not None or side in ("long", "short"):
        stmt = stmt.join(Trade, Trade.id == Order.ft_trade_id)
        if strategy is not None:
            stmt = stmt.where(Trade.strategy == strategy)
        if side in ("long", "short"):
            stmt = stmt.where(Trade.is_short.is_(side == "short"))
    if side in ("buy", "sell", "stoploss"):
        stmt = stmt.where(Order.ft_order_side == side)
    if status != "all":
        stmt = stmt.where(Order.ft_is_open.is_(status == "open"))
    if start is not None:
        stmt = stmt.where(Order.order_date >= start)
    if end is not None:
        stmt = stmt.where(Order.order_date < end)
    total = _count(stmt)
    order = (Order.order_date.asc(), Order.id.asc()) if oldest_first else (
        Order.order_date.desc(), Order.id.desc())
    rows = Trade.session.scalars(stmt.order_by(*order).offset(offset).limit(limit)).all()
    if as_json:
        out = []
        for o in rows:
            entry_side = "sell" if (o.trade is not None and o.trade.is_short) else "buy"
            item = o.to_json(entry_side)
            item["id"] = o.id
            item["ft_trade_id"] = o.ft_trade_id
            out.append(item)
        typer.echo(dumps({"total": total, "page": page, "limit": limit, "orders": out}))
        return
    console.print(f"database: {shown(db)}")
    table = Table(title="Orders")
    for col in ("id", "trade", "order id", "pair", "side", "type", "status", "amount", "filled",
                "price", "placed"):
        table.add_column(col, justify="right" if col in ("id", "trade", "amount", "filled",
                                                         "price") else "left",
                         no_wrap=col in ("pair", "placed"))
    for o in rows:
        price = o.average if o.average is not None else (o.price if o.price is not None
                                                         else o.stop_price)
        table.add_row(str(o.id), str(o.ft_trade_id), o.order_id, o.ft_pair, o.ft_order_side,
                      o.order_type or "", o.status or "", _num(o.amount or o.ft_amount, ".6g"),
                      _num(o.filled, ".6g"), _num(price, ".6g"), _fmt_dt(o.order_date))
    console.print(table)
    console.print(_footer(total, offset, len(rows), page, limit))
