"""Order intents, the reconciliation log and the pair-lock check index.

Revision ID: tl_0003
Revises: tl_0002
Create Date: 2026-11-25

New tables and one new index only, so freqtrade still opens the database. Each step checks
first: DDL is not transactional on MariaDB/MySQL, where a crash may have left part of it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tradeledger.migrations.baseline import create_tables, datetime_type, float_type

revision = "tl_0003"
down_revision = "tl_0002"
branch_labels = None
depends_on = None


def _index_exists(table: str, name: str) -> bool:
    return any(ix["name"] == name for ix in sa.inspect(op.get_bind()).get_indexes(table))


def _tables() -> list[sa.Table]:
    md = sa.MetaData()
    intents = sa.Table(
        "tradeledger_order_intents", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("ft_trade_id", sa.Integer, nullable=True),
        sa.Column("pair", sa.String(25), nullable=False),
        sa.Column("side", sa.String(25), nullable=False),
        sa.Column("order_type", sa.String(50), nullable=True),
        sa.Column("amount", float_type(), nullable=False),
        sa.Column("price", float_type(), nullable=True),
        sa.Column("ft_order_tag", sa.String(255), nullable=True),
        sa.Column("status", sa.String(25), nullable=False),
        sa.Column("exchange_order_id", sa.String(255), nullable=True),
        sa.Column("exchange_status", sa.String(255), nullable=True),
        sa.Column("error", sa.String(255), nullable=True),
        sa.Column("created_at", datetime_type(), nullable=False),
        sa.Column("updated_at", datetime_type(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="tradeledger_order_intents_pkey"),
        sa.UniqueConstraint("client_order_id",
                            name="uq_tradeledger_order_intents_client_order_id"),
    )
    sa.Index("ix_tradeledger_order_intents_ft_trade_id", intents.c.ft_trade_id)
    sa.Index("tl_ix_order_intents_status_created", intents.c.status, intents.c.created_at)
    log = sa.Table(
        "tradeledger_reconcile_log", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("created_at", datetime_type(), nullable=False),
        sa.Column("reason", sa.String(50), nullable=False),
        sa.Column("fix", sa.String(50), nullable=False),
        sa.Column("diff_key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("pair", sa.String(25), nullable=True),
        sa.Column("order_id", sa.String(255), nullable=True),
        sa.Column("ft_trade_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="tradeledger_reconcile_log_pkey"),
    )
    sa.Index("ix_tradeledger_reconcile_log_run_id", log.c.run_id)
    sa.Index("ix_tradeledger_reconcile_log_ft_trade_id", log.c.ft_trade_id)
    sa.Index("tl_ix_reconcile_log_key", log.c.diff_key)
    return [intents, log]


def upgrade() -> None:
    bind = op.get_bind()
    tables = _tables()
    create_tables(bind, tables, tables[0].metadata)
    if not _index_exists("pairlocks", "tl_ix_pairlocks_pair_active_end"):
        op.create_index("tl_ix_pairlocks_pair_active_end", "pairlocks",
                        ["pair", "active", "lock_end_time", "side"])


def downgrade() -> None:
    op.drop_index("tl_ix_pairlocks_pair_active_end", table_name="pairlocks")
    op.drop_table("tradeledger_reconcile_log")
    op.drop_table("tradeledger_order_intents")
