"""PostgreSQL: the lock check through libpq (``_PgDirect``) and when it steps aside.

A check on a connection without an open transaction runs as a named prepared statement
straight through psycopg's libpq wrapper; inside a transaction, with PgBouncer mode, or when
the statement was dropped by ``DEALLOCATE ALL`` it must still give the right answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError

from tests.conftest import create_server_database, require_backend
from tradeledger.db import init_db
from tradeledger.models.pairlock import PairLock
from tradeledger.services import pairlocks as svc
from tradeledger.services.pairlocks import PairLocks

pytestmark = pytest.mark.xdist_group("pg_direct")


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_backend("postgresql")
    url, drop = create_server_database("postgresql")
    try:
        yield url
    finally:
        PairLock.session.remove()
        drop()


def _start(url: str, **kwargs: Any) -> Engine:
    engine = init_db(url, **kwargs)
    PairLocks.use_db = True
    PairLocks.timeframe = "5m"
    return engine


def _dbapi() -> Any:
    return PairLock.session().connection().connection.dbapi_connection


def _our_statements(engine: Engine) -> list[str]:
    """Our prepared statements on the session's connection (read without a transaction)."""
    res = _dbapi().pgconn.exec_(b"SELECT name FROM pg_prepared_statements"
                                b" WHERE name LIKE 'tl_pairlock%' ORDER BY name")
    return [res.get_value(i, 0).decode() for i in range(res.ntuples)]


def _idle() -> bool:
    from psycopg import pq

    return bool(_dbapi().pgconn.transaction_status == pq.TransactionStatus.IDLE)


def test_check_outside_a_transaction_is_a_prepared_statement_and_opens_none(
        pg_url: str) -> None:
    engine = _start(pg_url)
    now = datetime.now(UTC)
    PairLocks.lock_pair("ETH/USDT", now + timedelta(hours=1), "x", now=now)
    calls: list[Any] = []
    real = svc._PgDirect.run

    def spy(self: Any, *args: Any) -> Any:
        out = real(self, *args)
        calls.append(out)
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(svc._PgDirect, "run", spy)
        assert _idle()
        assert PairLocks.is_pair_locked("ETH/USDT", now)
        assert not PairLocks.is_pair_locked("BTC/USDT", now)
        assert PairLocks.is_pair_locked("ETH/USDT", now, side="long")
        assert not PairLocks.is_global_lock(now)
        assert _idle()  # no transaction left open by the checks
    assert calls == [True, False, True, False]  # every answer came from the direct path
    assert _our_statements(engine) == [
        "tl_pairlock_check_1_all",
        "tl_pairlock_check_2_all",
        "tl_pairlock_check_2_long",
    ]
    PairLock.session.rollback()


def test_inside_a_transaction_the_check_sees_the_transaction(pg_url: str) -> None:
    _start(pg_url)
    now = datetime.now(UTC)
    assert not PairLocks.is_pair_locked("ETH/USDT", now)
    session = PairLock.session()
    session.add(PairLock(pair="ETH/USDT", side="*", reason="uncommitted", lock_time=now,
                         lock_end_time=now + timedelta(hours=1), active=True))
    session.flush()  # in this transaction only
    assert not _idle()
    assert PairLocks.is_pair_locked("ETH/USDT", now)
    session.rollback()  # psycopg deallocates every prepared statement on a rollback
    assert not PairLocks.is_pair_locked("ETH/USDT", now)
    assert _idle()


def test_statement_dropped_behind_its_back_is_prepared_again(pg_url: str) -> None:
    engine = _start(pg_url)
    now = datetime.now(UTC)
    PairLocks.lock_pair("ETH/USDT", now + timedelta(hours=1), "x", now=now)
    assert PairLocks.is_pair_locked("ETH/USDT", now)
    for command in ("DEALLOCATE ALL", "DISCARD ALL"):
        dbapi = _dbapi()
        assert _our_statements(engine) == ["tl_pairlock_check_2_all"]
        dbapi.pgconn.exec_(command.encode())  # outside a transaction, as a pooler might
        assert _our_statements(engine) == []
        assert PairLocks.is_pair_locked("ETH/USDT", now)
        assert not PairLocks.is_pair_locked("BTC/USDT", now)
        assert _idle()
    assert _our_statements(engine) == ["tl_pairlock_check_2_all"]


def test_pgbouncer_mode_prepares_nothing(pg_url: str) -> None:
    engine = _start(pg_url, pgbouncer=True)
    now = datetime.now(UTC)
    PairLocks.lock_pair("ETH/USDT", now + timedelta(hours=1), "x", now=now)
    for _ in range(10):
        assert PairLocks.is_pair_locked("ETH/USDT", now)
        assert not PairLocks.is_pair_locked("BTC/USDT", now, side="short")
    PairLock.session.commit()
    assert _our_statements(engine) == []
    cur = _dbapi().cursor()
    cur.execute("SELECT count(*) FROM pg_prepared_statements")
    assert cur.fetchone() == (0,)
    cur.close()


def test_other_client_encoding_uses_the_cursor(pg_url: str) -> None:
    engine = _start(pg_url)
    now = datetime.now(UTC)
    PairLocks.lock_pair("ÉTH/USDT", now + timedelta(hours=1), "x", now=now)
    dbapi = _dbapi()
    dbapi.execute("SET client_encoding TO 'LATIN1'")
    dbapi.commit()
    assert PairLocks.is_pair_locked("ÉTH/USDT", now)
    assert not PairLocks.is_pair_locked("ETH/USDT", now)
    assert _our_statements(engine) == []
    PairLock.session.rollback()


def test_dead_connection_is_reported_and_replaced(pg_url: str) -> None:
    _start(pg_url)
    now = datetime.now(UTC)
    PairLocks.lock_pair("ETH/USDT", now + timedelta(hours=1), "x", now=now)
    assert PairLocks.is_pair_locked("ETH/USDT", now)
    pid = _dbapi().pgconn.backend_pid
    killer = create_engine(pg_url)
    try:
        with killer.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    finally:
        killer.dispose()
    with pytest.raises(DBAPIError) as info:
        PairLocks.is_pair_locked("ETH/USDT", now)
    assert info.value.connection_invalidated
    PairLock.session.rollback()
    assert PairLocks.is_pair_locked("ETH/USDT", now)  # on a new connection
    assert _dbapi().pgconn.backend_pid != pid


def test_interrupt_while_waiting_leaves_a_usable_connection(pg_url: str) -> None:
    _start(pg_url)
    now = datetime.now(UTC)
    PairLocks.lock_pair("ETH/USDT", now + timedelta(hours=1), "x", now=now)
    assert PairLocks.is_pair_locked("ETH/USDT", now)
    dbapi = _dbapi()
    real = svc._PgDirect._wait
    interrupts = [KeyboardInterrupt()]

    def interrupted(self: Any, pgconn: Any, state: Any) -> Any:
        if interrupts:
            raise interrupts.pop()  # once, with the query sent and its answer not read
        return real(self, pgconn, state)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(svc._PgDirect, "_wait", interrupted)
        with pytest.raises(KeyboardInterrupt):
            PairLocks.is_pair_locked("ETH/USDT", now)
    assert not dbapi.closed and _idle()  # the answer in flight was read and dropped
    assert not PairLocks.is_pair_locked("BTC/USDT", now)
    assert PairLocks.is_pair_locked("ETH/USDT", now)
    assert _dbapi() is dbapi


def test_interrupt_that_cannot_be_cleaned_up_closes_the_connection(pg_url: str) -> None:
    _start(pg_url)
    now = datetime.now(UTC)
    PairLocks.lock_pair("ETH/USDT", now + timedelta(hours=1), "x", now=now)
    assert PairLocks.is_pair_locked("ETH/USDT", now)
    dbapi = _dbapi()

    def interrupted(self: Any, pgconn: Any, state: Any) -> Any:
        raise KeyboardInterrupt  # also while draining: the protocol state stays unknown

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(svc._PgDirect, "_wait", interrupted)
        with pytest.raises(KeyboardInterrupt):
            PairLocks.is_pair_locked("ETH/USDT", now)
    assert dbapi.closed  # never reused
    with pytest.raises(DBAPIError) as info:  # the session learns it on its next statement
        PairLocks.is_pair_locked("ETH/USDT", now)
    assert info.value.connection_invalidated
    PairLock.session.remove()
    assert PairLocks.is_pair_locked("ETH/USDT", now)
