"""tradeledger_journal: the append-only audit journal (issue 10).

Revision ID: tl_0004
Revises: tl_0003
Create Date: 2026-11-25

A new table only, so freqtrade still opens the database. Each step checks first: DDL is not
transactional on MariaDB/MySQL, where a crash may have left part of it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tradeledger.migrations.baseline import datetime_type

revision = "tl_0004"
down_revision = "tl_0003"
branch_labels = None
depends_on = None

TABLE = "tradeledger_journal"


def _index_exists(name: str) -> bool:
    return any(ix["name"] == name for ix in sa.inspect(op.get_bind()).get_indexes(TABLE))


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table(TABLE):
        op.create_table(
            TABLE,
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                      primary_key=True, autoincrement=True),
            sa.Column("created_at", datetime_type(), nullable=False),
            sa.Column("tx_id", sa.String(32), nullable=False),
            sa.Column("bot_id", sa.String(255), nullable=True),
            sa.Column("actor", sa.String(32), nullable=False),
            sa.Column("entity", sa.String(32), nullable=False),
            sa.Column("entity_id", sa.Integer, nullable=False),
            sa.Column("trade_id", sa.Integer, nullable=True),
            sa.Column("op", sa.String(8), nullable=False),
            sa.Column("before", sa.Text, nullable=True),
            sa.Column("after", sa.Text, nullable=True),
            sa.PrimaryKeyConstraint("id", name="tradeledger_journal_pkey"),
        )
    for name, cols in (("ix_tradeledger_journal_trade_id", ["trade_id"]),
                       ("ix_tradeledger_journal_created_at", ["created_at"]),
                       ("tl_ix_journal_entity", ["entity", "entity_id"])):
        if not _index_exists(name):
            op.create_index(name, TABLE, cols)


def downgrade() -> None:
    op.drop_table(TABLE)
