"""``Trade.get_open_trades()`` loads what the ``selectin`` relationship load gave, in <= 2 queries.

Every backend: the same trades, the same orders (by id) as ``Trade.get_trades(...)`` (the
mapper's ``lazy="selectin"`` load), at most two queries whatever the number of trades (one
when every collection is already loaded), collections already loaded left as they are (as
``selectin`` leaves them), expired ones re-read.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from tradeledger.db import close_db, init_db
from tradeledger.models.order import Order
from tradeledger.models.trade import Trade

OPEN = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(backend: str) -> Iterator[Engine]:
    eng = init_db(backend)
    Trade.use_db = True
    yield eng
    Trade.session.remove()
    gc.collect()  # the loaded trades/orders (reference cycles) go while their engine lives
    close_db()


def _fill(n_open: int, n_closed: int, orders_of: Any) -> None:
    trades: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    for tid in range(1, n_open + n_closed + 1):
        trades.append({"id": tid, "exchange": "x", "pair": f"P{tid % 5}/USDT", "open_rate": 1.0,
                       "amount": 1.0, "stake_amount": 1.0, "is_open": tid <= n_open,
                       "open_date": OPEN + timedelta(minutes=tid)})
        for k in range(orders_of(tid)):
            orders.append({"ft_trade_id": tid, "ft_order_side": "buy" if k % 2 == 0 else "sell",
                           "ft_pair": f"P{tid % 5}/USDT", "ft_is_open": False,
                           "order_id": f"o{tid}-{k}", "status": "closed", "ft_amount": 1.0,
                           "ft_price": 1.0, "amount": 1.0, "filled": 1.0})
    session = Trade.session()
    session.execute(Trade.__table__.insert(), trades)
    if orders:
        # interleave the order ids across trades (orders of a trade are not contiguous)
        orders.sort(key=lambda o: (int(o["order_id"].split("-")[1]), o["ft_trade_id"]))
        session.execute(Order.__table__.insert(), orders)
    session.commit()
    Trade.session.remove()


def _shape(trades: list[Any]) -> list[tuple[int, list[tuple[int, str, int]]]]:
    return [(t.id, [(o.id, o.order_id, o.ft_trade_id) for o in t.orders]) for t in trades]


def _reference() -> list[tuple[int, list[tuple[int, str, int]]]]:
    Trade.session.remove()
    ref = _shape(list(Trade.get_trades([Trade.is_open.is_(True)]).all()))
    Trade.session.remove()
    return ref


class _Count:
    def __init__(self, engine: Engine) -> None:
        self.n = 0
        self.engine = engine

    def __enter__(self) -> _Count:
        event.listen(self.engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._hit)

    def _hit(self, *args: Any) -> None:
        self.n += 1


@pytest.mark.parametrize("n_open", [0, 1, 37, 620])
def test_same_trades_and_orders_as_selectin(engine: Engine, n_open: int) -> None:
    _fill(n_open, 50, lambda tid: tid % 5)  # 0 to 4 orders, some open trades without any
    ref = _reference()
    with _Count(engine) as count:
        got = Trade.get_open_trades()
    assert _shape(got) == ref
    assert len(got) == n_open
    # selectin: trades + one orders query per 500 ids off PostgreSQL; never one per trade
    chunks = 1 if engine.dialect.name == "postgresql" else -(-n_open // 500)
    assert count.n == 1 + (chunks if n_open else 0)
    for trade in got:
        assert all(o._trade_live is trade for o in trade.orders)
        assert all(isinstance(o, Order) for o in trade.orders)


def test_loaded_collections_are_kept_and_expired_ones_reread(engine: Engine) -> None:
    _fill(3, 2, lambda tid: 2)
    first = Trade.get_open_trades()
    with _Count(engine) as count:
        again = Trade.get_open_trades()
    assert count.n == 1  # every collection loaded: the trades query only
    assert [t.id for t in again] == [t.id for t in first] and again[0] is first[0]
    # an order added by another connection: not seen by a loaded collection (as selectin),
    # seen after the session expired its objects (commit)
    with engine.begin() as conn:
        conn.execute(Order.__table__.insert(), [{
            "ft_trade_id": 1, "ft_order_side": "sell", "ft_pair": "P1/USDT", "ft_is_open": True,
            "order_id": "late", "status": "open", "ft_amount": 1.0, "ft_price": 1.0}])
    assert [o.order_id for o in Trade.get_open_trades()[0].orders] == ["o1-0", "o1-1"]
    Trade.commit()
    assert [o.order_id for o in Trade.get_open_trades()[0].orders] == ["o1-0", "o1-1", "late"]


def test_backtesting_mode_uses_the_stores() -> None:
    from tradeledger.domain.trade import LocalTrade

    Trade.use_db = False
    try:
        assert Trade.get_open_trades() == LocalTrade.get_trades_proxy(is_open=True)
    finally:
        Trade.use_db = True
