"""Option parsing shared by the command groups: pairs, dates, sides, JSON output."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

from tradeledger.exceptions import InvalidValueError

__all__ = [
    "PAIR_RE",
    "dumps",
    "jsonable",
    "parse_date",
    "validate_pair",
    "validate_side",
]

#: ``BASE/QUOTE`` (spot, margin) or ``BASE/QUOTE:SETTLE`` (futures), as CCXT spells markets.
PAIR_RE = re.compile(r"^[A-Za-z0-9._-]{1,20}/[A-Za-z0-9._-]{1,20}(:[A-Za-z0-9._-]{1,20})?$")


def validate_pair(pair: str, *, allow_all: bool = False) -> str:
    """Return ``pair`` if it is a market symbol (``BTC/USDT``, ``ETH/USDT:USDT``).

    Raises:
        InvalidValueError: anything else (the message shows the expected format).
    """
    if allow_all and pair == "*":
        return pair
    if not PAIR_RE.match(pair or ""):
        raise InvalidValueError(
            f"unknown pair format {pair!r}: expected BASE/QUOTE (e.g. BTC/USDT) or "
            "BASE/QUOTE:SETTLE for futures (e.g. ETH/USDT:USDT)"
            + (", or '*' for every pair" if allow_all else "")
        )
    return pair


def validate_side(side: str | None, *, allowed: tuple[str, ...] = ("long", "short")) -> str | None:
    """Return ``side`` if it is one of ``allowed`` (``None`` passes).

    Raises:
        InvalidValueError: another value.
    """
    if side is None or side in allowed:
        return side
    raise InvalidValueError(f"side: expected one of {', '.join(allowed)}, got {side!r}")


def parse_date(value: str | None, *, name: str) -> datetime | None:
    """Parse ``YYYY-MM-DD`` or an ISO datetime; naive values are UTC.

    Raises:
        InvalidValueError: the text is not a date (the message names the option).
    """
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidValueError(
            f"{name}: expected a date like 2026-01-31 or 2026-01-31T12:00:00, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def lock_window_end(minutes: float | None, until: str | None, now: datetime) -> datetime:
    """End of a lock asked for as ``--minutes`` or ``--until`` (exactly one of them).

    Raises:
        InvalidValueError: both or neither given, a non-positive duration, or an end in the past.
    """
    if (minutes is None) == (until is None):
        raise InvalidValueError("give exactly one of --minutes or --until")
    if minutes is not None:
        if minutes <= 0:
            raise InvalidValueError(f"--minutes: expected > 0, got {minutes}")
        return now + timedelta(minutes=minutes)
    end = parse_date(until, name="--until")
    assert end is not None
    if end <= now:
        raise InvalidValueError(f"--until: {until} is not in the future")
    return end


def jsonable(value: Any) -> Any:
    """Plain JSON values (datetimes as ISO UTC text, enums by value)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Indented JSON text of ``value``."""
    return json.dumps(jsonable(value), indent=2, sort_keys=False)


def sqlite_file_of(db_url: str) -> str | None:
    """The file path of a ``sqlite:///file`` URL, else ``None`` (also for bad URLs)."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(db_url)
    except Exception:  # noqa: BLE001 - init_db reports bad URLs with their own message
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return str(url.database)


def open_db(db_url: str, *, write: bool = False) -> Any:
    """``init_db`` for a command: read-only commands never create or migrate a database.

    Raises:
        FileNotFoundError: a read-only command names a SQLite file that does not exist.
        MigrationRequiredError: a read-only command opens a database that needs an upgrade.
    """
    from pathlib import Path

    from tradeledger.db import init_db

    path = sqlite_file_of(db_url)
    if not write and path is not None and not Path(path).exists():
        raise FileNotFoundError(
            f"database file not found: {path} (create it with `tradeledger init --db ...`)"
        )
    # TRADELEDGER_SCHEMA: the bot schema (PostgreSQL, many bots in one database);
    # TRADELEDGER_READ_URL: read-only commands read the replica instead of --db
    schema = os.environ.get("TRADELEDGER_SCHEMA") or None
    read_url = os.environ.get("TRADELEDGER_READ_URL") or None
    if not write and read_url is not None:
        return init_db(read_url, migrate="check", schema=schema, journal=False)
    return init_db(db_url, migrate="auto" if write else "check", schema=schema)


def plain_engine(db_url: str) -> Any:
    """An engine on ``db_url`` without schema preparation (for check, backup, export).

    Raises:
        FileNotFoundError: a SQLite file that does not exist.
        InvalidDatabaseURL, MissingDriverError, DatabaseUnavailableError: as ``init_db``.
    """
    from pathlib import Path

    from sqlalchemy.exc import OperationalError

    from tradeledger.db import create_db_engine, mask_url
    from tradeledger.exceptions import DatabaseUnavailableError

    path = sqlite_file_of(db_url)
    if path is not None and not Path(path).exists():
        raise FileNotFoundError(f"database file not found: {path}")
    engine = create_db_engine(db_url, create_file=False)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
        raise DatabaseUnavailableError(
            f"Cannot connect to database '{mask_url(db_url)}': {detail}") from None
    return engine
