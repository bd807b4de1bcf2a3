"""Where analytics queries run: the database session, or a snapshot of backtesting trades.

Every query of the analytics service is written once, in SQLAlchemy Core, against the
``trades`` and ``orders`` tables. In database mode it runs on the scoped session (or any
session, connection or engine given as ``bind``). In backtesting mode (``Trade.use_db`` is
False) the trades of ``LocalTrade``'s in-memory stores are copied into a private in-memory
SQLite database with the same table and column names (:class:`BacktestSnapshot`), and the
very same SQL runs there, so both modes give the same answers by construction.

The snapshot is taken when the context is created; build a new one (or a new
:class:`~tradeledger.services.analytics.service.AnalyticsService`) to see later trades.
Trades whose ids are not unique positive integers (backtesting counters may leave them at 0)
get consecutive ids in the snapshot; their orders follow them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Engine, Index, MetaData, Table, create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from tradeledger.services.analytics._sql import detect_timescale, normalise_dialect

if TYPE_CHECKING:
    from tradeledger.domain.trade import LocalTrade

__all__ = ["BacktestSnapshot", "QueryContext", "default_context"]


def trades_table() -> Table:
    """The ``trades`` table of the ORM ``Trade``."""
    from tradeledger.models.trade import Trade

    table = Trade.__table__
    assert isinstance(table, Table)
    return table


def orders_table() -> Table:
    """The ``orders`` table of the ORM ``Order``."""
    from tradeledger.models.order import Order

    table = Order.__table__
    assert isinstance(table, Table)
    return table


@dataclass(frozen=True)
class QueryContext:
    """A place to run analytics SQL.

    Attributes:
        bind: session, connection or engine the statements run on.
        dialect: ``sqlite``, ``postgresql`` or ``mysql`` (MariaDB).
        timescale: use TimescaleDB's ``time_bucket`` for day and week buckets.
        backtesting: the context is a snapshot of backtesting trades.
        use_cache: answer repeated statements from the result cache of
            :mod:`~tradeledger.services.analytics.cache` (only where migration ``tl_0005``
            installed its triggers; never for backtesting snapshots).
    """

    bind: Any
    dialect: str
    timescale: bool = False
    backtesting: bool = False
    use_cache: bool = True
    _keep: Any = field(default=None, repr=False, compare=False)

    @property
    def trades(self) -> Table:
        """The ``trades`` table."""
        return trades_table()

    @property
    def orders(self) -> Table:
        """The ``orders`` table."""
        return orders_table()

    def execute(self, stmt: Executable) -> Any:
        """Run ``stmt`` and return its ``Result`` (from the result cache when it is valid)."""
        if self.use_cache and not self.backtesting:
            from tradeledger.services.analytics.cache import cached_execute

            return cached_execute(self.bind, self.dialect, stmt, self._run)
        return self._run(stmt)

    def _run(self, stmt: Executable) -> Any:
        if isinstance(self.bind, Engine):
            with self.bind.connect() as conn:
                result = conn.execute(stmt)
                return result.freeze()()
        return self.bind.execute(stmt)


def _bind_engine(bind: Any) -> Any:
    if isinstance(bind, Engine | Connection):
        return bind
    get_bind = getattr(bind, "get_bind", None)
    if get_bind is not None:
        return get_bind()
    return bind


def context_for_bind(bind: Any, *, timescale: bool | None = None) -> QueryContext:
    """A :class:`QueryContext` for a session, scoped session, connection or engine."""
    engine_or_conn = _bind_engine(bind)
    dialect = normalise_dialect(engine_or_conn.dialect.name)
    if timescale is None:
        timescale = dialect == "postgresql" and detect_timescale(engine_or_conn)
    return QueryContext(bind=bind, dialect=dialect, timescale=timescale)


def default_context(bind: Any = None, *, timescale: bool | None = None) -> QueryContext:
    """The context the ``Trade`` query helpers use.

    With ``bind`` given: that session / connection / engine. Else ``Trade.session`` in database
    mode, or a snapshot of ``LocalTrade``'s backtesting stores when ``Trade.use_db`` is False.
    """
    if bind is not None:
        return context_for_bind(bind, timescale=timescale)
    from tradeledger.models.trade import Trade

    if not Trade.use_db:
        return BacktestSnapshot.from_stores().context()
    return context_for_bind(Trade.session, timescale=timescale)


class BacktestSnapshot:
    """An in-memory SQLite copy of trades (and their orders) for the analytics SQL.

    Args:
        trades: ``LocalTrade`` (or ``Trade``) objects, open or closed.
    """

    def __init__(self, trades: Iterable[LocalTrade]) -> None:
        src_trades, src_orders = trades_table(), orders_table()
        metadata = MetaData()
        mirror_trades = Table(
            "trades",
            metadata,
            *[Column(c.name, c.type, primary_key=c.name == "id") for c in src_trades.columns],
        )
        mirror_orders = Table(
            "orders",
            metadata,
            *[Column(c.name, c.type, primary_key=c.name == "id") for c in src_orders.columns],
        )
        Index("ix_snapshot_orders_trade", mirror_orders.c.ft_trade_id)
        Index("ix_snapshot_trades_open", mirror_trades.c.is_open, mirror_trades.c.close_date)
        self.engine = create_engine("sqlite://", poolclass=StaticPool)
        metadata.create_all(self.engine)
        trade_list = list(trades)
        ids = [getattr(t, "id", None) for t in trade_list]
        keep_ids = all(isinstance(i, int) and i > 0 for i in ids) and len(set(ids)) == len(ids)
        trade_cols = [c.name for c in src_trades.columns]
        order_cols = [c.name for c in src_orders.columns if c.name not in ("id", "ft_trade_id")]
        trade_rows: list[dict[str, Any]] = []
        order_rows: list[dict[str, Any]] = []
        for index, trade in enumerate(trade_list, start=1):
            row = {name: getattr(trade, name, None) for name in trade_cols}
            row["id"] = trade.id if keep_ids else index
            trade_rows.append(row)
            for order in getattr(trade, "orders", None) or ():
                orow = {name: getattr(order, name, None) for name in order_cols}
                orow["ft_trade_id"] = row["id"]
                order_rows.append(orow)
        self.connection = self.engine.connect()
        with self.connection.begin():
            if trade_rows:
                self.connection.execute(mirror_trades.insert(), trade_rows)
            if order_rows:
                self.connection.execute(mirror_orders.insert(), order_rows)
        self.trade_count = len(trade_rows)

    @classmethod
    def from_stores(cls) -> BacktestSnapshot:
        """Snapshot of ``LocalTrade.bt_trades`` (closed) and ``bt_trades_open``."""
        from tradeledger.domain.trade import LocalTrade

        return cls([*LocalTrade.bt_trades, *LocalTrade.bt_trades_open])

    def context(self) -> QueryContext:
        """A :class:`QueryContext` running on this snapshot."""
        return QueryContext(
            bind=self.connection, dialect="sqlite", timescale=False, backtesting=True, _keep=self
        )

    def close(self) -> None:
        """Release the in-memory database."""
        self.connection.close()
        self.engine.dispose()
