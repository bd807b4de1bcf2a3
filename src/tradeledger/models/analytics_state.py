"""Write tokens of ``trades``/``orders`` for the analytics caches.

* ``tl_analytics_state`` (migration ``tl_0005``): triggers store a fresh token in this table
  within every transaction that writes trades or orders;
  :mod:`tradeledger.services.analytics.cache` checks the tokens before serving a cached result.
* ``tl_analytics_blocks`` (migration ``tl_0006``): the same, per block of
  :data:`BLOCK_SIZE` trade ids (a trade's orders stamp their trade's block), so that
  :mod:`tradeledger.services.analytics.blocks` recomputes only the blocks written since.
* ``tl_analytics_partials`` (migration ``tl_0007``): per-block partial results stored by the
  process that computed them, for the next process
  (:mod:`tradeledger.services.analytics.partials`).

The tables live here so that the models' metadata matches the migration head.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from tradeledger.models.base import ModelBase

__all__ = [
    "BLOCKS_TABLE",
    "BLOCK_SIZE",
    "PARTIALS_TABLE",
    "STATE_TABLE",
    "blocks_table",
    "partials_table",
    "state_table",
]

STATE_TABLE = "tl_analytics_state"

state_table = Table(
    STATE_TABLE,
    ModelBase.metadata,
    Column("slot", Integer, nullable=False, autoincrement=False),
    Column("token", BigInteger, nullable=False),
    PrimaryKeyConstraint("slot", name=f"{STATE_TABLE}_pkey"),
)

BLOCKS_TABLE = "tl_analytics_blocks"
#: Trade ids per block: trade ``id`` is in block ``id // BLOCK_SIZE`` (the triggers' ``/``).
BLOCK_SIZE = 4096

blocks_table = Table(
    BLOCKS_TABLE,
    ModelBase.metadata,
    Column("block", BigInteger, nullable=False, autoincrement=False),
    Column("slot", Integer, nullable=False, autoincrement=False),
    Column("token", BigInteger, nullable=False),
    PrimaryKeyConstraint("block", "slot", name=f"{BLOCKS_TABLE}_pkey"),
)

PARTIALS_TABLE = "tl_analytics_partials"

partials_table = Table(
    PARTIALS_TABLE,
    ModelBase.metadata,
    Column("statement", String(64), nullable=False),
    Column("block", BigInteger, nullable=False, autoincrement=False),
    Column("token", Text, nullable=False),
    Column("stored_at", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),  # the rows, as JSON
    PrimaryKeyConstraint("statement", "block", name=f"{PARTIALS_TABLE}_pkey"),
    Index(f"ix_{PARTIALS_TABLE}_stored_at", "stored_at"),
)
