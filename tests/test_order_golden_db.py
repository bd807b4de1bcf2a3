"""Replay every ``order_scenarios.json`` scenario through the ORM ``Order``, persisted.

After the parse and after every update the session is committed, the identity map expired and
the order re-read from the database, so every recorded value made the round trip through the
backend. The trade only provides ``leverage`` (for ``stake_amount``).

Deliberate deviation checked here (documented on ``Order.parse_from_ccxt_object``): when a
scenario parses an order without any price, ``ft_price`` is stored as ``0.0`` (NOT NULL column),
so ``safe_price``-derived values are 0.0 where freqtrade (unsaved) has ``None``/raises.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from tests._order_golden import diff, is_stale, load, parse_dt, record
from tradeledger.db import init_db
from tradeledger.domain.enums import NON_OPEN_EXCHANGE_STATES
from tradeledger.models import Order, Trade

SCENARIOS = load()["scenarios"] + [s for s in load()["raising"]
                                   if "raises" not in s["parse"]["expect"]]
_PRICE_DERIVED = ("safe_price", "safe_placement_price", "stake_amount", "stake_amount_filled")


def _adjust_for_zero_ft_price(exp: dict[str, Any]) -> dict[str, Any]:
    """Golden record -> what the ORM shows when ``ft_price`` had to be stored as 0.0."""
    exp = dict(exp)
    exp["ft_price"] = 0.0
    if exp["safe_placement_price"] is None:
        exp["safe_placement_price"] = 0.0
    if exp["safe_price"] is None:
        exp["safe_price"] = 0.0
        exp["stake_amount"] = 0.0
        exp["stake_amount_filled"] = 0.0
        for key in ("to_json", "to_json_minified"):
            exp[key] = dict(exp[key], safe_price=0.0)
    return exp


def _new_trade(leverage: float, pair: str, at: datetime) -> Trade:
    return Trade(pair=pair, exchange="binance", open_rate=1.0, amount=0.0, fee_open=0.0,
                 fee_close=0.0, stake_amount=0.0, leverage=leverage, open_date=at,
                 is_open=True)


def _reload(order_pk: int) -> Order:
    Order.session.expire_all()
    o = Order.session.get(Order, order_pk)
    assert o is not None
    return o


def _replay(sc: dict[str, Any], monotonic: bool) -> list[str]:
    problems: list[str] = []
    session = Order.session
    p = sc["parse"]
    at = parse_dt(p["at"])
    with time_machine.travel(at, tick=False):
        trade = _new_trade(sc["leverage"], sc["pair"], at)
        session.add(trade)
        o = Order.parse_from_ccxt_object(p["order"], sc["pair"], sc["side"], p.get("amount"),
                                         p.get("price"))
        trade.orders.append(o)
        if "ft_fee_base" in sc:
            o.ft_fee_base = sc["ft_fee_base"]
        session.commit()
    pk, trade_id = o.id, trade.id
    zero_price = p["expect"]["ft_price"] is None
    fix = _adjust_for_zero_ft_price if zero_price else (lambda e: e)
    try:
        o = _reload(pk)
        problems += diff(record(o, sc["entry_side"]), fix(p["expect"]), "parse")
        prev = p["expect"]
        diverged = False
        for i, upd in enumerate(sc["updates"]):
            exp = upd["expect"]
            where = f"update[{i}]"
            before = record(o, sc["entry_side"])
            with time_machine.travel(parse_dt(upd["at"]), tick=False):
                try:
                    o.update_from_ccxt_object(upd["order"], monotonic=monotonic)
                except Exception as exc:
                    if "raises" not in exp:
                        problems.append(f"{where}: raised {exc!r}")
                        continue
                    problems += diff({"raises": {"class": "", "exc": exc}},
                                     {"raises": exp["raises"]}, where)
                    # nothing to write: the session holds no change for the order
                    if o in session.dirty and session.is_modified(o):
                        problems.append(f"{where}: rejected update left the order modified")
                    session.commit()
                    o = _reload(pk)
                    problems += diff(record(o, sc["entry_side"]), before, where + ".unchanged")
                    continue
                session.commit()
                o = _reload(pk)
                got = record(o, sc["entry_side"])
            if "raises" in exp:
                problems.append(f"{where}: expected {exp['raises']}, got no error")
                continue
            if monotonic and (diverged or is_stale(prev, upd["order"])):
                if not diverged:
                    problems += diff(got, before, where + ".stale-unchanged")
                    diverged = True
                if before["filled"] is not None and (got["filled"] or 0.0) < before["filled"]:
                    problems.append(f"{where}: filled rolled back")
                if before["status"] in NON_OPEN_EXCHANGE_STATES and got["ft_is_open"]:
                    problems.append(f"{where}: final order reopened")
                continue
            problems += diff(got, fix(exp), where)
            prev = exp
    finally:
        session.rollback()
        t = session.get(Trade, trade_id)
        if t is not None:
            session.delete(t)
        session.commit()
    return [f"{sc['id']}: {msg}" for msg in problems]


@pytest.fixture
def db(module_backend: str) -> str:
    init_db(module_backend)
    return module_backend


@pytest.mark.parametrize("monotonic", [False, True], ids=["freqtrade", "monotonic"])
def test_golden_orders_persisted(db: str, monotonic: bool) -> None:
    problems: list[str] = []
    for sc in SCENARIOS:
        problems += _replay(sc, monotonic)
    assert problems == []
    # every scenario cleaned up after itself
    assert Order.session.scalars(select(Order)).first() is None
