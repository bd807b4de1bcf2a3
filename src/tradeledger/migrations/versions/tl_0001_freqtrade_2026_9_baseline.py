"""Baseline: the freqtrade 2026.9 schema (six tables).

Revision ID: tl_0001
Revises:
Create Date: 2026-11-25

A freqtrade database (any release since 2022.3) is brought to this revision by
:mod:`tradeledger.migrations.legacy` and stamped; an empty database gets the tables here.
"""

from __future__ import annotations

from alembic import op

from tradeledger.migrations.baseline import BASELINE_TABLES, baseline_metadata, create_tables

revision = "tl_0001"
down_revision = None
branch_labels = ("tradeledger",)
depends_on = None


def upgrade() -> None:
    # re-runnable on MariaDB/MySQL, whose DDL is not transactional
    create_tables(op.get_bind())


def downgrade() -> None:
    md = baseline_metadata()
    md.drop_all(op.get_bind(), tables=[md.tables[t] for t in reversed(BASELINE_TABLES)],
                checkfirst=True)
