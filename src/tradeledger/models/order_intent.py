"""Project tables for crash-safe order handling (freqtrade ignores them).

* ``tradeledger_order_intents`` (:class:`OrderIntent`): an order recorded *before* it is sent to
  the exchange, keyed by a unique client order id, then resolved with the exchange's answer.
* ``tradeledger_reconcile_log`` (:class:`ReconcileLogEntry`): one row per correction applied (or
  difference acknowledged) by :mod:`tradeledger.services.reconcile`, with the state before and
  after as JSON text.

Neither table has a foreign key into freqtrade's tables, so freqtrade can delete trades
without knowing about them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradeledger.domain.timeutil import dt_now, to_aware_utc
from tradeledger.models.base import ModelBase

__all__ = [
    "INTENT_ACKNOWLEDGED",
    "INTENT_FAILED",
    "INTENT_NOT_FOUND",
    "INTENT_PENDING",
    "INTENT_STATUSES",
    "OrderIntent",
    "ReconcileLogEntry",
]

#: Recorded, the exchange's answer not (yet) stored.
INTENT_PENDING = "pending"
#: The exchange accepted the order; ``exchange_order_id`` is set and the order row exists.
INTENT_ACKNOWLEDGED = "acknowledged"
#: The exchange refused the order (``error`` says why); nothing was placed.
INTENT_FAILED = "failed"
#: Resolved at recovery: the exchange does not know the client order id (never placed).
INTENT_NOT_FOUND = "not_found"
INTENT_STATUSES = (INTENT_PENDING, INTENT_ACKNOWLEDGED, INTENT_FAILED, INTENT_NOT_FOUND)


class OrderIntent(ModelBase):
    """An order the bot is about to send (or sent) to the exchange."""

    __tablename__ = "tradeledger_order_intents"
    __table_args__ = (Index("tl_ix_order_intents_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    ft_trade_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    pair: Mapped[str] = mapped_column(String(25), nullable=False)
    side: Mapped[str] = mapped_column(String(25), nullable=False)
    order_type: Mapped[str | None] = mapped_column(String(50), nullable=True)
    amount: Mapped[float] = mapped_column(nullable=False)
    price: Mapped[float | None] = mapped_column(nullable=True)
    ft_order_tag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(25), nullable=False, default=INTENT_PENDING)
    exchange_order_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    exchange_status: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=dt_now)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)

    def __repr__(self) -> str:
        return (
            f"OrderIntent(client_order_id={self.client_order_id}, pair={self.pair}, "
            f"side={self.side}, amount={self.amount}, price={self.price}, "
            f"status={self.status}, exchange_order_id={self.exchange_order_id})"
        )

    @property
    def created_at_utc(self) -> datetime:
        """``created_at`` as an aware UTC datetime."""
        return to_aware_utc(self.created_at)

    def to_json(self) -> dict[str, Any]:
        """The intent as a JSON-ready dictionary."""
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "trade_id": self.ft_trade_id,
            "pair": self.pair,
            "side": self.side,
            "order_type": self.order_type,
            "amount": self.amount,
            "price": self.price,
            "ft_order_tag": self.ft_order_tag,
            "status": self.status,
            "exchange_order_id": self.exchange_order_id,
            "exchange_status": self.exchange_status,
            "error": self.error,
            "created_at": self.created_at_utc.isoformat(),
            "updated_at": None
            if self.updated_at is None
            else to_aware_utc(self.updated_at).isoformat(),
        }


class ReconcileLogEntry(ModelBase):
    """One applied reconciliation fix (or acknowledged difference)."""

    __tablename__ = "tradeledger_reconcile_log"
    __table_args__ = (Index("tl_ix_reconcile_log_key", "diff_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=dt_now)
    reason: Mapped[str] = mapped_column(String(50), nullable=False)
    fix: Mapped[str] = mapped_column(String(50), nullable=False)
    diff_key: Mapped[str] = mapped_column(String(255), nullable=False)
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pair: Mapped[str | None] = mapped_column(String(25), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ft_trade_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
