"""``JournalEntry``: one row of the append-only audit journal (table ``tradeledger_journal``).

Each insert, update and delete of a trade, order, pair lock or custom-data entry made through
the library adds one row, in the same transaction (see :mod:`tradeledger.services.journal`).
``before`` / ``after`` hold JSON objects of column values: the whole row for an insert
(``after``) or a delete (``before``), only the changed columns for an update. A new table, so
freqtrade still opens the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradeledger.models.base import ModelBase

__all__ = ["JOURNAL_TABLE", "JournalEntry"]

JOURNAL_TABLE = "tradeledger_journal"

#: 64-bit ids on server databases (a busy fleet writes many rows); SQLite's rowid is 64-bit.
_ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class JournalEntry(ModelBase):
    """One journalled change (never updated or deleted by the library)."""

    __tablename__ = JOURNAL_TABLE
    __table_args__ = (
        Index("ix_tradeledger_journal_trade_id", "trade_id"),
        Index("ix_tradeledger_journal_created_at", "created_at"),
        Index("tl_ix_journal_entity", "entity", "entity_id"),
    )
    __truncate_strings__ = False

    id: Mapped[int] = mapped_column(_ID_TYPE, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    tx_id: Mapped[str] = mapped_column(String(32), nullable=False)
    bot_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    actor: Mapped[str] = mapped_column(String(32), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[int] = mapped_column(Integer, nullable=False)
    trade_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    op: Mapped[str] = mapped_column(String(8), nullable=False)
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)

    def __repr__(self) -> str:
        return (f"JournalEntry(id={self.id}, {self.op} {self.entity} {self.entity_id}, "
                f"actor={self.actor!r}, bot_id={self.bot_id!r})")
