"""The frozen baseline schema: freqtrade 2026.9's six tables, exactly.

This module is part of the migration history: it must never change once released. Revision
``tl_0001`` creates these tables on an empty database, and the adoption of older freqtrade
schemas (:mod:`tradeledger.migrations.legacy`) copies old rows into them. The mapped models
(:mod:`tradeledger.models`) may evolve; every change to them needs a new revision, and a test
checks that the models equal the migration head.

Types follow :mod:`tradeledger.models.base`: ``Float`` (``DOUBLE`` on MariaDB/MySQL, whose
``FLOAT`` is single precision), naive-UTC ``DATETIME`` (``DATETIME(6)`` on MariaDB/MySQL),
``BOOLEAN``, ``trading_mode`` as the enum ``tradingmode`` of the member *names* (a native
type on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = [
    "BASELINE_TABLES",
    "NAMING_CONVENTION",
    "baseline_metadata",
    "datetime_type",
    "float_type",
]

#: Frozen copy of the naming convention of ``models/base.py`` at the baseline.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

#: Tables of the baseline, parents first.
BASELINE_TABLES: tuple[str, ...] = (
    "trades",
    "orders",
    "pairlocks",
    "KeyValueStore",
    "trade_custom_data",
    "wallet_history",
)


def float_type() -> sa.types.TypeEngine[float]:
    """``FLOAT`` (a double) on SQLite/PostgreSQL, ``DOUBLE`` on MariaDB/MySQL."""
    return sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


def datetime_type() -> sa.types.TypeEngine[Any]:
    """Naive ``DATETIME``; ``DATETIME(6)`` on MariaDB/MySQL (keeps microseconds)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _trading_mode_type() -> sa.Enum:
    return sa.Enum("SPOT", "MARGIN", "FUTURES", name="tradingmode")


def baseline_metadata(*, naming_convention: dict[str, str] | None = None) -> sa.MetaData:
    """Return a new ``MetaData`` holding the six baseline tables (freqtrade 2026.9)."""
    md = sa.MetaData(naming_convention=naming_convention or NAMING_CONVENTION)
    add_baseline_tables(md)
    return md


def add_baseline_tables(md: sa.MetaData) -> None:
    """Add the baseline tables to ``md``."""
    f = float_type
    dt = datetime_type
    col = sa.Column
    sa.Table(
        "trades", md,
        col("id", sa.Integer, primary_key=True),
        col("exchange", sa.String(25), nullable=False),
        col("pair", sa.String(25), nullable=False, index=True),
        col("base_currency", sa.String(25), nullable=True),
        col("stake_currency", sa.String(25), nullable=True),
        col("is_open", sa.Boolean, nullable=False, index=True),
        col("fee_open", f(), nullable=False),
        col("fee_open_cost", f(), nullable=True),
        col("fee_open_currency", sa.String(25), nullable=True),
        col("fee_close", f(), nullable=False),
        col("fee_close_cost", f(), nullable=True),
        col("fee_close_currency", sa.String(25), nullable=True),
        col("open_rate", f(), nullable=False),
        col("open_rate_requested", f(), nullable=True),
        col("open_trade_value", f(), nullable=True),
        col("close_rate", f(), nullable=True),
        col("close_rate_requested", f(), nullable=True),
        col("realized_profit", f(), nullable=True),
        col("close_profit", f(), nullable=True),
        col("close_profit_abs", f(), nullable=True),
        col("stake_amount", f(), nullable=False),
        col("max_stake_amount", f(), nullable=True),
        col("amount", f(), nullable=False),
        col("amount_requested", f(), nullable=True),
        col("open_date", dt(), nullable=False),
        col("close_date", dt(), nullable=True),
        col("stop_loss", f(), nullable=True),
        col("stop_loss_pct", f(), nullable=True),
        col("initial_stop_loss", f(), nullable=True),
        col("initial_stop_loss_pct", f(), nullable=True),
        col("is_stop_loss_trailing", sa.Boolean, nullable=False),
        col("max_rate", f(), nullable=True),
        col("min_rate", f(), nullable=True),
        col("exit_reason", sa.String(255), nullable=True),
        col("exit_order_status", sa.String(100), nullable=True),
        col("strategy", sa.String(100), nullable=True),
        col("enter_tag", sa.String(255), nullable=True),
        col("timeframe", sa.Integer, nullable=True),
        col("trading_mode", _trading_mode_type(), nullable=True),
        col("amount_precision", f(), nullable=True),
        col("price_precision", f(), nullable=True),
        col("precision_mode", sa.Integer, nullable=True),
        col("precision_mode_price", sa.Integer, nullable=True),
        col("contract_size", f(), nullable=True),
        col("leverage", f(), nullable=True),
        col("is_short", sa.Boolean, nullable=False),
        col("liquidation_price", f(), nullable=True),
        col("interest_rate", f(), nullable=False),
        col("funding_fees", f(), nullable=True),
        col("funding_fee_running", f(), nullable=True),
        col("record_version", sa.Integer, nullable=False),
    )
    sa.Table(
        "orders", md,
        col("id", sa.Integer, primary_key=True),
        col("ft_trade_id", sa.Integer, sa.ForeignKey("trades.id"), nullable=False, index=True),
        col("ft_order_side", sa.String(25), nullable=False),
        col("ft_pair", sa.String(25), nullable=False),
        col("ft_is_open", sa.Boolean, nullable=False, index=True),
        col("ft_amount", f(), nullable=False),
        col("ft_price", f(), nullable=False),
        col("ft_cancel_reason", sa.String(255), nullable=True),
        col("order_id", sa.String(255), nullable=False, index=True),
        col("status", sa.String(255), nullable=True),
        col("symbol", sa.String(25), nullable=True),
        col("order_type", sa.String(50), nullable=True),
        col("side", sa.String(25), nullable=True),
        col("price", f(), nullable=True),
        col("average", f(), nullable=True),
        col("amount", f(), nullable=True),
        col("filled", f(), nullable=True),
        col("remaining", f(), nullable=True),
        col("cost", f(), nullable=True),
        col("stop_price", f(), nullable=True),
        col("order_date", dt(), nullable=True),
        col("order_filled_date", dt(), nullable=True),
        col("order_update_date", dt(), nullable=True),
        col("funding_fee", f(), nullable=True),
        col("ft_fee_base", f(), nullable=True),
        col("ft_order_tag", sa.String(255), nullable=True),
        sa.UniqueConstraint("ft_pair", "order_id", name="_order_pair_order_id"),
    )
    sa.Table(
        "pairlocks", md,
        col("id", sa.Integer, primary_key=True),
        col("pair", sa.String(25), nullable=False, index=True),
        col("side", sa.String(25), nullable=False),
        col("reason", sa.String(255), nullable=True),
        col("lock_time", dt(), nullable=False),
        col("lock_end_time", dt(), nullable=False, index=True),
        col("active", sa.Boolean, nullable=False, index=True),
    )
    sa.Table(
        "KeyValueStore", md,
        col("id", sa.Integer, primary_key=True),
        col("key", sa.String(50), nullable=False, index=True),
        col("value_type", sa.String(20), nullable=False),
        col("string_value", sa.String(255), nullable=True),
        col("datetime_value", dt(), nullable=True),
        col("float_value", sa.Double, nullable=True),
        col("int_value", sa.Integer, nullable=True),
    )
    sa.Table(
        "trade_custom_data", md,
        col("id", sa.Integer, primary_key=True),
        col("ft_trade_id", sa.Integer, sa.ForeignKey("trades.id"), nullable=True, index=True),
        col("cd_key", sa.String(255), nullable=False),
        col("cd_type", sa.String(25), nullable=False),
        col("cd_value", sa.Text, nullable=False),
        col("created_at", dt(), nullable=False),
        col("updated_at", dt(), nullable=True),
        sa.UniqueConstraint("ft_trade_id", "cd_key", name="_trade_id_cd_key"),
    )
    sa.Table(
        "wallet_history", md,
        col("id", sa.Integer, primary_key=True),
        col("timestamp", dt(), nullable=False, index=True),
        col("currency", sa.String(25), nullable=False),
        col("rate", f(), nullable=True),
        col("quote_currency", sa.String(25), nullable=False),
        col("balance", f(), nullable=False),
        col("total_quote", f(), nullable=True),
        col("total_position_value", f(), nullable=True),
        col("collateral", f(), nullable=True),
        col("leverage", f(), nullable=False),
        col("bot_managed", sa.Boolean, nullable=False),
        sa.UniqueConstraint("timestamp", "currency", name="unique_wallet_daily"),
    )


def create_tables(bind: sa.Connection, tables: list[sa.Table] | None = None,
                  md: sa.MetaData | None = None) -> None:
    """Create ``tables`` (default: every baseline table) that do not exist yet.

    Re-runnable: on MariaDB/MySQL, where DDL is not transactional, a crash may have left a
    table without some of its indexes; those are added. There every table's indexes are
    added by one ``ALTER TABLE`` (each DDL statement costs a disk sync there).
    """
    md = md if md is not None else baseline_metadata()
    tables = tables if tables is not None else list(md.sorted_tables)
    if bind.dialect.name not in ("mysql", "mariadb"):
        md.create_all(bind, tables=tables, checkfirst=True)
        return
    q = bind.dialect.identifier_preparer.quote
    insp = sa.inspect(bind)
    existing = set(insp.get_table_names())
    for table in tables:
        indexes = sorted(table.indexes, key=lambda i: str(i.name))

        def clause(ix: sa.Index) -> str:
            return (f"{'UNIQUE ' if ix.unique else ''}INDEX {q(str(ix.name))} "
                    f"({', '.join(q(str(c.name)) for c in ix.columns)})")

        if table.name not in existing:
            ddl = str(sa.schema.CreateTable(table).compile(dialect=bind.dialect)).rstrip()
            if indexes and ddl.endswith(")"):  # indexes inline: one statement per table
                ddl = ddl[:-1].rstrip() + ",\n\t" + ",\n\t".join(map(clause, indexes)) + "\n)"
                indexes = []
            bind.execute(sa.text(ddl))
            have: set[str] = set()
        else:
            have = {str(ix["name"]) for ix in insp.get_indexes(table.name)}
        missing = [f"ADD {clause(ix)}" for ix in indexes if str(ix.name) not in have]
        if missing:
            bind.execute(sa.text(f"ALTER TABLE {q(table.name)} {', '.join(missing)}"))
