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
* ``total_open_trades_stakes()`` and ``get_total_closed_profit()`` sum exactly instead of
  SQL ``SUM`` over floats: every value counts as its shortest decimal text
  (``Decimal(repr(x))``, DESIGN.md), the sum is exact (no intermediate rounding whatever
  the magnitudes) and is rounded to a float once. ``get_total_closed_profit()`` lets the
  database add (see :func:`_closed_profit_in_database`), so a million closed trades are not
  moved into Python; it falls back to the Python sum where a backend could not be exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from functools import cache, reduce
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    CHAR,
    DECIMAL,
    Enum,
    Integer,
    Numeric,
    ScalarResult,
    Select,
    String,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, lazyload, mapped_column, relationship
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from tradeledger.domain.enums import TradingMode
from tradeledger.domain.money import EXACT_SUM, ZERO, dec
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

    @classmethod
    def get_open_trades(cls) -> list[Any]:
        """Open trades with their orders (from the backtesting stores when database use is off).

        Two queries at most, like the ``selectin`` load it replaces, with the same objects:
        the open trades, then one query for the orders of those whose ``orders`` are not
        loaded yet (new, or expired since) -- a warm session skips it. SQLAlchemy's
        ``selectin`` load re-read the orders of every trade but left collections already
        loaded untouched (no populate-existing), so the result is the same.
        """
        if not Trade.use_db:
            return Trade.get_trades_proxy(is_open=True)
        return _trades_with_orders(Trade.session(), _open_trades_statement())

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
        session = Trade.session()
        stmt = select(Trade.stake_amount).where(Trade.is_open.is_(True))
        return _cached_total(session, "total_open_trades_stakes",
                             lambda: _exact_sum(session.scalars(stmt)))

    @staticmethod
    def get_total_closed_profit() -> float:
        """Sum of ``close_profit_abs`` of the closed trades (exact sum).

        Repeated calls with no write to ``trades``/``orders`` in between are answered by the
        analytics result cache (``services/analytics/cache.py``), on every connection.
        """
        if not Trade.use_db:
            return LocalTrade.get_total_closed_profit()
        session = Trade.session()

        def compute() -> float:
            total = _closed_profit_in_database(session)
            if total is not None:
                return total
            stmt = select(Trade.close_profit_abs).where(Trade.is_open.is_(False))
            return _exact_sum(session.scalars(stmt))

        return _cached_total(session, "get_total_closed_profit", compute)

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


_ORDERS_CHUNK = 500  # ids per ``IN`` list off PostgreSQL (SQLAlchemy's selectin size)


@cache
def _open_trades_statement() -> Select[Trade]:
    """The open trades, without the eager orders load (built once)."""
    return select(Trade).where(Trade.is_open.is_(True)).options(lazyload(Trade.orders))


@cache
def _orders_statement(postgresql: bool) -> Select[Any]:
    """The orders of the trades whose ids are bound as ``tl_ids``, by id (built once)."""
    order_cls: Any = Trade.orders.property.mapper.class_
    if postgresql:
        cond = order_cls.ft_trade_id == any_(
            cast(bindparam("tl_ids", type_=Text), _pg_int_array()))
    else:
        cond = order_cls.ft_trade_id.in_(bindparam("tl_ids", expanding=True))
    return select(order_cls).where(cond).order_by(order_cls.id)


def _trades_with_orders(session: Session, stmt: Select[Trade]) -> list[Trade]:
    """The trades of ``stmt`` with ``orders`` loaded as ``lazy="selectin"`` would.

    ``stmt`` reads the trades without the eager load (``lazyload(Trade.orders)``); the
    orders of the trades whose collection is not loaded (new in the session, or expired)
    are then read in one query -- on PostgreSQL ``ft_trade_id = ANY(CAST(:ids AS
    INTEGER[]))`` with the ids as one text parameter (one SQL text, prepared once by
    psycopg, instead of one rendered bound parameter per id), elsewhere ``IN`` lists of
    500 ids -- ordered by id, and set as the committed collections (empty for a trade
    without orders). Collections already loaded are kept as they are, as the ``selectin``
    loader keeps them.
    """
    trades = list(session.scalars(stmt).all())
    todo = [t for t in trades if "orders" not in instance_dict(t)]
    if not todo:
        return trades
    found: dict[int, list[Any]] = {t.id: [] for t in todo}
    ids = list(found)
    postgresql = session.connection().dialect.name == "postgresql"
    chunks: list[Any]
    if postgresql:
        # the array as one text value: psycopg's list dumper costs more than the query
        chunks = ["{" + ",".join(map(str, ids)) + "}"]
    else:
        chunks = [ids[i:i + _ORDERS_CHUNK] for i in range(0, len(ids), _ORDERS_CHUNK)]
    query = _orders_statement(postgresql)
    for chunk in chunks:
        for order in session.scalars(query, {"tl_ids": chunk}):
            found[order.ft_trade_id].append(order)
    for trade in todo:
        set_committed_value(trade, "orders", found[trade.id])
    return trades


def _cached_total(session: Session, name: str, compute: Callable[[], float]) -> float:
    """``compute()``, served by the analytics result cache while the tables are unchanged."""
    from tradeledger.services.analytics._sql import normalise_dialect
    from tradeledger.services.analytics.cache import cached_call

    dialect = normalise_dialect(session.get_bind().dialect.name)
    value: float = cached_call(session, dialect, ("Trade", name), compute)
    return value


def _exact_sum(values: Iterable[float | int | str | Decimal | None]) -> float:
    """The Python sum (rows read into Python): :func:`_exact_total`."""
    return _exact_total(values)


def _exact_total(values: Iterable[float | int | str | Decimal | None]) -> float:
    """Exact sum of the non-zero values (each as ``Decimal(repr(x))``), rounded once."""
    return float(_exact_decimal(values))


def _exact_decimal(values: Iterable[float | int | str | Decimal | None]) -> Decimal:
    """:func:`_exact_total` before its rounding to a float."""
    present = [value for value in values if value]
    if all(value.__class__ is float for value in present):
        exact: Iterable[Decimal] = map(Decimal, map(repr, present))  # = dec(), no cache
    else:
        exact = map(dec, present)
    return reduce(EXACT_SUM.add, exact, ZERO)


class _ExactSumAggregate:
    """SQLite aggregate ``tl_exact_sum(x)``: the exact sum's text (:func:`_exact_decimal`).

    The values are collected and summed once at the end (a per-row Decimal addition in
    ``step`` is a third slower).
    """

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[float | int | str] = []

    def step(self, value: float | int | str | None) -> None:
        if value:
            self.values.append(value)

    def finalize(self) -> str:
        return str(_exact_decimal(self.values))


#: A value's shortest decimal text, as the server casts it, equals ``repr(x)`` (checked
#: against ~600 000 random doubles of every magnitude: PostgreSQL 15 ``float8::text``
#: differs only for some integral doubles >= 1.8e16; MariaDB 10.11 ``CAST(... AS
#: DECIMAL(65,38))`` in [1e-22, 1e20)), so the database sums on these backends only when
#: every non-zero value lies in ``[_DB_SUM_MIN, _DB_SUM_MAX)``; anything else (money
#: amounts never are) -- and NaN or infinities -- is summed in Python.
_DB_SUM_MAX = 1e15
_MARIADB_SUM_MIN = 1e-22  # DECIMAL(65,38): 17 significant digits reach 10^-38


def _pg_int_array() -> Any:
    """PostgreSQL's ``INTEGER[]`` (its dialect module is imported only when it is used)."""
    from sqlalchemy.dialects.postgresql import ARRAY

    return ARRAY(Integer)


def _closed_profit_in_database(session: Session) -> float | None:
    """Exact ``SUM(close_profit_abs)`` of the closed trades computed by the database.

    ``None``: this backend cannot do it exactly for the stored values (the caller sums in
    Python). The result is the float :func:`_exact_sum` gives.

    * SQLite: the aggregate :class:`_ExactSumAggregate`, registered on the connection;
    * PostgreSQL 12+: ``SUM(close_profit_abs::text::numeric)`` (numeric is exact; the text
      is the shortest one while ``extra_float_digits`` > 0, the default);
    * MariaDB/MySQL: ``SUM(CAST(close_profit_abs AS DECIMAL(65,38)))``, exact within the
      range checked in the same query (sums up to 10^27).

    On SQLite and PostgreSQL the exact partial sums are kept per block of trade ids and only
    the blocks written since are summed again (:mod:`tradeledger.services.analytics.blocks`);
    the partial sums are exact, so their total is the same number.
    """
    from tradeledger.services.analytics._sql import closed_scan
    from tradeledger.services.analytics.blocks import BlockScope, blocked_rows
    from tradeledger.services.analytics.context import context_for_bind

    table = Trade.__table__
    col = table.c.close_profit_abs
    closed = closed_scan(table.c.is_open)
    conn = session.connection()
    name = conn.dialect.name
    big = func.max(func.abs(col))
    if name == "sqlite":
        dbapi_conn = conn.connection.dbapi_connection
        if dbapi_conn is None or not hasattr(dbapi_conn, "create_aggregate"):
            return None
        dbapi_conn.create_aggregate("tl_exact_sum", 1, _ExactSumAggregate)

        def build_sqlite(scope: BlockScope) -> Any:
            return select(func.tl_exact_sum(col)).where(closed, *scope.clauses(table.c.id))

        rows = blocked_rows(context_for_bind(session, timescale=False), build_sqlite, ("exact",))
        return float(rows[0][0]) if rows and rows[0][0] is not None else 0.0
    if name == "postgresql":
        if conn.dialect.server_version_info is None or conn.dialect.server_version_info < (12,):
            return None  # float8 text was not the shortest one before PostgreSQL 12
        digits = session.execute(select(func.current_setting("extra_float_digits"))).scalar()
        if int(digits or 0) <= 0:
            return None

        def build_pg(scope: BlockScope) -> Any:
            return select(
                cast(func.sum(cast(cast(col, Text), Numeric())), Text),  # exact, as text
                big,
            ).where(closed, *scope.clauses(table.c.id))

        rows = blocked_rows(context_for_bind(session, timescale=False), build_pg,
                            ("exact", "max"))
        total, largest = rows[0] if rows else (None, None)
    elif name in ("mysql", "mariadb"):
        row = session.execute(
            select(
                cast(func.sum(cast(col, DECIMAL(65, 38))), CHAR()),  # exact, as text
                big,
                func.min(case((col != 0, func.abs(col)), else_=None)),
            ).where(closed)
        ).one()
        total, largest, smallest = row
        if smallest is not None and float(smallest) < _MARIADB_SUM_MIN:
            return None
    else:
        return None
    if largest is None:
        return 0.0  # no closed trade with a profit
    if not float(largest) < _DB_SUM_MAX:  # also NaN
        return None
    return float(Decimal(total))


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
