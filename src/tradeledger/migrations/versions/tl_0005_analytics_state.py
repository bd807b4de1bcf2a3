"""tl_analytics_state: write tokens of trades/orders for the analytics result cache (issue 7).

Revision ID: tl_0005
Revises: tl_0004
Create Date: 2026-11-25

A new table ``tl_analytics_state`` (``slot``, ``token``; one slot on SQLite, 16 on PostgreSQL
and MariaDB) and triggers on ``trades`` and ``orders`` that write a new random token into it
within every writing transaction (see :mod:`tradeledger.services.analytics.cache`). freqtrade
ignores the table; its writes fire the triggers too, so the cache stays correct when freqtrade
and tradeledger share a database.

* SQLite: ``AFTER INSERT/UPDATE/DELETE`` row triggers, ``token = random()``.
* PostgreSQL: ``AFTER INSERT/UPDATE/DELETE/TRUNCATE`` statement triggers calling
  ``tl_analytics_bump()`` (slot ``pg_backend_pid() % 16``), enabled ``ALWAYS`` (they fire
  under ``session_replication_role = replica`` too); the function keeps the ``search_path``
  of the migration, so it finds its table from any session. A disabled trigger turns the
  cache off.
* MariaDB/MySQL: the table only, no triggers, so the cache stays off there: ``TRUNCATE``
  fires no trigger on MariaDB (a cached answer could outlive it), and creating triggers needs
  ``SUPER`` or ``log_bin_trust_function_creators`` wherever binary logging is on.

Re-runnable: every step checks first or replaces (DDL is not transactional on MariaDB).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

# the models' metadata holds the table too (compared with the migration head by the tests)
import tradeledger.models.analytics_state  # noqa: F401

revision = "tl_0005"
down_revision = "tl_0004"
branch_labels = None
depends_on = None

TABLE = "tl_analytics_state"
SLOTS = {"sqlite": 1, "postgresql": 16, "mysql": 0}
_OPS = {"ins": "INSERT", "upd": "UPDATE", "del": "DELETE", "trunc": "TRUNCATE"}
_MAX_TOKEN = 2**53 - 1


def _dialect() -> str:
    name = op.get_bind().dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def _triggers(dialect: str) -> list[tuple[str, str, str]]:
    """``(name, table, operation)`` of every trigger (names as in the analytics cache)."""
    ops = ("ins", "upd", "del", "trunc") if dialect == "postgresql" else ("ins", "upd", "del")
    return [(f"tl_analytics_{table}_{o}", table, _OPS[o])
            for table in ("trades", "orders") for o in ops]


def upgrade() -> None:
    bind = op.get_bind()
    dialect = _dialect()
    if not sa.inspect(bind).has_table(TABLE):
        op.create_table(
            TABLE,
            sa.Column("slot", sa.Integer, nullable=False, autoincrement=False),
            sa.Column("token", sa.BigInteger, nullable=False),
            sa.PrimaryKeyConstraint("slot", name=f"{TABLE}_pkey"),
        )
    state = sa.table(TABLE, sa.column("slot", sa.Integer), sa.column("token", sa.BigInteger))
    have = {int(s) for s in bind.execute(sa.select(state.c.slot)).scalars()}
    missing = [{"slot": s, "token": secrets.randbelow(_MAX_TOKEN)}
               for s in range(SLOTS[dialect]) if s not in have]
    if missing:
        bind.execute(state.insert(), missing)
    if dialect == "sqlite":
        for name, table, operation in _triggers(dialect):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(f"CREATE TRIGGER {name} AFTER {operation} ON {table} "
                       f"BEGIN UPDATE {TABLE} SET token = random(); END")
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION tl_analytics_bump() RETURNS trigger "
            "LANGUAGE plpgsql SET search_path FROM CURRENT AS $$ BEGIN "
            f"UPDATE {TABLE} SET token = floor(random() * {_MAX_TOKEN})::bigint "
            f"WHERE slot = pg_backend_pid() % {SLOTS[dialect]}; RETURN NULL; END $$")
        for name, table, operation in _triggers(dialect):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"CREATE TRIGGER {name} AFTER {operation} ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION tl_analytics_bump()")
            # fire in replica mode too (logical replication apply, session_replication_role)
            op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}")
    # MariaDB/MySQL: the table only (see the module docstring)


def downgrade() -> None:
    dialect = _dialect()
    for name, table, _operation in _triggers(dialect):
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tl_analytics_bump()")
    op.drop_table(TABLE)
