"""Read replicas: ``init_db(read_url=...)`` against a streaming standby on another port.

The fixture (root only; CI runs as root) keeps a second PostgreSQL cluster ``tlreplica`` of
the installed version, made with ``pg_basebackup -R -X stream -C -S tlreplica`` from the test
server, i.e. a real hot standby streaming from it through the physical replication slot
``tlreplica`` (a busy primary recycles WAL before a slot-less standby has started). It allows
replication connections from 127.0.0.1 in the primary's ``pg_hba.conf`` (one line, added
once, then ``reload``). The cluster is reused idempotently: stopped after the tests (no
background load; its slot keeps the WAL it still needs, so the next run starts it and it
catches up), re-created when it no longer streams. ``TRADELEDGER_DROP_REPLICA=1`` drops it
(and its slot) at the end instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from tests.conftest import IN_CI, PG_ADMIN_URL, create_server_database, require_backend
from tradeledger import Order, Trade, close_db, init_db
from tradeledger.cli import app
from tradeledger.db import get_read_engine, get_read_replica
from tradeledger.services import journal as J
from tradeledger.services.analytics import AnalyticsService

CLUSTER = "tlreplica"
HBA_LINE = "host replication all 127.0.0.1/32 trust  # tradeledger tests: read replica"


def _run(*cmd: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _must(*cmd: str, timeout: float = 180) -> str:
    res = _run(*cmd, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): "
                           f"{(res.stderr or res.stdout)[-800:]}")
    return res.stdout


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"read replica unavailable under CI=true: {reason}")
    pytest.skip(reason)


def _pg_version() -> str | None:
    if not os.path.isdir("/etc/postgresql"):
        return None
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: int(re.sub(r"\D", "", v) or 0))
    return versions[-1] if versions else None


def _clusters() -> dict[str, tuple[int, str]]:
    out = _must("pg_lsclusters", "--no-header")
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            found[parts[1]] = (int(parts[2]), parts[3])
    return found


def _free_port(preferred: int = 5439) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def _allow_replication(version: str, primary_cluster: str) -> None:
    hba = Path(f"/etc/postgresql/{version}/{primary_cluster}/pg_hba.conf")
    content = hba.read_text()
    if not re.search(r"^host\s+replication\s+all\s+127\.0\.0\.1/32\s+trust", content, re.M):
        hba.write_text(content.rstrip("\n") + "\n" + HBA_LINE + "\n")
        _must("pg_ctlcluster", "--skip-systemctl-redirect", version, primary_cluster, "reload")


def _streaming(port: int) -> bool:
    eng = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
    try:
        with eng.connect() as conn:
            in_recovery = conn.execute(text("SELECT pg_is_in_recovery()")).scalar()
            status = conn.execute(text("SELECT status FROM pg_stat_wal_receiver")).scalar()
            return bool(in_recovery) and status == "streaming"
    except Exception:
        return False
    finally:
        eng.dispose()


def _wait_streaming(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _streaming(port):
            return True
        time.sleep(0.3)
    return False


def _drop_slot(primary_port: int) -> None:
    eng = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{primary_port}/postgres")
    try:
        with eng.connect() as conn:
            conn.execute(text(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = :s AND NOT active"), {"s": CLUSTER})
            conn.commit()
    finally:
        eng.dispose()


def _drop(version: str, primary_port: int) -> None:
    if CLUSTER in _clusters():
        _run("pg_dropcluster", "--stop", version, CLUSTER)
    _drop_slot(primary_port)


def _create(version: str, primary_port: int) -> int:
    _drop(version, primary_port)
    port = _free_port()
    _must("pg_createcluster", version, CLUSTER, "-p", str(port))
    conf = Path(f"/etc/postgresql/{version}/{CLUSTER}")
    (conf / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    data = Path(f"/var/lib/postgresql/{version}/{CLUSTER}")
    for child in data.iterdir():  # keep the directory (owned by postgres, mode 0700)
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    _must("runuser", "-u", "postgres", "--", "pg_basebackup", "-h", "127.0.0.1", "-p",
          str(primary_port), "-U", "postgres", "-D", str(data), "-R", "-X", "stream",
          "-C", "-S", CLUSTER, "-c", "fast", timeout=900)
    _must("pg_ctlcluster", "--skip-systemctl-redirect", version, CLUSTER, "start")
    return port


@pytest.fixture(scope="module")
def replica() -> Iterator[int]:
    """Port of a hot standby streaming from the test server."""
    require_backend("postgresql")
    version = _pg_version()
    primary = make_url(PG_ADMIN_URL)
    if os.geteuid() != 0 or version is None or shutil.which("pg_createcluster") is None:
        _unavailable("needs root and Debian's postgresql-common (pg_createcluster)")
    assert version is not None
    if primary.host not in ("127.0.0.1", "localhost", None):
        _unavailable("the test server is not local")
    clusters = _clusters()
    primary_cluster = next((name for name, (port, _) in clusters.items()
                            if port == (primary.port or 5432)), None)
    if primary_cluster is None:
        _unavailable("the test server is not a local pg_createcluster cluster")
    assert primary_cluster is not None
    _allow_replication(version, primary_cluster)
    port: int | None = None
    if CLUSTER in clusters:  # reuse: start it and see whether it catches up
        port, status = clusters[CLUSTER]
        if status != "online":
            _run("pg_ctlcluster", "--skip-systemctl-redirect", version, CLUSTER, "start")
        if not _wait_streaming(port, 45):
            port = None
    if port is None:
        port = _create(version, primary.port or 5432)
        if not _wait_streaming(port, 60):
            _drop(version, primary.port or 5432)
            _unavailable("the new standby does not stream")
    base = "postgresql+psycopg://postgres@127.0.0.1:{}/postgres"
    # a restarted standby first replays the WAL written while it was stopped
    _wait_replayed(base.format(primary.port or 5432), base.format(port), seconds=300)
    try:
        yield port
    finally:
        close_db()
        if os.environ.get("TRADELEDGER_DROP_REPLICA") == "1":
            _drop(version, primary.port or 5432)
        else:
            _run("pg_ctlcluster", "--skip-systemctl-redirect", version, CLUSTER, "stop")


def _wait_replayed(primary_url: str, replica_url: str, seconds: float = 60) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    p = create_engine(make_url(primary_url).set(database="postgres"))
    r = create_engine(make_url(replica_url).set(database="postgres"))
    try:
        with p.connect() as conn:
            # the insert position: an asynchronous commit (the analytics partial results
            # use synchronous_commit = off) may not be written out yet
            lsn = conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar()
        deadline = time.monotonic() + seconds
        while True:
            with r.connect() as conn:
                done = conn.execute(text(
                    "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), CAST(:l AS pg_lsn)) >= 0"
                ), {"l": lsn}).scalar()
            if done:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the replica did not replay the primary's WAL within {seconds:.0f} s")
            time.sleep(0.1)
    finally:
        p.dispose()
        r.dispose()


@pytest.fixture
def urls(replica: int) -> Iterator[tuple[str, str]]:
    """A fresh database on the primary and its URL on the replica."""
    primary_url, drop = create_server_database("postgresql")
    replica_url = make_url(primary_url).set(port=replica).render_as_string(hide_password=False)
    _wait_replayed(primary_url, replica_url)  # the new database exists on the replica
    try:
        yield primary_url, replica_url
    finally:
        close_db()
        drop()


def add_closed_trade(i: int, profit: float) -> None:
    t = Trade(pair=f"P{i % 2}/USDT", exchange="binance", open_rate=100.0, amount=1.0,
              stake_amount=100.0, fee_open=0.0, fee_close=0.0, stake_currency="USDT",
              open_date=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i))
    common = dict(ft_pair=t.pair, ft_is_open=False, ft_amount=1.0, status="closed", amount=1.0,
                  filled=1.0, order_type="market")
    rate = 100.0 + profit
    t.orders.append(Order(ft_order_side="buy", side="buy", ft_price=100.0, price=100.0,
                          average=100.0, cost=100.0, order_id=f"{i}-e", **common))
    t.orders.append(Order(ft_order_side="sell", side="sell", ft_price=rate, price=rate,
                          average=rate, cost=rate, order_id=f"{i}-x", **common))
    t.recalc_trade_from_orders()
    t.close_date = t.open_date_utc + timedelta(minutes=30)
    t.close(rate)
    Trade.session.add(t)
    Trade.commit()


def test_analytics_and_journal_read_the_replica(urls: tuple[str, str]) -> None:
    primary_url, replica_url = urls
    init_db(primary_url, read_url=replica_url)
    replica_engine = get_read_replica()
    assert replica_engine is not None and get_read_engine() is replica_engine
    with replica_engine.connect() as conn:
        assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is True
        with pytest.raises(DBAPIError, match="read-only"):
            conn.execute(text("CREATE TABLE nope (id int)"))
    for i, profit in enumerate((2.0, -1.0, 4.0)):
        add_closed_trade(i, profit)
    _wait_replayed(primary_url, replica_url)
    stats = AnalyticsService().trade_stats()  # no bind: the replica
    assert stats.trade_count == 3 and stats.total_profit_abs == pytest.approx(5.0, abs=1e-12)
    assert len(J.trade_history(1)) == 3  # journal reads go to the replica, too

    # pause replay on the replica: a new trade is on the primary only, so where each read
    # goes is visible
    with replica_engine.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()"))
        conn.commit()
    try:
        add_closed_trade(3, 8.0)
        assert AnalyticsService().trade_stats().trade_count == 3  # replica
        assert AnalyticsService(Trade.session).trade_stats().trade_count == 4  # primary
        assert len(Trade.get_trades([]).all()) == 4  # the freqtrade API stays on the primary
        assert J.verify().ok  # verify reads the primary

        # the CLI's read commands follow TRADELEDGER_READ_URL
        runner = CliRunner()
        env = {"TRADELEDGER_READ_URL": replica_url}
        res = runner.invoke(app, ["trades", "--db", primary_url, "--json", "--status", "all"],
                            env=env)
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["total"] == 3
        res = runner.invoke(app, ["trades", "--db", primary_url, "--json", "--status", "all"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["total"] == 4
    finally:
        eng = create_engine(replica_url)
        with eng.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
            conn.commit()
        eng.dispose()
    _wait_replayed(primary_url, replica_url)
    init_db(primary_url, read_url=replica_url)
    assert AnalyticsService().trade_stats().trade_count == 4


def test_partial_results_computed_on_the_replica_are_stored_on_the_primary(
        urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tradeledger.services.analytics import blocks, cache, partials

    primary_url, replica_url = urls
    init_db(primary_url, read_url=replica_url)
    for i, profit in enumerate((2.0, -1.0, 4.0)):
        add_closed_trade(i, profit)
    _wait_replayed(primary_url, replica_url)
    monkeypatch.setattr(partials, "PERSIST_MIN_BLOCKS", 1)  # these trades fill one block
    cache.cache_clear()
    blocks.blocks_clear()
    first = AnalyticsService().performance("pair")  # no bind: the replica
    assert blocks.blocks_stats()["persisted"] == 1  # the standby refuses writes: the primary
    primary = create_engine(primary_url)
    with primary.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tl_analytics_partials")).scalar() == 1
    primary.dispose()
    _wait_replayed(primary_url, replica_url)
    cache.cache_clear()  # a new process reading the replica loads what the primary stored
    blocks.blocks_clear()
    assert AnalyticsService().performance("pair") == first
    assert blocks.blocks_stats()["loaded"] == 1
