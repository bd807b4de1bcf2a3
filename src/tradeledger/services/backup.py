"""Online backups of a database, safe to take while bots are running.

* SQLite: the SQLite online backup API (a consistent snapshot, readers and writers keep
  going), written to a temporary file, verified (``PRAGMA integrity_check`` and the row count
  of every table), fsynced, then renamed into place: a backup file is either complete and
  verified or absent.
* PostgreSQL / MariaDB / MySQL: ``pg_dump`` / ``mariadb-dump`` (``mysqldump``) when the tool is
  installed (``format="dump"``); otherwise, or with ``format="sqlite"``, a *logical copy* of
  every table into a new SQLite file with the same schema, read in one repeatable-read
  transaction. That file opens with ``tradeledger`` (and freqtrade) as it is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Engine

from tradeledger.exceptions import OperationalException

__all__ = [
    "BackupError",
    "BackupResult",
    "backup_database",
    "default_backup_path",
    "sqlite_online_backup",
    "verify_sqlite_file",
]

BackupFormat = Literal["auto", "dump", "sqlite"]


class BackupError(OperationalException):
    """A backup could not be written or failed verification (no file is left behind)."""


@dataclass
class BackupResult:
    """Where a backup went and what was verified."""

    path: Path
    method: str
    row_counts: dict[str, int] = field(default_factory=dict)
    integrity: str = "ok"


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def default_backup_path(url: sa.URL | str, label: str | None = None) -> Path:
    """``<file>.<label or timestamp>.bak`` next to a SQLite file; for servers, in the cwd."""
    url = sa.make_url(url)
    tag = label or _timestamp()
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        src = Path(str(url.database))
        return src.with_name(f"{src.name}.{tag}.bak")
    return Path.cwd() / f"{url.database or 'database'}.{tag}.bak"


def _table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}


def verify_sqlite_file(path: Path, expected_counts: dict[str, int] | None = None) -> dict[str, int]:
    """Open ``path``, run ``integrity_check`` and return the row count of every table.

    Raises:
        BackupError: the check does not answer ``ok`` or the counts differ from ``expected``.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError(f"integrity_check of {path} failed: {'; '.join(result[:5])}")
        counts = _table_counts(conn)
    finally:
        conn.close()
    if expected_counts is not None and counts != expected_counts:
        raise BackupError(
            f"backup {path} does not hold the source's rows: {counts} != {expected_counts}")
    return counts


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sqlite_online_backup(source: Path | sqlite3.Connection, dest: Path) -> BackupResult:
    """Copy a SQLite database to ``dest`` with the online backup API and verify the copy.

    Args:
        source: the database file, or an open ``sqlite3`` connection to read it through
            (for example one holding the write lock, so that nothing changes meanwhile).
        dest: the backup file; replaced atomically once the copy is verified.
    """
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    # the copy is as private as the database (tradeledger creates files 0600), never wider
    mode = 0o600
    if not isinstance(source, sqlite3.Connection):
        with contextlib.suppress(OSError):
            mode = os.stat(source).st_mode & 0o777
    os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_EXCL, mode))
    own = not isinstance(source, sqlite3.Connection)
    src = (sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None,
                           timeout=30)
           if own else source)
    assert isinstance(src, sqlite3.Connection)
    try:
        # one read transaction: the row counts and the copied pages are the same snapshot,
        # even while bots keep writing (WAL)
        began = not src.in_transaction
        if began:
            src.execute("BEGIN")
        try:
            counts = _table_counts(src)
            target = sqlite3.connect(tmp)
            try:
                src.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")
                target.commit()
            finally:
                target.close()
        finally:
            if began:
                src.execute("ROLLBACK")
        verify_sqlite_file(tmp, counts)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if own:
            src.close()
    return BackupResult(path=dest, method="sqlite-backup-api", row_counts=counts)


def _logical_copy_to_sqlite(engine: Engine, dest: Path) -> BackupResult:
    """Copy every table of a server database into a new SQLite file (same schema)."""
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    src_md = sa.MetaData()
    target_engine = sa.create_engine(f"sqlite:///{tmp}")
    counts: dict[str, int] = {}
    try:
        with engine.connect() as src:
            if engine.dialect.name == "postgresql":
                src.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            else:
                src.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                src.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            src_md.reflect(src)
            dst_md = sa.MetaData()
            for table in src_md.sorted_tables:
                cols = [sa.Column(c.name, _portable_type(c.type), primary_key=c.primary_key,
                                  nullable=c.nullable) for c in table.columns]
                sa.Table(table.name, dst_md, *cols)
            dst_md.create_all(target_engine)
            with target_engine.begin() as dst:
                for table in src_md.sorted_tables:
                    rows = [dict(r._mapping) for r in src.execute(table.select())]
                    counts[table.name] = len(rows)
                    if rows:
                        dst.execute(dst_md.tables[table.name].insert(), rows)
        target_engine.dispose()
        verify_sqlite_file(tmp, counts)
        os.chmod(tmp, 0o600)
        os.replace(tmp, dest)
    except BaseException:
        target_engine.dispose()
        tmp.unlink(missing_ok=True)
        raise
    return BackupResult(path=dest, method="logical-copy-to-sqlite", row_counts=counts)


def _portable_type(t: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any]:
    if isinstance(t, sa.Boolean):
        return sa.Boolean()
    if isinstance(t, sa.Enum):
        return sa.String(max((len(e) for e in t.enums), default=20))
    if isinstance(t, sa.DateTime):
        return sa.DateTime()
    if isinstance(t, sa.Float | sa.Numeric):
        return sa.Float()
    if isinstance(t, sa.Integer):
        return sa.Integer()
    if isinstance(t, sa.String):
        return sa.String(t.length) if t.length else sa.Text()
    return sa.Text()


def _dump(engine: Engine, dest: Path) -> BackupResult | None:
    url = engine.url
    backend = url.get_backend_name()
    env = dict(os.environ)
    if backend == "postgresql":
        tool = shutil.which("pg_dump")
        if tool is None:
            return None
        cmd = [tool, "--format=custom", "--no-owner", f"--file={dest}",
               "--host", url.host or "localhost", "--port", str(url.port or 5432),
               "--username", url.username or "postgres", str(url.database)]
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        method = "pg_dump"
    else:
        tool = shutil.which("mariadb-dump") or shutil.which("mysqldump")
        if tool is None:
            return None
        cmd = [tool, "--single-transaction", "--routines", f"--result-file={dest}",
               "--host", url.host or "localhost", "--port", str(url.port or 3306),
               "--user", url.username or "root", str(url.database)]
        if url.password:
            env["MYSQL_PWD"] = str(url.password)
        method = Path(tool).name
    os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))  # private file
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        dest.unlink(missing_ok=True)
        raise BackupError(f"{method} failed: {proc.stderr.strip()[:500]}")
    return BackupResult(path=dest, method=method, integrity="not checked (dump file)")


def backup_database(engine: Engine, dest: Path | None = None,
                    fmt: BackupFormat = "auto") -> BackupResult:
    """Back up the database behind ``engine`` (also while it is in use).

    Args:
        engine: the database to copy.
        dest: target file (default: next to a SQLite file, else in the working directory).
        fmt: ``"auto"`` (SQLite: backup API; servers: the dump tool if installed, else a
            SQLite logical copy), ``"dump"`` (require the dump tool) or ``"sqlite"``.

    Raises:
        BackupError: the backup failed or could not be verified.
    """
    url = engine.url
    backend = url.get_backend_name()
    dest = Path(dest) if dest is not None else default_backup_path(url)
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise BackupError("an in-memory SQLite database (sqlite://) cannot be backed up")
        return sqlite_online_backup(Path(str(url.database)), dest)
    if fmt in ("auto", "dump"):
        result = _dump(engine, dest)
        if result is not None:
            return result
        if fmt == "dump":
            raise BackupError(f"no dump tool found on PATH for {backend}")
    return _logical_copy_to_sqlite(engine, dest)
