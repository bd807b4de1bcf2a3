"""Many starters and killed migrations, on a SQLite file, PostgreSQL and MariaDB.

* 8 processes call ``init_db`` on the same old (freqtrade 2024.10) database at once: exactly
  one adopts it, the others wait for the lock, see the new revision and start normally.
* A child process migrating that database is killed with SIGKILL at a random moment, at
  least 30 times per backend: the database is then entirely old or entirely new (every row
  present), and the next ``init_db`` completes the upgrade with every row as freqtrade 2026.9
  reads it.

Children are forked from the test process (tradeledger is already imported, so a child
reaches the migration within milliseconds and the random kill moments cover the migration
itself rather than the interpreter start-up).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import FIXTURES_DIR, MY_ADMIN_URL, PG_ADMIN_URL, require_backend
from tests.test_fixtures_open import (
    assert_tables_match,
    expected_after_open,
    fixture_json,
    load_legacy,
)
from tradeledger.db import close_db, init_db
from tradeledger.migrations import runner

VERSION = "2024.10"
KILLS = int(os.environ.get("TRADELEDGER_KILLS", "30"))
BACKENDS = ("sqlite-file", "postgresql", "mariadb")


# ---------------------------------------------------------------------------------------------
# old databases, made quickly and repeatedly


class OldDatabases:
    """Makes fresh copies of the old database on one backend."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self.tmp = tmp
        self.template: str | None = None
        self.template_tables: list[str] = []
        self.admin = sa.create_engine(PG_ADMIN_URL if backend == "postgresql" else MY_ADMIN_URL,
                                      isolation_level="AUTOCOMMIT") \
            if backend != "sqlite-file" else None
        self.created: list[str] = []
        if backend != "sqlite-file":
            self.template = f"tl_tmpl_{uuid.uuid4().hex[:10]}"
            if backend == "postgresql":
                self._exec(f'CREATE DATABASE "{self.template}"')
            else:
                self._exec(f"CREATE DATABASE `{self.template}` CHARACTER SET utf8mb4 "
                           "COLLATE utf8mb4_bin")
            self.created.append(self.template)
            admin = PG_ADMIN_URL if backend == "postgresql" else MY_ADMIN_URL
            eng = sa.create_engine(f"{admin}/{self.template}")
            load_legacy(eng, fixture_json(VERSION)["raw"], kv_key_length=25)
            self.template_tables = [
                n for n in ("trades", "orders", "pairlocks", "KeyValueStore",
                            "trade_custom_data") if sa.inspect(eng).has_table(n)]
            eng.dispose()

    def _exec(self, sql: str) -> None:
        assert self.admin is not None
        with self.admin.connect() as conn:
            conn.execute(sa.text(sql))

    def make(self) -> str:
        name = f"tl_kill_{uuid.uuid4().hex[:10]}"
        if self.backend == "sqlite-file":
            path = self.tmp / f"{name}.sqlite"
            shutil.copy(FIXTURES_DIR / f"freqtrade-{VERSION}.sqlite", path)
            path.chmod(0o600)
            return f"sqlite:///{path}"
        self.created.append(name)
        if self.backend == "postgresql":
            self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            return f"{PG_ADMIN_URL}/{name}"
        self._exec(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        assert self.admin is not None
        with self.admin.connect() as conn:  # copies of the template's tables (parents first)
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
            for table in self.template_tables:
                conn.execute(sa.text(
                    f"CREATE TABLE `{name}`.`{table}` LIKE `{self.template}`.`{table}`"))
                conn.execute(sa.text(
                    f"INSERT INTO `{name}`.`{table}` SELECT * FROM `{self.template}`.`{table}`"))
            for child in ("orders", "trade_custom_data"):  # LIKE does not copy foreign keys
                if child in self.template_tables:
                    conn.execute(sa.text(
                        f"ALTER TABLE `{name}`.`{child}` ADD FOREIGN KEY (ft_trade_id) "
                        f"REFERENCES `{name}`.`trades` (id)"))
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 1"))
        return f"{MY_ADMIN_URL}/{name}"

    def drop(self, url: str) -> None:
        if self.backend == "sqlite-file":
            return
        name = sa.make_url(url).database
        if self.backend == "postgresql":
            self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            self._exec(f"DROP DATABASE IF EXISTS `{name}`")
        self.created.remove(str(name))

    def close(self) -> None:
        for name in list(self.created):
            if self.backend == "postgresql":
                self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                self._exec(f"DROP DATABASE IF EXISTS `{name}`")
        if self.admin is not None:
            self.admin.dispose()


@pytest.fixture(params=BACKENDS)
def old_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldDatabases]:
    require_backend(request.param)
    dbs = OldDatabases(request.param, tmp_path)
    try:
        yield dbs
    finally:
        close_db()
        dbs.close()


# ---------------------------------------------------------------------------------------------
# forked children


def _fork(target: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            target()
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    return pid


def _opener(url: str) -> Callable[[], None]:
    def run() -> None:
        init_db(url)
    return run


def _wait(pid: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} did not finish within {timeout} s")


def _wait_other_sessions_gone(url: str) -> None:
    """After a kill, wait until the server has ended the child's session (its statement may
    still be running server-side)."""
    backend = sa.make_url(url).get_backend_name()
    if backend == "sqlite":
        return
    eng = sa.create_engine(url)
    name = sa.make_url(url).database
    sql = ("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
           if backend == "postgresql" else
           "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = :d "
           "AND ID <> CONNECTION_ID()")
    try:
        for _ in range(2000):
            with eng.connect() as conn:
                if not conn.execute(sa.text(sql), {"d": name}).scalar():
                    return
            time.sleep(0.01)
        raise AssertionError("the killed child's session did not end")
    finally:
        eng.dispose()


# ---------------------------------------------------------------------------------------------
# state checks


def _counts() -> dict[str, int]:
    raw = fixture_json(VERSION)["raw"]["tables"]
    return {t: len(raw[t]["rows"]) for t in ("trades", "orders", "pairlocks", "KeyValueStore",
                                              "trade_custom_data")}


def classify(url: str) -> str:
    """``"old"`` or ``"new"``; fails if the database is anything in between."""
    eng = sa.create_engine(url)
    try:
        insp = sa.inspect(eng)
        names = set(insp.get_table_names())
        cols = {c["name"] for c in insp.get_columns("trades")}
        kv_len = {c["name"]: c for c in insp.get_columns("KeyValueStore")}["key"]["type"].length
        q = eng.dialect.identifier_preparer.quote
        with eng.connect() as conn:
            counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {q(t)}")).scalar()
                      for t in _counts()}
            heads = (tuple(conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                           .scalars()) if "alembic_version" in names else ())
    finally:
        eng.dispose()
    assert counts == _counts(), f"rows lost or duplicated: {counts}"
    state = "new" if "record_version" in cols else "old"
    if eng.dialect.name in ("sqlite", "postgresql"):  # one transaction: all or nothing
        if state == "old":
            assert heads == () and "tradeledger_meta" not in names, (heads, names)
            assert not {n for n in names if "__tl_" in n}
        else:
            assert heads == runner.head_revisions(), heads
    else:
        # MariaDB: the swap is atomic; stamp/leftovers may lag and are finished next start
        if state == "old":
            assert kv_len == 25
    return state


def _assert_complete(url: str) -> None:
    eng = sa.create_engine(url)
    try:
        assert runner.current_revisions(eng) == runner.head_revisions()
        names = set(sa.inspect(eng).get_table_names())
        assert not {n for n in names if "__tl_" in n}, names
        from tests.test_fixtures_open import server_dump, sqlite_dump

        if eng.dialect.name == "sqlite":
            dump = sqlite_dump(Path(str(eng.url.database)))
        else:
            dump = server_dump(eng)
        assert_tables_match(dump, expected_after_open(VERSION), f"after kill {url}")
    finally:
        eng.dispose()


# ---------------------------------------------------------------------------------------------
# tests


def test_eight_starters_one_migrates(old_dbs: OldDatabases, tmp_path: Path) -> None:
    url = old_dbs.make()
    out = tmp_path / "results"
    out.mkdir()
    go_r, go_w = os.pipe()

    def child(i: int) -> Callable[[], None]:
        def run() -> None:
            os.close(go_w)
            os.read(go_r, 1)  # wait for the start signal
            init_db(url)
            res = runner.last_result
            assert res is not None
            (out / f"{i}.json").write_text(json.dumps(
                {"action": res.action, "waited": res.waited_for_other,
                 "revisions": list(res.to_revisions)}))
        return run

    pids = [_fork(child(i)) for i in range(8)]
    os.close(go_r)
    time.sleep(0.2)
    os.write(go_w, b"x" * 8)  # all at once
    os.close(go_w)
    codes = [_wait(pid) for pid in pids]
    assert codes == [0] * 8
    results = [json.loads((out / f"{i}.json").read_text()) for i in range(8)]
    actions = sorted(r["action"] for r in results)
    assert actions == ["adopted"] + ["none"] * 7, actions
    _assert_complete(url)
    if old_dbs.backend == "sqlite-file":
        backups = list(Path(str(sa.make_url(url).database)).parent.glob("*.bak"))
        assert len(backups) == 1


def test_sigkill_during_migration(old_dbs: OldDatabases) -> None:
    """SIGKILL at random moments; a database left old is killed again (so kills also land
    in the resumption of an earlier killed run), one left new is completed and replaced."""
    rng = random.Random(int(os.environ.get("TRADELEDGER_KILL_SEED", "1234")))
    # how long does one migration take in a forked child?
    url = old_dbs.make()
    start = time.monotonic()
    assert _wait(_fork(_opener(url))) == 0
    duration = time.monotonic() - start
    old_dbs.drop(url)
    outcomes = {"old": 0, "new": 0}
    url = old_dbs.make()
    for _ in range(KILLS):
        pid = _fork(_opener(url))
        time.sleep(rng.uniform(0.0, duration * 1.2))  # some kills land after the commit
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        _wait_other_sessions_gone(url)
        state = classify(url)
        outcomes[state] += 1
        if state == "new":
            init_db(url)  # the next start completes whatever was left
            close_db()
            _assert_complete(url)
            old_dbs.drop(url)
            url = old_dbs.make()
    init_db(url)  # a database killed (maybe several times) while old: completes
    close_db()
    _assert_complete(url)
    print(f"{old_dbs.backend}: migration {duration * 1000:.0f} ms; after SIGKILL {outcomes}")
    assert sum(outcomes.values()) == KILLS


def test_sqlite_killed_migration_leaves_no_half_file(tmp_path: Path) -> None:
    """Direct check of the SQLite file after a kill right in the middle of the copy."""
    path = tmp_path / "x.sqlite"
    shutil.copy(FIXTURES_DIR / f"freqtrade-{VERSION}.sqlite", path)
    before = sqlite3.connect(path).execute("SELECT count(*) FROM trades").fetchone()[0]
    url = f"sqlite:///{path}"
    pid = _fork(_opener(url))
    time.sleep(0.03)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == before
    conn.close()
    init_db(url)
    close_db()
    _assert_complete(url)


def test_threads_of_one_process_serialise(tmp_path: Path) -> None:
    """Threads of one process (each with its own engine) migrate one at a time: Alembic's
    ``op``/``context`` are module-level proxies."""
    import threading

    from tradeledger.db import create_db_engine
    from tradeledger.migrations import prepare_database

    path = tmp_path / "threads.sqlite"
    shutil.copy(FIXTURES_DIR / f"freqtrade-{VERSION}.sqlite", path)
    url = f"sqlite:///{path}"
    actions: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        engine = create_db_engine(url)
        try:
            barrier.wait()
            actions.append(prepare_database(engine).action)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(actions) == ["adopted"] + ["none"] * 5
    _assert_complete(url)
