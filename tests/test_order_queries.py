"""ORM ``Order``: static queries, ``update_orders`` commit, constructor and NOT NULL handling."""

from __future__ import annotations

from typing import Any

import pytest

from tradeledger.db import init_db
from tradeledger.domain.timeutil import dt_now
from tradeledger.models import Order, Trade


@pytest.fixture
def db(backend: str) -> str:
    init_db(backend)
    return backend


def _trade(pair: str) -> Trade:
    t = Trade(pair=pair, exchange="fake", open_rate=1.0, amount=0.0, stake_amount=0.0,
              fee_open=0.0, fee_close=0.0, leverage=2.0, is_open=True, open_date=dt_now())
    Trade.session.add(t)
    return t


def _ccxt(oid: Any, status: str = "open", **kw: Any) -> dict[str, Any]:
    return {"id": oid, "status": status, "amount": 2.0, "price": 10.0, "filled": 0.0, **kw}


def test_queries(db: str) -> None:
    a, b = _trade("BTC/USDT"), _trade("ETH/USDT")
    a.orders.append(Order.parse_from_ccxt_object(_ccxt("same"), "BTC/USDT", "buy"))
    b.orders.append(Order.parse_from_ccxt_object(_ccxt("same", "closed", filled=2.0),
                                                 "ETH/USDT", "buy"))
    b.orders.append(Order.parse_from_ccxt_object(_ccxt(7), "ETH/USDT", "sell"))
    Trade.commit()
    assert [o.ft_pair for o in Order.get_open_orders()] == ["BTC/USDT", "ETH/USDT"]
    first = Order.order_by_id("same")
    assert first is not None and first.ft_pair == "BTC/USDT"
    eth = Order.order_by_id("same", pair="ETH/USDT")
    assert eth is not None and eth.ft_pair == "ETH/USDT" and not eth.ft_is_open
    assert Order.order_by_id("7") is not None  # int id stored as text
    assert Order.order_by_id("missing") is None
    assert eth.stake_amount == 10.0  # 2 * 10 / leverage 2


def test_update_orders_commits(db: str) -> None:
    t = _trade("BTC/USDT")
    t.orders.append(Order.parse_from_ccxt_object(_ccxt("u1"), "BTC/USDT", "buy"))
    Trade.commit()
    Order.update_orders(t.orders, _ccxt("u1", "closed", filled=2.0, average=9.5))
    Order.session.rollback()  # nothing pending: update_orders committed
    Order.session.expire_all()
    o = Order.order_by_id("u1")
    assert o is not None and o.status == "closed" and o.average == 9.5 and not o.ft_is_open
    assert o.order_filled_date is not None and o.order_filled_date.tzinfo is not None


def test_constructor_and_missing_price(db: str) -> None:
    with pytest.raises(TypeError, match="bogus"):
        Order(order_id="x", bogus=True)
    t = _trade("BTC/USDT")
    o = Order.parse_from_ccxt_object({"id": "m1", "status": "open", "type": "market"},
                                     "BTC/USDT", "buy", amount=1.0)
    assert o.ft_price == 0.0  # deliberate: NOT NULL column (freqtrade fails on commit)
    t.orders.append(o)
    Trade.commit()
    Order.session.expire_all()
    stored = Order.order_by_id("m1")
    assert stored is not None and stored.ft_price == 0.0 and stored.safe_price == 0.0
    assert stored.ft_amount == 1.0
