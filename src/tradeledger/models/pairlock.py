"""``PairLock``: one row of ``pairlocks`` (a pair, or ``*`` for all pairs, locked until a time)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, ScalarResult, Select, String, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from tradeledger.domain.locks import (
    SIDE_ALL,
    lock_repr,
    lock_to_json,
    validate_query_side,
)
from tradeledger.domain.timeutil import to_aware_utc
from tradeledger.models.base import ModelBase

__all__ = ["PAIRLOCK_CHECK_INDEX", "PairLock"]

#: Project index (``tl_`` prefix: not part of freqtrade's schema, which it does not disturb).
#: It serves the one query of a lock check (``pair IN (p, '*') AND active AND
#: lock_end_time > now [AND side IN (s, '*')]``) as two index range scans that never visit
#: expired locks, and covers it (``side`` is the last column), so no table row is read.
PAIRLOCK_CHECK_INDEX = "tl_ix_pairlocks_pair_active_end"


class PairLock(ModelBase):
    """A pair lock row (freqtrade's ``PairLock``); the ``PairLocks`` facade drives it."""

    __tablename__ = "pairlocks"
    __table_args__ = (Index(PAIRLOCK_CHECK_INDEX, "pair", "active", "lock_end_time", "side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair: Mapped[str] = mapped_column(String(25), nullable=False, index=True)
    side: Mapped[str] = mapped_column(String(25), nullable=False, default="*")
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lock_time: Mapped[datetime] = mapped_column(nullable=False)
    lock_end_time: Mapped[datetime] = mapped_column(nullable=False, index=True)
    active: Mapped[bool] = mapped_column(nullable=False, default=True, index=True)

    def __repr__(self) -> str:
        return lock_repr(self)

    @property
    def lock_end_time_utc(self) -> datetime:
        """``lock_end_time`` as an aware UTC datetime."""
        return to_aware_utc(self.lock_end_time)

    def to_json(self) -> dict[str, Any]:
        """JSON form: id, pair, lock_time (text), lock_timestamp (ms), lock_end_time,
        lock_end_timestamp, reason, side, active."""
        return lock_to_json(self)

    @staticmethod
    def pair_locks_statement(
        pair: str | None, now: datetime, side: str | None = None
    ) -> Select[PairLock]:
        """The ``SELECT`` of :meth:`query_pair_locks` (ordered by id)."""
        side = validate_query_side(side)
        # ``active = true`` (not freqtrade's ``IS true``): same rows (NOT NULL column), but an
        # equality the index can use
        filters: list[Any] = [PairLock.active == True, PairLock.lock_end_time > now]  # noqa: E712
        if pair:
            filters.append(PairLock.pair == pair)
        if side is not None and side != SIDE_ALL:
            filters.append(or_(PairLock.side == side, PairLock.side == SIDE_ALL))
        elif side is not None:
            filters.append(PairLock.side == SIDE_ALL)
        return select(PairLock).filter(*filters).order_by(PairLock.id)

    @staticmethod
    def query_pair_locks(
        pair: str | None, now: datetime, side: str | None = None
    ) -> ScalarResult[PairLock]:
        """Active locks ending after ``now`` (strictly).

        Args:
            pair: only this pair's locks when truthy; every pair when ``None`` or ``""``.
            now: the instant to test; a naive value is taken as UTC.
            side: ``None`` matches every side; ``"*"`` only ``"*"`` locks; ``"long"`` /
                ``"short"`` that side or ``"*"``.
        """
        return PairLock.session.scalars(PairLock.pair_locks_statement(pair, now, side))

    @staticmethod
    def get_all_locks() -> ScalarResult[PairLock]:
        """Every lock row (also expired and released ones), by id."""
        return PairLock.session.scalars(select(PairLock).order_by(PairLock.id))
