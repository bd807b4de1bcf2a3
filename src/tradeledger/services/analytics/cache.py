"""Result cache of the analytics queries, correct across processes and connections.

Every analytics statement reads only the ``trades`` and ``orders`` tables. Migration
``tl_0005`` adds the table ``tl_analytics_state`` (``slot``, ``token``) and triggers on both
tables (SQLite: after every ``INSERT``/``UPDATE``/``DELETE`` row; PostgreSQL: after
every ``INSERT``/``UPDATE``/``DELETE``/``TRUNCATE`` statement) that write a fresh random
``token`` into the table *in the writing transaction*. The tokens therefore name a state of
the two tables as the reading transaction sees it:

* a commit touching trades or orders changes a token, visibly for every later reader;
* a transaction's own uncommitted writes change the token it reads (a random one, never seen
  again once rolled back), so results computed on them are never served to anybody else;
* a restored backup brings back its own tokens with its own data.

:func:`cached_execute` reads the tokens with one point query before a statement, serves a
result computed for the same tokens, and stores a freshly computed one only if the tokens
read again after it are still the same (nothing was committed in between, whatever the
isolation level). PostgreSQL spreads the writers over 16 slots (by backend id) so that
concurrent bots do not queue on one row; SQLite has one slot. MariaDB/MySQL get the table but
no triggers (``TRUNCATE`` fires none there), so the cache is off on them.

The cache is per process (a bounded LRU of small results, keyed by database URL, tokens and
the statement's SQLAlchemy cache key with its parameters). It is used only when the state
table and all its triggers are present and enabled (checked once per engine, the triggers
again with every token read); otherwise, in backtesting snapshots, and for statements that are not
cacheable, statements simply run.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, Result
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import Executable

from tradeledger.models.analytics_state import STATE_TABLE, state_table

__all__ = [
    "MAX_ENTRIES",
    "MAX_ROWS",
    "MAX_TOTAL_ROWS",
    "SLOTS",
    "STATE_TABLE",
    "cache_clear",
    "cache_stats",
    "cached_call",
    "cached_execute",
    "exists_sql",
    "state_table",
    "trigger_names",
    "trigger_state_sql",
]

#: Token slots per dialect (writers pick one by backend / connection id).
SLOTS: dict[str, int] = {"sqlite": 1, "postgresql": 16, "mysql": 0}
#: Results with more rows are not kept (an hourly series over three years has 26 000).
MAX_ROWS = 50_000
#: Entries kept, and rows kept over all entries (least recently used dropped first).
MAX_ENTRIES = 512
MAX_TOTAL_ROWS = 150_000



def trigger_names(dialect: str) -> tuple[str, ...]:
    """Names of the triggers ``tl_0005`` creates on ``dialect`` (``sqlite``/``postgresql``)."""
    ops = ("ins", "upd", "del", "trunc") if dialect == "postgresql" else ("ins", "upd", "del")
    return tuple(f"tl_analytics_{table}_{op}" for table in ("trades", "orders") for op in ops)


def _in_list(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def trigger_state_sql(dialect: str, names: tuple[str, ...]) -> tuple[str, str]:
    """Queries for how many of the triggers ``names`` are live, and a fingerprint of them.

    The fingerprint (SQLite: the schema version; PostgreSQL: the sum of the trigger rows'
    ``xmin``) changes whenever a trigger is dropped, created, disabled or enabled, so that a
    write made while a trigger was off can never revive an answer cached before it.
    """
    in_list = _in_list(names)
    if dialect == "sqlite":
        return (f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                f"AND name IN ({in_list})",
                "SELECT schema_version FROM pragma_schema_version()")
    # postgresql (MariaDB/MySQL have no triggers: the caches are off there)
    where = (f"tgname IN ({in_list}) AND tgrelid IN "
             "(to_regclass('trades'), to_regclass('orders'))")
    return (f"SELECT count(*) FROM pg_trigger WHERE {where} AND tgenabled <> 'D'",
            f"SELECT coalesce(sum(xmin::text::bigint), 0) FROM pg_trigger WHERE {where}")


def _token_sql(dialect: str) -> str:
    """Slots and tokens, with the number of live triggers and their fingerprint."""
    triggers, fingerprint = trigger_state_sql(dialect, trigger_names(dialect))
    return (f"SELECT slot, token, ({triggers}) AS n, ({fingerprint}) AS fp "
            f"FROM {STATE_TABLE} ORDER BY slot")


def exists_sql(dialect: str, table: str = STATE_TABLE) -> str:
    """A query giving 1 when ``table`` exists (0 otherwise)."""
    if dialect == "sqlite":
        return (f"SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                f"AND name = '{table}'")
    return (f"SELECT count(*) FROM (SELECT to_regclass('{table}') AS r) x "
            "WHERE r IS NOT NULL")


_lock = threading.Lock()
_entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_available: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()
_stats = {"hits": 0, "misses": 0, "stored": 0, "bypassed": 0}
_rows = [0]  # rows held by every entry


def cache_clear() -> None:
    """Forget every cached result and every engine's availability check."""
    with _lock:
        _entries.clear()
        _rows[0] = 0
        _available.clear()
        for key in _stats:
            _stats[key] = 0


def cache_stats() -> dict[str, int]:
    """Counters since the last :func:`cache_clear` (hits, misses, stored, bypassed) and size."""
    with _lock:
        return {**_stats, "entries": len(_entries), "rows": _rows[0]}


def _engine_of(bind: Any) -> Engine | None:
    if isinstance(bind, Engine):
        return bind
    if isinstance(bind, Connection):
        return bind.engine
    get_bind = getattr(bind, "get_bind", None)
    if get_bind is None:
        return None
    try:
        found = get_bind()
    except SQLAlchemyError:
        return None
    if isinstance(found, Connection):
        return found.engine
    return found if isinstance(found, Engine) else None


def _run_text(bind: Any, sql: str) -> list[Any]:
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return list(conn.execute(text(sql)))
    return list(bind.execute(text(sql)))


def _read_tokens(bind: Any, dialect: str) -> tuple[int, ...] | None:
    """The tokens and the triggers' fingerprint, or None when a trigger is missing or off."""
    rows = _run_text(bind, _token_sql(dialect))
    if not rows or int(rows[0][2]) != len(trigger_names(dialect)):
        return None
    return (*(int(r[1]) for r in rows), int(rows[0][3]))


def _is_available(engine: Engine, bind: Any, dialect: str) -> bool:
    known = _available.get(engine)
    if known is not None:
        return known
    ok = bool(_run_text(bind, exists_sql(dialect))[0][0])
    if ok:
        ok = _read_tokens(bind, dialect) is not None
    with _lock:
        _available[engine] = ok
    return ok


def _freeze_param(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze_param(v) for v in value)
    hash(value)
    return value


def _statement_key(stmt: Executable) -> tuple[Any, ...] | None:
    gen = getattr(stmt, "_generate_cache_key", None)
    if gen is None:
        return None
    cache_key = gen()
    if cache_key is None:
        return None
    try:
        params = tuple(_freeze_param(b.effective_value) for b in cache_key.bindparams)
        hash(cache_key.key)
    except TypeError:
        return None
    return (cache_key.key, params)


def _size(value: Any) -> int:
    """Rows a result holds (a tuple's length, or its longest tuple field), at least 1."""
    if isinstance(value, tuple):
        return max(1, len(value))
    fields = getattr(value, "__dataclass_fields__", None)
    if not fields:
        return 1
    return max([1, *(len(v) for v in (getattr(value, f) for f in fields)
                     if isinstance(v, tuple))])


_IMMUTABLE_LEAVES = (str, int, float, bool, bytes, type(None), datetime, date, timedelta,
                     Decimal, Enum)


def _immutable(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is built only of frozen dataclasses, tuples and immutable leaves."""
    if isinstance(value, _IMMUTABLE_LEAVES):
        return True
    if depth > 6:
        return False
    if isinstance(value, tuple | frozenset):
        return all(_immutable(v, depth + 1) for v in value)
    params = getattr(type(value), "__dataclass_params__", None)
    if params is not None and params.frozen:
        return all(_immutable(getattr(value, f), depth + 1) for f in value.__dataclass_fields__)
    return False


def _store(full_key: tuple[Any, ...], value: Any, size: int) -> None:
    with _lock:
        old = _entries.pop(full_key, None)
        if old is not None:
            _rows[0] -= old[1]
        _entries[full_key] = (value, size)
        _rows[0] += size
        _stats["stored"] += 1
        while len(_entries) > MAX_ENTRIES or _rows[0] > MAX_TOTAL_ROWS:
            _rows[0] -= _entries.popitem(last=False)[1][1]


def _lookup(full_key: tuple[Any, ...]) -> Any:
    with _lock:
        found = _entries.get(full_key)
        if found is not None:
            _entries.move_to_end(full_key)
            _stats["hits"] += 1
            return found[0]
        return None


def _prepare(bind: Any, dialect: str) -> tuple[str, tuple[int, ...]] | None:
    """``(database URL, tokens)`` when the cache may be used on ``bind``, else None."""
    engine = _engine_of(bind) if SLOTS.get(dialect) else None
    if engine is None or not _is_available(engine, bind, dialect):
        return None
    tokens = _read_tokens(bind, dialect)
    if tokens is None:
        return None
    return engine.url.render_as_string(hide_password=True), tokens


def cached_call(bind: Any, dialect: str, key: tuple[Any, ...], compute: Callable[[], Any],
                *, immutable: bool = False) -> Any:
    """``compute()``'s result, or a copy of the one cached for ``key`` and the same tokens.

    For whole metric results (frozen dataclasses): a hit skips the statements *and* the
    Python work on their rows. A result made only of frozen dataclasses, tuples and
    immutable values is shared; any other (e.g. with a dict inside) is returned as a copy,
    so a caller changing it changes nothing for the next one. ``key`` must be hashable (else the
    call is not cached). ``immutable``: the caller vouches that results are immutable (e.g.
    tuples of database values), which skips the check.
    """
    try:
        hash(key)
    except TypeError:
        key = ()
    state = _prepare(bind, dialect) if key else None
    if state is None:
        with _lock:
            _stats["bypassed"] += 1
        return compute()
    full_key = (state[0], state[1], ("call", *key))
    found = _lookup(full_key)
    if found is not None:
        shared, frozen = found
        return shared if frozen else copy.deepcopy(shared)
    value = compute()
    with _lock:
        _stats["misses"] += 1
    size = _size(value)
    if size <= MAX_ROWS and _read_tokens(bind, dialect) == state[1]:
        frozen = immutable or _immutable(value)  # shared as is; else a copy, copied per hit
        _store(full_key, (value if frozen else copy.deepcopy(value), frozen), size)
    return value


def cached_execute(
    bind: Any, dialect: str, stmt: Executable, run: Callable[[Executable], Result[Any]]
) -> Result[Any]:
    """Run ``stmt`` through ``run`` or answer it from the cache (see the module docstring)."""
    key = _statement_key(stmt)
    state = _prepare(bind, dialect) if key is not None else None
    if state is None:
        with _lock:
            _stats["bypassed"] += 1
        return run(stmt)
    full_key = (state[0], state[1], key)
    found = _lookup(full_key)
    if found is not None:
        return found()  # type: ignore[no-any-return]
    frozen = run(stmt).freeze()
    with _lock:
        _stats["misses"] += 1
    if len(frozen.data) <= MAX_ROWS and _read_tokens(bind, dialect) == state[1]:
        _store(full_key, frozen, len(frozen.data))
    return frozen()
