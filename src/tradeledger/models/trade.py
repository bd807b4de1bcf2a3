"""``Trade``: the ORM mapping of :class:`~tradeledger.domain.trade.LocalTrade` onto ``trades``.

Every computation is inherited from ``LocalTrade``; this module adds the mapping, the
constructor semantics of freqtrade's ``Trade`` and the database query helpers. With database
use switched off (``Trade.use_db = False``, :func:`tradeledger.usedb.disable_database_use`)
the query helpers answer from ``LocalTrade``'s in-memory backtesting stores.

Deviations from freqtrade 2026.9 (deliberate):

* The constructor applies the column defaults at once (``is_open=True``, ``fee_open=0.0``,
  ``stop_loss=0.0``, ``leverage=1.0``, ``open_date=now (UTC)`` ...), so an un-flushed
  ``Trade`` reads the same values as after its INSERT (freqtrade: ``None`` until flushed).
* A missing ``amount`` / ``open_rate`` raises :class:`~tradeledger.exceptions.InvalidValueError`
  naming the field (freqtrade: ``ValueError: invalid literal for int() with base 10: ''``);
  MARGIN with ``interest_rate=None`` raises ``MarginConfigError`` as ``LocalTrade`` does.
* ``total_open_trades_stakes()`` and ``get_total_closed_profit()`` sum exactly (decimal) in
  Python instead of SQL ``SUM`` over floats.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Enum, Integer, ScalarResult, Select, String, func, select
from sqlalchemy.orm import Mapped, lazyload, mapped_column, relationship

from tradeledger.domain.enums import TradingMode
from tradeledger.domain.money import ZERO, dadd, dec
from tradeledger.domain.timeutil import dt_now, to_aware_utc
from tradeledger.domain.trade import _FROM_JSON_KW, LocalTrade
from tradeledger.exceptions import BacktestingModeError, MarginConfigError
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
    orders: Mapped[list[Order]] = relationship(  # type: ignore[assignment]
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
        """Create a trade from column values (and ``orders``).

        Raises:
            TypeError: an unknown keyword (``'foo' is an invalid keyword argument for Trade``).
            InvalidValueError: ``amount`` or ``open_rate`` is missing.
            MarginConfigError: MARGIN trading without ``interest_rate``.
        """
        from_json = bool(kwargs.pop(_FROM_JSON_KW, False))
        for name, default in _column_defaults().items():
            if name not in kwargs:
                kwargs[name] = default() if callable(default) else default
        for key in ("open_date", "close_date"):
            value = kwargs.get(key)
            if isinstance(value, datetime):
                kwargs[key] = to_aware_utc(value)
        mode = kwargs.get("trading_mode")
        if isinstance(mode, str) and not isinstance(mode, TradingMode):
            kwargs["trading_mode"] = TradingMode(mode)
        ModelBase.__init__(self, **kwargs)
        if not from_json:
            self.realized_profit = 0
            self.recalc_open_trade_value()
        if self.trading_mode == TradingMode.MARGIN and self.interest_rate is None:
            raise MarginConfigError("margin trading requires param interest_rate on trades")

    def _commit(self) -> None:
        """Commit the session (called by :meth:`LocalTrade.update_trade`)."""
        Trade.session.commit()

    @classmethod
    def _order_class(cls) -> type[Any]:
        from tradeledger.models.order import Order

        return Order

    # ---- session helpers --------------------------------------------------------------------
    @staticmethod
    def commit() -> None:
        """Commit the current scoped session."""
        Trade.session.commit()

    @staticmethod
    def rollback() -> None:
        """Roll back the current scoped session."""
        Trade.session.rollback()

    def delete(self) -> None:
        """Delete the trade with its orders and custom data, and commit."""
        from tradeledger.domain.custom_data import CustomDataWrapper

        for order in list(self.orders):
            Trade.session.delete(order)
        if self.id is not None:
            CustomDataWrapper.delete_custom_data(trade_id=self.id)
        Trade.session.delete(self)
        Trade.commit()

    # ---- queries ----------------------------------------------------------------------------
    @staticmethod
    def get_trades_query(
        trade_filter: Any = None, include_orders: bool = True
    ) -> Select[Trade]:
        """A ``SELECT`` of trades matching ``trade_filter`` (one expression or a list).

        ``include_orders=False`` skips loading the orders.

        Raises:
            BacktestingModeError: database use is switched off (a ``NotImplementedError``).
        """
        if not Trade.use_db:
            raise BacktestingModeError("`Trade.get_trades()` not supported in backtesting mode.")
        stmt = select(Trade)
        if trade_filter is not None:
            filters = trade_filter if isinstance(trade_filter, list | tuple) else [trade_filter]
            stmt = stmt.where(*filters)
        if not include_orders:
            stmt = stmt.options(lazyload(Trade.orders))
        return stmt

    @staticmethod
    def get_trades(trade_filter: Any = None, include_orders: bool = True) -> ScalarResult[Trade]:
        """Trades matching ``trade_filter`` (orders loaded with one extra query in total)."""
        query = Trade.get_trades_query(trade_filter, include_orders)
        return Trade.session.scalars(query)

    @staticmethod
    def get_trades_proxy(
        *,
        pair: str | None = None,
        is_open: bool | None = None,
        open_date: datetime | None = None,
        close_date: datetime | None = None,
    ) -> list[Any]:
        """Trades matching the filters, from the database or the backtesting stores."""
        if not Trade.use_db:
            return LocalTrade.get_trades_proxy(
                pair=pair, is_open=is_open, open_date=open_date, close_date=close_date
            )
        filters: list[Any] = []
        if pair:
            filters.append(Trade.pair == pair)
        if open_date:
            filters.append(Trade.open_date > to_aware_utc(open_date))
        if close_date:
            filters.append(Trade.close_date > to_aware_utc(close_date))
        if is_open is not None:
            filters.append(Trade.is_open.is_(is_open))
        return list(Trade.get_trades(filters).all())

    @staticmethod
    def get_open_trade_count() -> int:
        """Number of open trades."""
        if not Trade.use_db:
            return LocalTrade.get_open_trade_count()
        stmt = select(func.count(Trade.id)).where(Trade.is_open.is_(True))
        return int(Trade.session.scalar(stmt) or 0)

    @staticmethod
    def get_open_trades_without_assigned_fees() -> list[Trade]:
        """Open trades with orders whose entry fee is not recorded yet."""
        return list(
            Trade.get_trades(
                [
                    Trade.fee_open_currency.is_(None),
                    Trade.orders.any(),
                    Trade.is_open.is_(True),
                ]
            ).all()
        )

    @staticmethod
    def get_closed_trades_without_assigned_fees() -> list[Trade]:
        """Closed trades with orders whose exit fee is not recorded yet."""
        return list(
            Trade.get_trades(
                [
                    Trade.fee_close_currency.is_(None),
                    Trade.orders.any(),
                    Trade.is_open.is_(False),
                ]
            ).all()
        )

    @staticmethod
    def total_open_trades_stakes() -> float:
        """Sum of ``stake_amount`` of the open trades (exact sum)."""
        if not Trade.use_db:
            return LocalTrade.total_open_trades_stakes()
        stmt = select(Trade.stake_amount).where(Trade.is_open.is_(True))
        return _exact_sum(Trade.session.scalars(stmt))

    @staticmethod
    def get_total_closed_profit() -> float:
        """Sum of ``close_profit_abs`` of the closed trades (exact sum)."""
        if not Trade.use_db:
            return LocalTrade.get_total_closed_profit()
        stmt = select(Trade.close_profit_abs).where(Trade.is_open.is_(False))
        return _exact_sum(Trade.session.scalars(stmt))

    # ---- performance queries (tradeledger.services.analytics.performance) -------------------
    # Thin delegates; they also answer in backtesting mode (from a snapshot of the stores).
    @staticmethod
    def get_overall_performance(start_date: datetime | None = None) -> list[dict[str, Any]]:
        """Performance per pair of closed trades, best absolute profit first."""
        from tradeledger.services.analytics import performance

        return performance.get_overall_performance(start_date)

    @staticmethod
    def get_enter_tag_performance(pair: str | None) -> list[dict[str, Any]]:
        """Performance per enter tag of closed trades (optionally of one pair)."""
        from tradeledger.services.analytics import performance

        return performance.get_enter_tag_performance(pair)

    @staticmethod
    def get_exit_reason_performance(pair: str | None) -> list[dict[str, Any]]:
        """Performance per exit reason of closed trades (optionally of one pair)."""
        from tradeledger.services.analytics import performance

        return performance.get_exit_reason_performance(pair)

    @staticmethod
    def get_mix_tag_performance(pair: str | None) -> list[dict[str, Any]]:
        """Performance per "enter_tag exit_reason" of closed trades (optionally of one pair)."""
        from tradeledger.services.analytics import performance

        return performance.get_mix_tag_performance(pair)

    @staticmethod
    def get_best_pair(trade_filter: Any = None) -> tuple[str, float, float, int] | None:
        """``(pair, profit_ratio, profit_abs, count)`` of the best closed pair, or None."""
        from tradeledger.services.analytics import performance

        return performance.get_best_pair(trade_filter)

    @staticmethod
    def get_trading_volume(trade_filter: Any = None) -> float:
        """Sum of the cost of closed orders (of the trades matching ``trade_filter``)."""
        from tradeledger.services.analytics import performance

        return performance.get_trading_volume(trade_filter)


def _exact_sum(values: Iterable[float | None]) -> float:
    total = ZERO
    for value in values:
        if value:
            total = dadd(total, dec(value))
    return float(total)


@cache
def _column_defaults() -> dict[str, Any]:
    """Scalar/callable INSERT defaults of the ``trades`` columns (primary key excluded)."""
    out: dict[str, Any] = {}
    for column in Trade.__table__.columns:
        default = column.default
        if column.primary_key or default is None:
            continue
        arg = getattr(default, "arg", None)
        if getattr(default, "is_callable", False):
            out[column.key] = dt_now if column.key == "open_date" else None
        elif getattr(default, "is_scalar", False):
            out[column.key] = arg
    return {k: v for k, v in out.items() if v is not None}
