"""The analytics result cache (migration ``tl_0005``) never serves a stale answer.

Every check compares the cached path with the same query run without the cache
(``use_cache=False``) after writes made by other connections, other processes, the reader's
own uncommitted transaction (then rolled back), bulk Core statements and freqtrade-style raw
SQL, on every backend (MariaDB: the cache is off, answers still right).
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tradeledger
from tests.conftest import make_backend_url, selected_backends
from tradeledger.db import close_db, init_db
from tradeledger.models import Order, Trade
from tradeledger.services.analytics import AnalyticsService, TradeFilter
from tradeledger.services.analytics import cache as acache
from tradeledger.services.analytics._sql import normalise_dialect
from tradeledger.services.analytics.context import default_context
from tradeledger.services.analytics.performance import _generic, performance

D0 = datetime(2024, 1, 1, tzinfo=UTC)
PAIRS = ("BTC/USDT", "ETH/USDT", "LTC/USDT")


@pytest.fixture(params=selected_backends())
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    url, drop = make_backend_url(request.param, tmp_path)
    init_db(url)
    acache.cache_clear()
    try:
        yield request.param, url
    finally:
        close_db()
        drop()


def trade_row(tid: int, *, closed: bool = True, profit: float = 1.0) -> dict[str, Any]:
    return {
        "id": tid, "exchange": "binance", "pair": PAIRS[tid % 3], "is_open": not closed,
        "fee_open": 0.001, "fee_close": 0.001, "open_rate": 100.0,
        "close_rate": 101.0 if closed else None, "close_profit": profit / 100 if closed else None,
        "close_profit_abs": profit if closed else None, "stake_amount": 100.0,
        "max_stake_amount": 100.0, "amount": 1.0, "open_date": D0 + timedelta(hours=tid),
        "close_date": D0 + timedelta(hours=tid + 1) if closed else None,
        "exit_reason": "roi" if closed else None, "enter_tag": f"t{tid % 2}", "strategy": "S",
        "leverage": 1.0, "is_short": False, "record_version": 2, "realized_profit": 0.0,
        "stop_loss": 90.0, "initial_stop_loss": 90.0, "min_rate": 99.0, "max_rate": 102.0,
    }


def order_row(oid: int, tid: int, side: str, filled: float) -> dict[str, Any]:
    return {
        "id": oid, "ft_trade_id": tid, "ft_order_side": side, "ft_pair": PAIRS[tid % 3],
        "ft_is_open": False, "ft_amount": 1.0, "ft_price": 100.0, "order_id": f"o{oid}",
        "status": "closed", "side": side,
        "order_type": "limit", "price": 100.0, "average": 100.0, "amount": 1.0,
        "filled": filled, "remaining": 0.0, "cost": 100.0 * filled,
    }


def fresh(bind: Any) -> list[tuple[str, float, float, int]]:
    """The overall performance computed without the cache."""
    ctx = replace(default_context(bind), use_cache=False)
    return _generic(ctx, "pair", [ctx.trades.c.is_open.is_(False)])


def cached() -> list[tuple[str, float, float, int]]:
    return [(r["pair"], r["profit_ratio"], r["profit_abs"], r["count"])
            for r in Trade.get_overall_performance()]


def seed(engine: sa.Engine, n: int = 6) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(Trade.__table__), [trade_row(i, profit=i - 3.0)
                                                  for i in range(1, n + 1)])
        conn.execute(sa.insert(Order.__table__),
                     [order_row(i, i, "buy", 1.0) for i in range(1, n + 1)])


def test_migration_installs_table_and_triggers(db: tuple[str, str]) -> None:
    engine = tradeledger.db.get_engine()
    dialect = normalise_dialect(engine.dialect.name)
    with engine.connect() as conn:
        slots = conn.execute(sa.select(acache.state_table.c.slot)).scalars().all()
    assert sorted(slots) == list(range(acache.SLOTS[dialect]))
    if dialect == "mysql":
        return
    with engine.connect() as conn:
        tokens = acache._read_tokens(conn, dialect)
    assert tokens is not None and len(tokens) == acache.SLOTS[dialect] + 1  # + fingerprint


def test_repeated_call_is_served_from_the_cache(db: tuple[str, str]) -> None:
    backend, _url = db
    engine = tradeledger.db.get_engine()
    seed(engine)
    first = cached()
    assert first == fresh(Trade.session) and len(first) == 3
    before = acache.cache_stats()
    assert cached() == first
    after = acache.cache_stats()
    if backend == "mariadb":
        assert after["hits"] == before["hits"] == 0 and after["bypassed"] > before["bypassed"]
    else:
        assert after["hits"] == before["hits"] + 1


def test_other_connection_writes_invalidate(db: tuple[str, str]) -> None:
    _backend, url = db
    engine = tradeledger.db.get_engine()
    seed(engine)
    # sqlite:// is one shared connection: "another connection" is an engine on it
    other = engine if url == "sqlite://" else tradeledger.db.create_db_engine(url)
    try:
        rng = random.Random(7)
        next_id = 100
        for step in range(12):
            assert cached() == fresh(Trade.session), step
            Trade.session.rollback()  # end the read transaction: see the other's commits
            with other.begin() as conn:
                kind = step % 6
                if kind == 0:  # a new closed trade with its entry order
                    conn.execute(sa.insert(Trade.__table__), [trade_row(next_id, profit=2.5)])
                    conn.execute(sa.insert(Order.__table__),
                                 [order_row(next_id, next_id, "buy", 2.0)])
                    next_id += 1
                elif kind == 1:  # profit of one trade changes
                    conn.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id == 2)
                                 .values(close_profit_abs=rng.uniform(-5, 5)))
                elif kind == 2:  # an order's fill changes the capital only
                    conn.execute(sa.update(Order.__table__).where(Order.__table__.c.id == 3)
                                 .values(filled=rng.uniform(0.5, 3)))
                elif kind == 3:  # an order disappears: fallback capital
                    conn.execute(sa.delete(Order.__table__).where(
                        Order.__table__.c.id == 4 + step))
                elif kind == 4:  # raw SQL as freqtrade or a script would write it
                    conn.exec_driver_sql("UPDATE trades SET pair = 'XRP/USDT' WHERE id = 1")
                else:  # a trade is reopened
                    conn.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id == 5)
                                 .values(is_open=True))
            Trade.session.rollback()
        assert cached() == fresh(Trade.session)
    finally:
        if other is not engine:
            other.dispose()


def test_own_uncommitted_writes_never_leak(db: tuple[str, str]) -> None:
    _backend, _url = db
    engine = tradeledger.db.get_engine()
    seed(engine)
    base = cached()
    session = Trade.session
    session.execute(sa.insert(Trade.__table__), [trade_row(50, profit=40.0)])
    session.execute(sa.insert(Order.__table__), [order_row(50, 50, "buy", 1.0)])
    inside = cached()  # sees its own uncommitted rows
    assert inside == fresh(session) and inside != base
    assert cached() == inside
    session.rollback()
    assert cached() == base == fresh(session)
    # the same write, committed: its answer equals what the rolled-back transaction saw
    session.execute(sa.insert(Trade.__table__), [trade_row(50, profit=40.0)])
    session.execute(sa.insert(Order.__table__), [order_row(50, 50, "buy", 1.0)])
    session.commit()
    assert cached() == inside == fresh(session)


def test_orm_write_paths_invalidate(db: tuple[str, str]) -> None:
    _backend, _url = db
    seed(tradeledger.db.get_engine())
    assert cached() == fresh(Trade.session)
    trade = Trade.session.get(Trade, 1)
    assert trade is not None
    trade.close_profit_abs = 123.0
    Trade.commit()
    assert cached() == fresh(Trade.session)
    assert {r[0]: r[2] for r in cached()}["ETH/USDT"] == pytest.approx(124.0)  # -2 + 1 → 123 + 1
    order = Trade.session.get(Order, 2)
    assert order is not None
    Trade.session.delete(order)
    Trade.commit()
    assert cached() == fresh(Trade.session)


def test_service_metrics_match_uncached(db: tuple[str, str]) -> None:
    _backend, _url = db
    engine = tradeledger.db.get_engine()
    seed(engine, 9)
    svc = AnalyticsService(engine)
    plain = AnalyticsService.from_context(replace(svc.context, use_cache=False))
    flt = TradeFilter(pairs=["BTC/USDT", "ETH/USDT"])
    for _ in range(2):
        for name, args in (("trade_stats", ()), ("stoploss", ()), ("leverage", ()),
                           ("max_drawdown", (1000.0,)), ("risk", (1000.0,)),
                           ("profit_by_period", ("week",))):
            assert getattr(svc, name)(*args) == getattr(plain, name)(*args), name
        assert svc.performance("enter_tag", flt) == plain.performance("enter_tag", flt)
        with engine.begin() as conn:
            conn.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id == 4)
                         .values(close_profit_abs=-50.0, close_profit=-0.5))


CHILD = textwrap.dedent("""
    import sys
    import sqlalchemy as sa
    from tradeledger.db import init_db
    from tradeledger.models import Trade
    init_db(sys.argv[1])
    Trade.session.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id == int(sys.argv[2]))
                          .values(close_profit_abs=float(sys.argv[3])))
    Trade.commit()
""")


@pytest.mark.parametrize("backend_name", [b for b in selected_backends()
                                          if b in ("sqlite-file", "postgresql")])
def test_other_process_writes_invalidate(backend_name: str, tmp_path: Path) -> None:
    url, drop = make_backend_url(backend_name, tmp_path)
    try:
        engine = init_db(url)
        acache.cache_clear()
        seed(engine)
        src = str(Path(__file__).resolve().parents[1] / "src")
        for tid, value in ((1, 7.0), (2, -3.5), (1, 0.25)):
            assert cached() == fresh(Trade.session)
            Trade.session.rollback()
            subprocess.run([sys.executable, "-c", CHILD, url, str(tid), str(value)],
                           check=True, env={"PYTHONPATH": src}, timeout=120)
            after = cached()
            assert after == fresh(Trade.session)
            assert any(r[2] == pytest.approx(value, abs=20) for r in after)
        stats = acache.cache_stats()
        assert stats["stored"] >= 4 and stats["bypassed"] == 0
    finally:
        close_db()
        drop()


def test_size_limits_evict_least_recently_used(db: tuple[str, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    backend, _url = db
    engine = tradeledger.db.get_engine()
    seed(engine, 9)
    monkeypatch.setattr(acache, "MAX_TOTAL_ROWS", 5)
    ctx = AnalyticsService(engine).context  # statement cache only (no whole-result entries)
    expected = {by: performance(ctx, by) for by in ("pair", "enter_tag", "exit_reason")}
    stats = acache.cache_stats()
    if backend == "mariadb":  # the cache is off there (no triggers)
        assert stats["stored"] == stats["entries"] == 0 and stats["bypassed"] == 3
    else:  # 3 + 2 + 1 rows > 5: the least recently used (pair, 3 rows) goes
        assert stats["stored"] == 3 and stats["rows"] == 3 and stats["entries"] == 2
    monkeypatch.setattr(acache, "MAX_ROWS", 2)  # a 3-row result is no longer kept
    acache.cache_clear()
    assert performance(ctx, "pair") == expected["pair"]
    assert acache.cache_stats()["stored"] == 0
    assert {by: performance(ctx, by) for by in expected} == expected


def test_whole_results_are_cached_and_copied(db: tuple[str, str]) -> None:
    backend, _url = db
    engine = tradeledger.db.get_engine()
    seed(engine, 9)
    with engine.begin() as conn:
        conn.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id <= 4)
                     .values(exit_reason="stop_loss"))
    svc = AnalyticsService(engine)
    first = svc.stoploss()
    assert first.exits_by_reason == {"stop_loss": 4}
    first.exits_by_reason["stop_loss"] = 99  # a caller changing its copy
    stats = acache.cache_stats()
    second = svc.stoploss()
    assert second.exits_by_reason == {"stop_loss": 4}
    after = acache.cache_stats()
    if backend == "mariadb":
        assert after["hits"] == stats["hits"] == 0
    else:  # one hit for the whole result, no statement ran
        assert after["hits"] == stats["hits"] + 1 and after["misses"] == stats["misses"]
    with engine.begin() as conn:
        conn.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id == 5)
                     .values(exit_reason="trailing_stop_loss"))
    assert svc.stoploss().exits_by_reason == {"stop_loss": 4, "trailing_stop_loss": 1}
    days = svc.profit_by_period("day")  # only frozen dataclasses and tuples: shared, no copy
    assert (svc.profit_by_period("day") is days) == (backend != "mariadb")
    assert days == AnalyticsService.from_context(
        replace(svc.context, use_cache=False)).profit_by_period("day")


SQLITE_ORDERS_UPD = ("CREATE TRIGGER tl_analytics_orders_upd AFTER UPDATE ON orders "
                     "BEGIN UPDATE tl_analytics_state SET token = random(); END")


@pytest.mark.parametrize("backend_name", [b for b in selected_backends()
                                          if b in ("sqlite-file", "postgresql")])
def test_write_while_a_trigger_is_off_never_revives_an_answer(backend_name: str,
                                                               tmp_path: Path) -> None:
    url, drop = make_backend_url(backend_name, tmp_path)
    pg = backend_name == "postgresql"
    try:
        engine = init_db(url)
        acache.cache_clear()
        seed(engine)
        assert cached() == fresh(Trade.session)
        Trade.session.rollback()
        with engine.begin() as conn:  # trigger off, a write that stores no token
            conn.exec_driver_sql("ALTER TABLE orders DISABLE TRIGGER tl_analytics_orders_upd"
                                 if pg else "DROP TRIGGER tl_analytics_orders_upd")
            conn.execute(sa.update(Order.__table__).values(filled=3.0))
        assert cached() == fresh(Trade.session)  # off: computed, not cached
        assert acache.cache_stats()["bypassed"] >= 1
        Trade.session.rollback()
        with engine.begin() as conn:  # trigger back: the tokens are those of the first call
            conn.exec_driver_sql("ALTER TABLE orders ENABLE ALWAYS TRIGGER "
                                 "tl_analytics_orders_upd" if pg else SQLITE_ORDERS_UPD)
        assert cached() == fresh(Trade.session)  # not the answer cached before the write
        if pg:  # replica mode (logical replication apply) fires ALWAYS triggers
            Trade.session.rollback()
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                conn.execute(sa.update(Order.__table__).values(filled=0.5))
            assert cached() == fresh(Trade.session)
    finally:
        close_db()
        drop()


def test_core_fast_path_writes_invalidate(db: tuple[str, str]) -> None:
    from tests.test_persist import build_local
    from tradeledger import persist_trade, persist_trades

    persist_trades([build_local(i, "seed-") for i in range(4)])  # ids from the sequences
    first = cached()
    assert first == fresh(Trade.session)
    Trade.session.rollback()
    persist_trade(build_local(4, "fast-"))  # a closed trade with its entry and exit orders
    second = cached()
    assert second == fresh(Trade.session)
    assert sum(r[3] for r in second) == sum(r[3] for r in first) + 1
    Trade.session.rollback()
    persist_trades([build_local(8, "bulk-"), build_local(12, "bulk-")])  # two more closed
    third = cached()
    assert third == fresh(Trade.session)
    assert sum(r[3] for r in third) == sum(r[3] for r in second) + 2


def _uncached_totals() -> tuple[float, float]:
    from tradeledger.models.trade import _closed_profit_in_database, _exact_sum

    session = Trade.session()
    closed = _closed_profit_in_database(session)
    if closed is None:
        closed = _exact_sum(session.scalars(sa.select(Trade.close_profit_abs)
                                            .where(Trade.is_open.is_(False))))
    stakes = _exact_sum(session.scalars(sa.select(Trade.stake_amount)
                                        .where(Trade.is_open.is_(True))))
    return closed, stakes


def test_exact_totals_are_cached_and_invalidated(db: tuple[str, str]) -> None:
    backend, url = db
    engine = tradeledger.db.get_engine()
    seed(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(Trade.__table__), [trade_row(20, closed=False)])
    totals = (Trade.get_total_closed_profit(), Trade.total_open_trades_stakes())
    assert totals == _uncached_totals() == (sum(i - 3.0 for i in range(1, 7)), 100.0)
    before = acache.cache_stats()
    assert (Trade.get_total_closed_profit(), Trade.total_open_trades_stakes()) == totals
    after = acache.cache_stats()
    expected_hits = 0 if backend == "mariadb" else 2
    assert after["hits"] - before["hits"] == expected_hits
    other = engine if url == "sqlite://" else tradeledger.db.create_db_engine(url)
    try:
        for step, sql in enumerate((
            "UPDATE trades SET close_profit_abs = 10.25 WHERE id = 2",
            "UPDATE trades SET stake_amount = 55.5 WHERE id = 20",
            "UPDATE trades SET is_open = false WHERE id = 20" if backend != "sqlite"
            else "UPDATE trades SET is_open = 0 WHERE id = 20",
            "DELETE FROM orders WHERE ft_trade_id = 3",
            "DELETE FROM trades WHERE id = 3",
        )):
            Trade.session.rollback()
            with other.begin() as conn:
                conn.exec_driver_sql(sql)
            Trade.session.rollback()
            got = (Trade.get_total_closed_profit(), Trade.total_open_trades_stakes())
            assert got == _uncached_totals(), (step, sql)
    finally:
        if other is not engine:
            other.dispose()
