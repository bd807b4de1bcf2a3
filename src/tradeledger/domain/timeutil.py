"""UTC datetime helpers: the API speaks aware UTC, storage is naive UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["dt_from_ts", "dt_now", "dt_ts", "dt_ts_none", "to_aware_utc", "to_naive_utc"]


def dt_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def to_aware_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC: naive input is taken as UTC, aware input is converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_naive_utc(value: datetime) -> datetime:
    """Return ``value`` as naive UTC (the storage form): aware input is converted first."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def dt_ts(value: datetime | None = None) -> int:
    """Return milliseconds since the epoch of ``value`` (default: now); naive means UTC."""
    if value is None:
        value = dt_now()
    return int(to_aware_utc(value).timestamp() * 1000)


def dt_ts_none(value: datetime | None) -> int | None:
    """Like :func:`dt_ts` but ``None`` stays ``None``."""
    return None if value is None else dt_ts(value)


def dt_from_ts(timestamp: float) -> datetime:
    """Return an aware UTC datetime from a timestamp in seconds or milliseconds (>1e10)."""
    if timestamp > 1e10:
        timestamp /= 1000
    return datetime.fromtimestamp(timestamp, tz=UTC)
