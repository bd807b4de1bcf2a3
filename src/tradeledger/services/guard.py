"""Single-writer guard: one live instance per database and bot identity.

``init_db(url, exclusive=True, bot_id=...)`` takes the guard before it writes anything; a second
process (or a second ``InstanceGuard`` in the same process) asking for the same database and
bot identity gets :class:`~tradeledger.exceptions.InstanceLockedError` at once, with a message
naming the database (password masked), the bot identity and, where known, the holder. The
guard is an operating-system or server lock, never a marker row or plain file, so it is
released by the kernel or the server when the holder dies (kill -9, OOM, power loss) and the
next start reclaims it without manual cleanup.

* SQLite file: ``flock`` (exclusive, non-blocking) on ``<db>.lock`` (``<db>.<bot>.lock`` for a
  named bot); the file holds the holder's pid, host and bot id for the error message. Network
  file systems may not honour ``flock``: keep SQLite databases on a local disk.
* PostgreSQL: ``pg_try_advisory_lock(key)`` on a dedicated connection (outside the pool) held
  for the lifetime of the guard; the key is derived from the bot identity, advisory locks are
  per database.
* MariaDB/MySQL: ``GET_LOCK(name, 0)`` on a dedicated connection; the name holds the database
  name and the bot identity (hashed to 64 characters when longer).
* ``sqlite://`` (in memory): nothing to guard, the database lives in this process only.

If the server connection holding a PostgreSQL/MariaDB guard is lost, the lock is gone too;
:meth:`InstanceGuard.is_held` checks it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from tradeledger.exceptions import InstanceLockedError

__all__ = ["InstanceGuard", "guard_key"]

logger = logging.getLogger(__name__)

_DEFAULT_BOT = "default"


def _bot(bot_id: str | None) -> str:
    return bot_id if bot_id else _DEFAULT_BOT


def guard_key(bot_id: str | None) -> int:
    """The PostgreSQL advisory-lock key of a bot identity (signed 64-bit)."""
    digest = hashlib.blake2b(f"tradeledger-guard:{_bot(bot_id)}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _mysql_lock_name(database: str | None, bot_id: str | None) -> str:
    name = f"tlguard:{database}:{_bot(bot_id)}"
    if len(name) > 64:
        name = "tlguard:" + hashlib.sha256(name.encode()).hexdigest()[:56]
    return name


def _lock_path(db_path: Path, bot_id: str | None) -> Path:
    if not bot_id:
        return Path(f"{db_path}.lock")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", bot_id)[:64]
    if safe != bot_id:
        safe += "-" + hashlib.sha256(bot_id.encode()).hexdigest()[:8]
    return Path(f"{db_path}.{safe}.lock")


class InstanceGuard:
    """A held single-writer guard; :meth:`release` (or process exit) frees it."""

    def __init__(self, engine: Engine, bot_id: str | None = None) -> None:
        """Take the guard for ``engine``'s database and ``bot_id`` (non-blocking).

        Raises:
            InstanceLockedError: another live instance holds it.
        """
        self.bot_id = bot_id
        self.dialect = engine.dialect.name
        self._masked = engine.url.render_as_string(hide_password=True)
        self._fd: int | None = None
        self._conn: Any = None
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self.path: Path | None = None
        self.key: int | str | None = None
        if self.dialect == "sqlite":
            self._acquire_sqlite(engine)
        elif self.dialect == "postgresql":
            self._acquire_server(engine, postgres=True)
        else:
            self._acquire_server(engine, postgres=False)
        self._held = True
        logger.info("Instance guard taken for %s (bot %s)", self._masked, _bot(bot_id))

    # ------------------------------------------------------------------ SQLite
    def _acquire_sqlite(self, engine: Engine) -> None:
        database = engine.url.database
        if database in (None, "", ":memory:") or str(database).startswith("file:"):
            return  # in-memory: nothing shared with other processes
        import fcntl

        self.path = _lock_path(Path(str(database)).resolve(), self.bot_id)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise InstanceLockedError(
                f"another live instance already uses database {self._masked} as bot "
                f"{_bot(self.bot_id)!r} (holder: {holder}; lock file {self.path}). Stop it "
                "first, or give this instance its own database or bot_id."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={os.getpid()} host={socket.gethostname()} "
                      f"bot={_bot(self.bot_id)}\n".encode(), 0)
        self._fd = fd

    # ------------------------------------------------------------------ servers
    def _acquire_server(self, engine: Engine, *, postgres: bool) -> None:
        # a dedicated connection outside the pool, held as long as the guard
        self._engine = create_engine(engine.url, poolclass=NullPool)
        try:
            conn = self._engine.connect()
        except Exception:
            self._engine.dispose()
            raise
        try:
            if postgres:
                self.key = guard_key(self.bot_id)
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
                ok = bool(got.scalar())
            else:
                self.key = _mysql_lock_name(engine.url.database, self.bot_id)
                got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": self.key})
                ok = got.scalar() == 1
            conn.commit()  # session-level lock: survives the end of this transaction
        except Exception:
            conn.close()
            self._engine.dispose()
            raise
        if not ok:
            conn.close()
            self._engine.dispose()
            raise InstanceLockedError(
                f"another live instance already uses database {self._masked} as bot "
                f"{_bot(self.bot_id)!r} (server lock {self.key!r} is held). Stop it first, "
                "or give this instance its own bot_id."
            )
        self._conn = conn

    # ------------------------------------------------------------------ API
    def is_held(self) -> bool:
        """Whether the guard is still held (for servers: the holding connection is alive)."""
        with self._lock:
            if not self._held:
                return False
            if self._conn is None:
                return True
            try:
                if self.dialect == "postgresql":
                    row = self._conn.execute(text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted")).scalar()
                else:
                    row = self._conn.execute(text("SELECT IS_USED_LOCK(:n) = CONNECTION_ID()"),
                                             {"n": self.key}).scalar()
                self._conn.commit()
                return bool(row)
            except Exception:  # noqa: BLE001 - a dead connection means the lock is gone
                return False

    def release(self) -> None:
        """Free the guard (idempotent)."""
        with self._lock:
            if not self._held:
                return
            self._held = False
            if self._fd is not None:
                import fcntl

                try:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                finally:
                    os.close(self._fd)
                    self._fd = None
            if self._conn is not None:
                try:
                    if self.dialect == "postgresql":
                        self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                    else:
                        self._conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": self.key})
                    self._conn.commit()
                except Exception:  # noqa: BLE001 - closing the connection frees it anyway
                    logger.debug("instance guard unlock failed; closing its connection")
                finally:
                    self._conn.close()
                    self._conn = None
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
        logger.info("Instance guard released for %s (bot %s)", self._masked, _bot(self.bot_id))

    def same_target(self, engine: Engine, bot_id: str | None) -> bool:
        """Whether this guard covers ``engine``'s database and ``bot_id``."""
        return (self._held and self._masked == engine.url.render_as_string(hide_password=True)
                and _bot(self.bot_id) == _bot(bot_id))

    def __enter__(self) -> InstanceGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown, failed __init__
            self.release()
