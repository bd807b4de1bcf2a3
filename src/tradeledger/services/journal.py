"""The audit journal: who changed which trade, order, lock or custom-data entry, and how.

Every insert, update and delete of ``Trade``, ``Order``, ``PairLock`` and ``_CustomData`` rows
made through a session of the database opened by :func:`tradeledger.db.init_db` adds one row
to ``tradeledger_journal`` **in the same transaction** (so a rolled back change leaves no
entry, and a committed change always has one). The rows are written by SQLAlchemy session
events: ``after_flush`` reads the attribute history of the flushed objects (the whole row for
an insert -- its non-NULL columns --, the changed columns before and after for an update, the
last row for a delete) and
inserts the entries with one ``executemany``; ``do_orm_execute`` covers ORM bulk
``update()`` / ``delete()`` statements (custom data uses one) by reading the matched rows
before and after.

Each entry records the time (UTC), the transaction (``tx_id``, one per database
transaction), the bot identity (``init_db(bot_id=...)``, else the schema), the actor and the
entity. The actor is ``"bot"`` unless a block says otherwise::

    with journal_actor("cli"):
        trade.close_rate = 2.0
        Trade.commit()

Switching it off: ``init_db(url, journal=False)`` or :func:`set_enabled` (process-wide).
Changes made with raw SQL, by other programs (freqtrade itself), or while the journal is off
are not journalled; :func:`verify` then reports the rows that differ, and :func:`baseline`
records the current state of rows that have no entry yet (actor ``migration``).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table, event, exists, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.sql.elements import ColumnElement

from tradeledger.exceptions import InvalidValueError
from tradeledger.models.custom_data import _CustomData
from tradeledger.models.journal import JOURNAL_TABLE, JournalEntry
from tradeledger.models.order import Order
from tradeledger.models.pairlock import PairLock
from tradeledger.models.trade import Trade

__all__ = [
    "ACTORS",
    "ENTITIES",
    "Difference",
    "JournalRecord",
    "VerifyReport",
    "baseline",
    "configure",
    "current_actor",
    "entries",
    "is_enabled",
    "journal_actor",
    "rebuild",
    "set_enabled",
    "trade_history",
    "verify",
]

#: Who made a change.
ACTORS: tuple[str, ...] = ("bot", "api", "cli", "reconcile", "migration")
#: Journalled entities (the ``entity`` column).
ENTITIES: tuple[str, ...] = ("trade", "order", "pairlock", "custom_data")
#: Operations (the ``op`` column); ``baseline`` records a row that predates the journal.
OPS: tuple[str, ...] = ("insert", "update", "delete", "baseline")

_actor_var: ContextVar[str] = ContextVar("tl_journal_actor", default="bot")
_TX_KEY = "_tl_journal_tx"
_OLD_KEY = "_tl_journal_old"


# ---------------------------------------------------------------------------------------------
# configuration


@dataclass
class _Config:
    enabled: bool = False
    engine: Engine | None = None
    bot_id: str | None = None


_config = _Config()


def configure(engine: Engine | None, *, enabled: bool = True, bot_id: str | None = None) -> None:
    """Journal the sessions bound to ``engine`` (called by :func:`~tradeledger.db.init_db`).

    The journal is switched off (with the reason logged) when the database has no
    ``tradeledger_journal`` table (e.g. opened with ``migrate="off"`` before the upgrade).
    """
    if enabled and engine is not None and not inspect(engine).has_table(JOURNAL_TABLE):
        import logging

        logging.getLogger(__name__).warning(
            "the database has no %s table (not upgraded): the audit journal is off",
            JOURNAL_TABLE)
        enabled = False
    _config.engine = engine
    _config.enabled = enabled and engine is not None
    _config.bot_id = bot_id[:255] if bot_id else None


def set_enabled(enabled: bool) -> None:
    """Switch journalling on or off for the current database (process-wide)."""
    if enabled and _config.engine is None:
        raise InvalidValueError("journal: init_db() has not been called, nothing to journal")
    _config.enabled = bool(enabled)


def is_enabled() -> bool:
    """Whether changes are being journalled."""
    return _config.enabled


def current_actor() -> str:
    """The actor recorded for changes made now (``"bot"`` by default)."""
    return _actor_var.get()


@contextmanager
def journal_actor(actor: str) -> Iterator[str]:
    """Record ``actor`` (one of :data:`ACTORS`) for the changes made inside the block.

    Raises:
        InvalidValueError: an unknown actor.
    """
    if actor not in ACTORS:
        raise InvalidValueError(f"actor: expected one of {', '.join(ACTORS)}, got {actor!r}")
    token = _actor_var.set(actor)
    try:
        yield actor
    finally:
        _actor_var.reset(token)


# ---------------------------------------------------------------------------------------------
# values


def _jv(value: Any) -> Any:
    """A column value as plain JSON (datetimes as ISO UTC text, enums by value)."""
    if value is None or value.__class__ in (str, int, float, bool):
        return value
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


_PLAIN = frozenset((str, int, float, bool))
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _dumps(values: dict[str, Any] | None) -> str | None:
    if values is None:
        return None
    return _encode(values)


def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


@dataclass(frozen=True)
class _Spec:
    entity: str
    table: Table
    columns: tuple[tuple[str, str], ...]  # (attribute key, column name)
    colmap: dict[str, str]
    trade_key: str | None  # attribute holding the trade id


def _spec(cls: type[Any], entity: str, trade_key: str | None) -> _Spec:
    mapper = inspect(cls)
    props = [p for p in mapper.column_attrs if p.columns[0].table is mapper.local_table]
    cols = tuple((p.key, p.columns[0].name) for p in props)
    table = mapper.local_table
    assert isinstance(table, Table)
    return _Spec(entity, table, cols, dict(cols), trade_key)


_SPECS: dict[type[Any], _Spec] = {
    Trade: _spec(Trade, "trade", "id"),
    Order: _spec(Order, "order", "ft_trade_id"),
    PairLock: _spec(PairLock, "pairlock", None),
    _CustomData: _spec(_CustomData, "custom_data", "ft_trade_id"),
}
_SPEC_BY_ENTITY = {s.entity: s for s in _SPECS.values()}
_journal_table: Table = JournalEntry.__table__  # type: ignore[assignment]


def _spec_of(obj: Any) -> _Spec | None:
    spec = _SPECS.get(type(obj))
    if spec is None:
        for cls, candidate in _SPECS.items():
            if isinstance(obj, cls):
                return candidate
    return spec


# ---------------------------------------------------------------------------------------------
# writing (session events)


def _journaled(session: Session) -> bool:
    cfg = _config
    if not cfg.enabled:
        return False
    bind = session.bind
    if bind is cfg.engine:
        return True
    return isinstance(bind, Connection) and bind.engine is cfg.engine


def _tx_id(session: Session) -> str:
    root = session.get_transaction()
    held = session.info.get(_TX_KEY)
    if held is not None and held[0] is root:
        return str(held[1])
    tx = uuid.uuid4().hex
    session.info[_TX_KEY] = (root, tx)
    return tx


def _entry(spec: _Spec, op: str, entity_id: Any, trade_id: Any, before: dict[str, Any] | None,
           after: dict[str, Any] | None) -> dict[str, Any]:
    return {"entity": spec.entity, "entity_id": entity_id, "trade_id": trade_id, "op": op,
            "before": _dumps(before), "after": _dumps(after)}


_COLUMNS = ("created_at", "tx_id", "bot_id", "actor", "entity", "entity_id", "trade_id", "op",
            "before", "after")


class _FastInsert:
    """The journal INSERT as DB-API SQL for one dialect (no SQLAlchemy per-statement work).

    Used only inside a transaction that has already written (after a flush), so the SQLite
    ``BEGIN IMMEDIATE`` hook has run. ``created_at`` goes through the column type's bind
    processor (naive UTC; SQLite's text format).
    """

    def __init__(self, dialect: Dialect) -> None:
        style = dialect.paramstyle
        self.usable = style in ("qmark", "format", "pyformat")
        mark = "?" if style == "qmark" else "%s"
        quote = dialect.identifier_preparer.quote
        self.sql = (f"INSERT INTO {quote(JOURNAL_TABLE)} "
                    f"({', '.join(quote(c) for c in _COLUMNS)}) "
                    f"VALUES ({', '.join(mark for _ in _COLUMNS)})")
        ctype = _journal_table.c.created_at.type
        processor = ctype.dialect_impl(dialect).bind_processor(dialect)
        self.bind_time: Any = processor or (lambda value: value)


_FAST: dict[tuple[str, str, str], _FastInsert] = {}


def _fast_insert(conn: Connection, params: list[tuple[Any, ...]]) -> bool:
    dialect = conn.dialect
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    fast = _FAST.get(key)
    if fast is None:
        fast = _FAST[key] = _FastInsert(dialect)
    if not fast.usable:
        return False
    dbapi_conn = conn.connection.dbapi_connection
    stamp = fast.bind_time(params[0][0])
    params = [(stamp, *p[1:]) for p in params]
    cursor = dbapi_conn.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(fast.sql, params)
    except dialect.loaded_dbapi.Error as exc:
        # reported as SQLAlchemy would (a dead connection is dropped from the pool)
        gone = dialect.is_disconnect(exc, dbapi_conn, None)
        if gone:
            conn.invalidate(exc)
        raise DBAPIError.instance(fast.sql, None, exc, dialect.loaded_dbapi.Error,
                                  connection_invalidated=gone, dialect=dialect) from exc
    finally:
        cursor.close()
    return True


def _write(conn: Connection, session: Session | None, rows: list[dict[str, Any]],
           actor: str | None = None) -> None:
    if not rows:
        return
    now = datetime.now(UTC)
    tx = _tx_id(session) if session is not None else uuid.uuid4().hex
    actor = actor or _actor_var.get()
    bot = _config.bot_id
    if session is not None:  # inside a flushed (written) transaction: the fast path
        params = [(now, tx, bot, actor, r["entity"], r["entity_id"], r["trade_id"], r["op"],
                   r["before"], r["after"]) for r in rows]
        if _fast_insert(conn, params):
            return
    for row in rows:
        row["created_at"] = now
        row["tx_id"] = tx
        row["actor"] = actor
        row["bot_id"] = bot
    conn.execute(_journal_table.insert(), rows)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    """Read the values the flush is about to overwrite or delete that are not loaded.

    After a commit every attribute is expired; setting one without reading it first leaves
    SQLAlchemy without the old value. The database still holds it until the flush: one
    ``SELECT`` of just those columns (only in that case) lets the entry show before/after.
    Rows about to be deleted get their expired columns loaded, so the entry holds the row.
    """
    if not _journaled(session):
        return
    fetched: dict[Any, dict[str, Any]] = {}
    for obj in session.dirty:
        spec = _spec_of(obj)
        if spec is None:
            continue
        state = instance_state(obj)
        missing = [key for key, old in state.committed_state.items()
                   if old is NO_VALUE and key in spec.colmap]
        if not missing or state.identity is None:
            continue
        table = spec.table
        cols = [table.c[spec.colmap[key]] for key in missing]
        row = session.connection().execute(
            select(*cols).where(table.c.id == state.identity[0])).first()
        if row is not None:
            fetched[state] = {spec.colmap[key]: _jv(value)
                              for key, value in zip(missing, row, strict=True)}
    if fetched:
        session.info[_OLD_KEY] = fetched
    for obj in session.deleted:
        spec = _spec_of(obj)
        if spec is None:
            continue
        state = instance_state(obj)
        if state.expired_attributes or state.unloaded:
            for key, _ in spec.columns:
                getattr(obj, key)
                break


def _deleted_in_flush(session: Session, flush_context: UOWTransaction) -> list[Any]:
    """Objects the flush deleted: ``session.deleted`` plus orphans removed by cascade
    (``trade.orders.remove(order)``), which only the flush itself discovers."""
    states = getattr(flush_context, "states", None)
    if not states:
        return list(session.deleted)
    out = []
    for state, (isdelete, listonly) in states.items():
        if isdelete and not listonly:
            obj = state.obj()
            if obj is not None:
                out.append(obj)
    return out


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    if not _journaled(session):
        return
    rows: list[dict[str, Any]] = []
    fetched: dict[Any, dict[str, Any]] = session.info.pop(_OLD_KEY, None) or {}
    for obj in session.new:
        spec = _spec_of(obj)
        if spec is None:
            continue
        d = obj.__dict__
        # NULL columns are left out of an insert's ``after`` (the row is complete: a column
        # not named is NULL); unset attributes without a server default were inserted NULL
        after = {}
        for key, col in spec.columns:
            value = d.get(key)
            if value is not None:
                after[col] = value if value.__class__ in _PLAIN else _jv(value)
        rows.append(_entry(spec, "insert", d.get("id"),
                           d.get(spec.trade_key) if spec.trade_key else None, None, after))
    for obj in session.dirty:
        spec = _spec_of(obj)
        if spec is None:
            continue
        state = instance_state(obj)
        committed = state.committed_state
        if not committed:
            continue
        d = state.dict
        before: dict[str, Any] = {}
        after = {}
        colmap = spec.colmap
        old_values = fetched.get(state, {})
        for key, old in committed.items():
            cname = colmap.get(key)
            if cname is None:
                continue
            new = d.get(key, NO_VALUE)
            if new is NO_VALUE:
                continue
            if old is NO_VALUE:
                old = old_values.get(cname, NO_VALUE)
                if old is NO_VALUE:
                    before[cname] = None
                    after[cname] = _jv(new)
                    continue
                if _same(old, _jv(new)):
                    continue
                before[cname] = old
            elif old.__class__ is new.__class__ and _same(old, new):
                continue
            else:
                before[cname] = _jv(old)
            after[cname] = _jv(new)
        if after:
            rows.append(_entry(spec, "update", d.get("id"),
                               d.get(spec.trade_key) if spec.trade_key else None, before, after))
    for obj in _deleted_in_flush(session, flush_context):
        spec = _spec_of(obj)
        if spec is None:
            continue
        d = obj.__dict__
        before = {col: _jv(d[key]) for key, col in spec.columns if key in d}
        rows.append(_entry(spec, "delete", d.get("id"),
                           d.get(spec.trade_key) if spec.trade_key else None, before, None))
    if rows:
        _write(session.connection(), session, rows)


def _row_dict(spec: _Spec, row: Any) -> dict[str, Any]:
    mapping = row._mapping
    return {c.name: _jv(mapping[c]) for c in spec.table.columns}


@event.listens_for(Session, "do_orm_execute")
def _do_orm_execute(state: ORMExecuteState) -> Any:
    """Journal ORM bulk ``update()`` / ``delete()`` statements (rows read before and after)."""
    if not (state.is_delete or state.is_update) or not _journaled(state.session):
        return None
    mapper = state.bind_mapper
    spec = _SPECS.get(mapper.class_) if mapper is not None else None
    if spec is None:
        return None
    where = getattr(state.statement, "whereclause", None)
    table = spec.table
    sel = select(table) if where is None else select(table).where(where)
    conn = state.session.connection()
    before = {row._mapping[table.c.id]: _row_dict(spec, row) for row in conn.execute(sel)}
    result = state.invoke_statement()
    tkey = spec.colmap.get(spec.trade_key) if spec.trade_key else None
    rows: list[dict[str, Any]] = []
    if state.is_delete:
        for ident, values in before.items():
            rows.append(_entry(spec, "delete", ident, values.get(tkey) if tkey else None,
                               values, None))
    elif before:
        after_rows = conn.execute(select(table).where(table.c.id.in_(list(before))))
        for row in after_rows:
            new = _row_dict(spec, row)
            old = before[row._mapping[table.c.id]]
            changed = [k for k, v in new.items() if not _same(v, old.get(k))]
            if changed:
                rows.append(_entry(spec, "update", new["id"], new.get(tkey) if tkey else None,
                                   {k: old.get(k) for k in changed},
                                   {k: new[k] for k in changed}))
    _write(conn, state.session, rows)
    return result


# ---------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class JournalRecord:
    """One journal entry, decoded."""

    id: int
    created_at: datetime
    tx_id: str
    bot_id: str | None
    actor: str
    entity: str
    entity_id: int
    trade_id: int | None
    op: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def changes(self) -> dict[str, tuple[Any, Any]]:
        """``{column: (before, after)}`` for every column the entry names."""
        keys = list(self.before or {}) + [k for k in self.after or {} if k not in
                                          (self.before or {})]
        return {k: ((self.before or {}).get(k), (self.after or {}).get(k)) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"id": self.id, "created_at": self.created_at.isoformat(), "tx_id": self.tx_id,
                "bot_id": self.bot_id, "actor": self.actor, "entity": self.entity,
                "entity_id": self.entity_id, "trade_id": self.trade_id, "op": self.op,
                "before": self.before, "after": self.after}


def _record(row: Any) -> JournalRecord:
    m = row._mapping
    return JournalRecord(
        id=m["id"], created_at=m["created_at"], tx_id=m["tx_id"], bot_id=m["bot_id"],
        actor=m["actor"], entity=m["entity"], entity_id=m["entity_id"], trade_id=m["trade_id"],
        op=m["op"], before=json.loads(m["before"]) if m["before"] is not None else None,
        after=json.loads(m["after"]) if m["after"] is not None else None)


@contextmanager
def _connection(bind: Any, *, read: bool, snapshot: bool = False) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
        return
    if isinstance(bind, Session):
        yield bind.connection()
        return
    if hasattr(bind, "registry") and hasattr(bind, "connection"):  # scoped_session
        yield bind.connection()
        return
    if bind is None:
        from tradeledger.db import get_engine, get_read_engine

        bind = get_read_engine() if read else get_engine()
    engine: Engine = bind
    with engine.connect() as conn:
        if snapshot:
            if engine.dialect.name == "sqlite":
                dbapi = conn.connection.dbapi_connection
                if dbapi is not None and not dbapi.in_transaction:
                    conn.exec_driver_sql("BEGIN")
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield conn
        finally:
            conn.rollback()


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidValueError(f"{name}: expected a datetime, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def entries(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    entity: str | None = None,
    entity_id: int | None = None,
    trade_id: int | None = None,
    bot_id: str | None = None,
    limit: int | None = None,
    bind: Any = None,
) -> list[JournalRecord]:
    """Journal entries in order, filtered.

    Args:
        since: entries at or after this time (naive = UTC).
        until: entries before this time (naive = UTC).
        actor: only this actor (one of :data:`ACTORS`).
        entity: only this entity (one of :data:`ENTITIES`).
        entity_id: only this entity id (with ``entity``).
        trade_id: only entries of this trade (the trade, its orders and custom data).
        bot_id: only this bot.
        limit: at most this many (the oldest first).
        bind: engine, connection or session; default the read engine (replica if configured).

    Raises:
        InvalidValueError: an unknown actor or entity, a non-datetime bound, a bad limit.
    """
    if actor is not None and actor not in ACTORS:
        raise InvalidValueError(f"actor: expected one of {', '.join(ACTORS)}, got {actor!r}")
    if entity is not None and entity not in ENTITIES:
        raise InvalidValueError(
            f"entity: expected one of {', '.join(ENTITIES)}, got {entity!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InvalidValueError(f"limit: expected a positive integer, got {limit!r}")
    t = _journal_table.c
    conds: list[ColumnElement[bool]] = []
    lo, hi = _aware(since, "since"), _aware(until, "until")
    if lo is not None:
        conds.append(t.created_at >= lo)
    if hi is not None:
        conds.append(t.created_at < hi)
    if actor is not None:
        conds.append(t.actor == actor)
    if entity is not None:
        conds.append(t.entity == entity)
    if entity_id is not None:
        conds.append(t.entity_id == entity_id)
    if trade_id is not None:
        conds.append(t.trade_id == trade_id)
    if bot_id is not None:
        conds.append(t.bot_id == bot_id)
    stmt = select(_journal_table).where(*conds).order_by(t.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with _connection(bind, read=True) as conn:
        return [_record(r) for r in conn.execute(stmt)]


def trade_history(trade_id: int, *, bind: Any = None) -> list[JournalRecord]:
    """Every entry of one trade, its orders and its custom data, oldest first.

    Raises:
        InvalidValueError: ``trade_id`` is not an integer.
    """
    if not isinstance(trade_id, int) or isinstance(trade_id, bool):
        raise InvalidValueError(f"trade_id: expected an integer, got {trade_id!r}")
    return entries(trade_id=trade_id, bind=bind)


# ---------------------------------------------------------------------------------------------
# rebuild and verify


def _fold(conn: Connection, entity: str) -> dict[int, dict[str, Any]]:
    t = _journal_table.c
    columns = [c.name for c in _SPEC_BY_ENTITY[entity].table.columns]
    state: dict[int, dict[str, Any]] = {}
    stmt = (select(t.entity_id, t.op, t.after).where(t.entity == entity).order_by(t.id)
            .execution_options(yield_per=5000))
    for ident, op, after in conn.execute(stmt):
        if op == "delete":
            state.pop(ident, None)
        elif op in ("insert", "baseline"):
            row = dict.fromkeys(columns)  # columns an insert does not name are NULL
            if after:
                row.update(json.loads(after))
            state[ident] = row
        else:
            state.setdefault(ident, {}).update(json.loads(after) if after else {})
    return state


def rebuild(entity: str = "trade", *, bind: Any = None) -> dict[int, dict[str, Any]]:
    """The rows of ``entity`` as the journal says they are now: ``{id: {column: value}}``.

    Values are in journal form (datetimes as ISO UTC text, enums by value).
    """
    if entity not in ENTITIES:
        raise InvalidValueError(
            f"entity: expected one of {', '.join(ENTITIES)}, got {entity!r}")
    with _connection(bind, read=False, snapshot=True) as conn:
        return _fold(conn, entity)


@dataclass(frozen=True)
class Difference:
    """One way the journal and the table disagree.

    ``kind``: ``"not_in_journal"`` (a row the journal never saw), ``"not_in_table"`` (the
    journal says the row exists), ``"field"`` (a column differs; ``journal`` / ``table``
    hold both values).
    """

    entity: str
    entity_id: int
    kind: str
    field: str | None = None
    journal: Any = None
    table: Any = None

    def __str__(self) -> str:
        if self.kind == "field":
            return (f"{self.entity} {self.entity_id}: {self.field}: journal {self.journal!r} "
                    f"!= table {self.table!r}")
        return f"{self.entity} {self.entity_id}: {self.kind.replace('_', ' ')}"


@dataclass
class VerifyReport:
    """Result of :func:`verify`."""

    checked: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No difference at all."""
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"ok": self.ok, "checked": dict(self.checked),
                "differences": [d.__dict__ for d in self.differences]}


def verify(entities: Sequence[str] = ("trade", "order"), *, bind: Any = None) -> VerifyReport:
    """Rebuild every row of ``entities`` from the journal and compare with the tables.

    Journal and tables are read in one snapshot (repeatable read), so concurrent writers do
    not cause false differences.

    Returns:
        The rows checked per entity and every difference found.
    """
    report = VerifyReport()
    with _connection(bind, read=False, snapshot=True) as conn:
        for entity in entities:
            if entity not in ENTITIES:
                raise InvalidValueError(
                    f"entity: expected one of {', '.join(ENTITIES)}, got {entity!r}")
            spec = _SPEC_BY_ENTITY[entity]
            built = _fold(conn, entity)
            table = spec.table
            seen = 0
            for row in conn.execute(select(table).order_by(table.c.id)):
                seen += 1
                actual = _row_dict(spec, row)
                ident = actual["id"]
                journal = built.pop(ident, None)
                if journal is None:
                    report.differences.append(Difference(entity, ident, "not_in_journal"))
                    continue
                for col, value in actual.items():
                    if col not in journal:
                        report.differences.append(
                            Difference(entity, ident, "field", col, None, value))
                    elif not _same(journal[col], value):
                        report.differences.append(
                            Difference(entity, ident, "field", col, journal[col], value))
            for ident in sorted(built):
                report.differences.append(Difference(entity, ident, "not_in_table"))
            report.checked[entity] = seen
    return report


def baseline(entities: Sequence[str] = ENTITIES, *, bind: Any = None,
             actor: str = "migration") -> dict[str, int]:
    """Record the current row of every entity that has no journal entry yet.

    Use it once after adopting a database written without the journal (freqtrade, or
    tradeledger with ``journal=False``), so :func:`verify` can check it from then on.

    Returns:
        How many rows were recorded per entity.
    """
    if actor not in ACTORS:
        raise InvalidValueError(f"actor: expected one of {', '.join(ACTORS)}, got {actor!r}")
    if bind is None:
        from tradeledger.db import get_engine

        bind = get_engine()
    engine: Engine = bind
    out: dict[str, int] = {}
    t = _journal_table.c
    with engine.begin() as conn:
        for entity in entities:
            spec = _SPEC_BY_ENTITY[entity]
            table = spec.table
            journalled = exists().where(t.entity == entity, t.entity_id == table.c.id)
            rows: list[dict[str, Any]] = []
            tcol = spec.colmap.get(spec.trade_key) if spec.trade_key else None
            for row in conn.execute(select(table).where(~journalled).order_by(table.c.id)):
                values = _row_dict(spec, row)
                rows.append(_entry(spec, "baseline", values["id"],
                                   values.get(tcol) if tcol else None, None, values))
            _write(conn, None, rows, actor=actor)
            out[entity] = len(rows)
    return out
