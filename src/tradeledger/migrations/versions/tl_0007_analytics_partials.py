"""tl_analytics_partials: per-block partial results kept for the next process (issue 7).

Revision ID: tl_0007
Revises: tl_0006
Create Date: 2026-11-25

A new table ``tl_analytics_partials`` (``statement``, ``block``, ``token``, ``stored_at``,
``payload``), primary key ``(statement, block)``, indexed on ``stored_at``: the partial rows
of an analytics statement for one block of trade ids, with the block's write tokens they
were computed for (see :mod:`tradeledger.services.analytics.partials`). A cache: deleting
its rows loses nothing. freqtrade ignores the table. Created on every dialect (MariaDB/MySQL
never write it: the block tokens need triggers). Re-runnable: the upgrade checks first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# the models' metadata holds the table too (compared with the migration head by the tests)
import tradeledger.models.analytics_state  # noqa: F401

revision = "tl_0007"
down_revision = "tl_0006"
branch_labels = None
depends_on = None

TABLE = "tl_analytics_partials"


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("statement", sa.String(64), nullable=False),
        sa.Column("block", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("stored_at", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("statement", "block", name=f"{TABLE}_pkey"),
    )
    op.create_index(f"ix_{TABLE}_stored_at", TABLE, ["stored_at"])


def downgrade() -> None:
    op.drop_index(f"ix_{TABLE}_stored_at", table_name=TABLE)
    op.drop_table(TABLE)
