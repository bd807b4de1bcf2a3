"""``Order``: the ORM mapping of :class:`~tradeledger.domain.order.LocalOrder` onto ``orders``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tradeledger.domain.order import LocalOrder
from tradeledger.domain.timeutil import dt_now
from tradeledger.models.base import ModelBase

if TYPE_CHECKING:
    from tradeledger.models.trade import Trade

__all__ = ["Order"]


class Order(ModelBase, LocalOrder):
    """An exchange order stored in ``orders``; behaviour comes from ``LocalOrder``."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("ft_pair", "order_id", name="_order_pair_order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ft_trade_id: Mapped[int] = mapped_column(Integer, ForeignKey("trades.id"), index=True)
    _trade_live: Mapped[Trade] = relationship("Trade", back_populates="orders", lazy="immediate")
    _trade_bt: Any = None

    ft_order_side: Mapped[str] = mapped_column(String(25), nullable=False)
    ft_pair: Mapped[str] = mapped_column(String(25), nullable=False)
    ft_is_open: Mapped[bool] = mapped_column(nullable=False, default=True, index=True)
    ft_amount: Mapped[float] = mapped_column(nullable=False)
    ft_price: Mapped[float] = mapped_column(nullable=False)
    ft_cancel_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)

    order_id: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    status: Mapped[str | None] = mapped_column(String(255), nullable=True)
    symbol: Mapped[str | None] = mapped_column(String(25), nullable=True)
    order_type: Mapped[str | None] = mapped_column(String(50), nullable=True)
    side: Mapped[str | None] = mapped_column(String(25), nullable=True)
    price: Mapped[float | None] = mapped_column(nullable=True)
    average: Mapped[float | None] = mapped_column(nullable=True)
    amount: Mapped[float | None] = mapped_column(nullable=True)
    filled: Mapped[float | None] = mapped_column(nullable=True)
    remaining: Mapped[float | None] = mapped_column(nullable=True)
    cost: Mapped[float | None] = mapped_column(nullable=True)
    stop_price: Mapped[float | None] = mapped_column(nullable=True)
    order_date: Mapped[datetime | None] = mapped_column(nullable=True, default=dt_now)
    order_filled_date: Mapped[datetime | None] = mapped_column(nullable=True)
    order_update_date: Mapped[datetime | None] = mapped_column(nullable=True)
    funding_fee: Mapped[float | None] = mapped_column(nullable=True)
    ft_fee_base: Mapped[float | None] = mapped_column(nullable=True)
    ft_order_tag: Mapped[str | None] = mapped_column(String(255), nullable=True)

    def __init__(self, **kwargs: Any) -> None:
        """Create an order; an unknown keyword raises ``TypeError`` naming it."""
        ModelBase.__init__(self, **kwargs)

    @classmethod
    def _commit(cls) -> None:
        """Commit the scoped session (used by :meth:`LocalOrder.update_orders`)."""
        cls.session.commit()

    @staticmethod
    def get_open_orders() -> Sequence[Order]:
        """Every order freqtrade still considers open (``ft_is_open``), by id."""
        stmt = select(Order).where(Order.ft_is_open.is_(True)).order_by(Order.id)
        return Order.session.scalars(stmt).all()

    @staticmethod
    def order_by_id(order_id: str, pair: str | None = None) -> Order | None:
        """The first order with this exchange ``order_id`` (and ``ft_pair`` if given)."""
        stmt = select(Order).where(Order.order_id == str(order_id))
        if pair:
            stmt = stmt.where(Order.ft_pair == pair)
        return Order.session.scalars(stmt.order_by(Order.id).limit(1)).first()

    @classmethod
    def parse_from_ccxt_object(
        cls,
        order: Mapping[str, Any],
        pair: str,
        side: str,
        amount: float | None = None,
        price: float | None = None,
    ) -> Self:
        """Create an order from a CCXT dictionary (see :meth:`LocalOrder.parse_from_ccxt_object`).

        Deliberate deviation: when no price is known at all (no ``price`` argument and none in
        the dictionary) ``ft_price`` is ``0.0`` instead of ``None``: the column is NOT NULL and
        freqtrade fails at the next commit (and at every later one). ``safe_price`` then falls
        back to ``0.0`` instead of ``None`` until the exchange reports a price.
        """
        obj = super().parse_from_ccxt_object(order, pair, side, amount, price)
        if obj.__dict__.get("ft_price") is None:  # the mapped type says float; it may not be
            obj.ft_price = 0.0
        return obj
