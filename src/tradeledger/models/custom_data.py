"""``_CustomData``: rows of ``trade_custom_data`` and the database backend of the facade."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeledger.domain.custom_data import CustomDataWrapper, decode_custom_value
from tradeledger.domain.timeutil import dt_now
from tradeledger.models.base import ModelBase, SessionType

if TYPE_CHECKING:
    from tradeledger.models.trade import Trade

__all__ = ["_CustomData"]


class _CustomData(ModelBase):
    """One custom-data entry of a trade (``value`` is the decoded value)."""

    __tablename__ = "trade_custom_data"
    __table_args__ = (UniqueConstraint("ft_trade_id", "cd_key", name="_trade_id_cd_key"),)

    session: ClassVar[SessionType]

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ft_trade_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("trades.id"), index=True, nullable=True
    )
    trade: Mapped[Trade] = relationship("Trade", back_populates="custom_data")
    cd_key: Mapped[str] = mapped_column(String(255), nullable=False)
    cd_type: Mapped[str] = mapped_column(String(25), nullable=False)
    cd_value: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=dt_now)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)

    @property
    def value(self) -> Any:
        """The decoded value."""
        return decode_custom_value(self.cd_type, self.cd_value)

    def __repr__(self) -> str:
        return (f"CustomData(id={self.id}, key={self.cd_key}, type={self.cd_type}, "
                f"value={self.cd_value}, trade_id={self.ft_trade_id})")

    @classmethod
    def query_cd(cls, key: str | None = None, trade_id: int | None = None) -> list[_CustomData]:
        """Return entries filtered by trade and key (case-insensitive, no wildcards)."""
        stmt = select(cls)
        if trade_id is not None:
            stmt = stmt.where(cls.ft_trade_id == trade_id)
        rows = cls.session.scalars(stmt.order_by(cls.id)).all()
        if key is None:
            return list(rows)
        return [r for r in rows if r.cd_key.casefold() == key.casefold()]


def _trade_clause(trade_id: int | None) -> Any:
    col = _CustomData.ft_trade_id
    return col.is_(None) if trade_id is None else col == trade_id


def _rows(trade_id: int | None, key: str | None) -> list[_CustomData]:
    """Rows of a trade, matched on ``key`` case-insensitively in Python.

    SQL ``lower()`` is ASCII-only on SQLite, so a key with a non-ASCII capital would never be
    found again; a trade has few entries, so they are filtered here with ``casefold``.
    """
    rows = _CustomData.session.scalars(
        select(_CustomData).where(_trade_clause(trade_id)).order_by(_CustomData.id)
    ).all()
    if key is None:
        return list(rows)
    folded = key.casefold()
    return [r for r in rows if r.cd_key.casefold() == folded]


class _DatabaseCustomData:
    """Database backend of :class:`CustomDataWrapper` (own session, own transaction)."""

    def set(self, trade_id: int | None, key: str, cd_type: str, cd_value: str) -> None:
        session = _CustomData.session
        try:
            found = _rows(trade_id, key)
            if not found:
                session.add(_CustomData(ft_trade_id=trade_id, cd_key=key, cd_type=cd_type,
                                        cd_value=cd_value, created_at=dt_now()))
            else:
                row = found[0]
                row.cd_type = cd_type
                row.cd_value = cd_value
                row.updated_at = dt_now()
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def get(self, trade_id: int | None, key: str | None) -> list[Any]:
        return list(_rows(trade_id, key))

    def delete(self, trade_id: int | None, key: str | None) -> None:
        session = _CustomData.session
        try:
            if key is None:
                session.execute(delete(_CustomData).where(_trade_clause(trade_id)))
            else:
                for row in _rows(trade_id, key):
                    session.delete(row)
            session.commit()
        except BaseException:
            session.rollback()
            raise


CustomDataWrapper._db_backend = _DatabaseCustomData()
