"""Fast path: store a new trade with its orders in one transaction, without the ORM.

``persist_trade(trade)`` writes a trade that is not in the database yet (a
:class:`~tradeledger.domain.trade.LocalTrade` with its ``LocalOrder`` objects, e.g. a finished
backtest trade, or an unsaved ORM :class:`~tradeledger.models.trade.Trade` with its orders) in
one transaction and commits it; ``persist_trades(trades)`` writes many in one transaction.
It is the common live / export write without SQLAlchemy's unit of work (attribute
instrumentation, flush ordering, identity map), which costs about 1.4 ms of CPU per trade.

What is stored is what the ORM path (``Trade.session.add(trade); Trade.commit()``) stores for
the same field values:

* every value passes the same column checks as the ORM models (:mod:`tradeledger.models.base`:
  types, identifier lengths, required columns) and raises the same
  :class:`~tradeledger.exceptions.InvalidValueError` naming the field; over-long free text is
  cut the same way;
* ``None`` in a column with a default stores the default (as the ORM does: it leaves such a
  column out of its INSERT), e.g. ``order_date`` = now, ``max_rate`` = 0.0;
* values go through the column types' own bind processing (naive UTC datetimes, enums by
  member name, SQLite's datetime text);
* with the audit journal on (:mod:`tradeledger.services.journal`) the ``insert`` entries of
  the trade and of each order are written in the same transaction, with the same content as
  the ORM writes, so :func:`~tradeledger.services.journal.verify` holds.

Validation happens before any SQL is sent: bad input writes nothing. Deliberate difference
from the ORM: an order whose ``ft_amount`` / ``ft_price`` is ``None`` (NOT NULL columns
without a default) is refused up front with :class:`InvalidValueError` naming the field,
where the ORM fails at the flush with ``IntegrityError``.

SQL per backend (statements compiled once per dialect and number of orders):

* SQLite: ``BEGIN IMMEDIATE``, one INSERT per row, the journal rows, ``COMMIT`` on a pooled
  connection (the engine's pragmas apply: WAL, ``synchronous=FULL`` by default).
* PostgreSQL: ONE statement, run as its own transaction (a single round trip): a
  data-modifying CTE inserts the trade (``RETURNING id``), its orders (referencing that id) and
  the journal rows (whose JSON takes the new ids).
* MariaDB/MySQL: one INSERT per row (``lastrowid``), the journal rows, ``COMMIT``.

Durability is the engine's (nothing is relaxed). The database assigns the ids: a
``LocalTrade.id`` (a backtesting counter) is not used; after the call ``trade.id``, each
``order.id`` and ``order.ft_trade_id`` hold the stored ids.

Reading back with ``Trade.get_trades(...)`` gives the same values as after the ORM path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Boolean, Connection, Dialect, Engine, Enum, Float, Integer, String, Table
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tradeledger.domain.order import LocalOrder
from tradeledger.domain.trade import LocalTrade
from tradeledger.exceptions import InvalidValueError
from tradeledger.models.base import ModelBase, UTCDateTime, _column_guard
from tradeledger.models.journal import JOURNAL_TABLE
from tradeledger.models.order import Order
from tradeledger.models.trade import Trade
from tradeledger.services import journal as _journal
from tradeledger.services import retry as _retry

__all__ = ["persist_trade", "persist_trades"]

_MISSING: Any = object()
#: Columns with a server-side default: the fixed INSERTs here cannot leave them out.
_UNSUPPORTED: list[str] = []
_JOURNAL_COLUMNS = ("created_at", "tx_id", "bot_id", "actor", "entity", "entity_id",
                    "trade_id", "op", "before", "after")


# ---------------------------------------------------------------------------------------------
# column plans: the ORM's checks and defaults per column


@dataclass(frozen=True)
class _Column:
    key: str  # attribute name (== column name for trades / orders)
    name: str
    guard: Callable[..., Any] | None
    default: Any  # _MISSING, a scalar, or a zero-argument callable
    required: bool  # NOT NULL without a default (checked here for orders too)
    fast: frozenset[type] = frozenset()  # exact classes the guard passes unchanged
    maxlen: int | None = None  # text columns: longer values go to the guard
    none_refused: bool = False  # the guard raises for None (a required column)


def _fast_types(ctype: Any) -> tuple[frozenset[type], int | None]:
    """Classes the column guard of ``ctype`` accepts as they are (no need to call it)."""
    if isinstance(ctype, Enum):
        return (frozenset((ctype.enum_class,)) if ctype.enum_class is not None
                else frozenset()), None
    if isinstance(ctype, String):
        return frozenset((str,)), getattr(ctype, "length", None)
    if isinstance(ctype, Boolean):
        return frozenset((bool,)), None
    if isinstance(ctype, Float):
        return frozenset((float, int)), None
    if isinstance(ctype, Integer):
        return frozenset((int,)), None
    if isinstance(ctype, UTCDateTime):
        return frozenset((datetime,)), None
    return frozenset(), None


def _columns(table: Table, class_name: str, skip: Sequence[str]) -> tuple[_Column, ...]:
    out = []
    for col in table.columns:
        if col.key in skip:
            continue
        default: Any = _MISSING
        d = col.default
        if d is not None:
            arg = getattr(d, "arg", None)
            if getattr(d, "is_callable", False):
                default = _wrap_callable(arg)
            elif getattr(d, "is_scalar", False):
                default = arg
        if col.server_default is not None:  # the ORM would let the server fill a None
            _UNSUPPORTED.append(f"{table.name}.{col.name}")
        guard = _column_guard(class_name, col.key, col)
        fast, maxlen = _fast_types(col.type) if guard is not None else (frozenset(), None)
        none_refused = False
        if guard is not None:
            try:
                guard(None, None, None, None)
            except InvalidValueError:
                none_refused = True
        out.append(_Column(col.key, col.name, guard, default,
                           not col.nullable and default is _MISSING, fast, maxlen,
                           none_refused))
    return tuple(out)


def _wrap_callable(arg: Any) -> Callable[[], Any]:
    # SQLAlchemy wraps a zero-argument default as ``fn(context)``
    return lambda: arg(None)


_TRADE_TABLE: Table = Trade.__table__  # type: ignore[assignment]
_ORDER_TABLE: Table = Order.__table__  # type: ignore[assignment]
_TRADE_COLS = _columns(_TRADE_TABLE, "Trade", ("id",))
_ORDER_COLS = _columns(_ORDER_TABLE, "Order", ("id", "ft_trade_id"))
_PAIR_AT = next(i for i, c in enumerate(_ORDER_COLS) if c.key == "ft_pair")
_OID_AT = next(i for i, c in enumerate(_ORDER_COLS) if c.key == "order_id")
_TRADE_SPEC = _journal._SPECS[Trade]
_ORDER_SPEC = _journal._SPECS[Order]
# the journal's JSON puts the columns in mapper order: id first (orders: then ft_trade_id)
assert _TRADE_SPEC.columns[0] == ("id", "id")
assert _ORDER_SPEC.columns[:2] == (("id", "id"), ("ft_trade_id", "ft_trade_id"))
_TRADE_JSON_ORDER = tuple(k for k, _ in _TRADE_SPEC.columns[1:])
_ORDER_JSON_ORDER = tuple(k for k, _ in _ORDER_SPEC.columns[2:])
_PLAIN = _journal._PLAIN
_jv = _journal._jv
_encode = _journal._encode


@dataclass
class _Prepared:
    """One trade's checked values (before bind processing), in table column order."""

    trade: Any
    values: list[Any]
    orders: list[Any]
    order_values: list[list[Any]]
    trade_json: str  # the journal's ``after`` without the leading ``{"id":N``
    order_json: list[str]  # same, without ``{"id":N,"ft_trade_id":M``


def _check_new(obj: Any, what: str) -> None:
    if not isinstance(obj, ModelBase):
        return  # a domain object: never in a session
    state = sa_inspect(obj)
    if state.key is not None or state.session_id is not None:
        raise InvalidValueError(
            f"{what} is already in a session or stored (id={getattr(obj, 'id', None)!r}); "
            "persist_trade stores new trades only - commit this one with its session")


def _row(obj: Any, cols: tuple[_Column, ...], where: str) -> tuple[list[Any], dict[str, Any]]:
    """The values the ORM would INSERT for ``obj``: checked, cut, defaults applied."""
    values: list[Any] = []
    by_key: dict[str, Any] = {}
    for c in cols:
        value: Any = getattr(obj, c.key, _MISSING)
        if value is _MISSING:  # never set (a LocalTrade without open_date): the default
            if c.default is not _MISSING:
                value = c.default() if callable(c.default) else c.default
            elif c.required or c.none_refused:
                raise InvalidValueError(f"{where}.{c.key} is required (not set)")
            else:
                value = None
        elif value is None:
            if c.none_refused and c.guard is not None:
                c.guard(obj, None, None, None)  # raises, naming the field
            if c.default is not _MISSING:
                value = c.default() if callable(c.default) else c.default
            elif c.required:
                raise InvalidValueError(f"{where}.{c.key} is required (got None)")
        elif c.guard is not None and (
                value.__class__ not in c.fast
                or (c.maxlen is not None and len(cast(str, value)) > c.maxlen)):
            value = c.guard(obj, value, None, None)
        values.append(value)
        by_key[c.key] = value
    return values, by_key


def _json_tail(by_key: dict[str, Any], order: tuple[str, ...]) -> str:
    after = {}
    for key in order:
        value = by_key.get(key)
        if value is not None:
            after[key] = value if value.__class__ in _PLAIN else _jv(value)
    text: str = _encode(after)
    return "," + text[1:] if text != "{}" else "}"


def _prepare(trade: Any) -> _Prepared:
    if not isinstance(trade, LocalTrade):
        raise TypeError(
            f"persist_trade: expected a LocalTrade or Trade, got {type(trade).__name__}")
    _check_new(trade, "trade")
    values, by_key = _row(trade, _TRADE_COLS, "Trade")
    orders = list(trade.orders or ())
    order_values: list[list[Any]] = []
    order_json: list[str] = []
    seen: set[tuple[Any, Any]] = set()
    for n, order in enumerate(orders):
        if not isinstance(order, LocalOrder):
            raise TypeError(f"persist_trade: trade.orders[{n}] is a {type(order).__name__}, "
                            "not a LocalOrder / Order")
        _check_new(order, f"trade.orders[{n}]")
        ovalues, okeys = _row(order, _ORDER_COLS, "Order")
        ident = (ovalues[_PAIR_AT], ovalues[_OID_AT])
        if ident in seen:
            raise InvalidValueError(
                f"Order.order_id {ident[1]!r} appears twice for pair {ident[0]!r} in this "
                "trade (ft_pair, order_id is unique)")
        seen.add(ident)
        order_values.append(ovalues)
        order_json.append(_json_tail(okeys, _ORDER_JSON_ORDER))
    return _Prepared(trade, values, orders, order_values,
                     _json_tail(by_key, _TRADE_JSON_ORDER), order_json)


# ---------------------------------------------------------------------------------------------
# statements per dialect


class _Plan:
    """SQL text and bind processors of one dialect (and schema)."""

    def __init__(self, dialect: Dialect, schema: str | None) -> None:
        self.dialect = dialect
        self.name = dialect.name
        quote = dialect.identifier_preparer.quote
        prefix = f"{quote(schema)}." if schema else ""
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        if dialect.paramstyle not in ("qmark", "format", "pyformat"):
            raise RuntimeError(f"persist: unsupported paramstyle {dialect.paramstyle}")
        self.trades = prefix + quote(_TRADE_TABLE.name)
        self.orders = prefix + quote(_ORDER_TABLE.name)
        self.journal = prefix + quote(JOURNAL_TABLE)
        self.quote = quote
        self.tcols = ", ".join(quote(c.name) for c in _TRADE_COLS)
        self.ocols = ", ".join(quote(c.name) for c in _ORDER_COLS)
        self.jcols = ", ".join(quote(c) for c in _JOURNAL_COLUMNS)
        self.tproc = [self._proc(_TRADE_TABLE, c) for c in _TRADE_COLS]
        self.oproc = [self._proc(_ORDER_TABLE, c) for c in _ORDER_COLS]
        jtable = _journal._journal_table
        self.time_proc = self._proc(jtable, _Column("created_at", "created_at", None,
                                                    _MISSING, True)) or (lambda v: v)
        m = self.mark
        tmarks = ", ".join(m for _ in _TRADE_COLS)
        omarks = ", ".join(m for _ in _ORDER_COLS)
        self.trade_sql = f"INSERT INTO {self.trades} ({self.tcols}) VALUES ({tmarks})"
        self.order_sql = (f"INSERT INTO {self.orders} ({quote('ft_trade_id')}, {self.ocols}) "
                          f"VALUES ({m}, {omarks})")
        self.journal_sql = (f"INSERT INTO {self.journal} ({self.jcols}) "
                            f"VALUES ({', '.join(m for _ in _JOURNAL_COLUMNS)})")
        self._pg: dict[tuple[int, bool], bytes] = {}

    def _proc(self, table: Table, c: _Column) -> Callable[[Any], Any] | None:
        ctype = table.c[c.name].type
        proc: Callable[[Any], Any] | None = ctype.dialect_impl(self.dialect).bind_processor(
            self.dialect)
        return proc

    def bind(self, values: list[Any], procs: list[Callable[[Any], Any] | None]) -> list[Any]:
        return [v if p is None or v is None else p(v)
                for v, p in zip(values, procs, strict=True)]

    def pg_sql(self, n_orders: int, journal: bool) -> bytes:
        """The one PostgreSQL statement for a trade with ``n_orders`` orders.

        Written with PostgreSQL's own ``$n`` placeholders for a psycopg ``RawCursor``: with
        over 100 parameters psycopg would otherwise re-parse the query text on every call
        (its conversion cache stops at 50 parameters).
        """
        key = (n_orders, journal)
        sql = self._pg.get(key)
        if sql is not None:
            return sql
        q = self.quote
        tmarks = ", ".join("%s" for _ in _TRADE_COLS)
        omarks = ", ".join("%s" for _ in _ORDER_COLS)
        parts = [f"t AS (INSERT INTO {self.trades} ({self.tcols}) VALUES ({tmarks}) "
                 f"RETURNING {q('id')})"]
        if n_orders:
            rows = ", ".join(f"((SELECT {q('id')} FROM t), {omarks})" for _ in range(n_orders))
            parts.append(f"o AS (INSERT INTO {self.orders} ({q('ft_trade_id')}, {self.ocols}) "
                         f"VALUES {rows} RETURNING {q('id')}, {q('ft_pair')}, {q('order_id')})")
        if journal:
            head = ("CAST(%s AS TIMESTAMP), CAST(%s AS TEXT), CAST(%s AS TEXT), "
                    "CAST(%s AS TEXT)")
            sel = [f"SELECT {head}, 'trade', t.{q('id')}, t.{q('id')}, 'insert', NULL, "
                   f"'{{\"id\":' || t.{q('id')} || CAST(%s AS TEXT) FROM t"]
            if n_orders:
                vals = ", ".join("(CAST(%s AS TEXT), CAST(%s AS TEXT), CAST(%s AS TEXT))"
                                 for _ in range(n_orders))
                sel.append(
                    f"SELECT {head}, 'order', o.{q('id')}, t.{q('id')}, 'insert', NULL, "
                    f"'{{\"id\":' || o.{q('id')} || ',\"ft_trade_id\":' || t.{q('id')} "
                    f"|| v.rest FROM t, o JOIN (VALUES {vals}) AS v(pair, oid, rest) "
                    f"ON o.{q('ft_pair')} = v.pair AND o.{q('order_id')} = v.oid")
            parts.append(f"j AS (INSERT INTO {self.journal} ({self.jcols}) "
                         + " UNION ALL ".join(sel) + ")")
        if n_orders:
            tail = (f"SELECT (SELECT {q('id')} FROM t), o.{q('id')}, o.{q('ft_pair')}, "
                    f"o.{q('order_id')} FROM o")
        else:
            tail = f"SELECT {q('id')}, NULL, NULL, NULL FROM t"
        text = "WITH " + ", ".join(parts) + " " + tail
        pieces = text.split("%s")
        numbered = pieces[0] + "".join(f"${n}{piece}" for n, piece in enumerate(pieces[1:], 1))
        sql = self._pg[key] = numbered.encode()
        return sql


_PLANS: dict[tuple[int, str | None], _Plan] = {}


def _plan(engine: Engine) -> _Plan:
    from tradeledger.db import engine_schema

    schema = engine_schema(engine)
    key = (id(engine.dialect), schema)
    plan = _PLANS.get(key)
    if plan is None or plan.dialect is not engine.dialect:
        plan = _PLANS[key] = _Plan(engine.dialect, schema)
    return plan


# ---------------------------------------------------------------------------------------------
# writing


@dataclass
class _JournalCtx:
    stamp: Any  # created_at, bind-processed
    tx: str
    bot: str | None
    actor: str


def _journal_ctx(engine: Engine, plan: _Plan, session: Session | None) -> _JournalCtx | None:
    cfg = _journal._config
    if not cfg.enabled or cfg.engine is not engine:
        return None
    tx = _journal._tx_id(session) if session is not None else uuid.uuid4().hex
    return _JournalCtx(plan.time_proc(datetime.now(UTC)), tx, cfg.bot_id,
                       _journal.current_actor())


def _set_ids(p: _Prepared, trade_id: int, order_ids: list[int]) -> None:
    p.trade.id = trade_id
    for order, oid in zip(p.orders, order_ids, strict=True):
        order.id = oid
        order.ft_trade_id = trade_id


def _write_rows(cur: Any, plan: _Plan, p: _Prepared, jctx: _JournalCtx | None) -> int:
    """SQLite / MySQL: one INSERT per row (ids by ``lastrowid``), then the journal rows."""
    cur.execute(plan.trade_sql, plan.bind(p.values, plan.tproc))
    trade_id = int(cur.lastrowid)
    order_ids = []
    for ovalues in p.order_values:
        cur.execute(plan.order_sql, [trade_id, *plan.bind(ovalues, plan.oproc)])
        order_ids.append(int(cur.lastrowid))
    if jctx is not None:
        head = (jctx.stamp, jctx.tx, jctx.bot, jctx.actor)
        jrows = [(*head, "trade", trade_id, trade_id, "insert", None,
                  f'{{"id":{trade_id}{p.trade_json}')]
        for oid, tail in zip(order_ids, p.order_json, strict=True):
            jrows.append((*head, "order", oid, trade_id, "insert", None,
                          f'{{"id":{oid},"ft_trade_id":{trade_id}{tail}'))
        cur.executemany(plan.journal_sql, jrows)
    _set_ids(p, trade_id, order_ids)
    return trade_id


def _write_pg(cur: Any, plan: _Plan, p: _Prepared, jctx: _JournalCtx | None) -> int:
    """PostgreSQL: the whole trade in one statement."""
    n = len(p.order_values)
    params = plan.bind(p.values, plan.tproc)
    for ovalues in p.order_values:
        params.extend(plan.bind(ovalues, plan.oproc))
    if jctx is not None:
        head = [jctx.stamp, jctx.tx, jctx.bot, jctx.actor]
        params.extend(head)
        params.append(p.trade_json)
        if n:
            params.extend(head)
            for ovalues, tail in zip(p.order_values, p.order_json, strict=True):
                params.extend((ovalues[_PAIR_AT], ovalues[_OID_AT], tail))
    cur.execute(plan.pg_sql(n, jctx is not None), params)
    rows = cur.fetchall()
    trade_id = int(rows[0][0])
    if n:
        by_ident = {(r[2], r[3]): int(r[1]) for r in rows}
        order_ids = [by_ident[(ov[_PAIR_AT], ov[_OID_AT])] for ov in p.order_values]
    else:
        order_ids = []
    _set_ids(p, trade_id, order_ids)
    return trade_id


def _wrap_error(exc: BaseException, dialect: Dialect, dbapi_conn: Any, sql: str | None,
                invalidate: Callable[[BaseException], None]) -> BaseException:
    """A DB-API error as SQLAlchemy reports it (a dead connection leaves the pool)."""
    dbapi = dialect.loaded_dbapi
    if not isinstance(exc, dbapi.Error):
        return exc
    gone = bool(dialect.is_disconnect(exc, dbapi_conn, None))
    if gone:
        invalidate(exc)
    return DBAPIError.instance(sql, None, exc, dbapi.Error,
                               connection_invalidated=gone, dialect=dialect)


def _cursor(plan: _Plan, dbapi_conn: Any) -> Any:
    if plan.name == "postgresql":
        import psycopg

        return psycopg.RawCursor(dbapi_conn)
    return dbapi_conn.cursor()


def _write_all(cur: Any, plan: _Plan, prepared: list[_Prepared],
               jctx: _JournalCtx | None) -> list[int]:
    if plan.name == "postgresql":
        return [_write_pg(cur, plan, p, jctx) for p in prepared]
    return [_write_rows(cur, plan, p, jctx) for p in prepared]


def _in_session(session: Any, prepared: list[_Prepared]) -> list[int]:
    """Write inside the session's transaction (the caller commits)."""
    conn: Connection = session.connection()
    engine = conn.engine
    plan = _plan(engine)
    real = session() if callable(session) and not isinstance(session, Session) else session
    jctx = _journal_ctx(engine, plan, real)
    dbapi_conn: Any = conn.connection.dbapi_connection
    cur = _cursor(plan, dbapi_conn)
    try:
        if plan.name == "sqlite" and not dbapi_conn.in_transaction:
            cur.execute("BEGIN IMMEDIATE")  # what the engine's write hook would issue
        return _write_all(cur, plan, prepared, jctx)
    except Exception as exc:
        raise _wrap_error(exc, plan.dialect, dbapi_conn, None, conn.invalidate) from exc
    finally:
        cur.close()


def _own_transaction(engine: Engine, prepared: list[_Prepared]) -> list[int]:
    """Write in a new transaction on a pooled connection and commit it."""
    plan = _plan(engine)
    jctx = _journal_ctx(engine, plan, None)
    attempt = _retry._attempt.get()
    raw = engine.raw_connection()
    dbapi_conn: Any = raw.dbapi_connection
    name = plan.name
    single = name == "postgresql" and len(prepared) == 1
    if name == "sqlite" and dbapi_conn.in_transaction:  # only the shared in-memory connection
        raw.close()
        raise InvalidValueError(
            "persist_trade: another session holds an open write transaction on the shared "
            "in-memory SQLite connection; commit it first or pass session=")
    try:
        cur = _cursor(plan, dbapi_conn)
        try:
            if name == "sqlite":
                cur.execute("BEGIN IMMEDIATE")
            elif single:
                # one statement = one transaction: a single round trip, nothing to roll back
                dbapi_conn.autocommit = True
                if attempt is not None:
                    attempt.in_flight = name
            ids = _write_all(cur, plan, prepared, jctx)
            if not single:
                if attempt is not None:
                    attempt.in_flight = name
                dbapi_conn.commit()
        finally:
            cur.close()
            if single and not dbapi_conn.closed:
                dbapi_conn.autocommit = False
        if attempt is not None:
            attempt.in_flight = None
            attempt.committed = True
        return ids
    except BaseException as exc:
        gone = False
        if isinstance(exc, Exception):
            wrapped = _wrap_error(exc, plan.dialect, dbapi_conn, None, raw.invalidate)
            gone = isinstance(wrapped, DBAPIError) and wrapped.connection_invalidated
        else:
            wrapped = exc
        if attempt is not None and not gone:
            attempt.in_flight = None  # the server answered: nothing of this was committed
        if not gone:
            try:
                dbapi_conn.rollback()
            except Exception:  # noqa: BLE001 - the original error matters
                raw.invalidate()
        if wrapped is exc:
            raise
        raise wrapped from exc
    finally:
        raw.close()


def persist_trades(trades: Iterable[Any], *, session: Any = None) -> list[int]:
    """Store new trades with their orders in ONE transaction; return their ids in order.

    Every trade is checked before anything is written: one bad value anywhere writes none.
    See :func:`persist_trade` for the arguments and errors.
    """
    if _UNSUPPORTED:
        raise NotImplementedError(
            "persist_trade: columns with a server default are not supported: "
            + ", ".join(_UNSUPPORTED))
    prepared = [_prepare(t) for t in trades]
    if not prepared:
        return []
    if session is not None:
        return _in_session(session, prepared)
    from tradeledger.db import get_engine

    return _own_transaction(get_engine(), prepared)


def persist_trade(trade: Any, *, session: Any = None) -> int:
    """Store a new trade with its orders in one transaction, without the ORM; return its id.

    Args:
        trade: a :class:`~tradeledger.domain.trade.LocalTrade` (its ``orders`` are
            ``LocalOrder`` or ``Order`` objects) or an ORM ``Trade`` not added to a session.
        session: ``None`` (default): a transaction of its own on the engine of
            :func:`~tradeledger.db.init_db`, committed before the call returns. A session
            (or ``Trade.session``): the rows are written in that session's current
            transaction, which the caller commits (or rolls back) with its other changes.
            Pass it whenever that session has flushed changes not yet committed: on SQLite a
            second write transaction would wait for the session's (``busy_timeout_ms``), and
            on ``sqlite://`` (one shared connection) the call is refused.

    Returns:
        The new trade id (also set on ``trade.id``; each order gets ``id`` and
        ``ft_trade_id``). An ORM ``Trade`` passed here stays outside every session: to
        change it later, load it (``Trade.session.get(Trade, trade_id)``).

    Raises:
        InvalidValueError: a value the ORM models refuse (named ``Trade.<field>`` /
            ``Order.<field>``), a missing ``ft_amount`` / ``ft_price``, an order id twice in
            the trade, or a trade already stored / in a session. Nothing is written.
        TypeError: ``trade`` is not a trade, or an order is not an order.
        sqlalchemy.exc.DBAPIError: the database refused the rows (e.g. ``IntegrityError``
            for an order id already stored for the pair); nothing is written.
        ConfigurationError: ``init_db()`` has not been called.
    """
    return persist_trades((trade,), session=session)[0]
