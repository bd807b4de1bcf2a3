"""Pair-lock rules and the in-memory lock store used in backtesting (plain Python).

Rules (freqtrade 2026.9, facts sheet §6.1):

* A lock covers one pair, or every pair when its pair is ``"*"`` (a *global* lock), for one
  side: ``"long"``, ``"short"`` or ``"*"`` (both sides).
* A lock is in force at ``now`` while it is active and ``lock_end_time > now`` (strict: the end
  instant itself is unlocked).
* Side matching of a query: ``side=None`` matches every lock; ``side="*"`` matches only
  ``"*"`` locks (so a long-only lock does not make ``is_pair_locked(pair)`` true);
  ``side="long"``/``"short"`` matches that side or ``"*"``.
* A falsy pair (``None`` or ``""``) in a query means "every pair" (database-mode meaning).

:class:`LockStore` keeps every lock ever created (``all_locks``) and, for the active ones, one
bucket per ``(pair, side)`` sorted by end time. A check is a dictionary lookup of the latest
end time of the relevant buckets (cached per query until the next change), so it costs O(1)
whatever the number of locks; listing locks bisects each bucket, so expired locks are never
visited. Nothing is pruned: a call with an earlier ``now`` (backtests replay candles) stays
exact.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from tradeledger.domain.enums import DATETIME_PRINT_FORMAT
from tradeledger.domain.timeutil import dt_now, dt_ts, to_aware_utc
from tradeledger.exceptions import InvalidLockError

__all__ = [
    "GLOBAL_PAIR",
    "LOCK_SIDES",
    "SIDE_ALL",
    "LocalPairLock",
    "LockStore",
    "PairLockLike",
    "lock_repr",
    "lock_to_json",
    "now_utc",
    "query_sides",
    "validate_lock_side",
    "validate_pair",
    "validate_query_side",
    "validate_reason",
]

#: The pair of a global lock (all pairs).
GLOBAL_PAIR = "*"
#: The side of a lock on both sides.
SIDE_ALL = "*"
#: The sides a lock can have.
LOCK_SIDES: tuple[str, ...] = ("long", "short", SIDE_ALL)

_QUERY_SIDES: dict[str | None, tuple[str, ...]] = {
    None: LOCK_SIDES,
    SIDE_ALL: (SIDE_ALL,),
    "long": ("long", SIDE_ALL),
    "short": ("short", SIDE_ALL),
}
_MIN_DT = datetime.min.replace(tzinfo=UTC)
_PAIR_MAX_LEN = 25
_REASON_MAX_LEN = 255


class PairLockLike(Protocol):
    """What a lock looks like to the rules (both :class:`LocalPairLock` and the ORM model)."""

    id: Any
    pair: str
    side: str
    reason: str | None
    lock_time: datetime
    lock_end_time: datetime
    active: bool


def query_sides(side: str | None) -> tuple[str, ...]:
    """Return the stored sides a query with ``side`` matches (``None`` = all)."""
    return _QUERY_SIDES[validate_query_side(side)]


def validate_query_side(side: str | None) -> str | None:
    """Check a query side: ``None``, ``"*"``, ``"long"`` or ``"short"``."""
    if side is None or side in _QUERY_SIDES:
        return side
    raise InvalidLockError(f"side: invalid value {side!r}; expected 'long', 'short', '*' or None")


def validate_lock_side(side: str | None) -> str:
    """Check the side of a new lock; ``None`` means ``"*"`` (the column default)."""
    if side is None:
        return SIDE_ALL
    if side in LOCK_SIDES:
        return side
    raise InvalidLockError(f"side: invalid value {side!r}; expected 'long', 'short' or '*'")


def validate_pair(pair: str) -> str:
    """Check the pair of a new lock: a non-empty string of at most 25 characters."""
    if not isinstance(pair, str) or not pair:
        raise InvalidLockError(f"pair: expected a non-empty string (or '*'), got {pair!r}")
    if len(pair) > _PAIR_MAX_LEN:
        raise InvalidLockError(
            f"pair: {pair!r} is longer than {_PAIR_MAX_LEN} characters (column pairlocks.pair)"
        )
    return pair


def validate_reason(reason: str | None) -> str | None:
    """Check a lock reason: ``None`` or a string; longer than 255 characters is cut."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise InvalidLockError(f"reason: expected a string or None, got {reason!r}")
    return reason[:_REASON_MAX_LEN]


def lock_to_json(lock: PairLockLike) -> dict[str, Any]:
    """The JSON form of a lock (freqtrade's ``PairLock.to_json``); naive times are UTC."""
    return {
        "id": lock.id,
        "pair": lock.pair,
        "lock_time": lock.lock_time.strftime(DATETIME_PRINT_FORMAT),
        "lock_timestamp": dt_ts(lock.lock_time),
        "lock_end_time": lock.lock_end_time.strftime(DATETIME_PRINT_FORMAT),
        "lock_end_timestamp": dt_ts(lock.lock_end_time),
        "reason": lock.reason,
        "side": lock.side,
        "active": lock.active,
    }


def lock_repr(lock: PairLockLike) -> str:
    """``PairLock(id=…, pair=…, side=…, lock_time=…, lock_end_time=…, reason=…, active=…)``."""
    lock_time = lock.lock_time.strftime(DATETIME_PRINT_FORMAT) if lock.lock_time else None
    lock_end = lock.lock_end_time.strftime(DATETIME_PRINT_FORMAT) if lock.lock_end_time else None
    return (
        f"PairLock(id={lock.id}, pair={lock.pair}, side={lock.side}, lock_time={lock_time}, "
        f"lock_end_time={lock_end}, reason={lock.reason}, active={lock.active})"
    )


class LocalPairLock:
    """A pair lock held in memory (backtesting); same attributes as the ``PairLock`` model.

    Datetimes are kept as aware UTC (a naive value is taken as UTC). Changing ``pair``,
    ``side``, ``lock_end_time`` or ``active`` of a lock that belongs to a :class:`LockStore`
    updates the store's index.
    """

    __slots__ = ("_active", "_end", "_pair", "_side", "_store", "id", "lock_time", "reason")

    def __init__(
        self,
        *,
        pair: str,
        lock_time: datetime,
        lock_end_time: datetime,
        reason: str | None = None,
        side: str = SIDE_ALL,
        active: bool = True,
        id: int | None = None,
    ) -> None:
        self._store: LockStore | None = None
        self.id = id
        self._pair = pair
        self._side = side
        self.reason = reason
        self.lock_time = to_aware_utc(lock_time)
        self._end = to_aware_utc(lock_end_time)
        self._active = bool(active)

    def _change(self, attr: str, value: Any) -> None:
        store = self._store
        if store is None:
            object.__setattr__(self, attr, value)
            return
        store._unindex(self)
        object.__setattr__(self, attr, value)
        store._index(self)

    @property
    def pair(self) -> str:
        """The locked pair, or ``"*"`` for all pairs."""
        return self._pair

    @pair.setter
    def pair(self, value: str) -> None:
        self._change("_pair", value)

    @property
    def side(self) -> str:
        """``"long"``, ``"short"`` or ``"*"``."""
        return self._side

    @side.setter
    def side(self, value: str) -> None:
        self._change("_side", value)

    @property
    def lock_end_time(self) -> datetime:
        """End of the lock (aware UTC); the lock is in force while ``lock_end_time > now``."""
        return self._end

    @lock_end_time.setter
    def lock_end_time(self, value: datetime) -> None:
        self._change("_end", to_aware_utc(value))

    @property
    def active(self) -> bool:
        """False once the lock was released."""
        return self._active

    @active.setter
    def active(self, value: bool) -> None:
        self._change("_active", bool(value))

    @property
    def lock_end_time_utc(self) -> datetime:
        """``lock_end_time`` as aware UTC."""
        return self._end

    def to_json(self) -> dict[str, Any]:
        """The JSON form (see :func:`lock_to_json`)."""
        return lock_to_json(self)

    def __repr__(self) -> str:
        return lock_repr(self)

    def is_in_force(self, now: datetime) -> bool:
        """Whether the lock is active and ends after ``now`` (aware)."""
        return self._active and self._end > now


class _Bucket:
    """Active locks of one ``(pair, side)`` sorted by end time (parallel lists)."""

    __slots__ = ("ends", "locks")

    def __init__(self) -> None:
        self.ends: list[datetime] = []
        self.locks: list[LocalPairLock] = []

    def add(self, lock: LocalPairLock) -> None:
        end = lock._end
        ends = self.ends
        if not ends or ends[-1] <= end:  # the usual case in a backtest: append
            ends.append(end)
            self.locks.append(lock)
            return
        i = bisect_right(ends, end)
        ends.insert(i, end)
        self.locks.insert(i, lock)

    def remove(self, lock: LocalPairLock) -> None:
        ends, locks = self.ends, self.locks
        i = bisect_left(ends, lock._end)
        n = len(ends)
        while i < n and locks[i] is not lock:
            i += 1
        if i < n:
            del ends[i]
            del locks[i]

    def in_force(self, now: datetime) -> list[LocalPairLock]:
        return self.locks[bisect_right(self.ends, now) :]


class LockStore:
    """Every lock of a backtest, indexed for O(1) checks and O(log n) listings.

    ``all_locks`` is the list of every lock ever added (also expired or released ones), in
    creation order. Locks get ids 1, 2, 3, ... in that order.
    """

    def __init__(self) -> None:
        self.all_locks: list[LocalPairLock] = []
        #: how many entries of ``all_locks`` went through :meth:`add` (detects direct appends)
        self.indexed = 0
        self._buckets: dict[str, dict[str, _Bucket]] = {}
        # query side -> pair ("" = any pair) -> latest end of the matching active locks,
        # global locks included; cleared on every change.
        self._horizon: dict[str | None, dict[str, datetime]] = {s: {} for s in _QUERY_SIDES}
        self._global_horizon: dict[str | None, datetime] = {}

    # -- maintenance -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.all_locks)

    def __iter__(self) -> Iterator[LocalPairLock]:
        return iter(self.all_locks)

    def clear(self) -> None:
        """Forget every lock."""
        for lock in self.all_locks:
            lock._store = None
        self.all_locks = []
        self.indexed = 0
        self._buckets = {}
        self._invalidate()

    def rebuild(self, locks: Iterable[Any]) -> None:
        """Replace the content by ``locks`` (``LocalPairLock`` or lock-like objects)."""
        self.clear()
        for lock in locks:
            if not isinstance(lock, LocalPairLock):
                lock = LocalPairLock(
                    pair=lock.pair,
                    side=lock.side if lock.side is not None else SIDE_ALL,
                    reason=lock.reason,
                    lock_time=lock.lock_time,
                    lock_end_time=lock.lock_end_time,
                    active=bool(lock.active),
                    id=lock.id,
                )
            self.add(lock)

    def _invalidate(self) -> None:
        for cache in self._horizon.values():
            cache.clear()
        self._global_horizon.clear()

    def add(self, lock: LocalPairLock) -> LocalPairLock:
        """Add ``lock`` (assigning it the next id if it has none) and index it."""
        if lock._store is not None and lock._store is not self:
            raise InvalidLockError("lock: already belongs to another lock store")
        if lock.id is None:
            lock.id = len(self.all_locks) + 1
        lock._store = self
        self.all_locks.append(lock)
        self.indexed += 1
        self._index(lock)
        return lock

    def _index(self, lock: LocalPairLock) -> None:
        if not lock._active:
            return
        sides = self._buckets.get(lock._pair)
        if sides is None:
            sides = self._buckets[lock._pair] = {}
        bucket = sides.get(lock._side)
        if bucket is None:
            bucket = sides[lock._side] = _Bucket()
        bucket.add(lock)
        self._invalidate()

    def _unindex(self, lock: LocalPairLock) -> None:
        if not lock._active:
            return
        sides = self._buckets.get(lock._pair)
        bucket = sides.get(lock._side) if sides is not None else None
        if bucket is not None:
            bucket.remove(lock)
        self._invalidate()

    # -- queries -----------------------------------------------------------------------
    def _latest_end(self, pairs: Iterable[str], sides: tuple[str, ...]) -> datetime:
        latest = _MIN_DT
        for pair in pairs:
            by_side = self._buckets.get(pair)
            if not by_side:
                continue
            for side in sides:
                bucket = by_side.get(side)
                if bucket is not None and bucket.ends and bucket.ends[-1] > latest:
                    latest = bucket.ends[-1]
        return latest

    def pair_horizon(self, pair: str | None, side: str | None) -> datetime:
        """Latest end of the active locks that lock ``pair`` (own or global) for ``side``."""
        key = pair or ""
        cache = self._horizon[side]
        horizon = cache.get(key)
        if horizon is None:
            pairs: Iterable[str] = (pair, GLOBAL_PAIR) if pair else list(self._buckets)
            horizon = cache[key] = self._latest_end(pairs, _QUERY_SIDES[side])
        return horizon

    def is_pair_locked(self, pair: str | None, now: datetime, side: str | None) -> bool:
        """Whether ``pair`` is locked at ``now`` (aware) for ``side``, globally or itself."""
        horizon = self._horizon[side].get(pair or "")
        if horizon is None:
            horizon = self.pair_horizon(pair, side)
        return horizon > now

    def is_global_lock(self, now: datetime, side: str | None) -> bool:
        """Whether a global (``"*"``) lock is in force at ``now`` for ``side``."""
        horizon = self._global_horizon.get(side)
        if horizon is None:
            horizon = self._global_horizon[side] = self._latest_end(
                (GLOBAL_PAIR,), _QUERY_SIDES[side]
            )
        return horizon > now

    def get_pair_locks(
        self, pair: str | None, now: datetime, side: str | None
    ) -> list[LocalPairLock]:
        """Active locks of ``pair`` (all pairs if falsy) in force at ``now``, by id.

        Global locks are returned only for ``pair="*"`` or a falsy pair.
        """
        sides = _QUERY_SIDES[side]
        pairs: Iterable[str] = (pair,) if pair else self._buckets.keys()
        found: list[LocalPairLock] = []
        for p in pairs:
            by_side = self._buckets.get(p)
            if not by_side:
                continue
            for s in sides:
                bucket = by_side.get(s)
                if bucket is not None and bucket.ends and bucket.ends[-1] > now:
                    found.extend(bucket.in_force(now))
        if len(found) > 1:
            found.sort(key=_lock_id)
        return found

    def in_force_with_reason(self, reason: str | None, now: datetime) -> list[LocalPairLock]:
        """Active locks with ``reason`` in force at ``now`` (any pair and side), by id."""
        return [lock for lock in self.get_pair_locks(None, now, None) if lock.reason == reason]


def _lock_id(lock: LocalPairLock) -> int:
    return lock.id if lock.id is not None else 0


def now_utc(now: datetime | None) -> datetime:
    """``now`` as aware UTC (naive means UTC); ``None`` means the current time.

    Raises:
        InvalidLockError: ``now`` is not a datetime.
    """
    if now is None:
        return dt_now()
    if not isinstance(now, datetime):
        raise InvalidLockError(f"now: expected a datetime or None, got {now!r}")
    if now.tzinfo is UTC:
        return now
    return to_aware_utc(now)
