"""``PairLocks``: lock a pair (or every pair) until a candle, in the database or in memory.

The facade of freqtrade 2026.9 (facts sheet §6.1), with the same names, signatures and
defaults. ``PairLocks.use_db`` selects the mode: ``True`` (default) works on the
``pairlocks`` table through ``PairLock.session`` (bound by :func:`tradeledger.db.init_db`);
``False`` (backtesting, see ``disable_database_use``) works on an in-memory
:class:`~tradeledger.domain.locks.LockStore`.

Semantics shared by both modes:

* ``lock_pair`` rounds ``until`` up to the next candle of ``PairLocks.timeframe``; a time on
  a boundary moves one full candle later. An empty or invalid timeframe raises
  :class:`~tradeledger.exceptions.InvalidLockError` (a ``ValueError``, as freqtrade's).
* A lock is in force while ``active`` and ``lock_end_time > now`` (strict).
* Side matching: ``None`` matches all sides, ``"*"`` only ``"*"`` locks, ``"long"`` /
  ``"short"`` that side or ``"*"``. Pair ``"*"`` is a global lock.
* ``lock_pair`` returns the existing lock instead of a duplicate when an active lock of the
  pair with the same side, reason and end time is in force at ``now``.
* Lists of locks are ordered by id (creation order); ``get_pair_longest_lock`` returns the
  lock ending last, the oldest one on a tie.

Deliberate deviations from freqtrade 2026.9 (its two modes disagree on these; here both
modes give the database-mode answer):

1. ``unlock_reason(reason, now)`` honours ``now`` in backtesting too (freqtrade's in-memory
   mode ignores it and uses the wall clock, so historic backtest locks were never released).
2. A naive ``now`` (or ``until``) is taken as UTC in both modes (freqtrade's in-memory mode
   raised ``TypeError``).
3. ``get_pair_locks(pair="")`` (any falsy pair) means "every pair" in both modes (freqtrade's
   in-memory mode returned nothing).
4. ``lock_pair(..., side=None)`` stores ``"*"`` in both modes, also for duplicate detection
   (freqtrade's in-memory mode kept ``None``, which then matched no side query but ``None``).
Other deliberate deviations:

5. Bad input raises :class:`~tradeledger.exceptions.InvalidLockError` naming the field: an
   unknown side (anything but ``"long"``, ``"short"``, ``"*"``, and ``None`` where allowed),
   an empty pair or one longer than the 25-character column in ``lock_pair``, a non-string
   reason. freqtrade stored such values (or failed later, backend-dependent).
6. In-memory locks get ids 1, 2, 3, ... (freqtrade left them ``None``). Lists are ordered by
   id in both modes (freqtrade's database query had no ``ORDER BY``).

Database mode and other processes: there is no in-process cache. Each check is one
``SELECT 1 ... LIMIT 1`` combining the pair and the global ``"*"`` lock, run on the
session's own connection (the SQL text goes straight to the DB-API cursor, skipping
SQLAlchemy's per-statement work; on PostgreSQL, while the session has no transaction open,
a named prepared statement sent through psycopg's libpq wrapper, skipping the cursor too:
see ``_PgDirect``) and served by the covering index
``tl_ix_pairlocks_pair_active_end`` (two range scans that never visit expired locks).
SQLite reads run outside a transaction and PostgreSQL/MariaDB sessions use READ COMMITTED
(:func:`tradeledger.db.init_db`), so a check sees every lock and every release committed
before it started, by any process or connection. A LISTEN/NOTIFY cache of *locked* answers
was tried on PostgreSQL and rejected: notifications arrive asynchronously, and 62 of 300
checks made right after another connection released a lock still answered *locked*.

Backtesting mode: a check is a dictionary lookup (O(1)) however many locks, expired or not,
the backtest has created; listing bisects per-``(pair, side)`` buckets sorted by end time;
nothing is pruned, so a call with an earlier ``now`` is still exact.
"""

from __future__ import annotations

import logging
import re
import select
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Dialect, Select, and_, bindparam, literal_column, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tradeledger.domain.locks import (
    GLOBAL_PAIR,
    SIDE_ALL,
    LocalPairLock,
    LockStore,
    now_utc,
    validate_lock_side,
    validate_pair,
    validate_query_side,
    validate_reason,
)
from tradeledger.domain.timeframe import timeframe_to_next_date
from tradeledger.exceptions import InvalidLockError
from tradeledger.models.pairlock import PairLock

__all__ = ["PairLocks"]

logger = logging.getLogger(__name__)

_Lock = PairLock | LocalPairLock
_SIDES_OK = frozenset((None, SIDE_ALL, "long", "short"))


def _check_statement(*, pairs: int, side: str | None) -> Select[Any]:
    """``SELECT 1 ... LIMIT 1`` for ``pairs`` (0 = any, 1 = ``:p``, 2 = ``:p`` and ``'*'``)."""
    table = PairLock.__table__
    cols = table.c
    conds: list[Any] = [cols.active == True, cols.lock_end_time > bindparam("now")]  # noqa: E712
    if pairs == 1:
        conds.insert(0, cols.pair == bindparam("p"))
    elif pairs == 2:
        conds.insert(0, cols.pair.in_([bindparam("p"), GLOBAL_PAIR]))
    if side == SIDE_ALL:
        conds.append(cols.side == SIDE_ALL)
    elif side is not None:
        conds.append(or_(cols.side == bindparam("s"), cols.side == SIDE_ALL))
    return (
        sa_select(literal_column("1"))
        .select_from(table)
        .where(and_(*conds))
        .order_by(cols.lock_end_time.desc())  # see _FastCheck: robust plans on PostgreSQL
        .limit(1)
    )


# Pre-built statements (compiled once per dialect by SQLAlchemy's statement cache).
_CHECKS: dict[tuple[int, str | None], Select[Any]] = {
    (pairs, side): _check_statement(pairs=pairs, side=side)
    for pairs in (0, 1, 2)
    for side in (None, SIDE_ALL, "long", "short")
}


class _FastCheck:
    """The check query as DB-API SQL text for one dialect (no SQLAlchemy execution overhead).

    Runs on the session's own connection, so it sees exactly what a SQLAlchemy ``SELECT``
    through ``PairLock.session`` would. The ``lock_end_time`` bound value goes through the
    column type's bind processor (naive UTC, SQLite's text format). Dialects with another
    parameter style use the SQLAlchemy statement instead (``usable`` is False).
    """

    def __init__(self, dialect: Dialect) -> None:
        style = dialect.paramstyle
        self.usable = style in ("qmark", "format", "pyformat")
        mark = "?" if style == "qmark" else "%s"
        true = "true" if dialect.name == "postgresql" else "1"
        # PostgreSQL: psycopg prepares a statement after a few runs and the server may then
        # switch to a generic plan, whose guess for ``lock_end_time > $n`` is "a third of
        # the table" -- once ANALYZE has seen many (expired) global locks it chose a
        # sequential scan (30 ms per check at 100 000 rows). Ordering by the end time makes
        # every plan a range scan bounded by ``lock_end_time > now`` (in-force rows only).
        order = " ORDER BY lock_end_time DESC" if dialect.name == "postgresql" else ""
        end_type = PairLock.__table__.c.lock_end_time.type
        processor = end_type.dialect_impl(dialect).bind_processor(dialect)
        self.bind_end: Callable[[Any], Any] = processor or (lambda value: value)
        self.sql: dict[tuple[int, str | None], str] = {}
        for pairs in (0, 1, 2):
            for side in (None, SIDE_ALL, "long", "short"):
                conds = []
                if pairs == 1:
                    conds.append(f"pair = {mark}")
                elif pairs == 2:
                    conds.append(f"pair IN ({mark}, '*')")
                conds.append(f"active = {true}")
                conds.append(f"lock_end_time > {mark}")
                if side == SIDE_ALL:
                    conds.append("side = '*'")
                elif side is not None:
                    conds.append(f"side IN ({mark}, '*')")
                where = " AND ".join(conds)
                self.sql[(pairs, side)] = f"SELECT 1 FROM pairlocks WHERE {where}{order} LIMIT 1"
        #: PostgreSQL through psycopg 3: the same statements, run as named server-side
        #: prepared statements straight through libpq (see :class:`_PgDirect`).
        self.pg: _PgDirect | None = None
        if self.usable and dialect.name == "postgresql" and dialect.driver == "psycopg":
            self.pg = _PgDirect(self.sql, self.bind_end)

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> _FastCheck:
        """The (cached) fast check of ``dialect``'s kind."""
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        fast = _FAST.get(key)
        if fast is None:
            fast = _FAST[key] = cls(dialect)
        return fast

    def _params(self, pairs: int, pair: str | None, now: datetime, side: str | None) -> list[Any]:
        params: list[Any] = [pair] if pairs else []
        params.append(self.bind_end(now))
        if side is not None and side != SIDE_ALL:
            params.append(side)
        return params

    def run(
        self, dbapi_conn: Any, pairs: int, pair: str | None, now: datetime, side: str | None
    ) -> bool:
        """Whether a matching lock is in force at ``now``."""
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(self.sql[(pairs, side)], self._params(pairs, pair, now, side))
            return cursor.fetchone() is not None
        finally:
            cursor.close()


_FAST: dict[tuple[str, str, str], _FastCheck] = {}

_PG_STATE_KEY = "tradeledger.pairlock_check"
_PLACEHOLDER = re.compile("%s")
_SQLSTATE_NO_STATEMENT = b"26000"  # invalid_sql_statement_name: not (or no longer) prepared
_SQLSTATE_DUPLICATE = b"42P05"  # duplicate_prepared_statement: it is there already


class _PgConnState:
    """Per DB-API connection (kept in the pool record's ``info``, dropped with it)."""

    __slots__ = ("fd", "poller", "prepared")

    def __init__(self) -> None:
        self.prepared: set[bytes] = set()
        self.fd = -1
        self.poller: Any = None


class _PgDirect:
    """PostgreSQL (psycopg 3): the check as a named prepared statement, straight through libpq.

    A check through a psycopg cursor spends about as long in psycopg's Python code (cursor,
    query conversion, prepared-statement bookkeeping, its wait generators) as on the
    localhost round trip itself. Here a check is one ``Bind/Execute/Sync`` of a statement
    this class prepared on the connection (``tl_pairlock_check_*``, its generic plan kept
    by the server), sent with psycopg's documented libpq wrapper (``Connection.pgconn``),
    and one wait for the answer -- about twice as many checks per second.

    Used only while it cannot change what the check sees or leave anything behind:

    * no transaction is open on the connection (libpq ``IDLE``): the statement then runs
      alone, under READ COMMITTED exactly as the first statement of a transaction would
      (it sees everything committed before it started), opens no transaction and holds no
      snapshot, and an error leaves nothing aborted. Inside a transaction (``INTRANS``)
      the psycopg cursor path runs instead, in the transaction, as before;
    * server-side prepared statements are allowed (``prepare_threshold`` is not ``None``:
      not ``init_db(..., pgbouncer=True)``), no pipeline, client encoding UTF8, the pair a
      ``str``.

    A statement that is gone (psycopg's ``DEALLOCATE ALL`` after a rollback, ``DISCARD
    ALL``) is prepared again and the check re-run; any other failure returns ``None`` and
    the caller repeats the check through the psycopg cursor, which raises psycopg's own
    error (and SQLAlchemy then invalidates a dead connection). An interrupt (e.g.
    ``KeyboardInterrupt``) while a query is in flight cancels it and reads its result, as
    psycopg does, so that no later statement reads this check's answer; if that fails the
    DB-API connection is closed (SQLAlchemy then replaces it).
    """

    def __init__(
        self, sql: dict[tuple[int, str | None], str], bind_end: Callable[[Any], Any]
    ) -> None:
        import psycopg
        from psycopg import pq

        self._idle = pq.TransactionStatus.IDLE
        self._active = pq.TransactionStatus.ACTIVE
        self._pipeline_off = pq.PipelineStatus.OFF
        self._tuples_ok = pq.ExecStatus.TUPLES_OK
        self._command_ok = pq.ExecStatus.COMMAND_OK
        self._ok = (self._tuples_ok, self._command_ok)
        self._sqlstate = pq.DiagnosticField.SQLSTATE
        self._error: type[Exception] = psycopg.Error
        self._bind_end = bind_end
        self.names: dict[tuple[int, str | None], bytes] = {}
        self.sql: dict[tuple[int, str | None], bytes] = {}
        for key, text in sql.items():
            n = 0

            def number(_: Any) -> str:
                nonlocal n
                n += 1
                return f"${n}"

            pairs, side = key
            side_name = {None: "any", SIDE_ALL: "all"}.get(side, side)
            self.names[key] = f"tl_pairlock_check_{pairs}_{side_name}".encode()
            self.sql[key] = _PLACEHOLDER.sub(number, text).encode()

    def run(
        self,
        dbapi_conn: Any,
        info: dict[Any, Any],
        key: tuple[int, str | None],
        pair: str | None,
        now: datetime,
        side: str | None,
    ) -> bool | None:
        """Whether a matching lock is in force; ``None``: not run here, use the cursor."""
        pgconn = dbapi_conn.pgconn
        if (
            pgconn.transaction_status != self._idle
            or dbapi_conn.prepare_threshold is None
            or pgconn.pipeline_status != self._pipeline_off
            or pgconn.parameter_status(b"client_encoding") != b"UTF8"
            or (key[0] and pair.__class__ is not str)
        ):
            return None
        state = info.get(_PG_STATE_KEY)
        if state is None:
            state = info[_PG_STATE_KEY] = _PgConnState()
        params: list[bytes] = [pair.encode()] if key[0] else []  # type: ignore[union-attr]
        params.append(self._bind_end(now).isoformat(" ").encode())
        if side is not None and side != SIDE_ALL:
            params.append(side.encode())
        name = self.names[key]
        with dbapi_conn.lock:
            try:
                return self._execute(pgconn, state, name, self.sql[key], params)
            except self._error:  # psycopg's: the cursor path runs the check and reports it
                state.prepared.clear()
                return None
            except BaseException:
                self._abandon(dbapi_conn, pgconn, state)
                raise

    def _abandon(self, dbapi_conn: Any, pgconn: Any, state: _PgConnState) -> None:
        """After an interrupt: cancel and drain a query in flight (as psycopg does), so the
        connection is usable again; close it if that fails (never reuse a connection whose
        protocol state is unknown)."""
        state.prepared.clear()
        try:
            if pgconn.transaction_status == self._active:
                dbapi_conn.cancel_safe(timeout=5.0)
                self._wait(pgconn, state)  # the cancelled (or finished) query's result
            if pgconn.transaction_status == self._idle:
                return
        except BaseException:  # noqa: BLE001 - a second interrupt, a dead connection: close
            pass
        dbapi_conn.close()

    def _execute(
        self, pgconn: Any, state: _PgConnState, name: bytes, sql: bytes, params: list[bytes]
    ) -> bool | None:
        for _attempt in range(2):
            if name not in state.prepared:
                pgconn.send_prepare(name, sql)
                res = self._wait(pgconn, state)
                if res is None or (
                    res.status != self._command_ok
                    and res.error_field(self._sqlstate) != _SQLSTATE_DUPLICATE
                ):
                    return None
                state.prepared.add(name)
            pgconn.send_query_prepared(name, params)
            res = self._wait(pgconn, state)
            if res is None:
                return None
            if res.status == self._tuples_ok:
                return bool(res.ntuples)
            state.prepared.discard(name)
            if res.error_field(self._sqlstate) != _SQLSTATE_NO_STATEMENT:
                return None
        return None

    def _wait(self, pgconn: Any, state: _PgConnState) -> Any:
        """Send what is queued and wait for the result (the last one; ``None``: none)."""
        fd = pgconn.socket
        if fd != state.fd:
            state.poller = select.poll()
            state.poller.register(fd, select.POLLIN)
            state.fd = fd
        while pgconn.flush():
            select.select([], [fd], [], 0.1)
        result = None
        poll = state.poller.poll
        while True:
            pgconn.consume_input()
            while not pgconn.is_busy():
                res = pgconn.get_result()
                if res is None:
                    return result
                if result is None or result.status in self._ok:
                    result = res  # an error, if any, is what gets reported
            poll(100)  # ms: signals (Ctrl-C) are handled between waits



class PairLocks:
    """Pair locks in the database (``use_db``) or in memory (backtesting); all class-level."""

    #: ``True``: locks live in the ``pairlocks`` table; ``False``: in memory (backtesting).
    use_db: ClassVar[bool] = True
    #: Timeframe that lock end times are rounded up to; must be set before ``lock_pair``.
    timeframe: ClassVar[str] = ""
    _store: ClassVar[LockStore] = LockStore()
    #: Every in-memory lock (backtesting), in creation order; replace it with
    #: :meth:`reset_locks` (direct assignment or appends are picked up, too).
    locks: ClassVar[list[LocalPairLock]] = _store.all_locks
    #: Extra locks consulted in database mode besides this bot's table, e.g. fleet-wide
    #: locks (:func:`tradeledger.services.fleet.enable_fleet_locks`); ``None``: none. It has
    #: ``check(pairs, pair, now, side) -> bool`` (``pairs`` as in ``_db_check``) and
    #: ``locks(pair, now, side) -> list`` (appended to ``get_pair_locks``).
    fleet_hook: ClassVar[Any] = None

    # -- helpers -------------------------------------------------------------------------
    @classmethod
    def _memory(cls) -> LockStore:
        store = cls._store
        locks = cls.locks
        if locks is not store.all_locks or len(locks) != store.indexed:
            store.rebuild(list(locks))
            cls.locks = store.all_locks
        return store

    @staticmethod
    def _session() -> Session:
        return PairLock.session()

    # -- mutations ---------------------------------------------------------------------
    @classmethod
    def reset_locks(cls) -> None:
        """Forget every in-memory lock (only while ``use_db`` is False, as freqtrade)."""
        if not cls.use_db:
            cls._store.clear()
            cls.locks = cls._store.all_locks

    @classmethod
    def lock_pair(
        cls,
        pair: str,
        until: datetime,
        reason: str | None = None,
        *,
        now: datetime | None = None,
        side: str | None = SIDE_ALL,
    ) -> _Lock:
        """Lock ``pair`` (``"*"`` = every pair) until the candle after ``until``.

        Args:
            pair: the pair, or ``"*"`` for a global lock.
            until: the lock ends at the start of the candle after ``until`` (a time on a
                candle boundary moves one full candle later); naive means UTC.
            reason: free text, kept with the lock (cut to 255 characters).
            now: the lock's start (default: the current time); naive means UTC.
            side: ``"long"``, ``"short"`` or ``"*"`` (``None`` means ``"*"``).

        Returns:
            The new lock, or the existing identical lock (same pair, side, reason and end,
            active and in force at ``now``).

        Raises:
            InvalidLockError: no or an invalid ``PairLocks.timeframe``; an empty or too long
                pair; an unknown side; ``until``/``now`` not datetimes; a non-string reason.
        """
        pair = validate_pair(pair)
        side = validate_lock_side(side)
        reason = validate_reason(reason)
        if not isinstance(until, datetime):
            raise InvalidLockError(f"until: expected a datetime, got {until!r}")
        end = timeframe_to_next_date(cls.timeframe, until)
        start = now_utc(now)
        for lock in cls.get_pair_locks(pair, start, side):
            if lock.reason == reason and lock.side == side and lock.lock_end_time_utc == end:
                return lock
        if cls.use_db:
            row = PairLock(
                pair=pair, lock_time=start, lock_end_time=end, reason=reason, side=side, active=True
            )
            session = cls._session()
            session.add(row)
            session.commit()
            return row
        return cls._memory().add(
            LocalPairLock(
                pair=pair, lock_time=start, lock_end_time=end, reason=reason, side=side, active=True
            )
        )

    @classmethod
    def unlock_pair(
        cls, pair: str, now: datetime | None = None, side: str | None = SIDE_ALL
    ) -> None:
        """Release the locks of ``pair`` in force at ``now`` that match ``side``.

        With the default ``side="*"`` only ``"*"``-side locks are released (as freqtrade);
        ``side=None`` releases every side.
        """
        logger.info("Releasing all locks for %s.", pair)
        locks = cls.get_pair_locks(pair, now, side)
        for lock in locks:
            lock.active = False
        if cls.use_db:
            cls._session().commit()

    @classmethod
    def unlock_reason(cls, reason: str | None, now: datetime | None = None) -> None:
        """Release every lock (any pair, any side) with ``reason`` in force at ``now``.

        Unlike freqtrade's in-memory mode, ``now`` is honoured in backtesting too.
        """
        logger.info("Releasing all locks with reason '%s':", reason)
        when = now_utc(now)
        locks: Sequence[_Lock]
        if cls.use_db:
            stmt = PairLock.pair_locks_statement(None, when, None).where(PairLock.reason == reason)
            session = cls._session()
            locks = session.scalars(stmt).all()
        else:
            locks = cls._memory().in_force_with_reason(reason, when)
        for lock in locks:
            logger.info("Releasing lock for %s with reason '%s'.", lock.pair, reason)
            lock.active = False
        if cls.use_db:
            cls._session().commit()

    # -- queries -----------------------------------------------------------------------
    @classmethod
    def get_pair_locks(
        cls, pair: str | None, now: datetime | None = None, side: str | None = None
    ) -> list[_Lock]:
        """Active locks of ``pair`` (every pair if ``None`` or ``""``) in force at ``now``.

        Global locks are included only when asking for ``"*"`` (or every pair). ``side``:
        ``None`` = all sides, ``"*"`` = only ``"*"`` locks, ``"long"``/``"short"`` = that
        side or ``"*"``. Ordered by id.
        """
        side = validate_query_side(side)
        when = now_utc(now)
        if cls.use_db:
            found: list[_Lock] = list(PairLock.query_pair_locks(pair, when, side).all())
            if cls.fleet_hook is not None:
                found.extend(cls.fleet_hook.locks(pair, when, side))
            return found
        return list(cls._memory().get_pair_locks(pair, when, side))

    @classmethod
    def get_pair_longest_lock(
        cls, pair: str | None, now: datetime | None = None, side: str | None = SIDE_ALL
    ) -> _Lock | None:
        """The lock of ``pair`` in force at ``now`` that ends last (oldest on a tie)."""
        locks = cls.get_pair_locks(pair, now, side)
        if not locks:
            return None
        return max(locks, key=lambda lock: lock.lock_end_time_utc)  # first max = lowest id

    @classmethod
    def is_global_lock(cls, now: datetime | None = None, side: str | None = SIDE_ALL) -> bool:
        """Whether a global (``"*"``) lock matching ``side`` is in force at ``now``."""
        if side not in _SIDES_OK:
            validate_query_side(side)
        if now.__class__ is not datetime or now.tzinfo is not UTC:
            now = now_utc(now)  # None, naive, other zone, or not a datetime (-> error)
        if not cls.use_db:
            return cls._memory().is_global_lock(now, side)
        return cls._db_check(1, GLOBAL_PAIR, now, side)

    @classmethod
    def is_pair_locked(
        cls, pair: str | None, now: datetime | None = None, side: str | None = SIDE_ALL
    ) -> bool:
        """Whether ``pair`` is locked at ``now`` for ``side``, by its own or a global lock.

        One query in database mode; a dictionary lookup in memory.
        """
        if side not in _SIDES_OK:
            validate_query_side(side)
        if now.__class__ is not datetime or now.tzinfo is not UTC:
            now = now_utc(now)  # None, naive, other zone, or not a datetime (-> error)
        if not cls.use_db:
            store = cls._store
            if cls.locks is not store.all_locks or len(cls.locks) != store.indexed:
                store = cls._memory()
            return store.is_pair_locked(pair, now, side)
        if not pair:
            return cls._db_check(0, None, now, side)
        return cls._db_check(1 if pair == GLOBAL_PAIR else 2, pair, now, side)

    @classmethod
    def _db_check(cls, pairs: int, pair: str | None, now: datetime, side: str | None) -> bool:
        if cls.fleet_hook is not None and cls.fleet_hook.check(pairs, pair, now, side):
            return True
        conn = PairLock.session().connection()
        fast = _FastCheck.for_dialect(conn.dialect)
        if fast.usable:
            fairy = conn.connection
            dbapi_conn = fairy.dbapi_connection
            dialect = conn.dialect
            try:
                if fast.pg is not None:
                    found = fast.pg.run(dbapi_conn, fairy.info, (pairs, side), pair, now, side)
                    if found is not None:
                        return found
                return fast.run(dbapi_conn, pairs, pair, now, side)
            except dialect.loaded_dbapi.Error as exc:
                # report it as SQLAlchemy would (and drop a dead connection from the pool)
                gone = dialect.is_disconnect(exc, dbapi_conn, None)
                if gone:
                    conn.invalidate(exc)
                raise DBAPIError.instance(
                    fast.sql[(pairs, side)],
                    None,
                    exc,
                    dialect.loaded_dbapi.Error,
                    connection_invalidated=gone,
                    dialect=dialect,
                ) from exc
            except Exception:  # e.g. an unusual `now`: SQLAlchemy's path explains it
                logger.debug("fast lock check failed; retrying through SQLAlchemy", exc_info=True)
        params: dict[str, Any] = {"now": now}
        if pairs:
            params["p"] = pair
        if side is not None and side != SIDE_ALL:
            params["s"] = side
        return conn.execute(_CHECKS[(pairs, side)], params).first() is not None

    @classmethod
    def get_all_locks(cls) -> list[PairLock] | list[LocalPairLock]:
        """Every lock (also expired and released ones), by id."""
        if cls.use_db:
            return list(PairLock.get_all_locks().all())
        return cls._memory().all_locks  # the list itself, as freqtrade
