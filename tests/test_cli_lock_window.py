"""The lock window shared by ``locks add`` and ``fleet lock``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradeledger.cli.options import lock_window_end
from tradeledger.exceptions import InvalidValueError

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def test_minutes_add_to_now() -> None:
    assert lock_window_end(90, None, NOW) == NOW + timedelta(minutes=90)
    assert lock_window_end(0.5, None, NOW) == NOW + timedelta(seconds=30)


def test_until_is_utc_and_naive_means_utc() -> None:
    assert lock_window_end(None, "2026-03-29T02:00", NOW) == datetime(2026, 3, 29, 2, tzinfo=UTC)
    assert lock_window_end(None, "2026-03-29T03:00+02:00", NOW) == datetime(
        2026, 3, 29, 1, tzinfo=UTC)


@pytest.mark.parametrize(("minutes", "until", "message"), [
    (None, None, "exactly one of --minutes or --until"),
    (5, "2026-04-01", "exactly one of --minutes or --until"),
    (0, None, "--minutes: expected > 0"),
    (-3, None, "--minutes: expected > 0"),
    (None, "2026-03-29T00:30", "--until: 2026-03-29T00:30 is not in the future"),
    (None, "2020-01-01", "is not in the future"),
    (None, "tomorrow", "--until: expected a date"),
])
def test_bad_windows_name_the_option(minutes: float | None, until: str | None,
                                     message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        lock_window_end(minutes, until, NOW)
