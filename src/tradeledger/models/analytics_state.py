"""``tl_analytics_state``: write tokens of ``trades``/``orders`` (migration ``tl_0005``).

Triggers store a fresh token in this table within every transaction that writes trades or
orders; :mod:`tradeledger.services.analytics.cache` checks the tokens before serving a cached
result. The table lives here so that the models' metadata matches the migration head.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, PrimaryKeyConstraint, Table

from tradeledger.models.base import ModelBase

__all__ = ["STATE_TABLE", "state_table"]

STATE_TABLE = "tl_analytics_state"

state_table = Table(
    STATE_TABLE,
    ModelBase.metadata,
    Column("slot", Integer, nullable=False, autoincrement=False),
    Column("token", BigInteger, nullable=False),
    PrimaryKeyConstraint("slot", name=f"{STATE_TABLE}_pkey"),
)
