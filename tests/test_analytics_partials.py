"""Partial results kept in the database (migration ``tl_0007``): a new process reuses them.

A "new process" is simulated by forgetting every in-process cache, and also run for real
(a child process computes and stores, this one loads). Whatever was stored, each metric
must equal the same metric computed from scratch without any cache: rows stored for tokens
that changed since (a write, a trigger dropped and re-created) must never be used, a row that
does not decode is ignored, and the writes never fail a metric nor wait for a writer's lock.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import tradeledger
from tests.conftest import make_backend_url, selected_backends
from tests.test_analytics_blocks import IDS, check, metrics, row, seed
from tests.test_analytics_generated import same
from tradeledger.db import close_db, create_db_engine, init_db
from tradeledger.models import Order, Trade
from tradeledger.models.analytics_state import BLOCK_SIZE, partials_table
from tradeledger.services.analytics import AnalyticsService, TradeFilter, partials
from tradeledger.services.analytics import blocks as ablocks
from tradeledger.services.analytics import cache as acache

STORING = ("sqlite-file", "postgresql")  # where partial rows are stored
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(params=selected_backends())
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    url, drop = make_backend_url(request.param, tmp_path)
    init_db(url)
    new_process()
    try:
        yield request.param, url
    finally:
        close_db()
        drop()


def uncached(engine: Any) -> AnalyticsService:
    svc = AnalyticsService(engine)
    return AnalyticsService.from_context(replace(svc.context, use_cache=False))


@pytest.fixture(params=[b for b in selected_backends() if b in STORING])
def storing(request: pytest.FixtureRequest,
            tmp_path: Path) -> Iterator[tuple[str, str, sa.Engine]]:
    """A seeded database of a backend that stores partial rows: (backend, url, engine)."""
    url, drop = make_backend_url(request.param, tmp_path)
    engine = init_db(url)
    new_process()
    seed(engine)
    try:
        yield request.param, url, engine
    finally:
        close_db()
        drop()


def new_process() -> None:
    """Forget what this process computed (what a restart forgets)."""
    acache.cache_clear()
    ablocks.blocks_clear()


def stored(engine: sa.Engine) -> dict[tuple[str, int], str]:
    with engine.connect() as conn:
        return {(s, int(b)): t for s, b, t in conn.execute(
            sa.select(partials_table.c.statement, partials_table.c.block,
                      partials_table.c.token))}


def written_blocks() -> set[int]:
    return {tid // BLOCK_SIZE for tid in IDS}


def test_values_round_trip_exactly() -> None:
    rows = [("BTC/USDT", 1, -0.0, 0.1 + 0.2, 1e308, -5e-324, None, True, 2**70),
            (Decimal("12345678901234567890.123456789012345678"), Decimal("-0E-12"),
             datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
             datetime(2026, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=-5))),
             datetime(2026, 1, 2), date(2026, 2, 3), "Überweisung ✓", "", "{\"$d\": \"1\"}",
             timedelta(days=-3, seconds=5, microseconds=7)),
            (math.inf, -math.inf, math.nan)]
    back = partials.decode_rows(partials.encode_rows(rows))
    assert [tuple(map(type, r)) for r in back] == [tuple(map(type, r)) for r in rows]
    assert back[:2] == rows[:2]
    assert [str(v) for v in back[0]] == [str(v) for v in rows[0]]  # -0.0 stays -0.0
    assert back[1][1].as_tuple() == rows[1][1].as_tuple()  # Decimal exponent kept
    assert back[2][:2] == rows[2][:2] and math.isnan(back[2][2])
    assert back[1][3].utcoffset() == timedelta(hours=-5) and back[1][4].tzinfo is None
    with pytest.raises(TypeError, match="tl_analytics_partials"):
        partials.encode_rows([(object(),)])
    engine = sa.create_engine("postgresql+psycopg://")  # never connects: not stored, no error
    assert partials.persist(engine, "x" * 64, {b: ("t", [(object(),)]) for b in range(4)},
                            0, 3) == 0
    with pytest.raises(ValueError):
        partials.decode_rows('{"a": 1}')


def test_a_new_process_loads_what_the_last_one_stored(db: tuple[str, str]) -> None:
    backend, _url = db
    engine = tradeledger.db.get_engine()
    seed(engine)
    first = metrics(AnalyticsService(engine))
    stats = ablocks.blocks_stats()
    if backend not in STORING:  # in-memory SQLite dies with its process; MariaDB: no tokens
        assert stats["persisted"] == 0 and stored(engine) == {}
        return
    assert stats["persisted"] > 0 and stats["loaded"] == 0
    rows = stored(engine)
    assert {b for _s, b in rows} == written_blocks()  # empty blocks have no token: not kept
    statements = {s for s, _b in rows}
    assert stats["persisted"] == len(rows) == len(statements) * len(written_blocks())

    new_process()
    again = metrics(AnalyticsService(engine))
    stats = ablocks.blocks_stats()
    assert again == first
    assert stats["loaded"] == len(rows)
    assert stats["persisted"] == 0  # nothing new to store
    # only the blocks without trades (3 and 4: no token, nothing to store) were computed
    assert stats["computed"] == 2 * len(statements)
    check(engine)


Storing = tuple[str, str, sa.Engine]


def test_statement_identity_is_the_same_in_another_process(storing: Storing) -> None:
    _backend, url, engine = storing
    child = textwrap.dedent("""
        import json, sys
        from tradeledger.db import init_db
        from tradeledger.services.analytics import AnalyticsService, TradeFilter
        from tradeledger.services.analytics import blocks
        svc = AnalyticsService(init_db(sys.argv[1]))
        svc.performance("pair", TradeFilter(exit_reason="stop_loss"))
        svc.stoploss()
        svc.max_drawdown(1000.0)
        print(json.dumps(blocks.blocks_stats()))
    """)
    out = subprocess.run([sys.executable, "-c", child, url], check=True, timeout=120,
                         env={"PYTHONPATH": SRC}, capture_output=True, text=True)
    assert json.loads(out.stdout)["persisted"] > 0
    svc = AnalyticsService(engine)
    perf = svc.performance("pair", TradeFilter(exit_reason="stop_loss"))
    stop = svc.stoploss()
    dd = svc.max_drawdown(1000.0)
    stats = ablocks.blocks_stats()
    assert stats["loaded"] > 0 and stats["persisted"] == 0
    plain = uncached(engine)
    expected = (plain.performance("pair", TradeFilter(exit_reason="stop_loss")),
                plain.stoploss(), plain.max_drawdown(1000.0))
    same([asdict(r) for r in (perf, stop, dd)], [asdict(r) for r in expected])


def test_rows_stored_for_older_tokens_are_never_used(storing: Storing) -> None:
    _backend, url, engine = storing
    metrics(AnalyticsService(engine))
    other = create_db_engine(url)
    t, o = Trade.__table__, Order.__table__
    writes = [  # written by another connection, the stored rows left behind
        [sa.update(t).where(t.c.id == BLOCK_SIZE + 7).values(close_profit_abs=-77.0,
                                                            exit_reason="stop_loss")],
        [sa.insert(t).values(row(2 * BLOCK_SIZE + 50, 3))],
        [sa.update(o).where(o.c.ft_trade_id == 5 * BLOCK_SIZE + 3).values(filled=0.25)],
        [sa.delete(o).where(o.c.ft_trade_id == 3), sa.delete(t).where(t.c.id == 3)],
    ]
    for step, stmts in enumerate(writes):
        with other.begin() as conn:
            for stmt in stmts:
                conn.execute(stmt)
        new_process()
        check(engine, step)
        stats = ablocks.blocks_stats()
        # each blocked statement: the written block computed (and stored again), the
        # 3 others loaded, the 2 empty ones computed (no token, nothing to store)
        assert stats["loaded"] == 3 * stats["persisted"] > 0, (step, stats)
        assert stats["computed"] == 3 * stats["persisted"], (step, stats)
    other.dispose()


def test_a_trigger_recreated_or_a_bad_row_invalidates(storing: Storing) -> None:
    backend, _url, engine = storing
    metrics(AnalyticsService(engine))
    before = stored(engine)
    # a row that does not decode, under a valid token: ignored, computed again
    with engine.begin() as conn:
        conn.execute(sa.update(partials_table).where(partials_table.c.block == 1)
                     .values(payload="[[1, 2"))
    new_process()
    check(engine, "bad row")
    assert ablocks.blocks_stats()["loaded"] == len(before) - len({s for s, _ in before})
    # a trigger dropped and created again: a write in between could have gone unseen
    name = "tl_blocks_trades_upd"
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(sa.text(f"ALTER TABLE trades DISABLE TRIGGER {name}"))
            conn.execute(sa.text("UPDATE trades SET close_profit_abs = 5 WHERE id = 2"))
            conn.execute(sa.text(f"ALTER TABLE trades ENABLE ALWAYS TRIGGER {name}"))
        else:
            sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = :n"),
                               {"n": name}).scalar_one()
            conn.execute(sa.text(f"DROP TRIGGER {name}"))
            conn.execute(sa.text("UPDATE trades SET close_profit_abs = 5 WHERE id = 2"))
            conn.execute(sa.text(sql))
    new_process()
    check(engine, "trigger")
    assert ablocks.blocks_stats()["loaded"] == 0


def test_writes_prune_old_rows_and_blocks_out_of_range(storing: Storing) -> None:
    _backend, _url, engine = storing
    now = int(time.time())
    with engine.begin() as conn:
        conn.execute(sa.insert(partials_table), [
            {"statement": "old" * 20, "block": 0, "token": "x", "payload": "[]",
             "stored_at": now - partials.RETENTION_S - 5},
            {"statement": "recent" * 10, "block": 0, "token": "x", "payload": "[]",
             "stored_at": now - 60}])
    AnalyticsService(engine).stoploss()
    rows = stored(engine)
    assert ("old" * 20, 0) not in rows and ("recent" * 10, 0) in rows
    ident = next(s for s, _b in rows if s != "recent" * 10)
    new_process()
    with engine.begin() as conn:  # a block beyond the last trade, as after a delete
        conn.execute(sa.delete(partials_table).where(partials_table.c.statement == ident))
        conn.execute(sa.insert(partials_table).values(
            statement=ident, block=99, token="x", payload="[]", stored_at=now))
    AnalyticsService(engine).stoploss()
    rows = stored(engine)
    assert ("recent" * 10, 0) in rows and (ident, 99) not in rows
    assert {b for s, b in rows if s == ident} == written_blocks()


def test_filters_give_their_own_statements(storing: Storing) -> None:
    _backend, _url, engine = storing
    svc = AnalyticsService(engine)
    svc.performance("pair", TradeFilter(exit_reason="stop_loss"))
    one = {s for s, _b in stored(engine)}
    svc.performance("pair", TradeFilter(exit_reason="roi"))
    two = {s for s, _b in stored(engine)} - one
    assert len(one) == len(two) == 1
    new_process()
    for reason in ("roi", "stop_loss", "exit_signal"):
        plain = uncached(engine)
        flt = TradeFilter(exit_reason=reason)
        same(asdict(AnalyticsService(engine).performance("pair", flt)),
             asdict(plain.performance("pair", flt)), reason)


def test_sqlite_never_waits_for_a_writers_lock(storing: Storing) -> None:
    backend, url, _engine = storing
    if backend != "sqlite-file":
        pytest.skip("SQLite's busy timeout (PostgreSQL's lock_timeout is set per transaction)")
    close_db()
    engine = init_db(url, busy_timeout_ms=120_000)
    writer = sa.create_engine(url)
    with writer.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # a bot in the middle of a write
        conn.exec_driver_sql("UPDATE trades SET enter_tag = 'w' WHERE id = 1")
        started = time.monotonic()
        check(engine, "locked")  # would wait 120 s for the lock if it waited at all
        assert time.monotonic() - started < 60
        stats = ablocks.blocks_stats()
        assert stats["persisted"] == 0 and stats["computed"] > 0
        conn.exec_driver_sql("ROLLBACK")
    writer.dispose()
    with engine.connect() as conn:  # the pool's connections keep their busy timeout
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 120_000
    new_process()
    check(engine, "unlocked")  # contention is not a failure: stored this time
    assert ablocks.blocks_stats()["persisted"] > 0


def test_read_only_databases_still_answer_and_stop_trying(
        storing: Storing, caplog: pytest.LogCaptureFixture) -> None:
    backend, url, _engine = storing
    close_db()
    if backend == "postgresql":
        name = sa.make_url(url).database
        with create_db_engine(url).connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET '
                                 "default_transaction_read_only = on"))
            conn.commit()
        reader = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    else:
        path = sa.make_url(url).database
        reader = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    caplog.set_level(logging.DEBUG, logger=partials.__name__)
    for attempt in range(partials.MAX_FAILURES + 2):
        new_process()
        check(reader, attempt)
    assert ablocks.blocks_stats()["persisted"] == 0
    failures = [r for r in caplog.records if "not stored" in r.getMessage()]
    assert len(failures) == partials.MAX_FAILURES  # then it stopped trying
    assert "not trying again" in failures[-1].getMessage()
    with reader.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(partials_table)
                            ).scalar() == 0
    reader.dispose()
    if backend == "postgresql":
        admin = create_db_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SET default_transaction_read_only = off"))
            conn.execute(sa.text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))


def test_partials_clear(db: tuple[str, str]) -> None:
    backend, _url = db
    engine = tradeledger.db.get_engine()
    seed(engine)
    metrics(AnalyticsService(engine))
    deleted = partials.partials_clear(engine)
    assert stored(engine) == {}
    assert (deleted > 0) == (backend in STORING)


def test_warm_stores_every_unfiltered_metric_for_later_processes(storing: Storing) -> None:
    _backend, url, engine = storing
    close_db()  # the command line opens the database itself
    proc = subprocess.run([sys.executable, "-m", "tradeledger.cli", "stats", "--db", url, "--warm",
                           "--json"], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": SRC, "COLUMNS": "200"}, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    json.loads(proc.stdout)  # stdout stays the JSON report; the timings went to stderr
    warmed = [line for line in proc.stderr.splitlines() if line.startswith("warmed ")]
    assert len(warmed) == 14 and "warmed stoploss: " in proc.stderr
    engine = init_db(url)
    new_process()
    svc = AnalyticsService(engine)
    for name, seconds in svc.warm().items():  # now loaded: nothing left to compute
        assert seconds >= 0, name
    stats = ablocks.blocks_stats()
    assert stats["persisted"] == 0 and stats["loaded"] > 0
    # blocks 3 and 4 hold no trade (no token, never stored): computed by each statement
    assert stats["computed"] == 2 * stats["loaded"] // len(written_blocks())
    check(engine, "warmed")


def test_warm_in_backtesting_mode() -> None:
    trades = [tradeledger.LocalTrade(**{k: v for k, v in row(tid, k).items() if k != "id"})
              for k, tid in enumerate(IDS)]
    seconds = AnalyticsService.from_trades(trades).warm()
    assert "stoploss" in seconds and "get_overall_performance" not in seconds


def test_no_right_to_the_table_never_breaks_the_callers_transaction(storing: Storing) -> None:
    backend, url, engine = storing
    if backend != "postgresql":
        pytest.skip("table privileges are PostgreSQL's (SQLite has none)")
    role = "tl_test_no_partials"
    with engine.begin() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                            {"r": role}).scalar():
            conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES "
                             f"IN SCHEMA public TO {role}"))
        conn.execute(sa.text(f"REVOKE ALL ON tl_analytics_partials FROM {role}"))
    metrics(AnalyticsService(engine))  # rows stored by a process that may
    limited = sa.create_engine(sa.make_url(url).set(username=role))
    try:
        with Session(limited) as session:  # one transaction for everything below
            session.execute(sa.text("SELECT 1"))
            new_process()
            check(session, "no right")  # reading the stored rows fails: computed instead
            stats = ablocks.blocks_stats()
            assert stats["loaded"] == 0 and stats["computed"] > 0 and stats["persisted"] == 0
            assert session.execute(sa.text("SELECT count(*) FROM trades")).scalar() == len(IDS)
    finally:
        limited.dispose()
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))


def test_switched_off_the_table_is_never_touched(storing: Storing) -> None:
    _backend, _url, engine = storing
    partials.set_enabled(False)
    try:
        metrics(AnalyticsService(engine))
        new_process()
        check(engine, "off")
        stats = ablocks.blocks_stats()
        assert stats["persisted"] == stats["loaded"] == 0 and stored(engine) == {}
    finally:
        partials.set_enabled(True)
    assert partials.is_enabled()
    new_process()
    metrics(AnalyticsService(engine))
    assert ablocks.blocks_stats()["persisted"] > 0


@pytest.mark.parametrize("warm", [True, False])
def test_import_warms_the_analytics_of_the_target(tmp_path: Path, warm: bool) -> None:
    source = tmp_path / "source.sqlite"
    seed(init_db(f"sqlite:///{source}"))
    close_db()
    target = f"sqlite:///{tmp_path / 'target.sqlite'}"
    proc = subprocess.run(
        [sys.executable, "-m", "tradeledger.cli", "import", str(source), "--db", target,
         "--json", "--no-progress", "--warm" if warm else "--no-warm"],
        capture_output=True, text=True, timeout=300, env={"PYTHONPATH": SRC}, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["ok"] and result["copied"]["trades"] == len(IDS)
    assert ("analytics_warm_s" in result) is warm
    engine = sa.create_engine(target)
    try:
        blocks = {b for _s, b in stored(engine)}
        assert blocks == (written_blocks() if warm else set())
    finally:
        engine.dispose()
