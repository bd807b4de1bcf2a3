"""Timeframe parsing and the candle grid (``tradeledger.domain.timeframe``).

Expected dates are hand-computed; each case says how.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeledger.domain.timeframe import (
    Timeframe,
    parse_timeframe,
    timeframe_to_minutes,
    timeframe_to_next_date,
    timeframe_to_prev_date,
    timeframe_to_seconds,
)
from tradeledger.exceptions import InvalidLockError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "amount", "unit", "seconds"),
    [
        ("1s", 1, "s", 1),
        ("30s", 30, "s", 30),
        ("1m", 1, "m", 60),
        ("5m", 5, "m", 300),
        ("15m", 15, "m", 900),
        ("1h", 1, "h", 3600),
        ("4h", 4, "h", 14400),
        ("1d", 1, "d", 86400),
        ("3d", 3, "d", 259200),
        ("1w", 1, "w", 604800),
        ("2w", 2, "w", 1209600),
        ("1M", 1, "M", 2592000),  # ccxt's nominal month: 30 days
        ("3M", 3, "M", 7776000),
        ("1y", 1, "y", 31536000),  # ccxt's nominal year: 365 days
    ],
)
def test_parse_every_unit(text: str, amount: int, unit: str, seconds: int) -> None:
    tf = parse_timeframe(text)
    assert tf == Timeframe(amount, unit)
    assert str(tf) == text
    assert tf.seconds == seconds == timeframe_to_seconds(text)
    assert timeframe_to_minutes(text) == seconds // 60


@pytest.mark.parametrize(
    "bad",
    [
        "5",
        "m",
        "0m",
        "00m",
        "-1m",
        "1x",
        " 5m",
        "5m ",
        "5 m",
        "1.5h",
        "1H",
        "1D",
        "5mm",
        "m5",
        "1W",
    ],
)
def test_invalid_timeframe_is_a_clear_value_error(bad: str) -> None:
    with pytest.raises(InvalidLockError, match="timeframe") as info:
        parse_timeframe(bad)
    assert isinstance(info.value, ValueError)
    assert repr(bad) in str(info.value)


def test_empty_timeframe_says_what_to_set() -> None:
    with pytest.raises(InvalidLockError, match=r"PairLocks\.timeframe"):
        timeframe_to_next_date("", utc(2024, 1, 1))


@pytest.mark.parametrize("bad", [None, 5, 5.0, b"5m"])
def test_non_string_timeframe(bad: object) -> None:
    with pytest.raises(InvalidLockError, match="expected a string"):
        parse_timeframe(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tf", "date", "expected", "why"),
    [
        (
            "1s",
            datetime(2024, 3, 5, 12, 0, 0, 500000, UTC),
            utc(2024, 3, 5, 12, 0, 1),
            "half a second rounds up to the next second",
        ),
        ("5m", utc(2024, 3, 5, 12, 3), utc(2024, 3, 5, 12, 5), "12:03 is inside 12:00-12:05"),
        (
            "5m",
            utc(2024, 3, 5, 12, 0),
            utc(2024, 3, 5, 12, 5),
            "exactly on a boundary moves one full candle",
        ),
        (
            "5m",
            datetime(2024, 3, 5, 12, 4, 59, 999999, UTC),
            utc(2024, 3, 5, 12, 5),
            "1 us before the boundary rounds to it",
        ),
        (
            "5m",
            datetime(2024, 3, 5, 12, 5, 0, 1, UTC),
            utc(2024, 3, 5, 12, 10),
            "1 us after the boundary is in the next candle",
        ),
        ("15m", utc(2024, 3, 5, 12, 59, 59), utc(2024, 3, 5, 13, 0), "quarter hours"),
        ("1h", utc(2024, 3, 5, 10, 30), utc(2024, 3, 5, 11, 0), "next full hour"),
        (
            "4h",
            utc(2024, 3, 5, 9, 0),
            utc(2024, 3, 5, 12, 0),
            "4h candles start at 0, 4, 8, 12 UTC (epoch-aligned, days are multiples of 4h)",
        ),
        ("1d", utc(2024, 3, 5, 13, 0), utc(2024, 3, 6), "next midnight UTC"),
        ("1d", utc(2024, 12, 31), utc(2025, 1, 1), "midnight moves a full day, across a year"),
        (
            "3d",
            utc(2024, 1, 1, 5),
            utc(2024, 1, 3),
            "2024-01-01 is day 19723 since the epoch; 19723 % 3 == 1, so its 3d candle began on "
            "day 19722 (2023-12-31) and the next begins on day 19725 (2024-01-03)",
        ),
        ("1w", utc(2024, 3, 6, 15), utc(2024, 3, 11), "Wednesday -> next Monday"),
        ("1w", utc(2024, 3, 11), utc(2024, 3, 18), "Monday 00:00 moves a full week"),
        (
            "1w",
            datetime(2024, 3, 10, 23, 59, 59, 999999, UTC),
            utc(2024, 3, 11),
            "Sunday night -> Monday",
        ),
        (
            "2w",
            utc(2024, 1, 3),
            utc(2024, 1, 8),
            "2024-01-01 (Monday) is week 2817 after Monday 1970-01-05 (19719 days / 7); odd, so "
            "its 2w candle began with week 2816 (2023-12-25) and the next is week 2818 "
            "(2024-01-08)",
        ),
        ("1M", utc(2024, 1, 31, 23), utc(2024, 2, 1), "next 1st of the month"),
        ("1M", utc(2024, 2, 1), utc(2024, 3, 1), "the 1st at 00:00 moves a full month"),
        ("1M", utc(2024, 12, 15), utc(2025, 1, 1), "December -> January of the next year"),
        (
            "3M",
            utc(2024, 5, 15),
            utc(2024, 7, 1),
            "months since year 0: 2024*12+4 = 24292; 24292 // 3 * 3 = 24291 (April 2024); "
            "+3 = July 2024",
        ),
        ("1y", utc(2024, 6, 1), utc(2025, 1, 1), "next 1 January"),
        ("1y", utc(2024, 1, 1), utc(2025, 1, 1), "1 January 00:00 moves a full year"),
        ("2y", utc(2025, 3, 1), utc(2026, 1, 1), "2y candles start in even years: 2024, 2026"),
    ],
)
def test_next_date(tf: str, date: datetime, expected: datetime, why: str) -> None:
    assert timeframe_to_next_date(tf, date) == expected, why


def test_prev_date() -> None:
    assert timeframe_to_prev_date("5m", utc(2024, 3, 5, 12, 3)) == utc(2024, 3, 5, 12, 0)
    assert timeframe_to_prev_date("5m", utc(2024, 3, 5, 12, 0)) == utc(2024, 3, 5, 12, 0)
    assert timeframe_to_prev_date("1w", utc(2024, 3, 10, 23)) == utc(2024, 3, 4)
    assert timeframe_to_prev_date("1M", utc(2024, 3, 10)) == utc(2024, 3, 1)
    assert timeframe_to_prev_date("1y", utc(2024, 3, 10)) == utc(2024, 1, 1)


def test_naive_is_utc_and_other_zones_are_converted() -> None:
    assert timeframe_to_next_date("1h", datetime(2024, 3, 5, 10, 30)) == utc(2024, 3, 5, 11)
    plus2 = timezone(timedelta(hours=2))
    # 12:30+02:00 is 10:30 UTC -> 11:00 UTC
    assert timeframe_to_next_date("1h", datetime(2024, 3, 5, 12, 30, tzinfo=plus2)) == utc(
        2024, 3, 5, 11
    )
    # day candles follow UTC midnight, not the local one: 2024-03-06 01:00+02:00 is
    # 2024-03-05 23:00 UTC -> 2024-03-06 00:00 UTC
    assert timeframe_to_next_date("1d", datetime(2024, 3, 6, 1, tzinfo=plus2)) == utc(2024, 3, 6)


def test_default_date_is_now() -> None:
    before = datetime.now(UTC)
    nxt = timeframe_to_next_date("1m")
    assert before < nxt <= before + timedelta(minutes=1, seconds=1)
    assert nxt.second == 0 and nxt.microsecond == 0


_dates = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(_dates, st.sampled_from(["1s", "7s", "1m", "5m", "15m", "1h", "4h", "1d", "3d"]))
def test_fixed_grid_properties(date: datetime, tf: str) -> None:
    step = timedelta(seconds=timeframe_to_seconds(tf))
    nxt = timeframe_to_next_date(tf, date)
    prev = timeframe_to_prev_date(tf, date)
    assert prev <= date < nxt
    assert nxt - prev == step
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert (nxt - epoch) % step == timedelta(0)
    # a boundary moves one full candle
    assert timeframe_to_next_date(tf, nxt) == nxt + step


@given(_dates, st.integers(min_value=1, max_value=4))
def test_calendar_grid_properties(date: datetime, amount: int) -> None:
    week = timeframe_to_next_date(f"{amount}w", date)
    assert date < week <= date + timedelta(weeks=amount)
    assert week.weekday() == 0 and week.time() == datetime.min.time()
    month = timeframe_to_next_date(f"{amount}M", date)
    assert date < month and month.day == 1 and month.time() == datetime.min.time()
    assert ((month.year * 12 + month.month - 1) % amount) == 0
    year = timeframe_to_next_date(f"{amount}y", date)
    assert date < year and (year.month, year.day) == (1, 1) and year.year % amount == 0
    for unit, boundary in (("w", week), ("M", month), ("y", year)):
        # a boundary moves one full candle: the start of the candle after it
        tf = f"{amount}{unit}"
        assert timeframe_to_prev_date(tf, boundary) == boundary
        assert timeframe_to_next_date(tf, boundary) > boundary
