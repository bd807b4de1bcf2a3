"""Per-block partial results kept in the database, so a new process need not recompute them.

:mod:`~tradeledger.services.analytics.blocks` keeps the partial rows of each block of trade
ids in the process that computed them. A new process (a restarted bot, a dashboard, a CLI
call) would compute every block again: seconds at a million trades. Migration ``tl_0007``
adds the table ``tl_analytics_partials`` (``statement``, ``block``, ``token``,
``stored_at``, ``payload``). A call that misses at least :data:`PERSIST_MIN_BLOCKS` blocks
(the first in a process) looks there first, then stores the blocks it still had to compute.
A call that recomputes a few written blocks (a trade just closed) neither reads nor writes
the table: the stored rows of those blocks go stale, and the next new process recomputes
and stores them.

* **Identity.** ``statement`` is a SHA-256 of the statement's SQL text as compiled for the
  dialect, its parameter values, the aggregate kinds, the block size and a format version:
  the same metric with the same filter has the same identity in every process, and any
  change to the SQL (a new release, another filter) gives another one.
* **Validity.** A stored row carries the triggers' fingerprint and the block's write tokens
  (:mod:`~tradeledger.migrations.versions.tl_0006_analytics_blocks`) it was computed for,
  and is used only while the block's tokens and the fingerprint are still exactly those.
  Rows are stored only for blocks whose tokens were the same before and after computing
  them, as for the in-process store. A row that does not decode is ignored.
* **Best effort, never in the way.** Rows are read and written on a connection of their
  own, in their own short transactions (an error there never aborts the caller's
  transaction); they are written after the metric is computed. On SQLite the write never
  waits for a lock (``busy_timeout`` 0: if any writer holds the
  database, nothing is stored); on PostgreSQL it waits at most ``lock_timeout`` 200 ms and
  commits without waiting for the WAL flush (``synchronous_commit = off``: the rows are a
  cache). A failure is logged at debug level and never reaches the caller; after
  :data:`MAX_FAILURES` failures in a row (a read-only database, a replica, no right to
  write) the engine stops trying. In-memory SQLite databases never store (they die with
  the process).
* **Bounded.** Each write also deletes the statement's rows for blocks outside the current
  id range, and every row not rewritten for :data:`RETENTION_S` seconds; a block whose rows
  encode to more than :data:`MAX_ROW_BYTES` is not stored.

Values round-trip exactly: JSON, with floats as their shortest repr (``-0.0``, ``nan`` and
infinities included) and ``Decimal``, ``datetime``, ``date`` and ``timedelta`` values tagged;
a block holding any other type is not stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from tradeledger.models.analytics_state import BLOCK_SIZE, PARTIALS_TABLE

__all__ = [
    "MAX_FAILURES",
    "MAX_ROW_BYTES",
    "PERSIST_MIN_BLOCKS",
    "RETENTION_S",
    "decode_rows",
    "encode_rows",
    "is_enabled",
    "load",
    "partials_clear",
    "persist",
    "set_enabled",
    "statement_id",
    "token_text",
]

log = logging.getLogger(__name__)

#: Format version of the stored rows (part of every statement identity).
FORMAT = 1
#: Blocks a call must miss before it looks in the table, and compute before it writes.
PERSIST_MIN_BLOCKS = 4
#: Rows not rewritten for this long are deleted (by the next write).
RETENTION_S = 30 * 86_400
#: A block whose rows encode to more bytes is not stored.
MAX_ROW_BYTES = 1_000_000
#: Failed writes in a row after which an engine stops writing.
MAX_FAILURES = 3

_lock = threading.Lock()
_failures: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()
_enabled = [True]


def set_enabled(enabled: bool) -> None:
    """Read and store partial results in the database, or not (this process; default on).

    Off, the analytics never touch ``tl_analytics_partials`` (e.g. where a DBA wants no
    write from a read path); results are the same, only a new process computes again.
    """
    _enabled[0] = bool(enabled)


def is_enabled() -> bool:
    """Whether :func:`set_enabled` left partial results on."""
    return _enabled[0]


def statement_id(stmt: Select[Any], engine: Engine, kinds: Sequence[str], id_col: str) -> str:
    """The identity of an unblocked aggregate statement, the same in every process."""
    compiled = stmt.compile(dialect=engine.dialect)
    params = sorted((k, repr(v)) for k, v in compiled.params.items())
    source = "\x1f".join((str(FORMAT), engine.dialect.name, str(BLOCK_SIZE), ",".join(kinds),
                          id_col, str(compiled), repr(params)))
    return hashlib.sha256(source.encode()).hexdigest()


def token_text(fingerprint: int, tokens: Sequence[tuple[int, int]]) -> str:
    """What a stored row must match: the triggers' fingerprint and the block's tokens."""
    return f"{fingerprint}|" + ",".join(f"{slot}:{token}" for slot, token in tokens)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$D": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$i": [value.days, value.seconds, value.microseconds]}
    raise TypeError(f"cannot store a {type(value).__name__} in tl_analytics_partials")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$d" in obj:
            return Decimal(obj["$d"])
        if "$t" in obj:
            return datetime.fromisoformat(obj["$t"])
        if "$D" in obj:
            return date.fromisoformat(obj["$D"])
        if "$i" in obj:
            days, seconds, micros = obj["$i"]
            return timedelta(days=days, seconds=seconds, microseconds=micros)
    return obj


def encode_rows(rows: Sequence[tuple[Any, ...]]) -> str:
    """The rows of one block as JSON text (exact round trip through :func:`decode_rows`)."""
    return json.dumps([list(r) for r in rows], default=_default, separators=(",", ":"))


def decode_rows(data: str) -> list[tuple[Any, ...]]:
    """The rows :func:`encode_rows` encoded, as tuples."""
    rows = json.loads(data, object_hook=_hook)
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ValueError("not a list of rows")
    return [tuple(r) for r in rows]


def load(engine: Engine, ident: str,
         wanted: Mapping[int, str]) -> dict[int, list[tuple[Any, ...]]]:
    """Stored rows of statement ``ident`` for the blocks of ``wanted`` whose token matches.

    Read on a connection of its own: a row is valid for its tokens whatever the caller's
    snapshot, and an error (e.g. no right to read the table) must not abort the caller's
    transaction. Any error means nothing loaded (the blocks are computed).
    """
    found: dict[int, list[tuple[Any, ...]]] = {}
    if _in_memory(engine):
        return found  # nothing is ever stored there
    sql = text(f"SELECT block, token, payload FROM {PARTIALS_TABLE} WHERE statement = :s")
    try:
        with engine.connect() as conn:
            stored = list(conn.execute(sql, {"s": ident}))
    except SQLAlchemyError as exc:
        log.debug("analytics partials not read: %s", type(exc).__name__)
        return found
    for block, token, data in stored:
        block = int(block)
        if wanted.get(block) != token:
            continue
        try:
            found[block] = decode_rows(data)
        except (ValueError, TypeError):
            log.debug("analytics partials: block %s of %s does not decode", block, ident[:12])
    return found


def _in_memory(engine: Engine) -> bool:
    """An in-memory SQLite database (as ``init_db`` tells them, or a URI ``mode=memory``)."""
    from tradeledger.db import _is_sqlite_memory

    if engine.dialect.name != "sqlite":
        return False
    return (isinstance(engine.pool, StaticPool | SingletonThreadPool)
            or _is_sqlite_memory(engine.url) or engine.url.query.get("mode") == "memory")


def _may_write(engine: Engine) -> bool:
    if _in_memory(engine) or engine.dialect.name not in ("sqlite", "postgresql"):
        return False
    with _lock:
        return _failures.get(engine, 0) < MAX_FAILURES


def _is_contention(exc: SQLAlchemyError) -> bool:
    """Whether ``exc`` is another writer's lock (or our timeout), not a lasting refusal."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in ("55P03", "57014", "40001", "40P01"):
        return True  # lock_timeout, statement_timeout, serialization, deadlock
    message = str(orig).lower()
    return "database is locked" in message or "database is busy" in message


def _writer(engine: Engine) -> Engine:
    """Where rows computed on ``engine`` are stored: the primary for ``init_db``'s replica.

    Rows computed on a replica carry the replica's (replicated) tokens, so on the primary
    they are valid exactly while the primary's blocks still hold those tokens.
    """
    from tradeledger import db

    if engine is db.get_read_replica():
        try:
            return db.get_engine()
        except Exception:  # noqa: BLE001 - closed meanwhile: keep the replica (it may refuse)
            return engine
    return engine


def persist(engine: Engine, ident: str, blocks: Mapping[int, tuple[str, Sequence[Any]]],
            lo: int, hi: int) -> int:
    """Store ``{block: (token text, rows)}`` for statement ``ident``; the number stored.

    Rows computed on ``init_db``'s read replica are stored on the primary engine.

    Also deletes the statement's rows outside blocks ``lo``..``hi`` and every row older than
    :data:`RETENTION_S`. Never raises for a database error and never waits for a lock held
    by a writer (see the module docstring); returns 0 when nothing was stored.
    """
    engine = _writer(engine)
    if not blocks or not _may_write(engine):
        return 0
    now = int(time.time())
    params = []
    for block, (token, rows) in sorted(blocks.items()):
        try:
            data = encode_rows(rows)
        except (TypeError, ValueError) as exc:  # a value JSON cannot hold: not stored
            log.debug("analytics partials: block %s of %s not stored: %s", block, ident[:12],
                      exc)
            continue
        if len(data) <= MAX_ROW_BYTES:
            params.append({"s": ident, "b": block, "t": token, "at": now, "r": data})
    if not params:
        return 0
    sqlite = engine.dialect.name == "sqlite"
    upsert = (f"INSERT INTO {PARTIALS_TABLE} (statement, block, token, stored_at, payload) "
              "VALUES (:s, :b, :t, :at, :r) ON CONFLICT (statement, block) DO UPDATE SET "
              "token = excluded.token, stored_at = excluded.stored_at, payload = excluded.payload")
    try:
        with engine.connect() as conn:
            previous = None
            if sqlite:  # never wait for another writer's lock
                previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
                conn.exec_driver_sql("PRAGMA busy_timeout = 0")
                conn.rollback()  # end the transaction the pragmas began (nothing to undo)
            try:
                with conn.begin():
                    if not sqlite:
                        conn.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
                        conn.exec_driver_sql("SET LOCAL statement_timeout = '10s'")
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    conn.execute(text(upsert), params)
                    conn.execute(text(f"DELETE FROM {PARTIALS_TABLE} WHERE statement = :s "
                                      "AND (block < :lo OR block > :hi)"),
                                 {"s": ident, "lo": lo, "hi": hi})
                    conn.execute(text(f"DELETE FROM {PARTIALS_TABLE} WHERE stored_at < :c"),
                                 {"c": now - RETENTION_S})
            finally:
                if previous is not None:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(previous)}")
    except SQLAlchemyError as exc:
        if _is_contention(exc):  # a writer holds the lock: try again next time
            log.debug("analytics partials not stored: the database is busy")
            return 0
        with _lock:
            failures = _failures.get(engine, 0) + 1
            _failures[engine] = failures
        level = logging.INFO if failures == MAX_FAILURES else logging.DEBUG
        log.log(level, "analytics partials not stored (%s: %s)%s", type(exc).__name__,
                str(getattr(exc, "orig", None) or exc).splitlines()[0][:200],
                "; not trying again on this engine" if failures == MAX_FAILURES else "")
        return 0
    with _lock:
        _failures.pop(engine, None)
    return len(params)


def partials_clear(bind: Any) -> int:
    """Delete every stored partial row (e.g. after restoring a database by hand); rows deleted."""
    sql = text(f"DELETE FROM {PARTIALS_TABLE}")
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return int(conn.execute(sql).rowcount or 0)
    return int(bind.execute(sql).rowcount or 0)
