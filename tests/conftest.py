"""Test configuration: one ``backend`` fixture over every database backend.

Backends: ``sqlite-memory``, ``sqlite-file``, ``postgresql``, ``mariadb``. Server databases are
created with random names and dropped afterwards. A server that is down is started with the
commands of DESIGN.md; if it still cannot be reached the backend is skipped with the reason,
except under ``CI=true`` where that is a failure. ``TRADELEDGER_TEST_BACKENDS`` (comma
separated) restricts the set, e.g. ``sqlite-memory,sqlite-file``.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

ALL_BACKENDS = ("sqlite-memory", "sqlite-file", "postgresql", "mariadb")
PG_ADMIN_URL = os.environ.get("TRADELEDGER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
MY_ADMIN_URL = os.environ.get("TRADELEDGER_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

SHARED_DIR = Path(
    os.environ.get("TRADELEDGER_SHARED", Path(__file__).resolve().parents[2] / "shared")
)
GOLDEN_DIR = SHARED_DIR / "golden"
FIXTURES_DIR = SHARED_DIR / "fixtures"


def selected_backends() -> tuple[str, ...]:
    raw = os.environ.get("TRADELEDGER_TEST_BACKENDS")
    if not raw:
        return ALL_BACKENDS
    chosen = tuple(b.strip() for b in raw.split(",") if b.strip())
    unknown = set(chosen) - set(ALL_BACKENDS)
    if unknown:
        raise pytest.UsageError(f"unknown backends in TRADELEDGER_TEST_BACKENDS: {unknown}")
    return chosen


_availability: dict[str, str | None] = {}  # backend -> None if available, else reason


def _try_connect(admin_url: str) -> str | None:
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        eng.dispose()


def _start_service(backend: str) -> None:
    if backend == "postgresql":
        versions = os.listdir("/etc/postgresql") if os.path.isdir("/etc/postgresql") else []
        for ver in versions:
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", ver, "main", "start"],
                           capture_output=True, check=False, timeout=60)
    elif backend == "mariadb" and os.path.exists("/usr/sbin/mariadbd"):
        subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background",
                        "--exec", "/usr/sbin/mariadbd"], capture_output=True, check=False,
                       timeout=60)


def backend_unavailable(backend: str) -> str | None:
    """Return why ``backend`` cannot be used (starting its server once if needed), or None."""
    if backend.startswith("sqlite"):
        return None
    if backend not in _availability:
        admin = PG_ADMIN_URL if backend == "postgresql" else MY_ADMIN_URL
        reason = _try_connect(admin)
        if reason is not None:
            _start_service(backend)
            for _ in range(30):
                time.sleep(1)
                reason = _try_connect(admin)
                if reason is None:
                    break
        _availability[backend] = reason
    return _availability[backend]


def require_backend(backend: str) -> None:
    reason = backend_unavailable(backend)
    if reason is not None:
        msg = f"backend {backend} unavailable: {reason}"
        if IN_CI:
            pytest.fail(f"{msg} (CI=true: a missing backend is a failure)")
        pytest.skip(msg)


def create_server_database(backend: str) -> tuple[str, Callable[[], None]]:
    """Create a randomly named database; return its URL and a function that drops it."""
    name = f"tl_test_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN_URL if backend == "postgresql" else MY_ADMIN_URL
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        if backend == "postgresql":
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                              "COLLATE utf8mb4_bin"))
    eng.dispose()
    url = f"{admin}/{name}"

    def drop() -> None:
        from tradeledger.db import close_db

        close_db()
        eng2 = create_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            with eng2.connect() as conn:
                if backend == "postgresql":
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                else:
                    conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        finally:
            eng2.dispose()

    return url, drop


def make_backend_url(backend: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    require_backend(backend)
    if backend == "sqlite-memory":
        return "sqlite://", lambda: None
    if backend == "sqlite-file":
        return f"sqlite:///{tmp_path / f'tl-{uuid.uuid4().hex[:8]}.sqlite'}", lambda: None
    return create_server_database(backend)


def _reset_class_state() -> None:
    """Reset the process-wide class state that freqtrade's API keeps (use_db, bt stores...)."""
    try:
        from tradeledger.domain.custom_data import CustomDataWrapper

        CustomDataWrapper.use_db = False
        CustomDataWrapper.reset_custom_data()
        CustomDataWrapper.use_db = True
    except ImportError:
        pass
    try:
        from tradeledger.models.keyvalue import KeyValueStore

        KeyValueStore.use_db = True
        KeyValueStore._memory.clear()
    except ImportError:
        pass
    try:
        import tradeledger

        enable = getattr(tradeledger, "enable_database_use", None)
        if enable is not None:
            enable()
        local_trade = getattr(tradeledger, "LocalTrade", None)
        if local_trade is not None and hasattr(local_trade, "reset_trades"):
            local_trade.reset_trades()
        pairlocks = getattr(tradeledger, "PairLocks", None)
        if pairlocks is not None:
            pairlocks.use_db = False
            pairlocks.reset_locks()
            pairlocks.use_db = True
            pairlocks.timeframe = ""
    except ImportError:
        pass


@pytest.fixture(autouse=True)
def _clean_class_state() -> Iterator[None]:
    _reset_class_state()
    yield
    _reset_class_state()


@pytest.fixture(params=selected_backends())
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend (not yet initialised)."""
    url, drop = make_backend_url(request.param, tmp_path)
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def backend_name(backend: str) -> str:
    """Name of the backend of the ``backend`` fixture."""
    if backend == "sqlite://":
        return "sqlite-memory"
    if backend.startswith("sqlite"):
        return "sqlite-file"
    return "postgresql" if backend.startswith("postgresql") else "mariadb"


@pytest.fixture(params=selected_backends(), scope="module")
def module_backend(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per test module and backend; reset it with :func:`reset_database`."""
    url, drop = make_backend_url(request.param, tmp_path_factory.mktemp("db"))
    try:
        yield url
    finally:
        drop()


@pytest.fixture(params=[b for b in selected_backends() if b in ("sqlite-file", "postgresql")])
def process_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that several processes can share: a SQLite file or PostgreSQL."""
    url, drop = make_backend_url(request.param, tmp_path)
    try:
        yield url
    finally:
        drop()


def reset_database(engine: Any) -> None:
    """Delete every row of every table and restart ids at 1 (fast per-scenario reset)."""
    from tradeledger.models import ModelBase

    tables = list(reversed(ModelBase.metadata.sorted_tables))
    backend = engine.dialect.name
    with engine.begin() as conn:
        if backend == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        elif backend in ("mysql", "mariadb"):
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for t in tables:
                conn.execute(text(f"TRUNCATE TABLE `{t.name}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
        else:
            for t in tables:
                conn.execute(t.delete())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = {b: r for b, r in _availability.items() if r is not None}
    used = [b for b in selected_backends() if b not in skipped]
    terminalreporter.write_line(f"tradeledger backends used: {', '.join(used) or 'none'}")
    for b, reason in skipped.items():
        terminalreporter.write_line(f"tradeledger backend SKIPPED: {b}: {reason}")
