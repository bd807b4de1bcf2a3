"""Unit tests of ``PairLocks`` / ``PairLock`` / the in-memory ``LockStore``.

Most tests run in both modes (``mode`` fixture: in-memory backtesting, and database mode on
``sqlite://``); the database-specific ones run on every backend.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, event, text

from tradeledger.db import init_db
from tradeledger.domain.locks import LocalPairLock, LockStore
from tradeledger.exceptions import InvalidLockError
from tradeledger.models.pairlock import PAIRLOCK_CHECK_INDEX, PairLock
from tradeledger.services.pairlocks import PairLocks

T0 = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)  # a 5m boundary


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture(params=["memory", "db"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "memory":
        PairLocks.use_db = False
        PairLocks.reset_locks()
    else:
        init_db("sqlite://")
        PairLocks.use_db = True
    PairLocks.timeframe = "5m"
    yield request.param
    if request.param == "db":
        PairLock.session.remove()


# -- timeframe and time rules ------------------------------------------------------------


def test_lock_without_timeframe_is_a_clear_error(mode: str) -> None:
    PairLocks.timeframe = ""
    with pytest.raises(InvalidLockError, match="timeframe") as info:
        PairLocks.lock_pair("ETH/USDT", at(10), now=T0)
    assert isinstance(info.value, ValueError)  # freqtrade raised ValueError here
    assert PairLocks.get_all_locks() == []


def test_lock_with_invalid_timeframe(mode: str) -> None:
    PairLocks.timeframe = "5 minutes"
    with pytest.raises(InvalidLockError, match="'5 minutes'"):
        PairLocks.lock_pair("ETH/USDT", at(10), now=T0)


def test_end_rounds_up_and_boundary_moves_a_full_candle(mode: str) -> None:
    off = PairLocks.lock_pair("A/USDT", at(1), now=T0)
    on = PairLocks.lock_pair("B/USDT", at(5), now=T0)
    assert off.lock_end_time_utc == at(5)  # 12:01 -> 12:05
    assert on.lock_end_time_utc == at(10)  # 12:05 exactly -> 12:10


def test_lock_is_in_force_strictly_before_its_end(mode: str) -> None:
    PairLocks.lock_pair("ETH/USDT", at(3), now=T0)  # ends 12:05
    assert PairLocks.is_pair_locked("ETH/USDT", at(5) - timedelta(microseconds=1))
    assert not PairLocks.is_pair_locked("ETH/USDT", at(5))  # the end instant is unlocked
    assert not PairLocks.is_pair_locked("ETH/USDT", at(6))
    assert PairLocks.is_pair_locked("ETH/USDT", at(-60))  # lock_time does not matter


def test_naive_now_is_utc_in_both_modes(mode: str) -> None:
    PairLocks.lock_pair("ETH/USDT", at(3), now=T0.replace(tzinfo=None))
    lock = PairLocks.get_pair_locks("ETH/USDT", T0.replace(tzinfo=None))[0]
    assert lock.lock_time == T0 and lock.lock_time.tzinfo is not None
    assert PairLocks.is_pair_locked("ETH/USDT", at(4).replace(tzinfo=None))
    assert not PairLocks.is_pair_locked("ETH/USDT", at(5).replace(tzinfo=None))
    assert PairLocks.is_global_lock(at(4).replace(tzinfo=None)) is False


def test_other_zones_are_converted(mode: str) -> None:
    plus2 = timezone(timedelta(hours=2))
    PairLocks.lock_pair("ETH/USDT", at(3).astimezone(plus2), now=T0.astimezone(plus2))
    lock = PairLocks.get_all_locks()[0]
    assert lock.lock_end_time_utc == at(5)
    assert lock.lock_end_time_utc.utcoffset() == timedelta(0)
    assert PairLocks.is_pair_locked("ETH/USDT", at(4).astimezone(plus2))


def test_default_now_is_the_wall_clock(mode: str) -> None:
    with time_machine.travel(T0, tick=False):
        lock = PairLocks.lock_pair("ETH/USDT", at(3))
        assert lock.lock_time == T0
        assert PairLocks.is_pair_locked("ETH/USDT")
    with time_machine.travel(at(5), tick=False):
        assert not PairLocks.is_pair_locked("ETH/USDT")


# -- sides and global locks -----------------------------------------------------------


def test_side_rules(mode: str) -> None:
    PairLocks.lock_pair("L/USDT", at(3), now=T0, side="long")
    PairLocks.lock_pair("S/USDT", at(3), now=T0, side="short")
    PairLocks.lock_pair("B/USDT", at(3), now=T0, side="*")
    now = at(1)
    # a '*' query (the default) matches only '*' locks
    assert not PairLocks.is_pair_locked("L/USDT", now)
    assert not PairLocks.is_pair_locked("S/USDT", now)
    assert PairLocks.is_pair_locked("B/USDT", now)
    # 'long' matches long or '*'
    assert PairLocks.is_pair_locked("L/USDT", now, side="long")
    assert not PairLocks.is_pair_locked("L/USDT", now, side="short")
    assert PairLocks.is_pair_locked("B/USDT", now, side="long")
    assert PairLocks.is_pair_locked("B/USDT", now, side="short")
    assert PairLocks.is_pair_locked("S/USDT", now, side="short")
    # None matches every side
    assert PairLocks.is_pair_locked("L/USDT", now, side=None)
    assert [lk.side for lk in PairLocks.get_pair_locks("L/USDT", now)] == ["long"]
    assert PairLocks.get_pair_locks("L/USDT", now, side="*") == []
    assert len(PairLocks.get_pair_locks(None, now)) == 3


def test_global_lock(mode: str) -> None:
    PairLocks.lock_pair("*", at(3), "global", now=T0)
    now = at(1)
    assert PairLocks.is_global_lock(now)
    assert PairLocks.is_pair_locked("ANY/USDT", now)
    assert PairLocks.is_pair_locked("ANY/USDT", now, side="short")
    # a pair's own lock list does not include the global lock; "*" does
    assert PairLocks.get_pair_locks("ANY/USDT", now) == []
    assert [lk.reason for lk in PairLocks.get_pair_locks("*", now)] == ["global"]
    assert not PairLocks.is_global_lock(at(5))


def test_one_sided_global_lock(mode: str) -> None:
    PairLocks.lock_pair("*", at(3), now=T0, side="long")
    now = at(1)
    assert not PairLocks.is_global_lock(now)  # default side '*'
    assert PairLocks.is_global_lock(now, side="long")
    assert not PairLocks.is_global_lock(now, side="short")
    assert PairLocks.is_pair_locked("X/USDT", now, side="long")
    assert not PairLocks.is_pair_locked("X/USDT", now, side="short")
    assert not PairLocks.is_pair_locked("X/USDT", now)


def test_side_none_is_stored_as_star(mode: str) -> None:
    lock = PairLocks.lock_pair("ETH/USDT", at(3), "r", now=T0, side=None)
    assert lock.side == "*"
    assert PairLocks.is_pair_locked("ETH/USDT", at(1))
    # and it is a duplicate of a '*' lock with the same reason and end
    assert PairLocks.lock_pair("ETH/USDT", at(3), "r", now=T0, side="*") is lock
    assert len(PairLocks.get_all_locks()) == 1


@pytest.mark.parametrize("side", ["buy", "LONG", "", "both"])
def test_unknown_side_is_refused(mode: str, side: str) -> None:
    with pytest.raises(InvalidLockError, match="side"):
        PairLocks.lock_pair("ETH/USDT", at(3), now=T0, side=side)
    with pytest.raises(InvalidLockError, match="side"):
        PairLocks.is_pair_locked("ETH/USDT", T0, side=side)
    with pytest.raises(InvalidLockError, match="side"):
        PairLocks.get_pair_locks("ETH/USDT", T0, side=side)


@pytest.mark.parametrize("pair", ["", None, "X" * 26])
def test_bad_pair_is_refused(mode: str, pair: Any) -> None:
    with pytest.raises(InvalidLockError, match="pair"):
        PairLocks.lock_pair(pair, at(3), now=T0)


def test_empty_pair_in_queries_means_every_pair(mode: str) -> None:
    PairLocks.lock_pair("A/USDT", at(3), now=T0)
    PairLocks.lock_pair("B/USDT", at(3), now=T0, side="long")
    now = at(1)
    everything = PairLocks.get_pair_locks(None, now)
    assert len(everything) == 2
    assert PairLocks.get_pair_locks("", now) == everything
    assert PairLocks.is_pair_locked("", now)
    assert PairLocks.is_pair_locked(None, now, side="long")


# -- duplicates, unlocking, listing ---------------------------------------------------


def test_duplicates_are_suppressed(mode: str) -> None:
    first = PairLocks.lock_pair("ETH/USDT", at(3), "cooldown", now=T0)
    # same pair, side, reason and (rounded) end while in force -> the same lock
    assert PairLocks.lock_pair("ETH/USDT", at(4), "cooldown", now=at(1)) is first
    # anything different -> a new lock
    PairLocks.lock_pair("ETH/USDT", at(3), "other", now=T0)
    PairLocks.lock_pair("ETH/USDT", at(3), "cooldown", now=T0, side="long")
    PairLocks.lock_pair("ETH/USDT", at(6), "cooldown", now=T0)
    PairLocks.lock_pair("BTC/USDT", at(3), "cooldown", now=T0)
    assert len(PairLocks.get_all_locks()) == 5
    # once the first lock is no longer in force, the same call creates a new lock
    again = PairLocks.lock_pair("ETH/USDT", at(3), "cooldown", now=at(5))
    assert again is not first
    PairLocks.unlock_pair("ETH/USDT", at(1))
    fresh = PairLocks.lock_pair("ETH/USDT", at(3), "cooldown", now=at(1))
    assert fresh is not first and fresh.active
    assert len(PairLocks.get_all_locks()) == 7


def test_unlock_pair_default_side_releases_only_star_locks(mode: str) -> None:
    PairLocks.lock_pair("ETH/USDT", at(3), now=T0, side="*")
    PairLocks.lock_pair("ETH/USDT", at(3), now=T0, side="long")
    PairLocks.lock_pair("BTC/USDT", at(3), now=T0, side="*")
    PairLocks.unlock_pair("ETH/USDT", at(1))
    remaining = PairLocks.get_pair_locks(None, at(1))
    assert sorted((lk.pair, lk.side) for lk in remaining) == [
        ("BTC/USDT", "*"),
        ("ETH/USDT", "long"),
    ]
    PairLocks.unlock_pair("ETH/USDT", at(1), side=None)
    assert [lk.pair for lk in PairLocks.get_pair_locks(None, at(1))] == ["BTC/USDT"]
    # released locks stay in get_all_locks, inactive
    assert sorted(lk.active for lk in PairLocks.get_all_locks()) == [False, False, True]


def test_unlock_pair_long_releases_long_and_star(mode: str) -> None:
    PairLocks.lock_pair("ETH/USDT", at(3), now=T0, side="*")
    PairLocks.lock_pair("ETH/USDT", at(3), now=T0, side="long")
    PairLocks.lock_pair("ETH/USDT", at(3), now=T0, side="short")
    PairLocks.unlock_pair("ETH/USDT", at(1), side="long")
    assert [lk.side for lk in PairLocks.get_pair_locks("ETH/USDT", at(1))] == ["short"]


def test_unlock_reason_honours_now_in_both_modes(mode: str) -> None:
    # a backtest: the wall clock is years after the simulated time
    with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False):
        PairLocks.lock_pair("A/USDT", at(3), "stoploss_guard", now=T0)
        PairLocks.lock_pair("B/USDT", at(3), "stoploss_guard", now=T0, side="short")
        PairLocks.lock_pair("*", at(3), "stoploss_guard", now=T0)
        PairLocks.lock_pair("C/USDT", at(3), "cooldown", now=T0)
        PairLocks.lock_pair("D/USDT", at(-1), "stoploss_guard", now=at(-10))  # ends 12:00
        PairLocks.unlock_reason("stoploss_guard", at(1))
        states = {(lk.pair, lk.reason): lk.active for lk in PairLocks.get_all_locks()}
    # every in-force lock with the reason (any pair, any side, global) is released;
    # the other reason and the already-ended lock are untouched (freqtrade's in-memory
    # mode compared against the wall clock and released nothing here)
    assert states == {
        ("A/USDT", "stoploss_guard"): False,
        ("B/USDT", "stoploss_guard"): False,
        ("*", "stoploss_guard"): False,
        ("C/USDT", "cooldown"): True,
        ("D/USDT", "stoploss_guard"): True,
    }


def test_unlock_reason_none_matches_locks_without_reason(mode: str) -> None:
    PairLocks.lock_pair("A/USDT", at(3), None, now=T0)
    PairLocks.lock_pair("B/USDT", at(3), "x", now=T0)
    PairLocks.unlock_reason(None, at(1))
    assert [lk.pair for lk in PairLocks.get_pair_locks(None, at(1))] == ["B/USDT"]


def test_longest_lock(mode: str) -> None:
    assert PairLocks.get_pair_longest_lock("ETH/USDT", T0) is None
    PairLocks.lock_pair("ETH/USDT", at(3), "short one", now=T0)
    PairLocks.lock_pair("ETH/USDT", at(23), "long one", now=T0)
    PairLocks.lock_pair("ETH/USDT", at(24), "tie, newer", now=T0)
    PairLocks.lock_pair("ETH/USDT", at(60), "long side only", now=T0, side="long")
    longest = PairLocks.get_pair_longest_lock("ETH/USDT", at(1))
    assert longest is not None and longest.reason == "long one"  # oldest of the tie
    side_long = PairLocks.get_pair_longest_lock("ETH/USDT", at(1), side="long")
    assert side_long is not None and side_long.reason == "long side only"


def test_get_all_locks_includes_expired_and_released(mode: str) -> None:
    PairLocks.lock_pair("A/USDT", at(3), now=T0)
    PairLocks.lock_pair("B/USDT", at(3), now=T0)
    PairLocks.unlock_pair("B/USDT", at(1))
    everything = PairLocks.get_all_locks()
    assert [(lk.pair, lk.active) for lk in everything] == [("A/USDT", True), ("B/USDT", False)]
    assert [lk.id for lk in everything] == [1, 2]
    assert PairLocks.get_pair_locks(None, at(10)) == []  # both ended


def test_reset_locks_only_in_backtesting(mode: str) -> None:
    PairLocks.lock_pair("A/USDT", at(3), now=T0)
    PairLocks.reset_locks()
    assert len(PairLocks.get_all_locks()) == (0 if mode == "memory" else 1)


def test_to_json_and_repr(mode: str) -> None:
    lock = PairLocks.lock_pair("ETH/USDT", at(3), "cooldown", now=T0, side="long")
    data = lock.to_json()
    # T0 = 2024-03-05 12:00 UTC = 1709640000 s since the epoch; the end is 12:05 (+300 s)
    assert data == {
        "id": 1,
        "pair": "ETH/USDT",
        "lock_time": "2024-03-05 12:00:00",
        "lock_timestamp": 1709640000000,
        "lock_end_time": "2024-03-05 12:05:00",
        "lock_end_timestamp": 1709640300000,
        "reason": "cooldown",
        "side": "long",
        "active": True,
    }
    assert list(data) == [
        "id",
        "pair",
        "lock_time",
        "lock_timestamp",
        "lock_end_time",
        "lock_end_timestamp",
        "reason",
        "side",
        "active",
    ]
    assert repr(lock) == (
        "PairLock(id=1, pair=ETH/USDT, side=long, lock_time=2024-03-05 "
        "12:00:00, lock_end_time=2024-03-05 12:05:00, reason=cooldown, "
        "active=True)"
    )


def test_long_reason_is_cut_to_column_length(mode: str) -> None:
    lock = PairLocks.lock_pair("ETH/USDT", at(3), "r" * 300, now=T0)
    assert lock.reason == "r" * 255


# -- backtesting store specifics -------------------------------------------------------


def test_memory_mode_goes_back_in_time() -> None:
    PairLocks.use_db = False
    PairLocks.timeframe = "1h"
    PairLocks.reset_locks()
    for day in range(30):
        start = T0 + timedelta(days=day)
        PairLocks.lock_pair("ETH/USDT", start, f"d{day}", now=start)  # ends 13:00 that day
    # lock_time plays no part: at day 3, 12:30 the locks of days 3..29 are in force
    late = T0 + timedelta(days=29, hours=2)
    assert not PairLocks.is_pair_locked("ETH/USDT", late)
    assert PairLocks.get_pair_locks("ETH/USDT", late) == []
    day3 = T0 + timedelta(days=3, minutes=30)
    assert PairLocks.is_pair_locked("ETH/USDT", day3)
    assert [lk.reason for lk in PairLocks.get_pair_locks("ETH/USDT", day3)] == [
        f"d{d}" for d in range(3, 30)
    ]
    # nothing was pruned by the later call: an even earlier `now` sees every lock
    assert len(PairLocks.get_pair_locks("ETH/USDT", T0)) == 30
    assert len(PairLocks.get_all_locks()) == 30


def test_memory_index_follows_direct_changes() -> None:
    PairLocks.use_db = False
    PairLocks.timeframe = "5m"
    PairLocks.reset_locks()
    lock = PairLocks.lock_pair("ETH/USDT", at(3), now=T0)
    assert PairLocks.is_pair_locked("ETH/USDT", at(1))
    lock.active = False  # what freqtrade's RPC does to release a lock
    assert not PairLocks.is_pair_locked("ETH/USDT", at(1))
    lock.active = True
    lock.lock_end_time = at(20)
    assert PairLocks.is_pair_locked("ETH/USDT", at(19))
    lock.pair = "BTC/USDT"
    assert not PairLocks.is_pair_locked("ETH/USDT", at(1))
    assert PairLocks.is_pair_locked("BTC/USDT", at(1))
    lock.side = "long"
    assert not PairLocks.is_pair_locked("BTC/USDT", at(1))
    assert PairLocks.is_pair_locked("BTC/USDT", at(1), side="long")


def test_memory_locks_list_can_be_replaced_or_appended() -> None:
    PairLocks.use_db = False
    PairLocks.timeframe = "5m"
    PairLocks.reset_locks()
    PairLocks.lock_pair("ETH/USDT", at(3), now=T0)
    PairLocks.locks = []  # freqtrade tests do this
    assert not PairLocks.is_pair_locked("ETH/USDT", at(1))
    assert PairLocks.get_all_locks() == []
    PairLocks.locks.append(LocalPairLock(pair="XRP/USDT", lock_time=T0, lock_end_time=at(5)))
    assert PairLocks.is_pair_locked("XRP/USDT", at(1))
    assert PairLocks.get_all_locks() is PairLocks.locks


def test_memory_check_does_not_depend_on_expired_locks() -> None:
    """100 000 expired locks leave the check's work unchanged (it never visits them)."""
    store = LockStore()
    calls = 0
    original = LockStore._latest_end

    def counting(self: LockStore, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(self, *args)

    for i in range(100_000):
        end = T0 - timedelta(minutes=i + 1)
        store.add(
            LocalPairLock(
                pair="*" if i % 2 else "ETH/USDT",
                side=("*", "long")[i % 2],
                lock_time=end - timedelta(hours=1),
                lock_end_time=end,
            )
        )
    store.add(LocalPairLock(pair="ETH/USDT", lock_time=T0, lock_end_time=at(5)))
    LockStore._latest_end = counting  # type: ignore[method-assign]
    try:
        for minute in range(1000):
            assert store.is_pair_locked("ETH/USDT", T0 + timedelta(seconds=minute / 10), "long")
            assert not store.is_pair_locked("BTC/USDT", T0, "long")
    finally:
        LockStore._latest_end = original  # type: ignore[method-assign]
    assert calls == 2  # computed once per (pair, side), then a dictionary lookup
    assert len(store.get_pair_locks("ETH/USDT", T0, None)) == 1


class _ReferenceLocks:
    """Linear-scan model of the lock rules (the obvious implementation)."""

    def __init__(self) -> None:
        self.locks: list[dict[str, Any]] = []

    def matches(
        self, lk: dict[str, Any], pair: str | None, now: datetime, side: str | None
    ) -> bool:
        return (
            lk["active"]
            and lk["end"] > now
            and (not pair or lk["pair"] == pair)
            and (side is None or lk["side"] == "*" or lk["side"] == side)
        )

    def get(self, pair: str | None, now: datetime, side: str | None) -> list[int]:
        if side == "*":
            return [
                i
                for i, lk in enumerate(self.locks)
                if self.matches(lk, pair, now, None) and lk["side"] == "*"
            ]
        return [i for i, lk in enumerate(self.locks) if self.matches(lk, pair, now, side)]


_PAIRS = ["A", "B", "*"]
_SIDES = ["*", "long", "short"]
_op = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(_PAIRS), st.sampled_from(_SIDES), st.integers(0, 40)),
    st.tuples(st.just("deactivate"), st.integers(0, 60)),
    st.tuples(st.just("move"), st.integers(0, 60), st.integers(0, 40)),
    st.tuples(
        st.just("check"),
        st.sampled_from([*_PAIRS, None]),
        st.sampled_from([*_SIDES, None]),
        st.integers(0, 40),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_op, max_size=60))
def test_lock_store_agrees_with_linear_scan(ops: list[tuple[Any, ...]]) -> None:
    """The indexed store answers exactly like a scan of every lock, in any order of ``now``."""
    store, ref = LockStore(), _ReferenceLocks()
    objs: list[LocalPairLock] = []
    for op in ops:
        if op[0] == "add":
            _, pair, side, end = op
            lk = store.add(LocalPairLock(pair=pair, side=side, lock_time=T0, lock_end_time=at(end)))
            objs.append(lk)
            ref.locks.append({"pair": pair, "side": side, "end": at(end), "active": True})
        elif op[0] == "deactivate" and objs:
            i = op[1] % len(objs)
            objs[i].active = False
            ref.locks[i]["active"] = False
        elif op[0] == "move" and objs:
            i = op[1] % len(objs)
            objs[i].lock_end_time = at(op[2])
            ref.locks[i]["end"] = at(op[2])
        elif op[0] == "check":
            _, pair, side, minute = op
            now = at(minute)
            want = ref.get(pair, now, side)
            got = [objs.index(lk) for lk in store.get_pair_locks(pair, now, side)]
            assert got == want
            locked = bool(want) or (pair not in (None, "*") and bool(ref.get("*", now, side)))
            if pair is None:
                locked = bool(want)
            assert store.is_pair_locked(pair, now, side) == locked
            assert store.is_global_lock(now, side) == bool(ref.get("*", now, side))


# -- database specifics (every backend) ------------------------------------------------


@pytest.fixture
def db(backend: str) -> Iterator[Engine]:
    engine = init_db(backend)
    PairLocks.use_db = True
    PairLocks.timeframe = "5m"
    yield engine
    PairLock.session.remove()


def _insert_from_other_connection(url: str, **values: Any) -> None:
    other = create_engine(url)
    try:
        with other.begin() as conn:
            conn.execute(PairLock.__table__.insert().values(**values))
    finally:
        other.dispose()


def test_lock_from_another_connection_is_seen_by_the_next_check(db: Engine) -> None:
    if db.url.database in (None, "", ":memory:"):
        pytest.skip("a private in-memory database has no other connection")
    url = db.url.render_as_string(hide_password=False)
    now = datetime.now(UTC)
    assert not PairLocks.is_pair_locked("ETH/USDT", now)  # the session has been used
    assert not PairLocks.is_global_lock(now)
    _insert_from_other_connection(
        url,
        pair="ETH/USDT",
        side="*",
        reason="other bot",
        lock_time=now,
        lock_end_time=now + timedelta(hours=1),
        active=True,
    )
    assert PairLocks.is_pair_locked("ETH/USDT", now)
    _insert_from_other_connection(
        url,
        pair="*",
        side="long",
        reason="other bot",
        lock_time=now,
        lock_end_time=now + timedelta(hours=1),
        active=True,
    )
    assert PairLocks.is_pair_locked("BTC/USDT", now, side="long")
    assert PairLocks.is_global_lock(now, side="long")
    other = create_engine(url)
    try:
        with other.begin() as conn:
            conn.execute(PairLock.__table__.update().values(active=False))
    finally:
        other.dispose()
    assert not PairLocks.is_pair_locked("ETH/USDT", now)
    assert not PairLocks.is_pair_locked("BTC/USDT", now, side="long")


def test_check_is_one_indexed_query_on_sqlite(tmp_path: Any) -> None:
    engine = init_db(f"sqlite:///{tmp_path / 'locks.sqlite'}")
    PairLocks.use_db = True
    PairLocks.timeframe = "5m"
    for i in range(20):
        PairLocks.lock_pair(f"P{i}/USDT", at(3), now=T0, side=_SIDES[i % 3])
    statements: list[str] = []
    conn = PairLock.session().connection().connection.dbapi_connection
    conn.set_trace_callback(statements.append)
    try:
        assert PairLocks.is_pair_locked("P0/USDT", at(1))
        assert not PairLocks.is_pair_locked("NONE/USDT", at(1), side="long")
        assert not PairLocks.is_global_lock(at(1))
    finally:
        conn.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3 and len(statements) == 3, statements
    for sql in selects:
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert f"INDEX {PAIRLOCK_CHECK_INDEX}" in plan, plan
    PairLock.session.remove()
    engine.dispose()


def test_check_is_served_by_the_index_on_servers(db: Engine) -> None:
    if db.dialect.name == "sqlite":
        pytest.skip("covered by test_check_is_one_indexed_query_on_sqlite")
    rng = random.Random(5)
    rows = [
        {
            "pair": f"P{rng.randrange(200)}/USDT",
            "side": rng.choice(_SIDES),
            "reason": "x",
            "lock_time": T0,
            "lock_end_time": T0 + timedelta(minutes=rng.randrange(-5000, 60)),
            "active": rng.random() < 0.5,
        }
        for _ in range(5000)
    ]
    with db.begin() as conn:
        conn.execute(PairLock.__table__.insert(), rows)
        if db.dialect.name == "postgresql":
            conn.execute(text("ANALYZE pairlocks"))
        else:
            conn.execute(text("ANALYZE TABLE pairlocks"))
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        captured.append((statement, params))

    # the DB-API fast path bypasses SQLAlchemy's events; make it fail once so that the
    # check falls back to the SQLAlchemy statement (the same query) and its plan is seen
    def broken(*args: Any) -> bool:
        raise RuntimeError("fast path off")

    from tradeledger.services import pairlocks as svc

    event.listen(db, "before_cursor_execute", capture)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(svc._FastCheck, "run", broken)
            mp.setattr(svc._PgDirect, "run", lambda *args: None)  # "not run here"
            assert PairLocks.is_pair_locked("P7/USDT", T0, side="long") == any(
                r["pair"] == "P7/USDT"
                and r["active"]
                and r["side"] in ("*", "long")
                and r["lock_end_time"] > T0
                for r in rows
            )
    finally:
        event.remove(db, "before_cursor_execute", capture)
    assert len(captured) == 1
    statement, params = captured[0]
    with db.connect() as conn:
        explain = conn.exec_driver_sql(f"EXPLAIN {statement}", params).all()
    plan = " ".join(str(col) for row in explain for col in row)
    assert PAIRLOCK_CHECK_INDEX in plan, plan


def test_database_errors_surface_as_sqlalchemy_errors(db: Engine) -> None:
    from sqlalchemy.exc import DBAPIError

    assert not PairLocks.is_pair_locked("ETH/USDT", T0)
    PairLock.session.remove()  # MariaDB: release the metadata lock before the DROP
    with db.begin() as conn:
        conn.execute(text("DROP TABLE pairlocks"))
    with pytest.raises(DBAPIError, match="pairlocks"):
        PairLocks.is_pair_locked("ETH/USDT", T0)
    PairLock.session.rollback()


@pytest.mark.parametrize("bad", [1709640000, "2024-03-05 12:00", 1.5])
def test_non_datetime_times_are_refused(mode: str, bad: Any) -> None:
    with pytest.raises(InvalidLockError, match="until"):
        PairLocks.lock_pair("ETH/USDT", bad, now=T0)
    for call in (
        lambda: PairLocks.lock_pair("ETH/USDT", at(3), now=bad),
        lambda: PairLocks.is_pair_locked("ETH/USDT", bad),
        lambda: PairLocks.is_global_lock(bad),
        lambda: PairLocks.get_pair_locks("ETH/USDT", bad),
        lambda: PairLocks.unlock_reason("x", bad),
    ):
        with pytest.raises(InvalidLockError, match="now"):
            call()


def test_non_string_reason_is_refused(mode: str) -> None:
    with pytest.raises(InvalidLockError, match="reason"):
        PairLocks.lock_pair("ETH/USDT", at(3), 42, now=T0)  # type: ignore[arg-type]


# -- mode parity on random call sequences ------------------------------------------------

_MINUTES = st.integers(-30, 60)
_call = st.one_of(
    st.tuples(
        st.just("lock"),
        st.sampled_from(["A", "B", "*"]),
        _MINUTES,
        st.sampled_from(["r1", "r2", None]),
        _MINUTES,
        st.sampled_from(["long", "short", "*", None]),
    ),
    st.tuples(
        st.just("unlock"),
        st.sampled_from(["A", "B", "*"]),
        _MINUTES,
        st.sampled_from(["long", "short", "*", None]),
    ),
    st.tuples(st.just("unlock_reason"), st.sampled_from(["r1", "r2", None]), _MINUTES),
    st.tuples(
        st.just("get"),
        st.sampled_from(["A", "B", "*", "", None]),
        _MINUTES,
        st.sampled_from(["long", "short", "*", None]),
    ),
    st.tuples(
        st.just("longest"),
        st.sampled_from(["A", "B", "*"]),
        _MINUTES,
        st.sampled_from(["long", "short", "*", None]),
    ),
    st.tuples(
        st.just("locked"),
        st.sampled_from(["A", "B", "*", "", None]),
        _MINUTES,
        st.sampled_from(["long", "short", "*", None]),
    ),
    st.tuples(st.just("global"), _MINUTES, st.sampled_from(["long", "short", "*", None])),
)


def _row(lock: Any) -> tuple[Any, ...] | None:
    if lock is None:
        return None
    return (
        lock.id,
        lock.pair,
        lock.side,
        lock.reason,
        lock.lock_time,
        lock.lock_end_time_utc,
        bool(lock.active),
    )


def _run_calls(calls: list[tuple[Any, ...]]) -> list[Any]:
    out: list[Any] = []
    for call in calls:
        kind, *args = call
        if kind == "lock":
            pair, until, reason, now, side = args
            out.append(_row(PairLocks.lock_pair(pair, at(until), reason, now=at(now), side=side)))
        elif kind == "unlock":
            pair, now, side = args
            PairLocks.unlock_pair(pair, at(now), side)
        elif kind == "unlock_reason":
            reason, now = args
            PairLocks.unlock_reason(reason, at(now))
        elif kind == "get":
            pair, now, side = args
            out.append([_row(lk) for lk in PairLocks.get_pair_locks(pair, at(now), side)])
        elif kind == "longest":
            pair, now, side = args
            out.append(_row(PairLocks.get_pair_longest_lock(pair, at(now), side)))
        elif kind == "locked":
            pair, now, side = args
            out.append(PairLocks.is_pair_locked(pair, at(now), side))
        else:
            now, side = args
            out.append(PairLocks.is_global_lock(at(now), side))
    out.append([_row(lk) for lk in PairLocks.get_all_locks()])
    return out


@pytest.fixture(scope="module")
def parity_engine() -> Iterator[Engine]:
    yield init_db("sqlite://")


@settings(max_examples=150, deadline=None)
@given(st.lists(_call, max_size=25))
def test_both_modes_answer_alike(parity_engine: Engine, calls: list[tuple[Any, ...]]) -> None:
    """Random call sequences give identical answers (ids included) in both modes."""
    PairLocks.timeframe = "5m"
    PairLocks.use_db = False
    PairLocks.reset_locks()
    memory = _run_calls(calls)
    PairLocks.use_db = True
    PairLock.session.remove()
    with parity_engine.begin() as conn:
        conn.execute(PairLock.__table__.delete())  # SQLite reuses ids from 1 then
    try:
        database = _run_calls(calls)
    finally:
        PairLock.session.remove()
    assert database == memory


def test_model_query_helpers(db: Engine) -> None:
    """freqtrade's model-level API: ``query_pair_locks`` and ``get_all_locks`` give results."""
    PairLocks.lock_pair("ETH/USDT", at(3), "a", now=T0, side="long")
    PairLocks.lock_pair("ETH/USDT", at(3), "b", now=T0, side="*")
    PairLocks.lock_pair("*", at(3), "c", now=T0)
    PairLocks.unlock_pair("*", at(1))
    now = at(1)
    assert [lk.reason for lk in PairLock.query_pair_locks("ETH/USDT", now).all()] == ["a", "b"]
    assert [lk.reason for lk in PairLock.query_pair_locks("ETH/USDT", now, "*").all()] == ["b"]
    assert [lk.reason for lk in PairLock.query_pair_locks("ETH/USDT", now, "short").all()] == ["b"]
    assert [lk.reason for lk in PairLock.query_pair_locks(None, now).all()] == ["a", "b"]
    assert PairLock.query_pair_locks("ETH/USDT", at(5)).all() == []
    assert [(lk.reason, lk.active) for lk in PairLock.get_all_locks().all()] == [
        ("a", True),
        ("b", True),
        ("c", False),
    ]
    lock = PairLock.get_all_locks().first()
    assert lock is not None and lock.lock_end_time_utc == at(5)
    assert lock.lock_time.tzinfo is not None  # read back from the database as aware UTC


def test_postgresql_generic_plan_never_scans_expired_locks(db: Engine) -> None:
    """psycopg prepares the check after a few runs and PostgreSQL may then use a generic plan.

    Once ANALYZE has seen many expired global locks, the plain ``... LIMIT 1`` query got a
    sequential scan as generic plan (about 30 ms per check at 100 000 rows). The check query
    must keep a range condition on ``lock_end_time`` in every plan.
    """
    if db.dialect.name != "postgresql":
        pytest.skip("PostgreSQL generic plans")
    from tradeledger.services.pairlocks import _FastCheck

    rows = [
        {
            "pair": "*" if i % 2 else f"P{i % 50}/USDT",
            "side": _SIDES[i % 3],
            "reason": "old",
            "lock_time": T0 - timedelta(minutes=i + 60),
            "lock_end_time": T0 - timedelta(minutes=i + 1),
            "active": True,
        }
        for i in range(20_000)
    ]
    with db.begin() as conn:
        conn.execute(PairLock.__table__.insert(), rows)
        conn.execute(text("ANALYZE pairlocks"))
    fast = _FastCheck.for_dialect(db.dialect)
    with db.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cur = dbapi.cursor()
        cur.execute("SET plan_cache_mode = force_generic_plan")
        for (pairs, side), sql in fast.sql.items():
            params = ["$1"] if pairs else []
            params.append(f"${len(params) + 1}")
            if side not in (None, "*"):
                params.append(f"${len(params) + 1}")
            numbered = sql
            for p in params:
                numbered = numbered.replace("%s", p, 1)
            types = ", ".join(
                ["text"] * (1 if pairs else 0)
                + ["timestamp"]
                + (["text"] if len(params) > (2 if pairs else 1) else [])
            )
            cur.execute(f"PREPARE chk({types}) AS {numbered}")
            args = (["'P7/USDT'"] if pairs else []) + ["'2024-03-05 12:00:00'"]
            if side not in (None, "*"):
                args.append(f"'{side}'")
            cur.execute(f"EXPLAIN EXECUTE chk({', '.join(args)})")
            plan = "\n".join(row[0] for row in cur.fetchall())
            cur.execute("DEALLOCATE chk")
            assert "Seq Scan" not in plan, (sql, plan)
            assert "lock_end_time >" in plan and "Index Cond" in plan, (sql, plan)
        conn.rollback()
