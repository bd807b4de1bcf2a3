"""A subset of the suite through PgBouncer in transaction pooling mode.

The fixture locates (or, as root, installs: ``scripts/ensure-pgbouncer.sh``) the Debian
``pgbouncer`` binary, writes a config (loopback port, ``auth_type = trust``,
``pool_mode = transaction``, four server connections per database, fewer than the
clients of the concurrency test) and starts it.
Every test then runs ``init_db(url, pgbouncer=True)`` against a fresh database behind it:
golden trade scenarios, golden pair-lock sequences, custom data, the audit journal, a bot
schema (whose ``search_path`` is set per transaction there) and concurrent threads.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, make_url, text

from tests.conftest import IN_CI, create_server_database, require_backend, reset_database
from tests.test_pairlocks_golden import SEQUENCES, replay
from tests.test_trade_golden_db import TRADE_FILE, _replayer
from tradeledger import CustomDataWrapper, PairLocks, Trade, close_db, init_db, request_scope
from tradeledger.models import PairLock
from tradeledger.services import journal as J

ROOT = Path(__file__).resolve().parents[1]
ENSURE = ROOT / "scripts" / "ensure-pgbouncer.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locate_pgbouncer() -> str | None:
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)),
        None)
    if found:
        return found
    try:
        res = subprocess.run(["sh", str(ENSURE)], capture_output=True, text=True, timeout=300,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = res.stdout.strip().splitlines()
    return lines[-1] if res.returncode == 0 and lines else None


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"pgbouncer unavailable under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def bouncer() -> Iterator[tuple[str, int]]:
    """A running PgBouncer in front of the test PostgreSQL: ``(host, port)``."""
    require_backend("postgresql")
    binary = _locate_pgbouncer()
    if binary is None:
        _unavailable("pgbouncer not installed (scripts/ensure-pgbouncer.sh could not install it)")
    assert binary is not None
    pg = make_url(os.environ.get("TRADELEDGER_TEST_PG",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432"))
    user = pg.username or "postgres"
    workdir = Path(tempfile.mkdtemp(prefix="tl-pgbouncer-", dir="/tmp"))
    workdir.chmod(0o755)
    port = _free_port()
    (workdir / "userlist.txt").write_text(f'"{user}" ""\n')
    (workdir / "pgbouncer.ini").write_text(f"""[databases]
* = host={pg.host or '127.0.0.1'} port={pg.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {workdir / 'userlist.txt'}
pool_mode = transaction
default_pool_size = 4
query_wait_timeout = 30
max_client_conn = 100
server_reset_query =
ignore_startup_parameters = extra_float_digits
admin_users = {user}
""")
    for f in workdir.iterdir():
        f.chmod(0o644)
    cmd = [binary, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        cmd[1:1] = ["-u", "postgres"]
    log = open(workdir / "stderr.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                _unavailable(f"pgbouncer exited: {(workdir / 'stderr.log').read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    _unavailable("pgbouncer did not start listening within 15 s")
                time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        close_db()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def bouncer_url(bouncer: tuple[str, int]) -> Iterator[str]:
    """A fresh database, reached through PgBouncer."""
    direct, drop = create_server_database("postgresql")
    url = make_url(direct).set(host=bouncer[0], port=bouncer[1])
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        close_db()
        drop()


@pytest.fixture
def db(bouncer_url: str) -> Iterator[Engine]:
    engine = init_db(bouncer_url, pgbouncer=True)
    reset_database(engine)
    Trade.session.remove()
    yield engine
    Trade.session.rollback()
    Trade.session.remove()


def test_really_behind_pgbouncer(db: Engine, bouncer: tuple[str, int]) -> None:
    """The session's connection is a PgBouncer client; prepared statements are off."""
    import psycopg

    name = db.url.database
    Trade.session.execute(text("SELECT 1")).scalar()
    dbapi = Trade.session.connection().connection.dbapi_connection
    assert dbapi is not None and dbapi.prepare_threshold is None
    with psycopg.connect(host=bouncer[0], port=bouncer[1], user="postgres",
                         dbname="pgbouncer", autocommit=True) as admin:
        cur = admin.execute("SHOW CLIENTS")
        cols = [c.name for c in cur.description or ()]
        clients = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        pools = {r[0] for r in admin.execute("SHOW POOLS").fetchall()}
    assert any(c["database"] == name for c in clients), clients
    assert name in pools
    Trade.session.rollback()


GOLDEN_SUBSET = TRADE_FILE["scenarios"][::40]


@pytest.mark.parametrize("scenario", GOLDEN_SUBSET, ids=lambda s: s["id"])
def test_golden_trade_scenarios_through_pgbouncer(db: Engine, scenario: dict[str, Any]) -> None:
    mismatches = _replayer().run_trade_scenario(scenario)
    assert not mismatches, "\n".join(mismatches[:20])


def test_golden_pairlock_sequences_through_pgbouncer(db: Engine) -> None:
    problems: list[str] = []
    for seq in SEQUENCES[::30]:
        PairLock.session.remove()
        with db.begin() as conn:
            conn.execute(PairLock.__table__.delete())  # type: ignore[attr-defined]
        PairLocks.timeframe = seq["timeframe"]
        problems.extend(replay(seq))
    PairLock.session.remove()
    assert not problems, "\n".join(problems[:3])


def test_custom_data_and_journal_through_pgbouncer(db: Engine) -> None:
    t = Trade(pair="BTC/USDT", exchange="binance", open_rate=100.0, amount=1.0,
              stake_amount=100.0)
    Trade.session.add(t)
    Trade.commit()
    for i in range(8):  # more than psycopg's prepare threshold (5)
        CustomDataWrapper.set_custom_data(t.id, "k", i)
    assert CustomDataWrapper.get_custom_data(trade_id=t.id, key="k")[0].value == 7
    CustomDataWrapper.delete_custom_data(t.id, "k")
    assert CustomDataWrapper.get_custom_data(trade_id=t.id) == []
    ops = [r.op for r in J.trade_history(t.id) if r.entity == "custom_data"]
    assert ops == ["insert"] + ["update"] * 7 + ["delete"]
    assert J.verify(J.ENTITIES).ok


def test_bot_schema_through_pgbouncer(bouncer_url: str) -> None:
    """Per-transaction ``SET LOCAL search_path``: each bot stays in its schema."""
    for schema in ("bb_one", "bb_two"):
        init_db(bouncer_url, pgbouncer=True, schema=schema, bot_id=schema)
        for i in range(7):
            Trade.session.add(Trade(pair="ETH/USDT", exchange="binance", open_rate=1.0 + i,
                                    amount=1.0, stake_amount=1.0, strategy=schema))
            Trade.commit()
        PairLocks.timeframe = "5m"
        PairLocks.lock_pair("ETH/USDT", datetime.now(UTC) + timedelta(hours=1), schema)
    for schema in ("bb_one", "bb_two"):
        init_db(bouncer_url, pgbouncer=True, schema=schema)
        for _ in range(6):
            Trade.session.remove()
            assert {t.strategy for t in Trade.get_trades([]).all()} == {schema}
            assert [lk.reason for lk in PairLocks.get_pair_locks("ETH/USDT")] == [schema]
            assert PairLocks.is_pair_locked("ETH/USDT")
        assert J.verify().ok and {r.bot_id for r in J.entries()} == {schema}
    close_db()


def test_concurrent_threads_through_pgbouncer(db: Engine) -> None:
    """Eight threads (more clients than the four server connections) write, check locks."""
    PairLocks.timeframe = "1m"
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            with request_scope():
                for i in range(10):
                    Trade.session.add(Trade(pair=f"T{k}/USDT", exchange="binance",
                                            open_rate=1.0 + i, amount=1.0, stake_amount=1.0))
                    Trade.commit()
                    PairLocks.is_pair_locked(f"T{k}/USDT")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, repr(errors[0])
    Trade.session.remove()
    assert Trade.session.query(Trade).count() == 80
    assert J.verify().ok


def test_analytics_partial_results_through_pgbouncer(db: Engine) -> None:
    """Stored with ``SET LOCAL`` timeouts in their own transaction, then loaded again."""
    from tests.test_analytics_blocks import check, metrics, seed
    from tradeledger.services.analytics import AnalyticsService
    from tradeledger.services.analytics import blocks as ablocks
    from tradeledger.services.analytics import cache as acache

    with db.begin() as conn:
        conn.execute(text("DELETE FROM tl_analytics_partials"))
    seed(db)
    acache.cache_clear()
    ablocks.blocks_clear()
    metrics(AnalyticsService(db))
    assert ablocks.blocks_stats()["persisted"] > 0
    acache.cache_clear()
    ablocks.blocks_clear()
    check(db, "through pgbouncer")
    stats = ablocks.blocks_stats()
    assert stats["loaded"] > 0 and stats["persisted"] == 0
