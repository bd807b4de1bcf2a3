"""Backups (services/backup.py) and the ``tradeledger db`` command group."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.conftest import FIXTURES_DIR, create_server_database, require_backend
from tradeledger.cli import app
from tradeledger.db import close_db, create_db_engine, init_db
from tradeledger.migrations import runner
from tradeledger.services import backup as backup_mod
from tradeledger.services.backup import BackupError, backup_database, verify_sqlite_file

cli = CliRunner()


def _fixture_copy(tmp_path: Path, version: str = "2023.1") -> Path:
    dst = tmp_path / f"ft-{version}.sqlite"
    shutil.copy(FIXTURES_DIR / f"freqtrade-{version}.sqlite", dst)
    dst.chmod(0o600)
    return dst


def test_sqlite_backup_while_a_writer_keeps_writing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.sqlite'}"
    engine = init_db(url)
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        eng = create_db_engine(url)
        while not stop.is_set():
            with eng.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO pairlocks (pair, side, reason, lock_time, lock_end_time, "
                    "active) VALUES ('A/B', '*', 'w', '2024-01-01 00:00:00', "
                    "'2024-01-02 00:00:00', 1)"))
            written[0] += 1
        eng.dispose()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.2)
        results = [backup_database(engine, tmp_path / f"b{i}.bak") for i in range(5)]
    finally:
        stop.set()
        thread.join()
    assert written[0] > 0
    for res in results:
        counts = verify_sqlite_file(res.path)
        assert counts == res.row_counts  # the verified copy is one consistent snapshot
    assert [r.row_counts["pairlocks"] for r in results] == \
        sorted(r.row_counts["pairlocks"] for r in results)
    # as private as the database itself (created 0600 by tradeledger)
    assert {oct(r.path.stat().st_mode & 0o777) for r in results} == {"0o600"}
    close_db()


def test_failed_verification_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    db = _fixture_copy(tmp_path)

    def broken(path: Path, expected: object = None) -> dict[str, int]:
        raise BackupError("integrity_check failed: simulated")

    monkeypatch.setattr(backup_mod, "verify_sqlite_file", broken)
    dest = tmp_path / "x.bak"
    with pytest.raises(BackupError):
        backup_mod.sqlite_online_backup(db, dest)
    assert not dest.exists() and not list(tmp_path.glob("*.partial"))
    # and a migration whose backup cannot be verified does not start
    from tradeledger.exceptions import MigrationError

    with pytest.raises(MigrationError, match="could not back up"):
        init_db(f"sqlite:///{db}")
    conn = sqlite3.connect(db)
    assert "alembic_version" not in {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
@pytest.mark.parametrize("fmt", ["sqlite", "dump"])
def test_server_backup(backend: str, fmt: str, tmp_path: Path) -> None:
    require_backend(backend)
    tool = "pg_dump" if backend == "postgresql" else "mariadb-dump"
    if fmt == "dump" and shutil.which(tool) is None and shutil.which("mysqldump") is None:
        pytest.skip(f"{tool} not installed")
    url, drop = create_server_database(backend)
    try:
        engine = init_db(url, mode="dry_run")
        from tradeledger.models import PairLock, Trade

        Trade.session.add(PairLock(pair="A/B", side="*", reason="r", active=True,
                                   lock_time=sa.func.now(), lock_end_time=sa.func.now()))
        Trade.session.commit()
        res = backup_database(engine, tmp_path / f"{backend}.bak", fmt)  # type: ignore[arg-type]
        assert res.path.exists() and res.path.stat().st_size > 0
        if fmt == "sqlite":
            assert res.method == "logical-copy-to-sqlite"
            assert res.row_counts["pairlocks"] == 1
            assert res.row_counts["alembic_version"] == 1
            # the copy opens with tradeledger as it is: stamped at the head, mode kept
            copy = tmp_path / "copy.sqlite"
            shutil.copy(res.path, copy)
            close_db()
            init_db(f"sqlite:///{copy}", migrate="check", mode="dry_run")
            assert runner.last_result is not None and runner.last_result.action == "none"
        else:
            assert res.method in ("pg_dump", "mariadb-dump", "mysqldump")
    finally:
        close_db()
        drop()


def test_cli_db_commands(tmp_path: Path) -> None:
    db = _fixture_copy(tmp_path)
    url = f"sqlite:///{db}"
    res = cli.invoke(app, ["db", "check", "--db", url])
    assert res.exit_code == 7, res.output
    assert "adoption due" in res.output
    res = cli.invoke(app, ["db", "upgrade", "--db", url, "--mode", "live", "--json"])
    assert res.exit_code == 0, res.output
    assert '"adopted"' in res.output and ".pre-freqtrade.bak" in res.output
    res = cli.invoke(app, ["db", "check", "--db", url])
    assert res.exit_code == 0, res.output
    res = cli.invoke(app, ["db", "current", "--db", url])
    assert res.exit_code == 0 and runner.head_revision() in res.output and "live" in res.output
    res = cli.invoke(app, ["db", "history", "--db", url])
    assert res.exit_code == 0 and "tl_0001" in res.output and "(current)" in res.output
    res = cli.invoke(app, ["db", "backup", "--db", url, "-o", str(tmp_path / "b.bak")])
    assert res.exit_code == 0, res.output
    assert verify_sqlite_file(tmp_path / "b.bak")["trades"] == 21
    res = cli.invoke(app, ["db", "set-mode", "dry_run", "--db", url])
    assert res.exit_code == 0, res.output
    with pytest.raises(Exception, match="belongs to a dry_run bot"):
        init_db(url, mode="live")
    close_db()
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'tl_9999'"))
    eng.dispose()
    assert cli.invoke(app, ["db", "check", "--db", url]).exit_code == 6
    assert cli.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 6
    res = cli.invoke(app, ["db", "current", "--db", f"sqlite:///{tmp_path / 'missing.sqlite'}"])
    assert res.exit_code == 11
