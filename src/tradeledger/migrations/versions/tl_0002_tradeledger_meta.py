"""tradeledger_meta: library version, bot identity and execution mode.

Revision ID: tl_0002
Revises: tl_0001
Create Date: 2026-11-25

A new table only, so freqtrade still opens the database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tradeledger.migrations.baseline import datetime_type

revision = "tl_0002"
down_revision = "tl_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # idempotent: DDL is not transactional on MariaDB/MySQL, a crash may have left the table
    if sa.inspect(op.get_bind()).has_table("tradeledger_meta"):
        return
    op.create_table(
        "tradeledger_meta",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("library_version", sa.String(50), nullable=True),
        sa.Column("created_by_version", sa.String(50), nullable=True),
        sa.Column("bot_id", sa.String(255), nullable=True),
        sa.Column("mode", sa.String(20), nullable=True),
        sa.Column("created_at", datetime_type(), nullable=True),
        sa.Column("updated_at", datetime_type(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="tradeledger_meta_pkey"),
    )


def downgrade() -> None:
    op.drop_table("tradeledger_meta")
