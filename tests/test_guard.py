"""Single-writer guard (``init_db(..., exclusive=True)``, services/guard.py) on every backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tests.conftest import make_backend_url, selected_backends
from tradeledger.db import close_db, get_engine, init_db
from tradeledger.exceptions import InstanceLockedError, OperationalException
from tradeledger.services.guard import InstanceGuard

ROOT = Path(__file__).resolve().parents[1]
SHARED = [b for b in selected_backends() if b != "sqlite-memory"]

HOLDER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from tradeledger.db import init_db
    init_db({url!r}, exclusive=True, bot_id={bot!r})
    print("HELD", flush=True)
    time.sleep(120)
    """
)


@pytest.fixture(params=SHARED)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, drop = make_backend_url(request.param, tmp_path)
    try:
        yield url
    finally:
        close_db()
        drop()


def _spawn_holder(url: str, bot: str | None) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER.format(root=str(ROOT), url=url, bot=bot)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(ROOT))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("HELD"):
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"holder did not start: {line!r} {err}")
    return proc


def test_second_live_instance_is_refused_and_crash_reclaims(shared_url: str) -> None:
    init_db(shared_url)  # schema first, so the holder only opens it
    close_db()
    proc = _spawn_holder(shared_url, "bot-a")
    try:
        with pytest.raises(InstanceLockedError) as info:
            init_db(shared_url, exclusive=True, bot_id="bot-a")
        msg = str(info.value)
        assert "bot-a" in msg and "another live instance" in msg
        assert isinstance(info.value, OperationalException)
        # another bot identity on the same database is a different guard
        init_db(shared_url, exclusive=True, bot_id="bot-b")
        close_db()
        os.kill(proc.pid, signal.SIGKILL)  # crash: the OS / server frees the lock
        proc.wait(timeout=30)
        init_db(shared_url, exclusive=True, bot_id="bot-a")  # reclaimed, no manual cleanup
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        close_db()


def test_guard_in_same_process_and_release(shared_url: str) -> None:
    init_db(shared_url, exclusive=True)
    engine = get_engine()
    with pytest.raises(InstanceLockedError):
        InstanceGuard(engine)
    init_db(shared_url, exclusive=True)  # the holder may open its database again
    close_db()  # releases
    guard = InstanceGuard(create_engine(shared_url))
    assert guard.is_held()
    guard.release()
    assert not guard.is_held()
    guard.release()  # idempotent
    with InstanceGuard(create_engine(shared_url)) as again:
        assert again.is_held()


def test_refused_start_writes_nothing(shared_url: str) -> None:
    holder = InstanceGuard(create_engine(shared_url), "x")
    try:
        with pytest.raises(InstanceLockedError):
            init_db(shared_url, exclusive=True, bot_id="x")
        eng = create_engine(shared_url)
        try:
            assert inspect(eng).get_table_names() == []  # no schema created
        finally:
            eng.dispose()
    finally:
        holder.release()


def test_non_exclusive_default_takes_no_guard(shared_url: str) -> None:
    init_db(shared_url)
    init_db(shared_url)
    guard = InstanceGuard(get_engine())  # nobody holds it
    guard.release()


def test_sqlite_lock_file_owner_only_and_names_holder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.sqlite'}"
    init_db(url, exclusive=True, bot_id="my bot/1")
    try:
        files = [p for p in tmp_path.iterdir() if p.name.endswith(".lock")
                 and "migrate" not in p.name]
        assert len(files) == 1 and files[0].name.startswith("g.sqlite.my_bot_1-")
        assert files[0].stat().st_mode & 0o777 == 0o600
        assert f"pid={os.getpid()}" in files[0].read_text()
        with pytest.raises(InstanceLockedError, match=f"pid={os.getpid()}"):
            InstanceGuard(get_engine(), "my bot/1")
    finally:
        close_db()


def test_memory_database_needs_no_guard() -> None:
    init_db("sqlite://", exclusive=True)
    init_db("sqlite://", exclusive=True)
    close_db()
