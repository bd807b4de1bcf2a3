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

from tradeledger.migrations.baseline import create_tables, datetime_type

revision = "tl_0004"
down_revision = "tl_0003"
branch_labels = None
depends_on = None

TABLE = "tradeledger_journal"


def upgrade() -> None:
    md = sa.MetaData()
    journal = sa.Table(
        TABLE, md,
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
    sa.Index("ix_tradeledger_journal_trade_id", journal.c.trade_id)
    sa.Index("ix_tradeledger_journal_created_at", journal.c.created_at)
    sa.Index("tl_ix_journal_entity", journal.c.entity, journal.c.entity_id)
    # re-runnable; on MariaDB/MySQL the indexes are created with the table (one statement)
    create_tables(op.get_bind(), [journal], md)


def downgrade() -> None:
    op.drop_table(TABLE)
