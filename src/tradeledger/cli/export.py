"""``tradeledger export``: trades with their orders to CSV, JSON or Parquet.

Every column is exported as stored (datetimes as ISO 8601 UTC, ``trading_mode`` by value).

* JSON: one file, ``{"format": "tradeledger-export", "version": 1, "trades": [...]}``, each
  trade with its ``orders`` list.
* CSV / Parquet: two files, ``FILE`` (one row per trade) and ``FILE`` with ``.orders`` before the
  suffix (one row per order, ``ft_trade_id`` links it to its trade).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from tradeledger.cli.app import app
from tradeledger.cli.common import DEFAULT_DB, DbOption, console, handle_errors, shown
from tradeledger.cli.options import jsonable, open_db, parse_date, validate_pair, validate_side
from tradeledger.domain.timeutil import dt_now
from tradeledger.exceptions import InvalidValueError, OptionalDependencyError

__all__ = ["export_cmd", "export_rows", "orders_path"]

FORMATS = ("csv", "json", "parquet")


def orders_path(path: Path) -> Path:
    """``trades.csv`` -> ``trades.orders.csv``."""
    return path.with_name(f"{path.stem}.orders{path.suffix}")


def export_rows(flt: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Trade rows and order rows (plain column values) selected by ``flt``."""
    from tradeledger.models import Order, Trade

    t, o = Trade.__table__, Order.__table__
    stmt = select(t)
    if flt.get("pairs"):
        stmt = stmt.where(t.c.pair.in_(flt["pairs"]))
    if flt.get("strategy") is not None:
        stmt = stmt.where(t.c.strategy == flt["strategy"])
    if flt.get("side") is not None:
        stmt = stmt.where(t.c.is_short.is_(flt["side"] == "short"))
    if flt.get("status") in ("open", "closed"):
        stmt = stmt.where(t.c.is_open.is_(flt["status"] == "open"))
    if flt.get("since") is not None:
        stmt = stmt.where(t.c.open_date >= flt["since"])
    if flt.get("until") is not None:
        stmt = stmt.where(t.c.open_date < flt["until"])
    session = Trade.session
    trades = [dict(r._mapping) for r in session.execute(stmt.order_by(t.c.id))]
    ids = [r["id"] for r in trades]
    orders: list[dict[str, Any]] = []
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        orders += [dict(r._mapping) for r in session.execute(
            select(o).where(o.c.ft_trade_id.in_(chunk)).order_by(o.c.id))]
    return [jsonable(r) for r in trades], [jsonable(r) for r in orders]


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def _write_parquet(path: Path, rows: list[dict[str, Any]], table: Any) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise OptionalDependencyError(
            "Parquet export needs pyarrow: pip install 'tradeledger[parquet]'") from None
    from sqlalchemy import Boolean, DateTime, Float, Integer

    fields = []
    for col in table.columns:
        ptype = col.type
        if isinstance(ptype, Boolean):
            typ = pa.bool_()
        elif isinstance(ptype, Integer):
            typ = pa.int64()
        elif isinstance(ptype, Float):
            typ = pa.float64()
        elif isinstance(ptype, DateTime) or "DateTime" in type(ptype).__name__:
            typ = pa.timestamp("us", tz="UTC")
        else:
            typ = pa.string()
        fields.append(pa.field(col.name, typ))
    schema = pa.schema(fields)
    data: dict[str, list[Any]] = {f.name: [] for f in fields}
    for row in rows:
        for f in fields:
            value = row.get(f.name)
            if value is not None and pa.types.is_timestamp(f.type):
                from datetime import datetime

                value = datetime.fromisoformat(value)
            data[f.name].append(value)
    pq.write_table(pa.Table.from_pydict(data, schema=schema), path)


@app.command("export")
@handle_errors
def export_cmd(
    output: Annotated[Path, typer.Argument(help="File to write (.csv, .json or .parquet).")],
    db: DbOption = DEFAULT_DB,
    fmt: Annotated[str | None, typer.Option(
        "--format", help="csv, json or parquet (default: from the file suffix).")] = None,
    pair: Annotated[list[str] | None, typer.Option("--pair", "-p",
                                                   help="Only this pair (repeatable).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Only this strategy.")] = None,
    side: Annotated[str | None, typer.Option(help="long or short.")] = None,
    status: Annotated[str, typer.Option(help="open, closed or all.")] = "all",
    since: Annotated[str | None, typer.Option(help="Opened on/after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Opened before (YYYY-MM-DD).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Export trades with their orders (every column as stored) to CSV, JSON or Parquet.

    CSV and Parquet write two files: FILE (trades) and FILE.orders.<suffix> (orders).

    Example: tradeledger export trades.parquet --status closed --since 2026-01-01
    """
    from tradeledger.models import Order, Trade

    kind = (fmt or output.suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise InvalidValueError(
            f"--format: expected one of {', '.join(FORMATS)} (or a file ending in one), "
            f"got {fmt or output.name!r}")
    if status not in ("open", "closed", "all"):
        raise InvalidValueError(f"--status: expected open, closed or all, got {status!r}")
    flt = {"pairs": [validate_pair(p) for p in pair] if pair else None, "strategy": strategy,
           "side": validate_side(side), "status": status,
           "since": parse_date(since, name="--since"), "until": parse_date(until, name="--until")}
    targets = [output] if kind == "json" else [output, orders_path(output)]
    if not output.parent.exists():
        raise FileNotFoundError(f"directory {output.parent} does not exist")
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise InvalidValueError(f"{', '.join(existing)} exists already (use --force)")
    open_db(db)
    trades, orders = export_rows(flt)
    if kind == "json":
        by_trade: dict[int, list[dict[str, Any]]] = {}
        for o in orders:
            by_trade.setdefault(o["ft_trade_id"], []).append(o)
        doc = {"format": "tradeledger-export", "version": 1,
               "exported_at": jsonable(dt_now()), "database": shown(db),
               "trades": [dict(t, orders=by_trade.get(t["id"], [])) for t in trades]}
        output.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    elif kind == "csv":
        _write_csv(output, trades, [c.name for c in Trade.__table__.columns])
        _write_csv(targets[1], orders, [c.name for c in Order.__table__.columns])
    else:
        _write_parquet(output, trades, Trade.__table__)
        _write_parquet(targets[1], orders, Order.__table__)
    console.print(f"database: {shown(db)}")
    console.print(f"exported {len(trades)} trades and {len(orders)} orders to "
                  + " and ".join(str(p) for p in targets))
