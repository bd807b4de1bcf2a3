"""Copy a whole database (any supported backend and schema version) into the current one.

:func:`import_database` reads the source through a private copy, so the source is never
changed: a SQLite file is copied with the online backup API, a server database is copied
table by table into a temporary SQLite file (:func:`tradeledger.services.backup.backup_database`).
The copy is brought to the current schema (an old freqtrade schema is adopted exactly as
``init_db`` would), then every row of the freqtrade tables (``trades``, ``orders``,
``pairlocks``, ``KeyValueStore``, ``trade_custom_data``, ``wallet_history``) and of the
project's order-intent and reconcile-log tables is inserted into the target in **one
transaction**, in chunks, and the row counts are verified before the commit.

Ids: into an empty target every id is kept. When the target already holds rows, the source's
ids are shifted past the target's largest id (table by table) and the references to trades
are shifted with them. An order whose ``(ft_pair, order_id)`` already exists in the target
(the same database imported twice) stops the import before anything is written.

:func:`import_freqtrade_json` reads freqtrade's JSON trade exports: a list of
``trade.to_json()`` objects, the REST API's ``{"trades": [...]}``, a backtest result
``{"strategy": {name: {"trades": [...]}}}`` or the fixture layout
``{"trades": {id: {"to_json": {...}, "orders": [...]}}}``; and ``tradeledger export``'s own
JSON (``{"format": "tradeledger-export", ...}``: every column as stored), whose rows are
inserted as they are, ids kept or shifted as above.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from tradeledger.db import create_db_engine, mask_url
from tradeledger.exceptions import InvalidValueError, OperationalException

__all__ = [
    "COPIED_TABLES",
    "ProgressFn",
    "TransferError",
    "TransferResult",
    "import_database",
    "import_freqtrade_json",
    "load_freqtrade_json",
]

#: Tables copied, parents first.
COPIED_TABLES = ("trades", "orders", "pairlocks", "KeyValueStore", "trade_custom_data",
                 "wallet_history", "tradeledger_order_intents", "tradeledger_reconcile_log")
#: Columns that hold a ``trades.id``.
_TRADE_REFS = {"orders": "ft_trade_id", "trade_custom_data": "ft_trade_id",
               "tradeledger_order_intents": "ft_trade_id",
               "tradeledger_reconcile_log": "ft_trade_id"}
CHUNK = 500
#: ``format`` of ``tradeledger export``'s JSON files, and the versions this code reads.
EXPORT_FORMAT = "tradeledger-export"
EXPORT_VERSIONS = (1,)

#: ``progress(table, rows_done, rows_total)``.
ProgressFn = Callable[[str, int, int], None]


class TransferError(OperationalException):
    """The import cannot run or failed verification (nothing was written)."""


@dataclass
class TransferResult:
    """What was imported and what the verification counted."""

    source: str
    target: str
    copied: dict[str, int] = field(default_factory=dict)
    #: Rows found in the target afterwards, among the ids written (per table).
    verified: dict[str, int] = field(default_factory=dict)
    id_offsets: dict[str, int] = field(default_factory=dict)
    truncated_values: int = 0

    @property
    def ok(self) -> bool:
        """Every copied row was found in the target."""
        return all(self.verified.get(t, -1) == n for t, n in self.copied.items())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"source": self.source, "target": self.target, "copied": self.copied,
                "verified": self.verified, "id_offsets": self.id_offsets,
                "truncated_values": self.truncated_values, "ok": self.ok}


def _metadata_tables() -> dict[str, sa.Table]:
    from tradeledger.models import ModelBase

    tables = ModelBase.metadata.tables
    return {name: tables[name] for name in COPIED_TABLES if name in tables}


@contextmanager
def _prepared_copy(source_url: str) -> Iterator[Engine]:
    """A temporary SQLite copy of the source, migrated to the current schema."""
    from tradeledger.migrations import prepare_database
    from tradeledger.services.backup import backup_database

    url = sa.make_url(source_url)
    tmpdir = Path(tempfile.mkdtemp(prefix="tradeledger-import-"))
    try:
        copy = tmpdir / "source.sqlite"
        if url.get_backend_name() == "sqlite":
            if url.database in (None, "", ":memory:"):
                raise InvalidValueError("an in-memory database (sqlite://) cannot be imported")
            path = Path(str(url.database))
            if not path.is_file():
                raise FileNotFoundError(f"source database file not found: {path}")
            src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)
            except sqlite3.DatabaseError as exc:
                raise InvalidValueError(f"{path} is not a readable SQLite database: {exc}"
                                        ) from None
            finally:
                dst.close()
                src.close()
        else:
            engine = create_db_engine(source_url)
            try:
                backup_database(engine, copy, "sqlite")
            finally:
                engine.dispose()
        engine = create_db_engine(f"sqlite:///{copy}", sqlite_synchronous="OFF")
        try:
            prepare_database(engine, migrate="auto")
            yield engine
        finally:
            engine.dispose()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _max_id(conn: sa.Connection, table: sa.Table) -> int:
    return int(conn.scalar(sa.select(sa.func.max(table.c.id))) or 0)


def _cutter(table: sa.Table) -> dict[str, int]:
    return {c.name: c.type.length for c in table.columns
            if isinstance(c.type, sa.String) and c.type.length}


def _reset_sequences(conn: sa.Connection, tables: Mapping[str, sa.Table]) -> None:
    if conn.dialect.name != "postgresql":
        return
    for name in tables:
        quoted = conn.dialect.identifier_preparer.quote(name)
        seq = conn.scalar(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": quoted})
        if seq:
            conn.execute(sa.text(
                f"SELECT setval(:s, COALESCE((SELECT MAX(id) FROM {quoted}), 0) + 1, false)"),
                {"s": seq})


def _existing_orders(dst: sa.Connection, orders: sa.Table,
                     keys: set[tuple[Any, Any]]) -> set[tuple[Any, Any]]:
    """Which ``(ft_pair, order_id)`` of ``keys`` the target's orders already hold."""
    existing: set[tuple[Any, Any]] = set()
    if not keys or not dst.scalar(sa.select(sa.func.count()).select_from(orders)):
        return existing
    key_list = sorted(keys)
    for i in range(0, len(key_list), CHUNK):
        ids = [k[1] for k in key_list[i:i + CHUNK]]
        for r in dst.execute(sa.select(orders.c.ft_pair, orders.c.order_id)
                             .where(orders.c.order_id.in_(ids))):
            if (r.ft_pair, r.order_id) in keys:
                existing.add((r.ft_pair, r.order_id))
    return existing


def _check_duplicates(src: sa.Connection, dst: sa.Connection, orders: sa.Table) -> None:
    keys = {(r.ft_pair, r.order_id) for r in src.execute(
        sa.select(orders.c.ft_pair, orders.c.order_id))}
    existing = _existing_orders(dst, orders, keys)
    if existing:
        sample = ", ".join(f"{p} {o}" for p, o in sorted(existing)[:5])
        raise TransferError(
            f"{len(existing)} order(s) of the source already exist in the target (e.g. "
            f"{sample}); was this database imported before? Nothing was written.")


def _count_in(dst: sa.Connection, column: sa.Column[Any], ids: list[int]) -> int:
    """Rows of ``column``'s table whose ``column`` is one of ``ids`` (in chunks)."""
    found = 0
    for i in range(0, len(ids), CHUNK):
        found += int(dst.scalar(sa.select(sa.func.count()).select_from(column.table)
                                .where(column.in_(ids[i:i + CHUNK]))) or 0)
    return found


def import_database(source_url: str, target: Engine, *,
                    progress: ProgressFn | None = None) -> TransferResult:
    """Copy every row of ``source_url`` into the database behind ``target``.

    Args:
        source_url: database URL of the source (SQLite file, PostgreSQL, MariaDB/MySQL), of
            any freqtrade schema from 2022.3 on or any tradeledger revision this code knows.
        target: engine of an initialised target database (``init_db`` ran on it).
        progress: called after each chunk with ``(table, rows_done, rows_total)``.

    Raises:
        FileNotFoundError: a source SQLite file does not exist.
        SchemaTooNewError: the source carries a schema revision this code does not know.
        TransferError: orders of the source already exist in the target, or verification
            failed (the transaction is rolled back: nothing is written).
    """
    tables = _metadata_tables()
    result = TransferResult(source=mask_url(source_url), target=mask_url(target.url))
    with _prepared_copy(source_url) as source, source.connect() as src, target.begin() as dst:
        totals = {n: int(src.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
                  for n, t in tables.items()}
        _check_duplicates(src, dst, tables["orders"])
        before = {n: int(dst.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
                  for n, t in tables.items()}
        offsets = {n: (_max_id(dst, t) if before[n] else 0) for n, t in tables.items()}
        result.id_offsets = {n: o for n, o in offsets.items() if o}
        written: dict[str, list[int]] = {}
        for name, table in tables.items():
            cut = _cutter(table)
            done = 0
            ids: list[int] = []
            rows_iter = src.execution_options(stream_results=True).execute(
                sa.select(table).order_by(table.c.id))
            while True:
                chunk = rows_iter.fetchmany(CHUNK)
                if not chunk:
                    break
                batch = []
                for row in chunk:
                    values = dict(row._mapping)
                    values["id"] = values["id"] + offsets[name]
                    ref = _TRADE_REFS.get(name)
                    if ref is not None and values.get(ref) is not None:
                        values[ref] = values[ref] + offsets["trades"]
                    for col, length in cut.items():
                        text = values.get(col)
                        if isinstance(text, str) and len(text) > length:
                            values[col] = text[:length]
                            result.truncated_values += 1
                    batch.append(values)
                    ids.append(values["id"])
                dst.execute(table.insert(), batch)
                done += len(batch)
                if progress is not None:
                    progress(name, done, totals[name])
            if progress is not None and done == 0:
                progress(name, 0, 0)
            result.copied[name] = done
            written[name] = ids
        _reset_sequences(dst, tables)
        for name, table in tables.items():
            result.verified[name] = _count_in(dst, table.c.id, written[name])
        if not result.ok:
            raise TransferError(f"verification failed: copied {result.copied}, found "
                                f"{result.verified}; the import was rolled back")
    _journal_baseline(target)
    return result


def _journal_baseline(target: Engine) -> None:
    """Record the imported rows in the audit journal (actor ``migration``), if it is on.

    The import writes with plain inserts, which the journal's session events do not see.
    """
    from tradeledger.services import journal

    if journal.is_enabled() and sa.inspect(target).has_table("tradeledger_journal"):
        journal.baseline(bind=target, actor="migration")


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"JSON file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidValueError(f"{path}: not a JSON file ({exc})") from None


def _is_export(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == EXPORT_FORMAT


def _column_values(table: sa.Table, row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An exported row as ``table``'s column values (ISO datetimes and enum values parsed)."""
    from tradeledger.models.base import UTCDateTime

    out: dict[str, Any] = {}
    for col in table.columns:
        if col.name not in row:
            continue
        value = row[col.name]
        enum_class = getattr(col.type, "enum_class", None)
        try:
            if value is not None and enum_class is not None:
                value = enum_class(value)
            elif isinstance(value, str) and isinstance(col.type, UTCDateTime | sa.DateTime):
                value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidValueError(f"{where}: column {col.name!r}: {value!r} is not a valid "
                                    "value there (ISO 8601 datetime or enum value)") from None
        out[col.name] = value
    return out


def _import_export(data: dict[str, Any], path: Path, target: Engine,
                   progress: ProgressFn | None) -> TransferResult:
    """Insert the trades and orders of a ``tradeledger export`` JSON document."""
    if data.get("version") not in EXPORT_VERSIONS:
        raise InvalidValueError(f"{path}: tradeledger export version {data.get('version')!r} "
                                f"is not supported (this code reads {EXPORT_VERSIONS})")
    items = data.get("trades")
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        raise InvalidValueError(f"{path}: 'trades' must be a list of trade objects")
    tables = _metadata_tables()
    t_tab, o_tab = tables["trades"], tables["orders"]
    trades: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"{path}: trade #{i + 1}"
        for key in ("id", "pair", "amount", "open_rate", "open_date"):
            if item.get(key) is None:
                raise InvalidValueError(f"{where} has no {key!r}")
        trades.append(_column_values(t_tab, item, where))
        for j, order in enumerate(item.get("orders") or []):
            if not isinstance(order, dict):
                raise InvalidValueError(f"{where}, order #{j + 1}: not an object")
            values = _column_values(o_tab, order, f"{where}, order #{j + 1}")
            values["ft_trade_id"] = item["id"]
            orders.append(values)
    result = TransferResult(source=str(path), target=mask_url(target.url))
    with target.begin() as dst:
        existing = _existing_orders(dst, o_tab, {(o.get("ft_pair"), o.get("order_id"))
                                                 for o in orders})
        if existing:
            pair, order_id = min(existing)
            raise TransferError(f"order {order_id} ({pair}) of {path} already exists "
                                "in the target; nothing was written")
        offsets = {name: _max_id(dst, tab) for name, tab in (("trades", t_tab),
                                                              ("orders", o_tab))}
        result.id_offsets = {n: o for n, o in offsets.items() if o}
        for row in trades:
            row["id"] += offsets["trades"]
        for row in orders:
            row["ft_trade_id"] += offsets["trades"]
            if row.get("id") is not None:
                row["id"] += offsets["orders"]
        for name, tab, rows in (("trades", t_tab, trades), ("orders", o_tab, orders)):
            for i in range(0, len(rows), CHUNK):
                dst.execute(tab.insert(), rows[i:i + CHUNK])
                if progress is not None:
                    progress(name, min(i + CHUNK, len(rows)), len(rows))
            result.copied[name] = len(rows)
        _reset_sequences(dst, {"trades": t_tab, "orders": o_tab})
        ids = [r["id"] for r in trades]
        result.verified = {"trades": _count_in(dst, t_tab.c.id, ids),
                           "orders": _count_in(dst, o_tab.c.ft_trade_id, ids)}
        if not result.ok:
            raise TransferError(f"verification failed: copied {result.copied}, found "
                                f"{result.verified}; the import was rolled back")
    _journal_baseline(target)
    return result


def load_freqtrade_json(path: Path) -> list[dict[str, Any]]:
    """The trade dictionaries (``to_json`` form, with ``orders``) of a freqtrade JSON file.

    Raises:
        FileNotFoundError: no such file.
        InvalidValueError: not JSON, or no known layout.
    """
    data = _read_json(path)
    if _is_export(data):
        raise InvalidValueError(f"{path}: a tradeledger export, not freqtrade trades "
                                "(import it with import_freqtrade_json or tradeledger import)")
    trades: Any = None
    if isinstance(data, list):
        trades = data
    elif isinstance(data, dict) and isinstance(data.get("trades"), list):
        trades = data["trades"]
    elif isinstance(data, dict) and isinstance(data.get("trades"), dict):
        trades = []
        for key in sorted(data["trades"], key=lambda k: int(k) if str(k).isdigit() else 0):
            item = data["trades"][key]
            body = dict(item.get("to_json", item))
            if "orders" in item and "to_json" in item:
                body["orders"] = item["orders"]
            trades.append(body)
    elif isinstance(data, dict) and isinstance(data.get("strategy"), dict):
        trades = [t for res in data["strategy"].values() if isinstance(res, dict)
                  for t in res.get("trades", [])]
    if not isinstance(trades, list) or not all(isinstance(t, dict) for t in trades):
        raise InvalidValueError(
            f"{path}: expected freqtrade trades: a list of trade.to_json() objects, "
            "{'trades': [...]}, a backtest result or {'trades': {id: {'to_json': ...}}}")
    for i, t in enumerate(trades):
        for key in ("pair", "amount", "open_rate", "stake_amount"):
            if key not in t:
                raise InvalidValueError(f"{path}: trade #{i + 1} has no {key!r}")
    return trades


def import_freqtrade_json(path: Path, *, progress: ProgressFn | None = None) -> TransferResult:
    """Import the trades of a freqtrade JSON export into the current database (``init_db``).

    Trade ids are kept when the target holds no trade with the same id, else the database
    assigns new ones. Everything is committed in one transaction.

    Raises:
        FileNotFoundError, InvalidValueError: see :func:`load_freqtrade_json`.
        TransferError: an order of the file already exists in the target.
    """
    from tradeledger.db import get_engine
    from tradeledger.models import Order, Trade

    engine = get_engine()
    data = _read_json(path)
    if _is_export(data):
        return _import_export(data, path, engine, progress)
    items = load_freqtrade_json(path)
    result = TransferResult(source=str(path), target=mask_url(engine.url))
    session = Trade.session
    existing_ids = set(session.scalars(sa.select(Trade.id)).all())
    trades = []
    for i, item in enumerate(items):
        trade = Trade.from_json(json.dumps(item))
        if trade.id in existing_ids or trade.id is None:
            trade.id = None  # type: ignore[assignment]
        for order in trade.orders:
            if Order.order_by_id(order.order_id, pair=order.ft_pair) is not None:
                session.rollback()
                raise TransferError(f"order {order.order_id} ({order.ft_pair}) of trade "
                                    f"#{i + 1} already exists in the target; nothing was "
                                    "written")
        trades.append(trade)
    from tradeledger.services.journal import journal_actor

    try:
        with journal_actor("migration"):
            _add_verified(session, trades, result, progress)
    except BaseException:
        session.rollback()
        raise
    return result


def _add_verified(session: Any, trades: list[Any], result: TransferResult,
                  progress: ProgressFn | None) -> None:
    """Add the trades, verify the counts in the same transaction, commit."""
    from tradeledger.models import Order, Trade

    for i, trade in enumerate(trades):
        session.add(trade)
        if progress is not None:
            progress("trades", i + 1, len(trades))
    session.flush()
    ids = [t.id for t in trades]
    found = int(session.scalar(sa.select(sa.func.count()).select_from(Trade).where(
        Trade.id.in_(ids))) or 0) if ids else 0
    n_orders = sum(len(t.orders) for t in trades)
    found_orders = int(session.scalar(sa.select(sa.func.count()).select_from(Order).where(
        Order.ft_trade_id.in_(ids))) or 0) if ids else 0
    result.copied = {"trades": len(trades), "orders": n_orders}
    result.verified = {"trades": found, "orders": found_orders}
    if not result.ok:
        raise TransferError(f"verification failed: {result.copied} vs {result.verified}")
    session.commit()
