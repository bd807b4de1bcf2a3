"""``Trade``: the ORM mapping of :class:`~tradeledger.domain.trade.LocalTrade` onto ``trades``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Enum, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeledger.domain.enums import TradingMode
from tradeledger.domain.timeutil import dt_now
from tradeledger.domain.trade import LocalTrade
from tradeledger.models.base import ModelBase

if TYPE_CHECKING:
    from tradeledger.models.custom_data import _CustomData
    from tradeledger.models.order import Order

__all__ = ["Trade"]


class Trade(ModelBase, LocalTrade):
    """A trade stored in the ``trades`` table; all accounting comes from ``LocalTrade``."""

    __tablename__ = "trades"

    use_db: ClassVar[bool] = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    orders: Mapped[list[Order]] = relationship(
        "Order",
        order_by="Order.id",
        cascade="all, delete-orphan",
        lazy="selectin",
        innerjoin=True,
        back_populates="_trade_live",
    )
    custom_data: Mapped[list[_CustomData]] = relationship(
        "_CustomData", cascade="all, delete-orphan", lazy="raise", back_populates="trade"
    )

    exchange: Mapped[str] = mapped_column(String(25), nullable=False)
    pair: Mapped[str] = mapped_column(String(25), nullable=False, index=True)
    base_currency: Mapped[str | None] = mapped_column(String(25), nullable=True)
    stake_currency: Mapped[str | None] = mapped_column(String(25), nullable=True)
    is_open: Mapped[bool] = mapped_column(nullable=False, default=True, index=True)
    fee_open: Mapped[float] = mapped_column(nullable=False, default=0.0)
    fee_open_cost: Mapped[float | None] = mapped_column(nullable=True)
    fee_open_currency: Mapped[str | None] = mapped_column(String(25), nullable=True)
    fee_close: Mapped[float] = mapped_column(nullable=False, default=0.0)
    fee_close_cost: Mapped[float | None] = mapped_column(nullable=True)
    fee_close_currency: Mapped[str | None] = mapped_column(String(25), nullable=True)
    open_rate: Mapped[float] = mapped_column()
    open_rate_requested: Mapped[float | None] = mapped_column(nullable=True)
    open_trade_value: Mapped[float | None] = mapped_column(nullable=True)
    close_rate: Mapped[float | None] = mapped_column(nullable=True)
    close_rate_requested: Mapped[float | None] = mapped_column(nullable=True)
    realized_profit: Mapped[float | None] = mapped_column(default=0.0, nullable=True)
    close_profit: Mapped[float | None] = mapped_column(nullable=True)
    close_profit_abs: Mapped[float | None] = mapped_column(nullable=True)
    stake_amount: Mapped[float] = mapped_column(nullable=False)
    max_stake_amount: Mapped[float | None] = mapped_column(nullable=True)
    amount: Mapped[float] = mapped_column()
    amount_requested: Mapped[float | None] = mapped_column(nullable=True)
    open_date: Mapped[datetime] = mapped_column(nullable=False, default=dt_now)
    close_date: Mapped[datetime | None] = mapped_column(nullable=True)
    stop_loss: Mapped[float | None] = mapped_column(nullable=True, default=0.0)
    stop_loss_pct: Mapped[float | None] = mapped_column(nullable=True)
    initial_stop_loss: Mapped[float | None] = mapped_column(nullable=True, default=0.0)
    initial_stop_loss_pct: Mapped[float | None] = mapped_column(nullable=True)
    is_stop_loss_trailing: Mapped[bool] = mapped_column(nullable=False, default=False)
    max_rate: Mapped[float | None] = mapped_column(nullable=True, default=0.0)
    min_rate: Mapped[float | None] = mapped_column(nullable=True)
    exit_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    exit_order_status: Mapped[str | None] = mapped_column(String(100), nullable=True)
    strategy: Mapped[str | None] = mapped_column(String(100), nullable=True)
    enter_tag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    timeframe: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trading_mode: Mapped[TradingMode | None] = mapped_column(
        Enum(TradingMode, name="tradingmode"), nullable=True
    )
    amount_precision: Mapped[float | None] = mapped_column(nullable=True)
    price_precision: Mapped[float | None] = mapped_column(nullable=True)
    precision_mode: Mapped[int | None] = mapped_column(Integer, nullable=True)
    precision_mode_price: Mapped[int | None] = mapped_column(Integer, nullable=True)
    contract_size: Mapped[float | None] = mapped_column(nullable=True)
    leverage: Mapped[float | None] = mapped_column(nullable=True, default=1.0)
    is_short: Mapped[bool] = mapped_column(nullable=False, default=False)
    liquidation_price: Mapped[float | None] = mapped_column(nullable=True)
    interest_rate: Mapped[float] = mapped_column(nullable=False, default=0.0)
    funding_fees: Mapped[float | None] = mapped_column(nullable=True, default=None)
    funding_fee_running: Mapped[float | None] = mapped_column(nullable=True, default=None)
    record_version: Mapped[int] = mapped_column(Integer, nullable=False, default=2)

    def __init__(self, **kwargs: Any) -> None:
        """Create a trade; an unknown keyword raises ``TypeError`` naming it."""
        from_json = kwargs.pop("__FROM_JSON", None)
        ModelBase.__init__(self, **kwargs)
        if not from_json:
            self.realized_profit = 0
            self.recalc_open_trade_value()

    def _commit(self) -> None:
        Trade.session.commit()

    @staticmethod
    def commit() -> None:
        """Commit the current scoped session."""
        Trade.session.commit()

    @staticmethod
    def rollback() -> None:
        """Roll back the current scoped session."""
        Trade.session.rollback()
