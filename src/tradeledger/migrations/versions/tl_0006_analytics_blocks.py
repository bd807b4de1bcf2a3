"""tl_analytics_blocks: write tokens per block of trade ids, for incremental analytics (issue 7).

Revision ID: tl_0006
Revises: tl_0005
Create Date: 2026-11-25

A new table ``tl_analytics_blocks`` (``block``, ``slot``, ``token``) and triggers on ``trades``
and ``orders`` that write a new random token for every block of 4 096 trade ids they touch
(``trades.id / 4096``; an order stamps its trade's block, ``orders.ft_trade_id / 4096``), in
the writing transaction. :mod:`tradeledger.services.analytics.blocks` keeps per-block partial
results and recomputes only the blocks whose tokens changed. freqtrade ignores the table;
its writes fire the triggers too.

* SQLite: ``AFTER INSERT/UPDATE/DELETE`` row triggers upserting ``(block, 0, random())``
  (an update stamps the old and the new row's block).
* PostgreSQL: ``AFTER INSERT/UPDATE/DELETE`` statement triggers with transition tables
  calling ``tl_analytics_blocks_bump()``, which upserts one row per distinct block in slot
  ``pg_backend_pid() % 16`` (concurrent bots writing the same block do not queue on one
  row); ``TRUNCATE`` renews every token. Enabled ``ALWAYS``, like ``tl_0005``'s.
* MariaDB/MySQL: the table only (see ``tl_0005``: the caches are off there).

The upgrade also stamps every block that already holds trades or orders, so that a database
migrated with a million trades gets incremental answers from its first write on. Re-runnable:
every step checks first or replaces.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# the models' metadata holds the table too (compared with the migration head by the tests)
import tradeledger.models.analytics_state  # noqa: F401

revision = "tl_0006"
down_revision = "tl_0005"
branch_labels = None
depends_on = None

TABLE = "tl_analytics_blocks"
BLOCK_SIZE = 4096
SLOTS = 16  # PostgreSQL
_MAX_TOKEN = 2**53 - 1
_OPS = {"ins": "INSERT", "upd": "UPDATE", "del": "DELETE", "trunc": "TRUNCATE"}
_ID = {"trades": "id", "orders": "ft_trade_id"}


def _dialect() -> str:
    name = op.get_bind().dialect.name
    return "mysql" if name in ("mysql", "mariadb") else name


def trigger_names(dialect: str) -> list[tuple[str, str, str]]:
    """``(name, table, operation)`` of every trigger on ``dialect``."""
    ops = ("ins", "upd", "del", "trunc") if dialect == "postgresql" else ("ins", "upd", "del")
    if dialect not in ("sqlite", "postgresql"):
        return []
    return [(f"tl_blocks_{table}_{o}", table, _OPS[o])
            for table in ("trades", "orders") for o in ops]


def _sqlite_body(table: str, operation: str) -> str:
    col = _ID[table]
    rows = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}[operation]
    return " ".join(
        f"INSERT INTO {TABLE} (block, slot, token) VALUES ({row}.{col} / {BLOCK_SIZE}, 0, "
        "random()) ON CONFLICT (block, slot) DO UPDATE SET token = excluded.token;"
        for row in rows
    )


def _pg_upsert(source: str, col: str) -> str:
    return (f"INSERT INTO {TABLE} (block, slot, token) "
            f"SELECT b, pg_backend_pid() % {SLOTS}, floor(random() * {_MAX_TOKEN})::bigint "
            f"FROM (SELECT DISTINCT {col} / {BLOCK_SIZE} AS b FROM {source} "
            f"WHERE {col} IS NOT NULL) s "
            "ON CONFLICT (block, slot) DO UPDATE SET token = EXCLUDED.token;")


_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION tl_analytics_blocks_bump() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE {TABLE} SET token = floor(random() * {_MAX_TOKEN})::bigint;
  ELSIF TG_TABLE_NAME = 'trades' THEN
    IF TG_OP <> 'DELETE' THEN {_pg_upsert("tl_new", "id")} END IF;
    IF TG_OP <> 'INSERT' THEN {_pg_upsert("tl_old", "id")} END IF;
  ELSE
    IF TG_OP <> 'DELETE' THEN {_pg_upsert("tl_new", "ft_trade_id")} END IF;
    IF TG_OP <> 'INSERT' THEN {_pg_upsert("tl_old", "ft_trade_id")} END IF;
  END IF;
  RETURN NULL;
END $$"""


def upgrade() -> None:
    bind = op.get_bind()
    dialect = _dialect()
    if not sa.inspect(bind).has_table(TABLE):
        op.create_table(
            TABLE,
            sa.Column("block", sa.BigInteger, nullable=False, autoincrement=False),
            sa.Column("slot", sa.Integer, nullable=False, autoincrement=False),
            sa.Column("token", sa.BigInteger, nullable=False),
            sa.PrimaryKeyConstraint("block", "slot", name=f"{TABLE}_pkey"),
        )
    if dialect == "sqlite":
        for name, table, operation in trigger_names(dialect):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(f"CREATE TRIGGER {name} AFTER {operation} ON {table} "
                       f"BEGIN {_sqlite_body(table, operation)} END")
        token = "random()"
    elif dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        referencing = {"INSERT": "REFERENCING NEW TABLE AS tl_new ",
                       "UPDATE": "REFERENCING OLD TABLE AS tl_old NEW TABLE AS tl_new ",
                       "DELETE": "REFERENCING OLD TABLE AS tl_old ", "TRUNCATE": ""}
        for name, table, operation in trigger_names(dialect):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"CREATE TRIGGER {name} AFTER {operation} ON {table} "
                       f"{referencing[operation]}"
                       "FOR EACH STATEMENT EXECUTE FUNCTION tl_analytics_blocks_bump()")
            op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}")
        token = f"floor(random() * {_MAX_TOKEN})::bigint"
    else:
        return  # MariaDB/MySQL: the table only
    # stamp the blocks that already hold rows (the upserts above only see later writes)
    op.execute(
        f"INSERT INTO {TABLE} (block, slot, token) SELECT b, 0, {token} FROM ("
        f"SELECT id / {BLOCK_SIZE} AS b FROM trades UNION "
        f"SELECT ft_trade_id / {BLOCK_SIZE} FROM orders WHERE ft_trade_id IS NOT NULL) s "
        "WHERE true ON CONFLICT (block, slot) DO NOTHING"
    )


def downgrade() -> None:
    dialect = _dialect()
    for name, table, _operation in trigger_names(dialect):
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tl_analytics_blocks_bump()")
    op.drop_table(TABLE)
