"""``run_in_transaction``: retries only what is safe (services/retry.py)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.conftest import make_backend_url, selected_backends
from tradeledger.db import close_db, get_engine, init_db
from tradeledger.domain.timeutil import dt_now
from tradeledger.exceptions import CommitOutcomeUnknownError
from tradeledger.models import Trade
from tradeledger.services.retry import classify_error, is_retryable, run_in_transaction


def _db_err(orig: BaseException, cls: type[Any] = OperationalError, **kw: Any) -> Any:
    return cls("SELECT 1", {}, orig, **kw)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_db_err(sqlite3.OperationalError("database is locked")), "transient"),
        (_db_err(sqlite3.OperationalError("database or disk is full")), "fatal"),
        (_db_err(psycopg.errors.SerializationFailure("x")), "transient"),
        (_db_err(psycopg.errors.DeadlockDetected("x")), "transient"),
        (_db_err(psycopg.errors.AdminShutdown("terminating connection")), "disconnect"),
        (_db_err(pymysql.err.OperationalError(1213, "Deadlock found")), "transient"),
        (_db_err(pymysql.err.OperationalError(2006, "MySQL server has gone away")), "disconnect"),
        (_db_err(sqlite3.IntegrityError("UNIQUE constraint failed"), IntegrityError), "fatal"),
        (_db_err(Exception("anything"), connection_invalidated=True), "disconnect"),
        (ValueError("bad input"), "fatal"),
    ],
)
def test_classify(error: BaseException, kind: str) -> None:
    assert classify_error(error) == kind
    assert is_retryable(error) == (kind != "fatal")


def _new_trade(pair: str = "AAA/USDT") -> Trade:
    trade = Trade(pair=pair, exchange="fake", open_rate=1.0, amount=1.0, stake_amount=1.0,
                  open_date=dt_now())
    Trade.session.add(trade)
    return trade


def _count() -> int:
    with get_engine().connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Trade)).scalar_one())


@pytest.fixture(params=[b for b in selected_backends() if b != "sqlite-memory"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, drop = make_backend_url(request.param, tmp_path)
    init_db(url)
    try:
        yield request.param
    finally:
        close_db()
        drop()


def _transient(backend: str) -> OperationalError:
    if backend == "postgresql":
        return _db_err(psycopg.errors.SerializationFailure("could not serialize"))
    if backend == "mariadb":
        return _db_err(pymysql.err.OperationalError(1213, "Deadlock found"))
    return _db_err(sqlite3.OperationalError("database is locked"))


def test_transient_failure_before_commit_is_retried_once_stored(db: str) -> None:
    calls: list[int] = []
    pauses: list[float] = []

    def unit() -> int:
        calls.append(1)
        trade = _new_trade()
        Trade.session.flush()
        if len(calls) < 3:
            raise _transient(db)  # fails before COMMIT: nothing stored
        Trade.commit()
        return trade.id

    tid = run_in_transaction(unit, retries=3, sleep=pauses.append, backoff=0.1)
    assert len(calls) == 3 and pauses == [0.1, 0.2]
    assert _count() == 1 and tid is not None


def test_retries_exhausted_raise_the_last_error(db: str) -> None:
    seen: list[int] = []

    def unit() -> None:
        _new_trade()
        Trade.session.flush()
        raise _transient(db)

    with pytest.raises(OperationalError):
        run_in_transaction(unit, retries=2, sleep=lambda s: None,
                           on_retry=lambda n, e: seen.append(n))
    assert seen == [1, 2]
    assert _count() == 0


def test_fatal_error_is_not_retried(db: str) -> None:
    calls: list[int] = []

    def unit() -> None:
        calls.append(1)
        with get_engine().begin() as conn:
            conn.execute(text("INSERT INTO pairlocks (id, pair, side, lock_time, lock_end_time, "
                              "active) VALUES (7, 'X', '*', '2024-01-01', '2024-01-02', true)"))
        with get_engine().begin() as conn:
            conn.execute(text("INSERT INTO pairlocks (id, pair, side, lock_time, lock_end_time, "
                              "active) VALUES (7, 'X', '*', '2024-01-01', '2024-01-02', true)"))

    with pytest.raises(IntegrityError):
        run_in_transaction(unit, sleep=lambda s: None)
    assert calls == [1]


def test_unit_failing_after_a_completed_commit_is_not_retried(db: str) -> None:
    calls: list[int] = []

    def unit() -> None:
        calls.append(1)
        _new_trade()
        Trade.commit()  # first part stored
        _new_trade("BBB/USDT")
        Trade.session.flush()
        raise _transient(db)

    with pytest.raises(CommitOutcomeUnknownError, match="part of its work"):
        run_in_transaction(unit, sleep=lambda s: None)
    assert calls == [1] and _count() == 1  # not duplicated


class _LoseCommitAck:
    """Make the next COMMIT reach the server, then fail as if the connection broke."""

    def __init__(self, backend: str) -> None:
        self.engine = get_engine()
        self.dialect = self.engine.dialect
        self.original = self.dialect.do_commit
        self.remaining = 1
        self.backend = backend

    def __enter__(self) -> _LoseCommitAck:
        def do_commit(dbapi_conn: Any) -> None:
            self.original(dbapi_conn)
            if self.remaining > 0:
                self.remaining -= 1
                if self.backend == "postgresql":
                    raise psycopg.OperationalError("server closed the connection unexpectedly")
                raise pymysql.err.OperationalError(2013, "Lost connection to server")

        self.dialect.do_commit = do_commit  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.dialect.do_commit = self.original  # type: ignore[method-assign]


@pytest.mark.parametrize("idempotent", [False, True])
def test_lost_commit_acknowledgement(db: str, idempotent: bool) -> None:
    if db == "sqlite-file":
        pytest.skip("a SQLite COMMIT cannot succeed and report failure (in-process engine)")
    calls: list[int] = []

    def unit() -> None:
        calls.append(1)
        if idempotent:  # an upsert by natural key: running it twice stores one row
            with get_engine().begin() as conn:
                exists = conn.execute(text("SELECT count(*) FROM pairlocks WHERE id = 42"))
                if not exists.scalar():
                    conn.execute(text(
                        "INSERT INTO pairlocks (id, pair, side, lock_time, lock_end_time, "
                        "active) VALUES (42, 'X', '*', '2024-01-01', '2024-01-02', true)"))
        else:
            _new_trade()
            Trade.commit()

    with _LoseCommitAck(db):
        if idempotent:
            run_in_transaction(unit, idempotent=True, sleep=lambda s: None)
            assert len(calls) == 2
        else:
            with pytest.raises(CommitOutcomeUnknownError) as info:
                run_in_transaction(unit, sleep=lambda s: None)
            assert isinstance(info.value.__cause__, OperationalError)
            assert calls == [1]
    if idempotent:
        with get_engine().connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pairlocks")).scalar() == 1
    else:
        assert _count() == 1  # stored once, and not duplicated by a blind retry


@pytest.mark.parametrize("at_commit", [False, True])
def test_connection_terminated_reconnects(db: str, at_commit: bool) -> None:
    """pg_terminate_backend before a statement: retried; right before COMMIT: reported."""
    if db != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL")
    admin = create_engine(get_engine().url, isolation_level="AUTOCOMMIT")
    calls: list[int] = []

    def unit() -> None:
        calls.append(1)
        _new_trade()
        Trade.session.flush()
        if len(calls) == 1:
            pid = Trade.session.execute(text("SELECT pg_backend_pid()")).scalar()
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            if not at_commit:
                Trade.session.execute(text("SELECT 1"))  # fails: connection gone
        Trade.commit()

    try:
        if at_commit:
            with pytest.raises(CommitOutcomeUnknownError):
                run_in_transaction(unit, sleep=lambda s: None)
        else:
            run_in_transaction(unit, sleep=lambda s: None)
    finally:
        admin.dispose()
    if at_commit:
        assert calls == [1] and _count() == 0  # the server rolled it back; nothing doubled
        run_in_transaction(unit)  # the pool reconnects
        assert _count() == 1
    else:
        assert len(calls) == 2 and _count() == 1


def test_bad_retries_and_thread_isolation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retries"):
        run_in_transaction(lambda: None, retries=-1)
    init_db(f"sqlite:///{tmp_path / 'x.sqlite'}")
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        def unit() -> None:
            _new_trade(f"T{i}/USDT")
            Trade.commit()
        try:
            run_in_transaction(unit)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and _count() == 8
    close_db()
