"""Adoption of freqtrade databases (releases 2022.3 to 2026.9) into the baseline revision.

freqtrade has no migration history: its schema is recognised by its columns (facts sheet §4).
Every baseline table that is missing is created; every table whose columns, types or key
length differ from the baseline is *rebuilt*: a shadow table ``<name>__tl_new`` with the
baseline layout is filled by ``INSERT ... SELECT`` with freqtrade's per-column fallbacks,
then swapped in place of the old table. ``trades`` and ``orders`` are always rebuilt
together, as freqtrade does. Afterwards freqtrade's two data fixes run
(``fix_old_dry_orders``, ``fix_wrong_max_stake_amount``).

Atomicity, per backend:

* SQLite and PostgreSQL: the caller runs all of this, the stamp and the later revisions in
  one transaction (their DDL is transactional), so a crash leaves the old database as it was.
  The SQLite caller also writes a verified backup first.
* MariaDB/MySQL: DDL commits implicitly. The shadow tables are filled first; one atomic
  ``RENAME TABLE`` then swaps every rebuilt table at once. A crash before it leaves the old
  tables untouched plus ``__tl_new`` leftovers, which the next run drops; a crash after it
  leaves the new tables (all rows copied) plus ``__tl_old`` leftovers and possibly missing
  foreign keys, which the next run removes/adds. Either way the data is entirely old or
  entirely new.

Unlike freqtrade, no ``*_bak`` tables are left behind: on SQLite the verified file backup is
the safety net, on the servers the transaction (or the atomic swap). PostgreSQL sequences
continue after the highest copied id (or the old sequence position if that is higher):
freqtrade 2026.9 asks for a sequence named ``order_id_seq`` and aborts halfway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Connection

from tradeledger.exceptions import SchemaTooOldError
from tradeledger.migrations.baseline import BASELINE_TABLES, baseline_metadata, create_tables

__all__ = [
    "NEW_SUFFIX",
    "OLD_SUFFIX",
    "TOO_OLD_MESSAGE",
    "AdoptionPlan",
    "adopt",
    "fix_old_dry_orders",
    "fix_wrong_max_stake_amount",
    "plan_adoption",
]

logger = logging.getLogger(__name__)

NEW_SUFFIX = "__tl_new"
OLD_SUFFIX = "__tl_old"

TOO_OLD_MESSAGE = (
    "Your database seems to be very old. Please update to freqtrade 2022.3 to migrate this "
    "database or start with a fresh database."
)

_EXIT_REASON_RENAMES = (
    ("sell_signal", "exit_signal"),
    ("custom_sell", "custom_exit"),
    ("force_sell", "force_exit"),
    ("emergency_sell", "emergency_exit"),
)


@dataclass
class AdoptionPlan:
    """What adopting a database into the baseline involves."""

    existing: set[str] = field(default_factory=set)
    create: list[str] = field(default_factory=list)
    rebuild: list[str] = field(default_factory=list)
    leftovers_new: list[str] = field(default_factory=list)
    leftovers_old: list[str] = field(default_factory=list)

    @property
    def is_empty_database(self) -> bool:
        """True when none of the baseline tables exists (a fresh database)."""
        return not (self.existing & set(BASELINE_TABLES)) and not self.leftovers_old

    @property
    def changes_schema(self) -> bool:
        """True when tables must be created, rebuilt or cleaned up."""
        return bool(self.create or self.rebuild or self.leftovers_new or self.leftovers_old)

    def describe(self) -> str:
        """One-line summary for logs and errors."""
        parts = []
        if self.rebuild:
            parts.append(f"rebuild {', '.join(self.rebuild)}")
        if self.create:
            parts.append(f"create {', '.join(self.create)}")
        if self.leftovers_new or self.leftovers_old:
            parts.append("remove leftovers "
                         + ", ".join(self.leftovers_new + self.leftovers_old))
        return "; ".join(parts) or "stamp only"


def _is_mysql(conn: Connection) -> bool:
    return conn.dialect.name in ("mysql", "mariadb")


def _needs_rebuild(conn: Connection, table: sa.Table, cols: dict[str, Any]) -> bool:
    for column in table.columns:
        info = cols.get(column.name)
        if info is None:
            return True
        reflected = info["type"]
        if isinstance(column.type, sa.String) and column.type.length:
            length = getattr(reflected, "length", None)
            if length is not None and length < column.type.length:
                return True
        if _is_mysql(conn):
            # freqtrade's FLOAT is single precision there, and DATETIME drops microseconds
            if isinstance(reflected, mysql.FLOAT) and not isinstance(reflected, mysql.DOUBLE):
                return True
            if isinstance(reflected, mysql.DATETIME) and (getattr(reflected, "fsp", 0) or 0) < 6:
                return True
    return False


def plan_adoption(conn: Connection) -> AdoptionPlan:
    """Inspect ``conn`` (read only) and return what adoption must do.

    Raises:
        SchemaTooOldError: ``trades`` exists without ``orders`` (freqtrade before 2022.3).
    """
    insp = sa.inspect(conn)
    names = set(insp.get_table_names())
    plan = AdoptionPlan(existing=names)
    plan.leftovers_new = sorted(n for n in names if n.endswith(NEW_SUFFIX))
    plan.leftovers_old = sorted(n for n in names if n.endswith(OLD_SUFFIX))
    if "trades" in names and "orders" not in names:
        raise SchemaTooOldError(TOO_OLD_MESSAGE)
    md = baseline_metadata()
    rebuild: set[str] = set()
    for name in BASELINE_TABLES:
        if name not in names:
            plan.create.append(name)
            continue
        cols = {c["name"]: c for c in insp.get_columns(name)}
        if _needs_rebuild(conn, md.tables[name], cols):
            rebuild.add(name)
    if rebuild & {"trades", "orders"} and {"trades", "orders"} <= names:
        rebuild |= {"trades", "orders"}
    plan.rebuild = [n for n in BASELINE_TABLES if n in rebuild]
    return plan


# ---------------------------------------------------------------------------------------------
# column expressions (facts sheet §4)


class _Exprs:
    def __init__(self, conn: Connection, cols: Iterable[str]) -> None:
        self.cols = set(cols)
        self.dialect = conn.dialect.name
        self.q = conn.dialect.identifier_preparer.quote

    def has(self, name: str) -> bool:
        return name in self.cols

    def col(self, name: str, fallback: str = "null") -> str:
        return self.q(name) if name in self.cols else fallback

    def first(self, names: Iterable[str], fallback: str = "null") -> str:
        for name in names:
            if name in self.cols:
                return self.q(name)
        return fallback

    @property
    def false(self) -> str:
        return "false" if self.dialect == "postgresql" else "0"

    @property
    def true(self) -> str:
        return "true" if self.dialect == "postgresql" else "1"


def _trades_exprs(conn: Connection, cols: Iterable[str]) -> dict[str, str]:
    e = _Exprs(conn, cols)
    c = e.col
    fee_open = e.first(["fee_open", "fee"], "0.0")
    fee_close = e.first(["fee_close", "fee"], "0.0")
    stop_loss_pct = c("stop_loss_pct")
    initial_stop_loss_pct = c("initial_stop_loss_pct")
    exit_reason_src = e.first(["sell_reason", "exit_reason"])
    exit_reason = "CASE " + " ".join(
        f"WHEN {exit_reason_src} = '{old}' THEN '{new}'" for old, new in _EXIT_REASON_RENAMES
    ) + f" ELSE {exit_reason_src} END"
    trailing = c("is_stop_loss_trailing",
                 f"(coalesce({stop_loss_pct}, 0.0) <> coalesce({initial_stop_loss_pct}, 0.0))")
    if e.has("timeframe"):
        timeframe = c("timeframe")
    elif e.has("ticker_interval"):
        timeframe = _timeframe_from_ticker_interval(e)
    else:
        timeframe = "null"
    open_trade_value = c("open_trade_value",
                         f"({e.q('amount')} * {e.q('open_rate')} * (1 + {fee_open}))")
    trading_mode = c("trading_mode")
    if e.dialect == "postgresql":
        trading_mode = (f"CAST(CAST({trading_mode} AS TEXT) AS tradingmode)"
                        if e.has("trading_mode") else "CAST(null AS tradingmode)")
    exprs = {
        "id": c("id"),
        "exchange": f"lower({e.q('exchange')})",
        "pair": c("pair"),
        "base_currency": c("base_currency"),
        "stake_currency": c("stake_currency"),
        "is_open": c("is_open"),
        "fee_open": fee_open,
        "fee_open_cost": c("fee_open_cost"),
        "fee_open_currency": c("fee_open_currency"),
        "fee_close": fee_close,
        "fee_close_cost": c("fee_close_cost"),
        "fee_close_currency": c("fee_close_currency"),
        "open_rate": c("open_rate"),
        "open_rate_requested": c("open_rate_requested"),
        "open_trade_value": open_trade_value,
        "close_rate": c("close_rate"),
        "close_rate_requested": c("close_rate_requested"),
        "realized_profit": c("realized_profit", "0.0"),
        "close_profit": c("close_profit"),
        "close_profit_abs": c(
            "close_profit_abs",
            f"(({e.q('amount')} * {e.q('close_rate')} * (1 - {fee_close})) - {open_trade_value})",
        ),
        "stake_amount": c("stake_amount"),
        "max_stake_amount": c("max_stake_amount", e.q("stake_amount")),
        "amount": c("amount"),
        "amount_requested": c("amount_requested", e.q("amount")),
        "open_date": c("open_date"),
        "close_date": c("close_date"),
        "stop_loss": c("stop_loss", "0.0"),
        "stop_loss_pct": stop_loss_pct,
        "initial_stop_loss": c("initial_stop_loss", "0.0"),
        "initial_stop_loss_pct": initial_stop_loss_pct,
        "is_stop_loss_trailing": trailing,
        "max_rate": c("max_rate", "0.0"),
        "min_rate": c("min_rate"),
        "exit_reason": exit_reason,
        "exit_order_status": e.first(["exit_order_status", "sell_order_status"]),
        "strategy": c("strategy"),
        "enter_tag": e.first(["buy_tag", "enter_tag"]),
        "timeframe": timeframe,
        "trading_mode": trading_mode,
        "amount_precision": c("amount_precision"),
        "price_precision": c("price_precision"),
        "precision_mode": c("precision_mode"),
        "precision_mode_price": e.first(["precision_mode_price", "precision_mode"]),
        "contract_size": c("contract_size"),
        "leverage": c("leverage", "1.0"),
        "is_short": c("is_short", e.false),
        "liquidation_price": e.first(["liquidation_price", "isolated_liq"]),
        "interest_rate": c("interest_rate", "0.0"),
        "funding_fees": c("funding_fees", "0.0"),
        "funding_fee_running": c("funding_fee_running"),
        "record_version": c("record_version", "1"),
    }
    return exprs


def _timeframe_from_ticker_interval(e: _Exprs) -> str:
    """Old ``ticker_interval`` (text like ``'5m'``) into ``timeframe``.

    SQLite keeps the text as freqtrade does (SQLite stores it in the INTEGER column); the
    servers need an integer: minutes from ``'<n>m'``/``'<n>h'``/``'<n>d'``, or the number.
    """
    ti = e.q("ticker_interval")
    if e.dialect == "sqlite":
        return ti
    num = "INTEGER" if e.dialect == "postgresql" else "SIGNED"
    txt = f"CAST({ti} AS CHAR(20))" if e.dialect != "postgresql" else f"CAST({ti} AS TEXT)"
    body = f"substr({txt}, 1, length({txt}) - 1)"
    return (
        f"CASE WHEN {txt} LIKE '%m' THEN CAST({body} AS {num}) "
        f"WHEN {txt} LIKE '%h' THEN CAST({body} AS {num}) * 60 "
        f"WHEN {txt} LIKE '%d' THEN CAST({body} AS {num}) * 1440 "
        f"WHEN {txt} LIKE '%w' THEN CAST({body} AS {num}) * 10080 "
        "ELSE null END"
    )


def _orders_exprs(conn: Connection, cols: Iterable[str]) -> dict[str, str]:
    e = _Exprs(conn, cols)
    c = e.col
    exprs = {name: c(name) for name in (
        "id", "ft_trade_id", "ft_order_side", "ft_pair", "ft_is_open", "order_id", "status",
        "symbol", "order_type", "side", "price", "amount", "filled", "remaining", "cost",
        "order_date", "order_filled_date", "order_update_date", "average", "stop_price",
        "ft_fee_base", "ft_cancel_reason", "ft_order_tag",
    )}
    exprs["funding_fee"] = c("funding_fee", "0.0")
    exprs["ft_amount"] = c("ft_amount", f"coalesce({c('amount')}, 0.0)")
    exprs["ft_price"] = c("ft_price", f"coalesce({c('price')}, 0.0)")
    return exprs


def _generic_exprs(conn: Connection, table: sa.Table, cols: Iterable[str]) -> dict[str, str]:
    e = _Exprs(conn, cols)
    fallbacks = {
        ("pairlocks", "side"): "'*'",
        ("pairlocks", "active"): e.true,
        ("wallet_history", "leverage"): "1.0",
        ("wallet_history", "bot_managed"): e.true,
        ("trade_custom_data", "created_at"): "CURRENT_TIMESTAMP",
    }
    return {c.name: e.col(c.name, fallbacks.get((table.name, c.name), "null"))
            for c in table.columns}


def _select_exprs(conn: Connection, table: sa.Table, cols: Iterable[str]) -> dict[str, str]:
    if table.name == "trades":
        return _trades_exprs(conn, cols)
    if table.name == "orders":
        return _orders_exprs(conn, cols)
    return _generic_exprs(conn, table, cols)


# ---------------------------------------------------------------------------------------------
# shadow tables


def _shadow_table(conn: Connection, md: sa.MetaData, base: sa.Table) -> sa.Table:
    """The baseline table ``base`` under the name ``<name>__tl_new``, per dialect.

    SQLite: primary key, unique constraints and foreign keys inline (they cannot be added
    later), foreign keys naming the final tables; no indexes (index names are global).
    PostgreSQL: columns only (constraint and index names are global); all added after the
    swap. MariaDB/MySQL: everything but foreign keys (their names are global).
    """
    dialect = conn.dialect.name
    cols: list[Any] = []
    for column in base.columns:
        col_type = column.type
        if dialect == "postgresql" and column.name == "trading_mode":
            col_type = postgresql.ENUM("SPOT", "MARGIN", "FUTURES", name="tradingmode",
                                       create_type=False)
        is_pk = column.primary_key and dialect != "postgresql"
        cols.append(sa.Column(column.name, col_type, nullable=column.nullable,
                              primary_key=is_pk, autoincrement="auto" if is_pk else False))
    extra: list[Any] = []
    if dialect != "postgresql":
        for cons in base.constraints:
            if isinstance(cons, sa.UniqueConstraint) and not isinstance(
                    cons, sa.PrimaryKeyConstraint):
                extra.append(sa.UniqueConstraint(*[c.name for c in cons.columns],
                                                 name=cons.name))
    if dialect == "sqlite":
        for fk in base.foreign_key_constraints:
            extra.append(sa.ForeignKeyConstraint(
                [c.name for c in fk.columns],
                [f"{el.column.table.name}.{el.column.name}" for el in fk.elements],
                name=fk.name))
    shadow = sa.Table(base.name + NEW_SUFFIX, md, *cols, *extra)
    if _is_mysql(conn):
        for ix in base.indexes:
            sa.Index(ix.name, *[shadow.c[c.name] for c in ix.columns], unique=bool(ix.unique))
    return shadow


def _operations(conn: Connection) -> Operations:
    return Operations(MigrationContext.configure(conn))


def _pg_sequence_positions(conn: Connection, tables: Iterable[str]) -> dict[str, int]:
    """Highest id ever handed out by each table's sequence (0 if none)."""
    out: dict[str, int] = {}
    q = conn.dialect.identifier_preparer.quote
    for name in tables:
        seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                           {"t": q(name)}).scalar()
        pos = 0
        if seq:
            last, called = conn.execute(sa.text(f"SELECT last_value, is_called FROM {seq}")).one()
            pos = int(last) if called else int(last) - 1
        out[name] = pos
    return out


def _mysql_auto_increments(conn: Connection, tables: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in tables:
        value = conn.execute(sa.text(
            "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"), {"t": name}).scalar()
        out[name] = int(value or 0)
    return out


def _pg_create_sequence(conn: Connection, table: str, floor: int) -> None:
    q = conn.dialect.identifier_preparer.quote
    seq_name = f"{table}_id_seq"
    seq = q(seq_name)
    conn.execute(sa.text(f"DROP SEQUENCE IF EXISTS {seq}"))
    conn.execute(sa.text(f"CREATE SEQUENCE {seq} AS integer OWNED BY {q(table)}.id"))
    conn.execute(sa.text(
        f"ALTER TABLE {q(table)} ALTER COLUMN id SET DEFAULT nextval('{seq}'::regclass)"))
    max_id = conn.execute(sa.text(f"SELECT max(id) FROM {q(table)}")).scalar() or 0
    last = max(int(max_id), floor)
    if last >= 1:
        conn.execute(sa.text("SELECT setval(:s, :v, true)"), {"s": seq, "v": last})


def ensure_constraints(conn: Connection, tables: Iterable[str] = BASELINE_TABLES) -> list[str]:
    """Add any primary key, unique constraint, foreign key or index of the baseline missing
    from ``tables`` (after a swap, or after a MariaDB crash). Returns what was added."""
    md = baseline_metadata()
    insp = sa.inspect(conn)
    ops = _operations(conn)
    dialect = conn.dialect.name
    added: list[str] = []
    existing_tables = set(insp.get_table_names())
    for name in tables:
        if name not in existing_tables:
            continue
        table = md.tables[name]
        if dialect != "sqlite":
            pk = insp.get_pk_constraint(name)
            if not pk.get("constrained_columns"):
                ops.create_primary_key(f"{name}_pkey", name, ["id"])
                added.append(f"{name}.pkey")
            uniques = {u["name"] for u in insp.get_unique_constraints(name)}
            uniques |= {i["name"] for i in insp.get_indexes(name) if i.get("unique")}
            for cons in table.constraints:
                if (isinstance(cons, sa.UniqueConstraint)
                        and not isinstance(cons, sa.PrimaryKeyConstraint)
                        and cons.name not in uniques):
                    ops.create_unique_constraint(str(cons.name), name,
                                                 [c.name for c in cons.columns])
                    added.append(str(cons.name))
            fks = {(tuple(fk["constrained_columns"]), fk["referred_table"])
                   for fk in insp.get_foreign_keys(name)}
            for fk in table.foreign_key_constraints:
                key = (tuple(c.name for c in fk.columns), fk.referred_table.name)
                if key not in fks:
                    _add_foreign_key(conn, ops, name, fk)
                    added.append(str(fk.name))
        indexes = {i["name"] for i in insp.get_indexes(name)}
        for ix in table.indexes:
            if ix.name not in indexes:
                ops.create_index(str(ix.name), name, [c.name for c in ix.columns],
                                 unique=bool(ix.unique))
                added.append(str(ix.name))
    return added


def _add_foreign_key(conn: Connection, ops: Operations, table: str,
                     fk: sa.ForeignKeyConstraint) -> None:
    """Add ``fk``; rows that already break it (possible in tables that never declared it) are
    kept: PostgreSQL gets the constraint ``NOT VALID`` (checked for new rows only), MariaDB
    adds it without checking. Deleting a user's rows is never an option."""
    q = conn.dialect.identifier_preparer.quote
    (column,) = [c.name for c in fk.columns]
    parent = fk.referred_table.name
    orphans = conn.execute(sa.text(
        f"SELECT count(*) FROM {q(table)} WHERE {q(column)} IS NOT NULL AND {q(column)} "
        f"NOT IN (SELECT id FROM {q(parent)})")).scalar() or 0
    if orphans:
        logger.warning("%d rows of %s point at no %s row; the foreign key %s is added "
                       "without checking them", orphans, table, parent, fk.name)
    if orphans and conn.dialect.name == "postgresql":
        conn.execute(sa.text(
            f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(str(fk.name))} FOREIGN KEY "
            f"({q(column)}) REFERENCES {q(parent)} (id) NOT VALID"))
        return
    # MariaDB/MySQL: the rows were just counted, so add the key without re-checking them
    # (in place instead of a full table copy)
    if _is_mysql(conn):
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
    try:
        ops.create_foreign_key(str(fk.name), table, parent, [column],
                               [el.column.name for el in fk.elements])
    finally:
        if _is_mysql(conn):
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 1"))


def _drop_mysql_fks_to(conn: Connection, targets: set[str], keep_tables: set[str]) -> None:
    """Drop foreign keys in tables that are *not* rebuilt which point at rebuilt tables."""
    insp = sa.inspect(conn)
    q = conn.dialect.identifier_preparer.quote
    for name in insp.get_table_names():
        if name in keep_tables or name.endswith((NEW_SUFFIX, OLD_SUFFIX)):
            continue
        for fk in insp.get_foreign_keys(name):
            if fk["referred_table"] in targets and fk.get("name"):
                fk_name = q(str(fk["name"]))
                conn.execute(sa.text(f"ALTER TABLE {q(name)} DROP FOREIGN KEY {fk_name}"))


def _cleanup_leftovers(conn: Connection, plan: AdoptionPlan) -> None:
    q = conn.dialect.identifier_preparer.quote
    names = set(sa.inspect(conn).get_table_names())
    if _is_mysql(conn):
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
    try:
        for name in plan.leftovers_new:
            conn.execute(sa.text(f"DROP TABLE {q(name)}"))
        for name in plan.leftovers_old:
            final = name[: -len(OLD_SUFFIX)]
            if final in names:
                conn.execute(sa.text(f"DROP TABLE {q(name)}"))
            else:  # the swap never happened for this one: put it back
                conn.execute(sa.text(f"ALTER TABLE {q(name)} RENAME TO {q(final)}"))
    finally:
        if _is_mysql(conn):
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 1"))


def adopt(conn: Connection, plan: AdoptionPlan) -> None:
    """Bring the freqtrade tables on ``conn`` to the baseline (see the module docstring).

    The caller holds the migration lock and, on SQLite/PostgreSQL, an open transaction
    (SQLite with ``PRAGMA foreign_keys = OFF``).
    """
    dialect = conn.dialect.name
    if plan.leftovers_new or plan.leftovers_old:
        _cleanup_leftovers(conn, plan)
        plan = plan_adoption(conn)
    md = baseline_metadata()
    if plan.create:
        create_tables(conn, [md.tables[n] for n in plan.create], md)
    if plan.rebuild:
        _rebuild(conn, md, plan.rebuild)
    # the data fixes run before the constraints are added: PostgreSQL re-checks a foreign
    # key on every update of a row inserted in the same transaction
    fix_old_dry_orders(conn)
    fix_wrong_max_stake_amount(conn)
    if dialect != "sqlite":
        ensure_constraints(conn)
    elif plan.rebuild:
        ensure_constraints(conn, plan.rebuild)
    logger.info("freqtrade schema adopted (%s)", plan.describe())


def _rebuild(conn: Connection, md: sa.MetaData, names: list[str]) -> None:
    dialect = conn.dialect.name
    q = conn.dialect.identifier_preparer.quote
    insp = sa.inspect(conn)
    shadow_md = sa.MetaData()
    for table in md.tables.values():
        table.to_metadata(shadow_md)  # final tables, so shadow FKs can name them
    if dialect == "postgresql":
        postgresql.ENUM("SPOT", "MARGIN", "FUTURES", name="tradingmode").create(
            conn, checkfirst=True)
    positions: dict[str, int] = {}
    if dialect == "postgresql":
        positions = _pg_sequence_positions(conn, names)
    elif _is_mysql(conn):
        positions = _mysql_auto_increments(conn, names)
    for name in names:
        base = md.tables[name]
        shadow = _shadow_table(conn, shadow_md, base)
        if _is_mysql(conn):
            create_tables(conn, [shadow], shadow_md)  # with its indexes, one statement
        else:
            shadow.create(conn)
        old_cols = [c["name"] for c in insp.get_columns(name)]
        exprs = _select_exprs(conn, base, old_cols)
        targets = ", ".join(q(c.name) for c in base.columns)
        sources = ", ".join(exprs[c.name] for c in base.columns)
        conn.execute(sa.text(
            f"INSERT INTO {q(shadow.name)} ({targets}) SELECT {sources} FROM {q(name)}"))
    children_first = list(reversed(names))
    if dialect == "sqlite":
        for name in children_first:
            conn.execute(sa.text(f"DROP TABLE {q(name)}"))
        for name in names:
            conn.execute(sa.text(f"ALTER TABLE {q(name + NEW_SUFFIX)} RENAME TO {q(name)}"))
    elif dialect == "postgresql":
        for name in children_first:
            conn.execute(sa.text(f"DROP TABLE {q(name)} CASCADE"))
        for name in names:
            conn.execute(sa.text(f"ALTER TABLE {q(name + NEW_SUFFIX)} RENAME TO {q(name)}"))
        for name in names:
            _pg_create_sequence(conn, name, positions.get(name, 0))
    else:
        _drop_mysql_fks_to(conn, set(names), set(names))
        pairs = ", ".join(
            f"{q(n)} TO {q(n + OLD_SUFFIX)}, {q(n + NEW_SUFFIX)} TO {q(n)}" for n in names)
        conn.execute(sa.text(f"RENAME TABLE {pairs}"))  # atomic swap of every rebuilt table
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
        try:
            for name in children_first:
                conn.execute(sa.text(f"DROP TABLE {q(name + OLD_SUFFIX)}"))
        finally:
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 1"))
        for name in names:
            max_id = conn.execute(sa.text(f"SELECT max(id) FROM {q(name)}")).scalar() or 0
            floor = positions.get(name, 0)
            if floor > int(max_id) + 1:
                conn.execute(sa.text(f"ALTER TABLE {q(name)} AUTO_INCREMENT = {int(floor)}"))


# ---------------------------------------------------------------------------------------------
# freqtrade's data fixes


def fix_old_dry_orders(conn: Connection) -> int:
    """Close dry-run orders freqtrade considers stale (facts §4 step 7); return the count.

    (a) open ``stoploss`` orders whose ``order_id`` starts with ``dry``; (b) other open
    ``dry`` orders whose trade is not open.
    """
    md = baseline_metadata()
    orders, trades = md.tables["orders"], md.tables["trades"]
    r1 = conn.execute(
        orders.update()
        .where(orders.c.ft_is_open.is_(True), orders.c.ft_order_side == "stoploss",
               orders.c.order_id.like("dry%"))
        .values(ft_is_open=False))
    open_ids = sa.select(trades.c.id).where(trades.c.is_open.is_(True))
    r2 = conn.execute(
        orders.update()
        .where(orders.c.ft_is_open.is_(True), orders.c.ft_order_side != "stoploss",
               orders.c.order_id.like("dry%"), orders.c.ft_trade_id.not_in(open_ids))
        .values(ft_is_open=False))
    return int(r1.rowcount or 0) + int(r2.rowcount or 0)


def fix_wrong_max_stake_amount(conn: Connection) -> int:
    """Divide ``max_stake_amount`` by leverage on closed leveraged rows of record version < 2
    (facts §4 step 8), setting ``record_version = 2``; return the count."""
    trades = baseline_metadata().tables["trades"]
    result = conn.execute(
        trades.update()
        .where(trades.c.record_version < 2, trades.c.leverage > 1,
               trades.c.is_open.is_(False), trades.c.max_stake_amount != 0)
        .values(max_stake_amount=trades.c.max_stake_amount / trades.c.leverage,
                record_version=2))
    return int(result.rowcount or 0)
