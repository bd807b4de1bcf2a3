"""Incremental aggregates: per-block partial results, recomputed only where trades changed.

A metric over a million closed trades costs seconds to compute from scratch (SQLite reads
the table row by row; the performance queries also join two million orders). After one
trade closes, only one block of trade ids changed. So a decomposable metric (sums, counts,
minima, maxima per group) is computed *per block* of :data:`BLOCK_SIZE` trade ids, the
partial rows are kept in this process, and a later call recomputes only the blocks whose
write token changed, then merges every block's rows in block order.

Write tokens (migration ``tl_0006``): triggers on ``trades`` and ``orders`` write a new
random token for each block they touch (``trades.id / 4096``; an order stamps its trade's
block) *in the writing transaction*, so, as for the whole-result cache
(:mod:`~tradeledger.services.analytics.cache`):

* a committed write changes its blocks' tokens for every later reader;
* a transaction's own uncommitted writes give its blocks tokens nobody else will see;
* the partial rows of a block are stored only if its token read *after* computing them is
  still the one read before (no commit to that block in between, whatever the isolation).

A block's rows depend only on the trades (and their orders) in that block, so rows computed
for a token are valid for as long as the token is. The triggers' presence and state are
checked with every token read (a fingerprint of them is part of the key). Without the
triggers (MariaDB/MySQL, backtesting snapshots, a database not migrated) the same statement
runs once over every trade, unblocked: the same rows and the same merge.

A call that misses many blocks (the first in a process) first looks for rows another process
stored in the database for the same statement and tokens, and a call that computed many
blocks stores them there (:mod:`~tradeledger.services.analytics.partials`, ``tl_0007``).

Float sums merged block by block can differ from one ``SUM`` over every row in the last
bits (addition order); results stay deterministic, since blocks merge in a fixed order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, and_, literal_column, or_
from sqlalchemy.sql.elements import ColumnElement

from tradeledger.domain.money import EXACT_SUM
from tradeledger.models.analytics_state import BLOCK_SIZE, BLOCKS_TABLE, PARTIALS_TABLE
from tradeledger.services.analytics import partials
from tradeledger.services.analytics.cache import (
    _engine_of,
    _run_text,
    _statement_key,
    cached_call,
    exists_sql,
    trigger_state_sql,
)
from tradeledger.services.analytics.context import QueryContext

__all__ = [
    "BLOCK_SIZE",
    "BlockScope",
    "Kind",
    "blocked_rows",
    "blocks_clear",
    "blocks_stats",
    "cached_blocked_rows",
    "mean",
    "trigger_names",
]

Kind = Literal["key", "sum", "count", "min", "max", "exact"]

#: Partial rows kept over all metrics (least recently used metric dropped first).
MAX_ROWS = 400_000
#: At most this many blocks recomputed with one statement (more: the whole range).
MAX_RANGES = 64


def trigger_names(dialect: str) -> tuple[str, ...]:
    """Names of the triggers ``tl_0006`` creates on ``dialect`` (``sqlite``/``postgresql``)."""
    if dialect not in ("sqlite", "postgresql"):
        return ()
    ops = ("ins", "upd", "del", "trunc") if dialect == "postgresql" else ("ins", "upd", "del")
    return tuple(f"tl_blocks_{table}_{op}" for table in ("trades", "orders") for op in ops)


def _token_sql(dialect: str) -> str:
    """Every (block, slot, token), behind a first row (-1, live triggers, their fingerprint)."""
    triggers, fingerprint = trigger_state_sql(dialect, trigger_names(dialect))
    # the id range: trades, and orders too (SQLite may hold orders of deleted trades)
    return (f"SELECT -1, ({triggers}), ({fingerprint}), ({exists_sql(dialect, BLOCKS_TABLE)}), "
            "(SELECT min(id) FROM trades), (SELECT max(id) FROM trades), "
            "(SELECT min(ft_trade_id) FROM orders), (SELECT max(ft_trade_id) FROM orders), "
            f"({exists_sql(dialect, PARTIALS_TABLE)})")


def _rows_sql() -> str:
    return f"SELECT block, slot, token FROM {BLOCKS_TABLE}"


@dataclass(frozen=True)
class _State:
    fingerprint: int
    lo: int  # first block holding trades
    hi: int  # last block holding trades (lo > hi: no trades)
    tokens: dict[int, tuple[tuple[int, int], ...]]
    partials: bool  # the table of stored partial results exists (tl_0007)


def _read_state(bind: Any, dialect: str) -> _State | None:
    """Tokens per block, or None when the table or a trigger is missing or disabled."""
    head = _run_text(bind, _token_sql(dialect))[0]
    if not int(head[3]) or int(head[1]) != len(trigger_names(dialect)):
        return None
    grouped: dict[int, list[tuple[int, int]]] = {}
    for block, slot, token in _run_text(bind, _rows_sql()):
        grouped.setdefault(int(block), []).append((int(slot), int(token)))
    tokens = {b: tuple(sorted(v)) for b, v in grouped.items()}
    lows = [int(v) for v in (head[4], head[6]) if v is not None]
    highs = [int(v) for v in (head[5], head[7]) if v is not None]
    if not lows:
        lo, hi = 0, -1
    else:
        lo, hi = min(lows) // BLOCK_SIZE, max(highs) // BLOCK_SIZE
    return _State(int(head[2]), lo, hi, tokens, bool(int(head[8])))


class BlockScope:
    """Which trade ids a statement built by :func:`blocked_rows`'s ``build`` must read."""

    def __init__(self, ranges: Sequence[tuple[int, int]] | None) -> None:
        self.ranges = ranges  # None: every trade (no block column either)

    @property
    def blocked(self) -> bool:
        """Whether the statement must also group by block (:meth:`block_of`)."""
        return self.ranges is not None

    def clauses(self, id_col: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        """Conditions restricting ``id_col`` (a trade id) to the blocks to compute."""
        if not self.ranges:
            return []
        parts = [and_(id_col >= literal_column(str(lo)), id_col <= literal_column(str(hi)))
                 for lo, hi in self.ranges]
        return [parts[0] if len(parts) == 1 else or_(*parts)]

    @staticmethod
    def block_of(id_col: ColumnElement[Any]) -> ColumnElement[Any]:
        """The block of a trade id (integer division, as the triggers compute it)."""
        return (id_col // literal_column(str(BLOCK_SIZE))).label("tl_block")


def _merge_into(acc: dict[Any, list[Any]], rows: Sequence[tuple[Any, ...]],
                kinds: Sequence[Kind]) -> None:
    n_keys = kinds.count("key")
    aggs = list(enumerate(kinds[n_keys:]))
    for row in rows:
        key = row[:n_keys]
        cur = acc.get(key)
        if cur is None:
            acc[key] = list(row[n_keys:])
            continue
        for i, kind in aggs:
            value = row[n_keys + i]
            if value is None:
                continue
            old = cur[i]
            if old is None:
                cur[i] = value
            elif kind == "sum" or kind == "count":
                cur[i] = old + value
            elif kind == "exact":  # exact decimal sums (Decimal or its text): no rounding
                cur[i] = EXACT_SUM.add(Decimal(old), Decimal(value))
            elif kind == "min":
                cur[i] = value if value < old else old
            else:
                cur[i] = value if value > old else old


class _Store:
    """Partial rows per (database, statement): ``{block: (token, rows)}``, LRU-bounded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[Any, ...], dict[int, tuple[Any, list[Any]]]] = (
            OrderedDict())
        self.rows = 0
        self.stats = {"reused": 0, "computed": 0, "unblocked": 0, "stored": 0, "loaded": 0,
                      "persisted": 0}

    def get(self, key: tuple[Any, ...]) -> dict[int, tuple[Any, list[Any]]]:
        with self.lock:
            found = self.entries.get(key)
            if found is None:
                return {}
            self.entries.move_to_end(key)
            return dict(found)

    def put(self, key: tuple[Any, ...], blocks: dict[int, tuple[Any, list[Any]]]) -> None:
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.rows -= sum(len(r) for _t, r in old.values())
            self.entries[key] = blocks
            self.rows += sum(len(r) for _t, r in blocks.values())
            while self.rows > MAX_ROWS and len(self.entries) > 1:
                _k, dropped = self.entries.popitem(last=False)
                self.rows -= sum(len(r) for _t, r in dropped.values())


_store = _Store()


def blocks_clear() -> None:
    """Forget every partial result."""
    with _store.lock:
        _store.entries.clear()
        _store.rows = 0
        for key in _store.stats:
            _store.stats[key] = 0


def blocks_stats() -> dict[str, int]:
    """Counters since :func:`blocks_clear` and sizes.

    Blocks ``reused`` (kept in this process), ``loaded`` (stored by a process, see
    :mod:`~tradeledger.services.analytics.partials`), ``computed``, ``stored`` (kept) and
    ``persisted`` (written to the database); ``unblocked`` runs; ``rows`` and ``entries``
    held in this process.
    """
    with _store.lock:
        return {**_store.stats, "rows": _store.rows, "entries": len(_store.entries)}


def _ranges(blocks: Sequence[int]) -> list[tuple[int, int]]:
    """Id ranges covering ``blocks`` (sorted), adjacent blocks joined."""
    out: list[tuple[int, int]] = []
    for b in blocks:
        lo, hi = b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE - 1
        if out and out[-1][1] == lo - 1:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _run(ctx: QueryContext, stmt: Select[Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ctx._run(stmt)]


def blocked_rows(
    ctx: QueryContext,
    build: Callable[[BlockScope], Select[Any]],
    kinds: Sequence[Kind],
    *,
    id_col: ColumnElement[Any] | None = None,
) -> list[tuple[Any, ...]]:
    """The merged rows of ``build``'s aggregate statement over every trade.

    ``build(scope)`` returns a ``SELECT`` of key columns then aggregate columns (``kinds``
    names each: ``key``, ``sum``, ``count``, ``min``, ``max``, or ``exact``: a ``Decimal`` or
    its text, added without rounding), grouped by the keys, with
    ``scope.clauses(trades.id)`` among its conditions (and wherever else trade ids are read,
    e.g. ``orders.ft_trade_id`` in a subquery, to read only those blocks). When
    ``scope.blocked``, this function adds the block column of ``id_col`` (default
    ``trades.id``; ``orders.ft_trade_id`` for a statement on orders alone) and groups by it.

    Returns one row per key, ``(*keys, *aggregates)``, in the order keys are first met
    (callers sort). Aggregates are ``None`` where SQL would give ``NULL``.
    """
    template = build(BlockScope(None))
    return _blocked_rows(ctx, build, kinds, id_col, template, _statement_key(template))


def _blocked_rows(
    ctx: QueryContext,
    build: Callable[[BlockScope], Select[Any]],
    kinds: Sequence[Kind],
    id_col: ColumnElement[Any] | None,
    template: Select[Any],
    skey: tuple[Any, ...] | None,
) -> list[tuple[Any, ...]]:
    """:func:`blocked_rows` with the unblocked statement and its cache key already built."""
    state = None
    engine = None
    if ctx.use_cache and not ctx.backtesting and trigger_names(ctx.dialect):
        engine = _engine_of(ctx.bind)
        if engine is not None:
            state = _read_state(ctx.bind, ctx.dialect)
    acc: dict[Any, list[Any]] = {}
    if state is None or skey is None or engine is None or state.hi - state.lo > 100_000:
        with _store.lock:
            _store.stats["unblocked"] += 1
        _merge_into(acc, _run(ctx, template), kinds)
        return [(*k, *v) for k, v in acc.items()]

    url = engine.url.render_as_string(hide_password=True)
    key = (url, skey, state.fingerprint)
    known = _store.get(key)
    wanted = range(state.lo, state.hi + 1)
    # stored tokens are never None: a block without a token is always computed
    missing = [b for b in wanted if b not in known or known[b][0] != state.tokens.get(b)]
    ident = None
    n_loaded = 0
    if state.partials and len(missing) >= partials.PERSIST_MIN_BLOCKS and partials.is_enabled():
        # many blocks to compute (a new process): look for rows another process stored
        ident = partials.statement_id(template, engine, kinds,
                                      "trades.id" if id_col is None else str(id_col))
        loaded = partials.load(engine, ident, {
            b: partials.token_text(state.fingerprint, state.tokens[b])
            for b in missing if b in state.tokens})
        for block, rows in loaded.items():
            known[block] = (state.tokens[block], rows)
        missing = [b for b in missing if b not in loaded]
        n_loaded = len(loaded)
    fresh: dict[int, list[tuple[Any, ...]]] = {b: [] for b in missing}
    if missing:
        scope = BlockScope(_ranges(missing) if len(missing) <= MAX_RANGES else [])
        stmt = build(scope)
        block_col = BlockScope.block_of(ctx.trades.c.id if id_col is None else id_col)
        stmt = stmt.add_columns(block_col).group_by(block_col)
        for row in _run(ctx, stmt):
            block = int(row[-1])
            if block in fresh:
                fresh[block].append(row[:-1])
    after = _read_state(ctx.bind, ctx.dialect) if missing else state
    after_tokens = after.tokens if after is not None and after.fingerprint == state.fingerprint \
        else None  # None: the triggers changed meanwhile, nothing computed is kept
    keep = dict(known) if after_tokens is not None else {}
    verified: dict[int, tuple[str, list[tuple[Any, ...]]]] = {}
    for block, rows in fresh.items():
        token = state.tokens.get(block)
        if after_tokens is not None and token is not None and after_tokens.get(block) == token:
            keep[block] = (token, rows)
            verified[block] = (partials.token_text(state.fingerprint, token), rows)
        else:
            keep.pop(block, None)
    keep = {b: v for b, v in keep.items() if state.lo <= b <= state.hi}
    _store.put(key, keep)
    persisted = 0
    if ident is not None and verified:
        persisted = partials.persist(engine, ident, verified, state.lo, state.hi)
    with _store.lock:
        _store.stats["reused"] += len(wanted) - len(missing) - n_loaded
        _store.stats["loaded"] += n_loaded
        _store.stats["computed"] += len(missing)
        _store.stats["stored"] += len(verified)
        _store.stats["persisted"] += persisted
    for block in wanted:
        rows = fresh[block] if block in fresh else known[block][1]
        _merge_into(acc, rows, kinds)
    return [(*k, *v) for k, v in acc.items()]


def cached_blocked_rows(
    ctx: QueryContext,
    build: Callable[[BlockScope], Select[Any]],
    kinds: Sequence[Kind],
    *,
    id_col: ColumnElement[Any] | None = None,
) -> list[tuple[Any, ...]]:
    """:func:`blocked_rows`, answered by the whole-result cache while nothing is written."""
    template = build(BlockScope(None))
    skey = _statement_key(template)
    if skey is None or not ctx.use_cache or ctx.backtesting:
        return _blocked_rows(ctx, build, kinds, id_col, template, skey)
    rows = cached_call(ctx.bind, ctx.dialect, ("blocked", skey, tuple(kinds)),
                       lambda: tuple(_blocked_rows(ctx, build, kinds, id_col, template, skey)),
                       immutable=True)  # tuples of database values
    return list(rows)


def mean(total: Any, count: Any) -> float | None:
    """``total / count`` of a merged ``SUM`` and ``COUNT`` (None without values), as ``AVG``."""
    return float(total) / int(count) if count and total is not None else None
