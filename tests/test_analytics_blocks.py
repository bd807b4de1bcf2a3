"""Incremental analytics (migration ``tl_0006``): per-block partial results are never stale.

Trades are spread over several blocks of 4 096 ids. After writes of every kind (other
connections, another process, the reader's own uncommitted transaction, raw SQL, deletes,
a trigger switched off), each blocked metric must equal the same metric computed from
scratch without any cache (``use_cache=False``), and only the blocks written since the last
call may be recomputed. MariaDB has no triggers: the metrics run unblocked there.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tradeledger
from tests.conftest import make_backend_url, selected_backends
from tests.test_analytics_cache import CHILD, order_row, trade_row
from tests.test_analytics_generated import same
from tradeledger.db import close_db, create_db_engine, init_db
from tradeledger.models import Order, Trade
from tradeledger.models.analytics_state import BLOCK_SIZE, blocks_table
from tradeledger.services.analytics import AnalyticsService, TradeFilter
from tradeledger.services.analytics import blocks as ablocks
from tradeledger.services.analytics import cache as acache
from tradeledger.services.analytics._sql import normalise_dialect

# ids in blocks 0, 1, 2 and 5 (block 3 and 4 empty)
IDS = (1, 2, 3, 4, BLOCK_SIZE, BLOCK_SIZE + 7, 2 * BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 2,
       5 * BLOCK_SIZE + 3)
EXITS = ("roi", "stop_loss", "trailing_stop_loss", "exit_signal", "liquidation")


@pytest.fixture(params=selected_backends())
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    url, drop = make_backend_url(request.param, tmp_path)
    init_db(url)
    acache.cache_clear()
    ablocks.blocks_clear()
    try:
        yield request.param, url
    finally:
        close_db()
        drop()


def row(tid: int, k: int) -> dict[str, Any]:
    out = trade_row(tid, profit=(k % 7) - 2.5)
    out.update(exit_reason=EXITS[k % len(EXITS)], leverage=(1.0, 3.0, 10.0)[k % 3],
               is_short=k % 4 == 1, liquidation_price=50.0 if k % 3 else None,
               stop_loss=90.0 + k % 5, trading_mode="futures" if k % 3 else "spot")
    return out


def seed(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(Trade.__table__), [row(t, k) for k, t in enumerate(IDS)])
        conn.execute(sa.insert(Order.__table__),
                     [order_row(t, t, "sell" if k % 4 == 1 else "buy", 1.0 + k % 3)
                      for k, t in enumerate(IDS)])


def metrics(svc: AnalyticsService) -> dict[str, Any]:
    flt = TradeFilter(exit_reason="stop_loss")
    out: dict[str, Any] = {by: svc.performance(by) for by in
                           ("pair", "enter_tag", "exit_reason", "mix_tag")}
    out["perf(filter)"] = svc.performance("pair", flt)
    out["leverage"] = svc.leverage()
    out["stoploss"] = svc.stoploss()
    out["stoploss(filter)"] = svc.stoploss(TradeFilter(side="long"))
    out["days"] = svc.profit_by_period("day")
    out["drawdown"] = svc.max_drawdown(1000.0)
    out["stats"] = svc.trade_stats()
    return {k: asdict(v) for k, v in out.items()}


def check(engine: sa.Engine | Any, step: object = "") -> None:
    svc = AnalyticsService(engine)
    plain = AnalyticsService.from_context(replace(svc.context, use_cache=False))
    same(metrics(svc), metrics(plain), str(step))


def tokens(engine: sa.Engine) -> dict[int, tuple[int, ...]]:
    out: dict[int, list[int]] = {}
    with engine.connect() as conn:
        for block, _slot, token in conn.execute(sa.select(blocks_table)):
            out.setdefault(int(block), []).append(int(token))
    return {b: tuple(sorted(v)) for b, v in out.items()}


def test_triggers_stamp_only_the_written_block(db: tuple[str, str]) -> None:
    backend, _url = db
    engine = tradeledger.db.get_engine()
    seed(engine)
    before = tokens(engine)
    if backend == "mariadb":  # the table only: no triggers
        assert before == {}
        return
    assert set(before) == {0, 1, 2, 5}
    t, o = Trade.__table__, Order.__table__
    writes = [  # (statement, blocks it must stamp)
        (sa.update(t).where(t.c.id == BLOCK_SIZE + 7).values(close_profit_abs=9.0), {1}),
        (sa.update(o).where(o.c.ft_trade_id == 2 * BLOCK_SIZE + 1).values(filled=0.5), {2}),
        (sa.delete(o).where(o.c.ft_trade_id == 1), {0}),
        (sa.insert(t).values(row(3 * BLOCK_SIZE, 1)), {3}),
        (sa.delete(t).where(t.c.id == 3 * BLOCK_SIZE), {3}),
        (sa.update(t).where(t.c.id.in_([2, 5 * BLOCK_SIZE + 3])).values(enter_tag="x"), {0, 5}),
    ]
    for stmt, stamped in writes:
        with engine.begin() as conn:
            conn.execute(stmt)
        after = tokens(engine)
        changed = {b for b in after if after[b] != before.get(b)}
        assert changed == stamped, (str(stmt), changed)
        before = after


def test_blocked_metrics_equal_fresh_ones_after_every_write(db: tuple[str, str]) -> None:
    backend, url = db
    engine = tradeledger.db.get_engine()
    seed(engine)
    other = engine if url == "sqlite://" else create_db_engine(url)
    t, o = Trade.__table__, Order.__table__
    writes = [
        sa.update(t).where(t.c.id == 3).values(close_profit_abs=-40.0, close_profit=-0.4),
        sa.update(o).where(o.c.ft_trade_id == BLOCK_SIZE).values(filled=7.5),
        sa.insert(t).values(row(4 * BLOCK_SIZE + 9, 2)),
        sa.delete(o).where(o.c.ft_trade_id == 2 * BLOCK_SIZE + 2),
        sa.update(t).where(t.c.id == 4).values(is_open=True),
        sa.update(t).where(t.c.id == BLOCK_SIZE + 7).values(exit_reason="stop_loss",
                                                            pair="XRP/USDT"),
        sa.delete(o).where(o.c.ft_trade_id == 5 * BLOCK_SIZE + 3),
        sa.delete(t).where(t.c.id == 5 * BLOCK_SIZE + 3),
        sa.text("UPDATE trades SET leverage = 20 WHERE id = 1"),
    ]
    try:
        check(engine, "seed")
        for step, stmt in enumerate(writes):
            with other.begin() as conn:
                conn.execute(stmt)
            ablocks_before = ablocks.blocks_stats()
            check(engine, step)
            stats = ablocks.blocks_stats()
            if backend == "mariadb":
                assert stats["computed"] == stats["reused"] == 0 and stats["unblocked"] > 0
            else:  # the written block is recomputed, the others are reused
                assert stats["computed"] > ablocks_before["computed"], step
                assert stats["reused"] > ablocks_before["reused"], step
        # nothing written: the whole-result cache answers, no block is even read
        before = ablocks.blocks_stats()
        check(engine, "again")
        assert ablocks.blocks_stats()["computed"] == before["computed"]
    finally:
        if other is not engine:
            other.dispose()


def test_only_the_written_block_is_recomputed(db: tuple[str, str]) -> None:
    backend, _url = db
    if backend == "mariadb":
        pytest.skip("MariaDB has no block triggers: its metrics run unblocked (tested above)")
    engine = tradeledger.db.get_engine()
    dense = (1, 2, BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 1, 3 * BLOCK_SIZE + 1)  # blocks 0-3
    with engine.begin() as conn:
        conn.execute(sa.insert(Trade.__table__), [row(t, k) for k, t in enumerate(dense)])
    svc = AnalyticsService(engine)
    first = svc.performance("enter_tag")
    assert ablocks.blocks_stats()["computed"] == 4
    with engine.begin() as conn:
        conn.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id == BLOCK_SIZE + 1)
                     .values(close_profit_abs=99.0))
    second = svc.performance("enter_tag")
    stats = ablocks.blocks_stats()
    assert (stats["computed"], stats["reused"]) == (5, 3)
    assert second != first
    plain = AnalyticsService.from_context(replace(svc.context, use_cache=False))
    same(asdict(second), asdict(plain.performance("enter_tag")))


def test_own_uncommitted_writes_never_leak(db: tuple[str, str]) -> None:
    _backend, _url = db
    engine = tradeledger.db.get_engine()
    seed(engine)
    session = Trade.session
    base = metrics(AnalyticsService(session))
    session.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id == 2)
                    .values(close_profit_abs=500.0, exit_reason="stop_loss"))
    inside = metrics(AnalyticsService(session))
    assert inside != base
    check(session, "inside")
    session.rollback()
    same(metrics(AnalyticsService(session)), base, "after rollback")
    check(engine, "after rollback")




@pytest.mark.parametrize("backend_name", [b for b in selected_backends()
                                          if b in ("sqlite-file", "postgresql")])
def test_other_process_writes_are_seen(backend_name: str, tmp_path: Path) -> None:
    url, drop = make_backend_url(backend_name, tmp_path)
    try:
        engine = init_db(url)
        acache.cache_clear()
        ablocks.blocks_clear()
        seed(engine)
        src = str(Path(__file__).resolve().parents[1] / "src")
        for tid, value in ((1, 7.0), (2 * BLOCK_SIZE + 1, -3.5), (1, 0.25)):
            check(engine, tid)
            subprocess.run([sys.executable, "-c", CHILD, url, str(tid), str(value)],
                           check=True, env={"PYTHONPATH": src}, timeout=120)
            check(engine, (tid, value))
    finally:
        close_db()
        drop()


@pytest.mark.parametrize("backend_name", [b for b in selected_backends()
                                          if b in ("sqlite-file", "postgresql")])
def test_a_trigger_switched_off_turns_blocks_off(backend_name: str, tmp_path: Path) -> None:
    url, drop = make_backend_url(backend_name, tmp_path)
    pg = backend_name == "postgresql"
    try:
        engine = init_db(url)
        acache.cache_clear()
        ablocks.blocks_clear()
        seed(engine)
        check(engine, "seed")
        with engine.begin() as conn:  # a write no block trigger sees
            conn.exec_driver_sql("ALTER TABLE trades DISABLE TRIGGER tl_blocks_trades_upd"
                                 if pg else "DROP TRIGGER tl_blocks_trades_upd")
            conn.execute(sa.update(Trade.__table__).values(close_profit_abs=1.5))
        before = ablocks.blocks_stats()["unblocked"]
        check(engine, "off")
        assert ablocks.blocks_stats()["unblocked"] > before
        with engine.begin() as conn:  # back on: the partials kept before must not return
            if pg:
                conn.exec_driver_sql("ALTER TABLE trades ENABLE ALWAYS TRIGGER "
                                     "tl_blocks_trades_upd")
            else:
                conn.exec_driver_sql(
                    "CREATE TRIGGER tl_blocks_trades_upd AFTER UPDATE ON trades BEGIN "
                    f"INSERT INTO tl_analytics_blocks (block, slot, token) VALUES "
                    f"(NEW.id / {BLOCK_SIZE}, 0, random()) ON CONFLICT (block, slot) "
                    "DO UPDATE SET token = excluded.token; END")
        check(engine, "on again")
    finally:
        close_db()
        drop()


def test_migration_stamps_existing_blocks(tmp_path: Path) -> None:
    """An upgrade from tl_0005 stamps the blocks that already hold trades (SQLite)."""
    from alembic import command

    from tradeledger.migrations import runner

    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    engine = init_db(url)
    seed(engine)
    close_db()
    plain = create_db_engine(url)
    try:
        cfg = runner.alembic_config()
        with plain.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "tl_0005")
        assert not sa.inspect(plain).has_table(blocks_table.name)
    finally:
        plain.dispose()
    engine = init_db(url)
    assert runner.current_revision(engine) == runner.head_revision()
    assert set(tokens(engine)) == {0, 1, 2, 5}
    assert normalise_dialect(engine.dialect.name) == "sqlite"
    check(engine, "migrated")


def test_exact_closed_profit_is_summed_per_block(db: tuple[str, str]) -> None:
    backend, url = db
    from tradeledger.models.trade import _exact_sum

    engine = tradeledger.db.get_engine()
    seed(engine)
    values = {t: 0.1 * (k + 1) + 1e-9 * k for k, t in enumerate(IDS)}  # 0.1 + 0.2 != 0.3
    with engine.begin() as conn:
        for t, v in values.items():
            conn.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id == t)
                         .values(close_profit_abs=v))
    other = engine if url == "sqlite://" else create_db_engine(url)
    try:
        for step, (tid, value) in enumerate(((2, 0.7), (2 * BLOCK_SIZE + 2, -1e-7),
                                             (5 * BLOCK_SIZE + 3, 123.456))):
            Trade.session.rollback()
            total = Trade.get_total_closed_profit()
            assert total == _exact_sum(values.values()), step
            with other.begin() as conn:
                conn.execute(sa.update(Trade.__table__).where(Trade.__table__.c.id == tid)
                             .values(close_profit_abs=value))
            values[tid] = value
            Trade.session.rollback()
            before = ablocks.blocks_stats()
            assert Trade.get_total_closed_profit() == _exact_sum(values.values()), step
            stats = ablocks.blocks_stats()
            if backend != "mariadb":  # one block summed again, the others reused
                assert stats["reused"] - before["reused"] == 3, step
    finally:
        if other is not engine:
            other.dispose()


def test_orders_of_deleted_trades_still_count(tmp_path: Path) -> None:
    """freqtrade's SQLite databases do not enforce foreign keys: orders may outlive trades."""
    from tradeledger.services.analytics.performance import get_trading_volume

    url = f"sqlite:///{tmp_path / 'orphans.sqlite'}"
    engine = init_db(url)
    ablocks.blocks_clear()
    acache.cache_clear()
    try:
        seed(engine)
        raw = sa.create_engine(url)  # foreign keys off, as freqtrade leaves them
        with raw.begin() as conn:
            conn.execute(sa.insert(Order.__table__), [order_row(99, 9 * BLOCK_SIZE + 1, "buy",
                                                                2.0)])
        raw.dispose()
        expected = sum(100.0 * (1.0 + k % 3) for k in range(len(IDS))) + 200.0
        assert get_trading_volume(bind=engine) == pytest.approx(expected, rel=1e-12)
        assert ablocks.blocks_stats()["computed"] > 0  # blocked, and block 9 was read
    finally:
        close_db()
