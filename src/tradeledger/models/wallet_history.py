"""``WalletHistory``: daily wallet snapshots (table ``wallet_history``, freqtrade 2026.9)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradeledger.models.base import ModelBase

__all__ = ["WalletHistory"]


class WalletHistory(ModelBase):
    """A balance snapshot of one currency at one time."""

    __tablename__ = "wallet_history"
    __table_args__ = (UniqueConstraint("timestamp", "currency", name="unique_wallet_daily"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(nullable=False, index=True)
    currency: Mapped[str] = mapped_column(String(25), nullable=False)
    rate: Mapped[float | None] = mapped_column(nullable=True)
    quote_currency: Mapped[str] = mapped_column(String(25), nullable=False)
    balance: Mapped[float] = mapped_column(nullable=False)
    total_quote: Mapped[float | None] = mapped_column(nullable=True)
    total_position_value: Mapped[float | None] = mapped_column(nullable=True)
    collateral: Mapped[float | None] = mapped_column(nullable=True)
    leverage: Mapped[float] = mapped_column(nullable=False, default=1.0)
    bot_managed: Mapped[bool] = mapped_column(nullable=False, default=True)

    def __repr__(self) -> str:
        return (f"WalletHistory(id={self.id}, timestamp={self.timestamp}, "
                f"currency={self.currency}, balance={self.balance})")
