"""Datetimes and lock rounding do not depend on the machine's time zone, also across DST.

Each test runs under several process time zones (``TZ`` + ``time.tzset``), including the
half-hour DST of Australia/Lord_Howe, and, with time-machine, at instants just before and after
DST changes. ``scripts/test-timezones.sh`` runs this file and a representative part of the
suite under each zone as well.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tradeledger.db import close_db, init_db
from tradeledger.domain.timeframe import timeframe_to_next_date
from tradeledger.domain.timeutil import dt_from_ts, dt_now, dt_ts, to_aware_utc, to_naive_utc
from tradeledger.models import Trade
from tradeledger.models.keyvalue import KeyValueStore
from tradeledger.services.pairlocks import PairLocks

ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
NY = ZoneInfo("America/New_York")
LH = ZoneInfo("Australia/Lord_Howe")

# DST changes (UTC instants), checked against zoneinfo in test_transitions_are_real
NY_SPRING = datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 02:00 EST -> 03:00 EDT
NY_FALL = datetime(2024, 11, 3, 6, 0, tzinfo=UTC)  # 02:00 EDT -> 01:00 EST
LH_SPRING = datetime(2024, 10, 5, 15, 30, tzinfo=UTC)  # 02:00 -> 02:30 (+10:30 -> +11)
LH_FALL = datetime(2024, 4, 6, 15, 0, tzinfo=UTC)  # 02:00 -> 01:30 (+11 -> +10:30)
TRANSITIONS = (NY_SPRING, NY_FALL, LH_SPRING, LH_FALL)


@pytest.fixture(params=ZONES)
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the process time zone set to each zone in turn."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'tz.sqlite'}"
    init_db(url)
    yield url
    close_db()


def test_transitions_are_real() -> None:
    """The constants above really are DST changes (offset differs 1 s before and after)."""
    for instant, zone in ((NY_SPRING, NY), (NY_FALL, NY), (LH_SPRING, LH), (LH_FALL, LH)):
        before = (instant - timedelta(seconds=1)).astimezone(zone).utcoffset()
        after = instant.astimezone(zone).utcoffset()
        assert before != after, (instant, zone)


@pytest.mark.parametrize("instant", TRANSITIONS)
@pytest.mark.parametrize("delta", [-1, 0, 1, 1799, 3600])
def test_dt_now_is_utc_across_dst(local_zone: str, instant: datetime, delta: int) -> None:
    target = instant + timedelta(seconds=delta)
    with time_machine.travel(target, tick=False):
        now = dt_now()
        assert now.tzinfo is UTC and now == target
        assert dt_ts() == int(target.timestamp() * 1000)
        assert dt_from_ts(dt_ts()) == target.replace(microsecond=0) + timedelta(
            microseconds=target.microsecond // 1000 * 1000)


def test_naive_means_utc_whatever_the_local_zone(local_zone: str) -> None:
    naive = datetime(2024, 11, 3, 1, 30)  # ambiguous wall time in New York
    assert to_aware_utc(naive) == datetime(2024, 11, 3, 1, 30, tzinfo=UTC)
    assert to_naive_utc(naive) == naive
    assert dt_ts(naive) == int(datetime(2024, 11, 3, 1, 30, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("fold", [0, 1])
def test_ambiguous_local_time_round_trips_through_the_database(local_zone: str, db: str,
                                                               fold: int) -> None:
    """01:30 on the New York fall-back night exists twice; each is a different UTC instant."""
    local = datetime(2024, 11, 3, 1, 30, fold=fold, tzinfo=NY)
    expected_utc = local.astimezone(UTC)  # 05:30Z for fold 0 (EDT), 06:30Z for fold 1 (EST)
    assert expected_utc.hour == (5 if fold == 0 else 6)
    t = Trade(pair="TZ/USDT", exchange="x", open_rate=1.0, amount=1.0, stake_amount=1.0,
              open_date=local, close_date=local + timedelta(hours=1))
    Trade.session.add(t)
    Trade.commit()
    tid = t.id
    Trade.session.remove()
    back = Trade.session.get(Trade, tid)
    assert back is not None
    assert back.open_date == expected_utc and back.open_date.tzinfo is not None
    assert back.open_date.utcoffset() == timedelta(0)
    # Python adds wall-clock time within one tzinfo: the library keeps that instant exactly
    assert back.close_date == (local + timedelta(hours=1)).astimezone(UTC)
    assert back.open_date_utc == expected_utc


def test_nonexistent_local_time_is_converted_not_refused(local_zone: str, db: str) -> None:
    """02:30 on the New York spring-forward night does not exist; zoneinfo maps it (PEP 495)."""
    gap = datetime(2024, 3, 10, 2, 30, tzinfo=NY)
    KeyValueStore.store_value("gap", gap)
    stored = KeyValueStore.get_datetime_value("gap")
    assert stored == gap.astimezone(UTC) and stored is not None and stored.tzinfo is not None


def _next_boundary(timeframe_seconds: int, instant: datetime) -> datetime:
    """Independent model: next multiple of the timeframe since the epoch, strictly after."""
    ts = instant.timestamp()
    return datetime.fromtimestamp((int(ts // timeframe_seconds) + 1) * timeframe_seconds, UTC)


@pytest.mark.parametrize(("timeframe", "seconds"), [("5m", 300), ("30m", 1800), ("1h", 3600),
                                                    ("4h", 14400), ("1d", 86400)])
@pytest.mark.parametrize("instant", TRANSITIONS)
@pytest.mark.parametrize("delta", [-1, 0, 1, 1800])
def test_lock_rounding_is_utc_across_dst(local_zone: str, timeframe: str, seconds: int,
                                         instant: datetime, delta: int) -> None:
    at = instant + timedelta(seconds=delta)
    expected = _next_boundary(seconds, at)
    assert timeframe_to_next_date(timeframe, at) == expected
    assert timeframe_to_next_date(timeframe, at.astimezone(LH)) == expected  # zone-agnostic
    assert timeframe_to_next_date(timeframe, at.replace(tzinfo=None)) == expected  # naive=UTC


@pytest.mark.parametrize("instant", [NY_SPRING, NY_FALL, LH_SPRING, LH_FALL])
def test_lock_across_dst_with_the_wall_clock(local_zone: str, db: str,
                                             instant: datetime) -> None:
    """A lock taken just before a DST change ends at the UTC candle, whatever the local clock."""
    PairLocks.timeframe = "1h"
    start = instant - timedelta(minutes=10)
    with time_machine.travel(start, tick=False) as traveller:
        lock = PairLocks.lock_pair("DST/USDT", start + timedelta(minutes=20), "dst")
        end = _next_boundary(3600, start + timedelta(minutes=20))
        assert lock.lock_end_time_utc == end
        assert PairLocks.is_pair_locked("DST/USDT")
        traveller.move_to(end - timedelta(seconds=1))
        assert PairLocks.is_pair_locked("DST/USDT")
        traveller.move_to(end)
        assert not PairLocks.is_pair_locked("DST/USDT")  # in force while end > now (strict)
    PairLocks.timeframe = ""


def test_trade_durations_across_dst(local_zone: str, db: str) -> None:
    """A trade open over the fall-back night lasts its real (UTC) duration."""
    open_local = datetime(2024, 11, 3, 0, 30, tzinfo=NY)
    close_local = datetime(2024, 11, 3, 3, 30, tzinfo=NY)  # 4 real hours later
    t = Trade(pair="DUR/USDT", exchange="x", open_rate=1.0, amount=1.0, stake_amount=1.0,
              open_date=open_local, close_date=close_local, is_open=False, close_rate=1.0)
    Trade.session.add(t)
    Trade.commit()
    Trade.session.remove()
    back = Trade.session.scalars(Trade.get_trades_query(Trade.pair == "DUR/USDT")).one()
    assert back.close_date is not None
    assert back.close_date - back.open_date == timedelta(hours=4)
    # a query bound given in another zone selects the same instant
    found = Trade.get_trades_proxy(open_date=datetime(2024, 11, 3, 4, 29, tzinfo=UTC)
                                   .astimezone(LH))
    assert [x.id for x in found if x.pair == "DUR/USDT"] == [back.id]
