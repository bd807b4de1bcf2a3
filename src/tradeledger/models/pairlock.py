"""``PairLock``: one row of ``pairlocks`` (a pair, or ``*`` for all pairs, locked until a time)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tradeledger.models.base import ModelBase

__all__ = ["PairLock"]


class PairLock(ModelBase):
    """A pair lock row; query helpers live with the ``PairLocks`` facade."""

    __tablename__ = "pairlocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair: Mapped[str] = mapped_column(String(25), nullable=False, index=True)
    side: Mapped[str] = mapped_column(String(25), nullable=False, default="*")
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lock_time: Mapped[datetime] = mapped_column(nullable=False)
    lock_end_time: Mapped[datetime] = mapped_column(nullable=False, index=True)
    active: Mapped[bool] = mapped_column(nullable=False, default=True, index=True)
