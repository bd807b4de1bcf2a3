"""init_db: URL checks, engine options per dialect, sessions, request scopes, secrets."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tradeledger import (
    DatabaseUnavailableError,
    InvalidDatabaseURL,
    MissingDriverError,
    OperationalException,
    Trade,
    get_request_or_thread_id,
    init_db,
    request_scope,
)
from tradeledger.db import close_db, get_engine, mask_url

SECRET = "s3cr3t-Pa55"


def test_bare_sqlite_url_refused() -> None:
    with pytest.raises(InvalidDatabaseURL, match="sqlite://"):
        init_db("sqlite:///")


def test_invalid_db_url_is_operational_exception() -> None:
    with pytest.raises(OperationalException, match="no valid database URL"):
        init_db("this is not a url")


def test_unknown_dialect() -> None:
    with pytest.raises(InvalidDatabaseURL, match="unknown:///"):
        init_db("unknown:///foo")


def test_unsupported_dialect() -> None:
    with pytest.raises(InvalidDatabaseURL, match="unsupported database 'oracle'"):
        init_db(f"oracle+oracledb://scott:{SECRET}@localhost/db")


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # make the driver module unimportable for this test only
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDriverError, match=r"tradeledger\[postgres\]") as info:
        init_db(f"postgresql://bob:{SECRET}@127.0.0.1:1/db")
    assert SECRET not in str(info.value)
    assert isinstance(info.value, ImportError)


def test_missing_mysql_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymysql", None)
    with pytest.raises(MissingDriverError, match=r"tradeledger\[mysql\]"):
        init_db(f"mysql://bob:{SECRET}@127.0.0.1:1/db")


def test_missing_sqlite_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidDatabaseURL, match="does not exist"):
        init_db(f"sqlite:///{tmp_path / 'nope' / 'x.sqlite'}")


@pytest.mark.parametrize("url", [
    f"postgresql://bob:{SECRET}@127.0.0.1:1/db",
    f"mysql://bob:{SECRET}@127.0.0.1:1/db",
])
def test_unreachable_server_masks_password(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatabaseUnavailableError) as info:
        init_db(url)
    assert SECRET not in str(info.value)
    assert "***" in str(info.value)
    for record in caplog.records:
        assert SECRET not in record.getMessage()


def test_mask_url_variants() -> None:
    assert SECRET not in mask_url(f"postgresql://u:{SECRET}@h/db")
    assert SECRET not in mask_url(f"weird+thing://u:{SECRET}@h:99999999/db?x")
    assert mask_url("sqlite:///a.sqlite") == "sqlite:///a.sqlite"


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_no_password_in_logs_or_errors_with_real_password(
    server: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Connect with a real password (PG trust auth ignores it; MariaDB gets a user for it)."""
    from sqlalchemy import create_engine

    from tests.conftest import MY_ADMIN_URL, make_backend_url

    url, drop = make_backend_url(server, tmp_path)
    try:
        if server == "postgresql":
            url = url.replace("postgres@", f"postgres:{SECRET}@")
        else:
            dbname = url.rsplit("/", 1)[1]
            admin = create_engine(MY_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("DROP USER IF EXISTS 'tl_pw'@'%'"))
                conn.execute(text(f"CREATE USER 'tl_pw'@'%' IDENTIFIED BY '{SECRET}'"))
                conn.execute(text(f"GRANT ALL ON `{dbname}`.* TO 'tl_pw'@'%'"))
            admin.dispose()
            url = url.replace("root@", f"tl_pw:{SECRET}@")
        caplog.set_level(logging.DEBUG)
        engine = init_db(url, echo=True)
        assert SECRET not in repr(engine) and SECRET not in str(engine.url)
        with pytest.raises(Exception) as info:
            Trade.session.execute(text("SELECT * FROM no_such_table"))
        assert SECRET not in str(info.value)
        Trade.rollback()
        with pytest.raises(DatabaseUnavailableError) as info2:
            init_db(url.replace("127.0.0.1:", "127.0.0.1:1") if server == "postgresql"
                    else url.replace("3306", "1"))
        assert SECRET not in str(info2.value)
        for record in caplog.records:
            assert SECRET not in record.getMessage()
            assert SECRET not in str(record.args)
    finally:
        drop()


def test_sqlite_file_pragmas_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine = init_db(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_sqlite_synchronous_configurable(tmp_path: Path) -> None:
    engine = init_db(f"sqlite:///{tmp_path / 'n.sqlite'}", sqlite_synchronous="NORMAL")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1


def test_memory_database_shared_across_threads() -> None:
    init_db("sqlite://")
    seen: list[int] = []

    def worker() -> None:
        seen.append(len(Trade.session.scalars(text("SELECT id FROM trades")).all()))  # type: ignore[call-overload]
        Trade.session.remove()

    Trade.session.execute(text(
        "INSERT INTO trades (exchange, pair, is_open, fee_open, fee_close, open_rate, "
        "stake_amount, amount, open_date, is_stop_loss_trailing, is_short, interest_rate, "
        "record_version) VALUES ('binance','BTC/USDT',1,0,0,1,1,1,'2024-01-01 00:00:00',0,0,0,2)"
    ))
    Trade.commit()
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [1]


def test_postgres_and_mysql_urls_get_their_drivers(backend: str, backend_name: str) -> None:
    engine = init_db(backend)
    driver = engine.url.drivername
    if backend_name == "postgresql":
        assert driver == "postgresql+psycopg"
        # stale connections: pinged at checkout after PING_AFTER_IDLE_S idle (test_persist.py)
        assert engine.pool.dispatch.checkout
    elif backend_name == "mariadb":
        assert driver.endswith("+pymysql")
        assert engine.url.query["charset"] == "utf8mb4"
    else:
        assert driver == "sqlite"


def test_init_db_rebinds(backend: str, tmp_path: Path) -> None:
    first = init_db("sqlite://")
    second = init_db(backend)
    assert get_engine() is second is not first
    assert Trade.session.get_bind() is second
    assert Trade.session.execute(text("SELECT 1")).scalar() == 1


def test_model_sessions_are_one_scoped_session(backend: str) -> None:
    from tradeledger.models import Order, PairLock, WalletHistory, _CustomData, _KeyValueStoreModel

    init_db(backend)
    assert Trade.session is Order.session is PairLock.session is _KeyValueStoreModel.session
    assert WalletHistory.session is Trade.session
    assert _CustomData.session is not Trade.session


def test_thread_and_request_ids() -> None:
    tid = get_request_or_thread_id()
    assert tid == str(threading.current_thread().ident)
    with request_scope("abc"):
        assert get_request_or_thread_id() == "abc"
        with request_scope():
            inner = get_request_or_thread_id()
            assert inner not in ("abc", tid)
        assert get_request_or_thread_id() == "abc"
    assert get_request_or_thread_id() == tid


def test_request_scope_gives_own_session_and_removes_it() -> None:
    init_db("sqlite://")
    outer = Trade.session()
    with request_scope():
        inner = Trade.session()
        assert inner is not outer
        assert Trade.session() is inner
    assert Trade.session() is outer


def test_async_request_scopes_are_isolated() -> None:
    init_db("sqlite://")
    sessions: dict[str, Any] = {}

    async def task(i: int) -> None:
        async with request_scope() as scope:
            s = Trade.session()
            await asyncio.sleep(0)
            assert Trade.session() is s
            sessions[scope.request_id] = s

    async def main() -> None:
        await asyncio.gather(*(task(i) for i in range(50)))

    asyncio.run(main())
    assert len({id(s) for s in sessions.values()}) == 50


def test_close_db() -> None:
    init_db("sqlite://")
    close_db()
    with pytest.raises(OperationalException):
        get_engine()


def test_request_scope_returns_connections_to_the_pool(backend: str) -> None:
    engine = init_db(backend)
    for _ in range(5):
        with request_scope():
            Trade.session.execute(text("SELECT 1"))
    if hasattr(engine.pool, "checkedout"):
        # the main thread's own scoped session was never used here
        assert engine.pool.checkedout() == 0


def test_request_scope_rolls_back_uncommitted_work(backend: str) -> None:
    from tradeledger.models import Trade as T

    init_db(backend)
    with request_scope():
        T.session.add(T(pair="BTC/USDT", exchange="binance", open_rate=1.0, amount=1.0,
                        stake_amount=1.0, fee_open=0.0, fee_close=0.0))
        T.session.flush()
    with request_scope():
        assert T.session.scalars(select(T)).all() == []


@pytest.mark.parametrize("url", [
    f"postgresql://u:{SECRET}@h:notaport/db",
    "postgresql://postgres@127.0.0.1/postgres?bogusopt=1",
    "mysql://root@127.0.0.1:3306/mysql?bogus_opt=1",
])
def test_malformed_urls_are_invalid_database_url(url: str) -> None:
    with pytest.raises(InvalidDatabaseURL) as info:
        init_db(url)
    assert SECRET not in str(info.value)


def test_mysql_url_on_a_silent_port_fails_fast() -> None:
    """PyMySQL would wait forever for a greeting from e.g. PostgreSQL's port."""
    import socket

    from sqlalchemy.engine import make_url

    from tradeledger.db import _mysql_greeting_check

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    try:
        with pytest.raises(DatabaseUnavailableError, match="greeting"):
            _mysql_greeting_check(make_url(f"mysql+pymysql://root:{SECRET}@127.0.0.1:{port}/x"),
                                  timeout=0.5)
    finally:
        srv.close()


@pytest.mark.parametrize("query", ["mode=ro", "cache=shared&timeout=5", "journal=wal",
                                   "mode=ro&uri=true"])
def test_sqlite_query_parameters_the_driver_would_ignore_are_refused(
        tmp_path: Path, query: str) -> None:
    """``?mode=ro`` would be ignored (the file opened read-write): refused, nothing created."""
    path = tmp_path / "q.sqlite"
    with pytest.raises(InvalidDatabaseURL, match="not supported for SQLite"):
        init_db(f"sqlite:///{path}?{query}")
    assert not path.exists()


@pytest.mark.parametrize("netloc", ["u:pw@127.0.0.1", "127.0.0.1", "u@", ":5432"])
def test_sqlite_url_with_a_host_or_credentials_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, netloc: str) -> None:
    """``sqlite://u:pw@host/db`` opened (created) the file ``db`` here; refused, nothing made."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidDatabaseURL, match="names a local file") as info:
        init_db(f"sqlite://{netloc}/x.sqlite")
    assert "pw" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
