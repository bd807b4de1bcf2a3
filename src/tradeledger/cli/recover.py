"""``tradeledger recover`` and ``tradeledger reconcile`` over the recovery and reconcile services.

The exchange's side comes from a JSON file (the bot or a script fetched it with CCXT):
either a list of CCXT order dictionaries, or an object
``{"orders": [...], "pairs": [...], "positions": {"BTC/USDT": 0.5}, "unavailable_pairs": [...],
"since": "2026-01-01T00:00:00Z"}`` where everything but ``orders`` is optional.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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
from tradeledger.cli.options import dumps, open_db, parse_date, validate_pair
from tradeledger.exceptions import InvalidValueError
from tradeledger.services.journal import journal_actor

__all__ = ["load_exchange_file", "reconcile_cmd", "recover_cmd"]


def load_exchange_file(path: Path) -> dict[str, Any]:
    """Read the exchange JSON file (see the module docstring).

    Raises:
        FileNotFoundError: no such file.
        InvalidValueError: not JSON, or not the expected layout.
    """
    if not path.is_file():
        raise FileNotFoundError(f"exchange orders file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidValueError(f"{path}: not a JSON file ({exc})") from None
    if isinstance(data, list):
        data = {"orders": data}
    if not isinstance(data, dict) or not isinstance(data.get("orders"), list):
        raise InvalidValueError(
            f"{path}: expected a list of CCXT orders or an object with an 'orders' list")
    if not all(isinstance(o, dict) for o in data["orders"]):
        raise InvalidValueError(f"{path}: every entry of 'orders' must be a JSON object")
    for key in ("pairs", "unavailable_pairs"):
        if key in data:
            if not isinstance(data[key], list):
                raise InvalidValueError(f"{path}: {key!r} must be a list of pairs")
            for pair in data[key]:
                validate_pair(str(pair))
    if "positions" in data and not isinstance(data["positions"], dict):
        raise InvalidValueError(f"{path}: 'positions' must map pairs to numbers")
    return data


@app.command("recover")
@handle_errors
def recover_cmd(
    db: DbOption = DEFAULT_DB,
    orders: Annotated[Path | None, typer.Option(
        "--orders", help="JSON file of CCXT orders: resolve pending intents by clientOrderId.")
    ] = None,
    missing_not_found: Annotated[bool, typer.Option(
        help="With --orders: an intent absent from the file was never placed (not_found).")
    ] = False,
    stale_minutes: Annotated[float, typer.Option(
        help="Open orders not updated for this long are listed as stale.")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show what a restarting bot must check: open trades and orders, pending intents.

    With --orders, pending order intents found in the file (by clientOrderId) are attached
    to their trades.

    Example: tradeledger recover --orders exchange-orders.json
    """
    from datetime import timedelta

    from tradeledger.services.intents import resolve_intent
    from tradeledger.services.recovery import build_recovery_report

    data = load_exchange_file(orders) if orders is not None else None
    open_db(db, write=data is not None)
    report = build_recovery_report(stale_after=timedelta(minutes=stale_minutes))
    resolved: list[dict[str, Any]] = []
    if data is not None:
        by_cid = {str(o.get("clientOrderId")): o for o in data["orders"]
                  if o.get("clientOrderId")}
        for intent in report.pending_intents:
            found = by_cid.get(intent.client_order_id)
            if found is None and not missing_not_found:
                continue
            with journal_actor("cli"):
                result = resolve_intent(intent.client_order_id, found)
            resolved.append({"client_order_id": intent.client_order_id,
                             "status": result.status,
                             "exchange_order_id": result.exchange_order_id})
        if resolved:
            report = build_recovery_report(stale_after=timedelta(minutes=stale_minutes))
    if as_json:
        typer.echo(dumps(dict(report.to_dict(), resolved=resolved)))
        return
    console.print(f"database: {shown(db)}")
    table = Table(title=f"Open trades ({len(report.open_trades)})")
    for col in ("id", "pair", "side", "amount", "open rate", "stop", "open orders"):
        table.add_column(col)
    for t in report.open_trades:
        table.add_row(str(t.id), t.pair, "short" if t.is_short else "long", f"{t.amount or 0:g}",
                      f"{t.open_rate or 0:g}", f"{t.stop_loss or 0:g}",
                      ", ".join(f"{o.order_id} ({o.ft_order_side})" for o in t.open_orders))
    console.print(table)
    otable = Table(title=f"Open orders ({len(report.open_orders)}; "
                         f"{len(report.stale_orders)} stale, "
                         f"{len(report.orphan_open_orders)} of closed trades)")
    for col in ("trade", "order id", "pair", "side", "status", "amount", "filled", "last update"):
        otable.add_column(col)
    for o in report.open_orders:
        age = "" if o.seconds_since_update is None else f"{o.seconds_since_update / 60:.0f} min ago"
        otable.add_row(str(o.trade_id), o.order_id, o.pair, o.ft_order_side, o.status or "",
                       f"{o.amount or 0:g}", f"{o.filled or 0:g}", age)
    console.print(otable)
    itable = Table(title=f"Pending order intents ({len(report.pending_intents)})")
    for col in ("client order id", "trade", "pair", "side", "amount", "price", "pending for"):
        itable.add_column(col)
    for i in report.pending_intents:
        itable.add_row(i.client_order_id, str(i.trade_id), i.pair, i.side, f"{i.amount:g}",
                       "" if i.price is None else f"{i.price:g}",
                       f"{i.seconds_pending / 60:.0f} min")
    console.print(itable)
    for r in resolved:
        console.print(f"resolved intent {r['client_order_id']}: {r['status']}"
                      + (f" (exchange order {r['exchange_order_id']})"
                         if r["exchange_order_id"] else ""))
    verdict = ("ask the exchange about: " + ", ".join(report.pairs_to_check)
               if report.needs_exchange_check else "nothing to check with the exchange")
    console.print(verdict)


@app.command("reconcile")
@handle_errors
def reconcile_cmd(
    orders: Annotated[Path, typer.Argument(help="JSON file of the exchange's CCXT orders.")],
    db: DbOption = DEFAULT_DB,
    pair: Annotated[list[str] | None, typer.Option(
        "--pair", "-p", help="Pairs the file covers (default: its 'pairs', else the symbols "
        "of its orders).")] = None,
    since: Annotated[str | None, typer.Option(
        help="Start of the window the file covers (only orders placed after it can be "
        "declared unknown to the exchange).")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Apply the fixes (default: dry run).")
                     ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare the database with the exchange's orders; --apply fixes what can be fixed.

    A dry run that finds differences exits with code 10.

    Example: tradeledger reconcile exchange-orders.json --pair BTC/USDT --apply
    """
    from tradeledger.services.reconcile import apply_reconciliation, reconcile

    data = load_exchange_file(orders)
    if pair:
        pairs = [validate_pair(p) for p in pair]
    elif data.get("pairs"):
        pairs = [str(p) for p in data["pairs"]]
    else:
        pairs = sorted({str(o["symbol"]) for o in data["orders"] if o.get("symbol")})
    if not pairs:
        raise InvalidValueError(f"{orders}: no pairs (give --pair or orders with a symbol)")
    start = parse_date(since, name="--since") if since is not None else (
        parse_date(str(data["since"]), name="since") if data.get("since") else None)
    open_db(db, write=apply)
    report = reconcile(data["orders"], pairs=pairs, since=start,
                       positions=data.get("positions"),
                       unavailable_pairs=data.get("unavailable_pairs", ()))
    with journal_actor("reconcile"):
        result = (apply_reconciliation(report, dry_run=not apply) if report.differences
                  else None)
    if as_json:
        out = report.to_dict()
        out["applied"] = bool(apply and result is not None)
        out["trades_recalculated"] = list(result.trades_recalculated) if result else []
        typer.echo(dumps(out))
    else:
        console.print(f"database: {shown(db)}; pairs: {', '.join(pairs)}")
        if report.is_clean:
            console.print("[bold green]clean[/]: the database agrees with the exchange"
                          + (f" ({report.suppressed} acknowledged before)"
                             if report.suppressed else ""))
        else:
            table = Table(title=f"{len(report.differences)} difference(s)")
            for col in ("reason", "fix", "pair", "order", "trade", "detail", "proposed"):
                table.add_column(col, overflow="fold")
            for d in report.differences:
                table.add_row(d.reason.value, d.fix.value, d.pair or "", d.order_id or "",
                              "" if d.trade_id is None else str(d.trade_id), escape(d.detail),
                              escape(d.proposed))
            console.print(table)
            if apply and result is not None:
                console.print(f"applied {len(result.changes)} change(s) (run {result.run_id}); "
                              f"trades recalculated: {list(result.trades_recalculated)}")
            else:
                console.print("dry run: nothing was changed (use --apply)")
    if report.differences and not apply:
        raise typer.Exit(EXIT_CHECK_FAILED)
