"""``TradeLedgerMeta``: one row describing the database (table ``tradeledger_meta``).

It records which library version last wrote the database, the bot identity and the execution
mode (``live``, ``dry_run``, ``backtest``) so that :func:`~tradeledger.db.init_db` can refuse
to run a live bot against a dry-run database and the reverse. freqtrade ignores the table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tradeledger.models.base import ModelBase

__all__ = ["EXECUTION_MODES", "META_ROW_ID", "TradeLedgerMeta"]

#: Execution modes a database can be tagged with.
EXECUTION_MODES: tuple[str, ...] = ("live", "dry_run", "backtest")
#: The table holds a single row with this id.
META_ROW_ID = 1


class TradeLedgerMeta(ModelBase):
    """The database's own metadata (a single row, ``id = 1``)."""

    __tablename__ = "tradeledger_meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    library_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    created_by_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    bot_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mode: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)

    def __repr__(self) -> str:
        return (f"TradeLedgerMeta(mode={self.mode!r}, bot_id={self.bot_id!r}, "
                f"library_version={self.library_version!r})")
