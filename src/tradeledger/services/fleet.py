"""Many bots on one PostgreSQL database: the operator's view and fleet-wide locks.

Each bot opens the shared database with its own schema::

    init_db("postgresql://bots@db/trading", schema="bot_a", bot_id="bot_a")

Its connections then see only that schema (``search_path``), which holds its own tables
and its own ``alembic_version`` (each bot migrates on its own). Through the library a bot
cannot read or change another bot's trades or locks. For defence in depth give each bot its
own database role owning only its schema (see ``docs/operations-replicas.md``).

The operator works across bots with this module:

* :func:`fleet_report` — analytics of every bot (closed-trade statistics, open trades,
  per-pair performance) and the fleet totals;
* :func:`lock_all_bots` / :func:`unlock_all_bots` / :func:`list_fleet_locks` — fleet-wide
  pair locks in the shared schema ``tradeledger_fleet`` (table ``fleet_locks``). A bot
  consults them after :func:`enable_fleet_locks`: ``PairLocks.is_pair_locked``,
  ``is_global_lock`` and ``get_pair_locks`` then include them (a bot cannot release them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    or_,
    select,
    text,
)

from tradeledger.domain.locks import GLOBAL_PAIR, SIDE_ALL, LocalPairLock, now_utc
from tradeledger.exceptions import ConfigurationError, InvalidLockError
from tradeledger.models.base import UTCDateTime

__all__ = [
    "FLEET_SCHEMA",
    "BotSummary",
    "FleetReport",
    "disable_fleet_locks",
    "enable_fleet_locks",
    "ensure_fleet_schema",
    "fleet_locks_table",
    "fleet_report",
    "list_fleet_locks",
    "lock_all_bots",
    "unlock_all_bots",
]

#: Schema of the fleet-wide tables (shared by every bot of the database).
FLEET_SCHEMA = "tradeledger_fleet"
#: Advisory lock held while creating the fleet schema (one creator at a time).
_FLEET_LOCK_KEY = int.from_bytes(b"tlfleet", "big")

_metadata = MetaData(schema=FLEET_SCHEMA)
fleet_locks_table = Table(
    "fleet_locks",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("pair", String(25), nullable=False),
    Column("side", String(25), nullable=False, default=SIDE_ALL),
    Column("reason", String(255), nullable=True),
    Column("lock_time", UTCDateTime(), nullable=False),
    Column("lock_end_time", UTCDateTime(), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_by", String(255), nullable=True),
    Index("ix_fleet_locks_pair_active_end", "pair", "active", "lock_end_time"),
)


def _engine(target: str | Engine) -> tuple[Engine, bool]:
    if isinstance(target, Engine):
        return target, False
    from tradeledger.db import create_db_engine

    return create_db_engine(target), True


def ensure_fleet_schema(target: str | Engine) -> None:
    """Create the ``tradeledger_fleet`` schema and its tables if missing (idempotent)."""
    engine, own = _engine(target)
    try:
        if engine.dialect.name != "postgresql":
            raise ConfigurationError(
                f"fleet-wide locks need PostgreSQL, got {engine.dialect.name}")
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FLEET_LOCK_KEY})
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {FLEET_SCHEMA}"))
            _metadata.create_all(conn, checkfirst=True)
    finally:
        if own:
            engine.dispose()


# ---------------------------------------------------------------------------------------------
# operator: fleet-wide locks


def _validate_side(side: str | None) -> str:
    if side is None:
        return SIDE_ALL
    if side not in (SIDE_ALL, "long", "short"):
        raise InvalidLockError(f"side: expected 'long', 'short' or '*', got {side!r}")
    return side


def lock_all_bots(target: str | Engine, pair: str = GLOBAL_PAIR, until: datetime | None = None,
                  reason: str | None = None, *, side: str | None = SIDE_ALL,
                  now: datetime | None = None, created_by: str | None = None) -> int:
    """Lock ``pair`` (``"*"``: every pair) for every bot that consults fleet locks.

    Args:
        target: the shared database (URL or engine; any bot schema or none).
        pair: the pair, or ``"*"`` for all pairs.
        until: end of the lock (exact, not rounded to a candle); naive means UTC.
        reason: free text shown by the bots (cut to 255 characters).
        side: ``"long"``, ``"short"`` or ``"*"``.
        now: start of the lock (default: now).
        created_by: who asked (e.g. the operator's name).

    Returns:
        The id of the fleet lock.

    Raises:
        InvalidLockError: an empty or too long pair, no or a bad ``until``, a bad side.
    """
    if not isinstance(pair, str) or not pair or len(pair) > 25:
        raise InvalidLockError(f"pair: expected 1 to 25 characters, got {pair!r}")
    if not isinstance(until, datetime):
        raise InvalidLockError(f"until: expected a datetime, got {until!r}")
    side = _validate_side(side)
    start = now_utc(now)
    engine, own = _engine(target)
    try:
        ensure_fleet_schema(engine)
        with engine.begin() as conn:
            result = conn.execute(fleet_locks_table.insert().values(
                pair=pair, side=side, reason=(reason or None) and reason[:255],
                lock_time=start, lock_end_time=now_utc(until), active=True,
                created_by=created_by and created_by[:255]).returning(fleet_locks_table.c.id))
            return int(result.scalar_one())
    finally:
        if own:
            engine.dispose()


def unlock_all_bots(target: str | Engine, pair: str | None = None, *,
                    reason: str | None = None, lock_id: int | None = None) -> int:
    """Release fleet locks (all active ones, or only of ``pair`` / ``reason`` / ``lock_id``).

    Returns:
        How many locks were released.
    """
    t = fleet_locks_table.c
    conds: list[Any] = [t.active.is_(True)]
    if pair is not None:
        conds.append(t.pair == pair)
    if reason is not None:
        conds.append(t.reason == reason)
    if lock_id is not None:
        conds.append(t.id == lock_id)
    engine, own = _engine(target)
    try:
        ensure_fleet_schema(engine)
        with engine.begin() as conn:
            return int(conn.execute(
                fleet_locks_table.update().where(*conds).values(active=False)).rowcount)
    finally:
        if own:
            engine.dispose()


def list_fleet_locks(target: str | Engine, *, now: datetime | None = None,
                     include_expired: bool = False) -> list[dict[str, Any]]:
    """Fleet locks in force at ``now`` (or every one ever made), by id."""
    t = fleet_locks_table.c
    stmt = select(fleet_locks_table).order_by(t.id)
    if not include_expired:
        stmt = stmt.where(t.active.is_(True), t.lock_end_time > now_utc(now))
    engine, own = _engine(target)
    try:
        ensure_fleet_schema(engine)
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]
    finally:
        if own:
            engine.dispose()


# ---------------------------------------------------------------------------------------------
# bots: consult the fleet locks


def _pair_conds(pairs: int, pair: str | None) -> list[Any]:
    t = fleet_locks_table.c
    if pairs == 1:
        return [t.pair == pair]
    if pairs == 2:
        return [or_(t.pair == pair, t.pair == GLOBAL_PAIR)]
    return []


def _side_conds(side: str | None) -> list[Any]:
    t = fleet_locks_table.c
    if side is None:
        return []
    if side == SIDE_ALL:
        return [t.side == SIDE_ALL]
    return [or_(t.side == side, t.side == SIDE_ALL)]


class FleetLockHook:
    """``PairLocks.fleet_hook``: fleet-wide locks read on the bot's own session connection."""

    def _conn(self) -> Any:
        from tradeledger.models.pairlock import PairLock

        return PairLock.session().connection()

    def check(self, pairs: int, pair: str | None, now: datetime, side: str | None) -> bool:
        """Whether a fleet lock matching (``pairs`` as ``PairLocks._db_check``) is in force."""
        t = fleet_locks_table.c
        stmt = (select(t.id).where(and_(t.active.is_(True), t.lock_end_time > now,
                                        *_pair_conds(pairs, pair), *_side_conds(side)))
                .limit(1))
        return self._conn().execute(stmt).first() is not None

    def locks(self, pair: str | None, now: datetime, side: str | None) -> list[LocalPairLock]:
        """Fleet locks as ``get_pair_locks`` selects (``pair`` falsy: every pair)."""
        t = fleet_locks_table.c
        conds = [t.active.is_(True), t.lock_end_time > now, *_side_conds(side)]
        if pair:
            conds.append(t.pair == pair)
        rows = self._conn().execute(select(fleet_locks_table).where(*conds).order_by(t.id))
        return [LocalPairLock(pair=r.pair, lock_time=r.lock_time, lock_end_time=r.lock_end_time,
                              reason=r.reason, side=r.side, active=True, id=None) for r in rows]


def enable_fleet_locks() -> None:
    """Make this bot's ``PairLocks`` honour fleet-wide locks (call after ``init_db``).

    Creates the fleet schema if needed (PostgreSQL only).

    Raises:
        ConfigurationError: the database is not PostgreSQL, or ``init_db`` was not called.
    """
    from tradeledger.db import get_engine
    from tradeledger.services.pairlocks import PairLocks

    ensure_fleet_schema(get_engine())
    PairLocks.fleet_hook = FleetLockHook()


def disable_fleet_locks() -> None:
    """Stop consulting fleet-wide locks."""
    from tradeledger.services.pairlocks import PairLocks

    PairLocks.fleet_hook = None


# ---------------------------------------------------------------------------------------------
# operator: cross-bot report


@dataclass(frozen=True)
class BotSummary:
    """One bot (schema) of the fleet."""

    schema: str
    bot_id: str | None
    mode: str | None
    open_trades: int
    closed_trades: int
    wins: int
    losses: int
    win_rate: float
    total_profit_abs: float
    stake_currency: tuple[str, ...]


@dataclass(frozen=True)
class FleetReport:
    """Every bot's figures, the fleet totals and the per-pair performance over all bots."""

    bots: tuple[BotSummary, ...]
    open_trades: int
    closed_trades: int
    wins: int
    losses: int
    win_rate: float
    total_profit_abs: float
    pairs: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"bots": [b.__dict__ for b in self.bots], "open_trades": self.open_trades,
                "closed_trades": self.closed_trades, "wins": self.wins,
                "losses": self.losses, "win_rate": self.win_rate,
                "total_profit_abs": self.total_profit_abs, "pairs": list(self.pairs)}


def bot_schemas(target: str | Engine) -> list[str]:
    """Schemas of the database that hold a tradeledger (or freqtrade) ``trades`` table."""
    engine, own = _engine(target)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = "
                "'trades' AND table_schema NOT IN ('pg_catalog', 'information_schema', "
                ":fleet) ORDER BY table_schema"), {"fleet": FLEET_SCHEMA}).scalars().all()
            return [str(r) for r in rows]
    finally:
        if own:
            engine.dispose()


def fleet_report(url: str, schemas: list[str] | None = None, *,
                 pgbouncer: bool = False) -> FleetReport:
    """Analytics over every bot of one PostgreSQL database (read only).

    Args:
        url: the shared database (a read replica works too).
        schemas: the bots' schemas; default: every schema holding a ``trades`` table.
        pgbouncer: the URL goes through PgBouncer (transaction pooling).

    Returns:
        Per bot: open and closed trades, wins, losses, win rate, absolute profit; totals; and
        per pair over all bots: closed trades and absolute profit (best first).
    """
    from tradeledger.db import create_db_engine, validate_schema
    from tradeledger.services.analytics import AnalyticsService

    names = list(schemas) if schemas is not None else bot_schemas(url)
    bots: list[BotSummary] = []
    pair_profit: dict[str, Decimal] = {}
    pair_count: dict[str, int] = {}
    with localcontext() as ctx:
        ctx.prec = 34
        total = Decimal(0)
        for schema in names:
            validate_schema(schema)
            engine = create_db_engine(url, schema=schema, pgbouncer=pgbouncer)
            try:
                stats = AnalyticsService(engine).trade_stats()
                perf = AnalyticsService(engine).performance("pair")
                with engine.connect() as conn:
                    open_trades = int(conn.execute(text(
                        "SELECT count(*) FROM trades WHERE is_open")).scalar() or 0)
                    currencies = tuple(str(c) for c in conn.execute(text(
                        "SELECT DISTINCT stake_currency FROM trades WHERE stake_currency IS "
                        "NOT NULL ORDER BY 1")).scalars())
                    meta = _meta(conn)
            finally:
                engine.dispose()
            for row in perf.rows:
                pair_profit[row.key] = pair_profit.get(row.key, Decimal(0)) + Decimal(
                    repr(row.profit_abs))
                pair_count[row.key] = pair_count.get(row.key, 0) + row.count
            total += Decimal(repr(stats.total_profit_abs))
            bots.append(BotSummary(
                schema=schema, bot_id=meta.get("bot_id"), mode=meta.get("mode"),
                open_trades=open_trades, closed_trades=stats.trade_count, wins=stats.wins,
                losses=stats.losses, win_rate=stats.win_rate,
                total_profit_abs=stats.total_profit_abs, stake_currency=currencies))
        closed = sum(b.closed_trades for b in bots)
        wins = sum(b.wins for b in bots)
        pairs = tuple(
            {"pair": k, "count": pair_count[k], "profit_abs": float(v)}
            for k, v in sorted(pair_profit.items(), key=lambda kv: (-kv[1], kv[0])))
        return FleetReport(
            bots=tuple(bots), open_trades=sum(b.open_trades for b in bots),
            closed_trades=closed, wins=wins, losses=sum(b.losses for b in bots),
            win_rate=wins / closed if closed else 0.0, total_profit_abs=float(total),
            pairs=pairs)


def _meta(conn: Any) -> dict[str, Any]:
    try:
        row = conn.execute(text("SELECT bot_id, mode FROM tradeledger_meta ORDER BY id")).first()
    except Exception:  # noqa: BLE001 - a freqtrade schema has no metadata table
        conn.rollback()
        return {}
    return {} if row is None else {"bot_id": row[0], "mode": row[1]}

