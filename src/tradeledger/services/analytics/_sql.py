"""Dialect helpers: UTC date buckets, durations and TimescaleDB detection.

Every bucket expression returns the first day of its bucket (a ``DATE`` on PostgreSQL and
MariaDB, ``'YYYY-MM-DD'`` text on SQLite); :func:`to_date` normalises the fetched value.
Stored datetimes are naive UTC, so every bucket is a UTC day / ISO week (Monday) / month.

* SQLite: ``date(x)``, ``date(x, 'weekday 0', '-6 days')``, ``strftime('%Y-%m-01', x)``.
* PostgreSQL: ``date_trunc('day' | 'week' | 'month', x)::date``; with TimescaleDB
  ``time_bucket(INTERVAL '1 day' | '1 week', x)::date`` for days and weeks (its default
  origin, Monday 2000-01-03, gives the same Monday-aligned weeks as ``date_trunc``).
* MariaDB / MySQL: ``DATE(x)``, ``SUBDATE(DATE(x), WEEKDAY(x))``,
  ``SUBDATE(DATE(x), DAYOFMONTH(x) - 1)``.

Constants are inlined as SQL literals (not bound parameters) so that the same expression
can appear in ``SELECT`` and ``GROUP BY`` on PostgreSQL.
"""

from __future__ import annotations

import weakref
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    Date,
    Float,
    Integer,
    case,
    cast,
    extract,
    false,
    func,
    literal_column,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from tradeledger.exceptions import InvalidValueError

__all__ = [
    "Granularity",
    "bucket_expr",
    "closed_scan",
    "detect_timescale",
    "duration_seconds_expr",
    "no_index",
    "normalise_dialect",
    "to_date",
]

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[str, ...] = ("day", "week", "month")

_timescale_cache: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def normalise_dialect(name: str) -> str:
    """Map a SQLAlchemy dialect name to ``sqlite``, ``postgresql`` or ``mysql``."""
    if name in ("mysql", "mariadb"):
        return "mysql"
    if name in ("sqlite", "postgresql"):
        return name
    raise InvalidValueError(f"dialect {name!r} is not supported by the analytics service")


def _lit(value: str) -> ColumnElement[Any]:
    return literal_column("'" + value.replace("'", "''") + "'")


def hour_expr(column: ColumnElement[Any], dialect: str, *, timescale: bool = False) -> Any:
    """SQL expression: the start of ``column``'s UTC hour (a timestamp, or text on SQLite).

    The analytics group closed trades by hour in the database and sum hours into days,
    weeks and months (UTC hours nest in UTC days); the ``tl_`` indexes cover this
    expression. SQLite ``strftime('%Y-%m-%d %H:00:00', x)``; PostgreSQL
    ``date_trunc('hour', x)`` or, with TimescaleDB, ``time_bucket(INTERVAL '1 hour', x)``;
    MariaDB ``DATE_FORMAT(x, '%Y-%m-%d %H:00:00')``.
    """
    dialect = normalise_dialect(dialect)
    if dialect == "sqlite":
        return func.strftime(_lit("%Y-%m-%d %H:00:00"), column)
    if dialect == "postgresql":
        if timescale:
            return func.time_bucket(literal_column("INTERVAL '1 hour'"), column)
        return func.date_trunc(_lit("hour"), column)
    return func.date_format(column, _lit("%Y-%m-%d %H:00:00"))


def to_hour(value: Any) -> datetime:
    """Normalise a fetched hour bucket (``datetime`` or text) to a naive UTC ``datetime``."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise InvalidValueError(f"cannot read an hour bucket from {value!r}")


def bucket_expr(
    column: ColumnElement[Any], granularity: str, dialect: str, *, timescale: bool = False
) -> ColumnElement[Any]:
    """SQL expression: the first UTC day of ``column``'s day, ISO week or month.

    Raises:
        InvalidValueError: unknown ``granularity``.
    """
    if granularity not in GRANULARITIES:
        raise InvalidValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    dialect = normalise_dialect(dialect)
    if dialect == "sqlite":
        if granularity == "day":
            return func.date(column)
        if granularity == "week":
            return func.date(column, _lit("weekday 0"), _lit("-6 days"))
        return func.strftime(_lit("%Y-%m-01"), column)
    if dialect == "postgresql":
        if timescale and granularity in ("day", "week"):
            interval: ColumnElement[Any] = literal_column(f"INTERVAL '1 {granularity}'")
            return cast(func.time_bucket(interval, column), Date)
        return cast(func.date_trunc(_lit(granularity), column), Date)
    day = func.date(column)
    if granularity == "day":
        return day
    if granularity == "week":
        return func.subdate(day, func.weekday(column))
    return func.subdate(day, func.dayofmonth(column) - literal_column("1"))


def duration_seconds_expr(
    end: ColumnElement[Any], start: ColumnElement[Any], dialect: str
) -> ColumnElement[float]:
    """SQL expression: ``end - start`` in seconds, rounded to the millisecond on every backend.

    SQLite computes it from ``julianday`` (a double, exact to ~0.1 ms), hence the rounding.
    """
    dialect = normalise_dialect(dialect)
    if dialect == "sqlite":
        raw: ColumnElement[Any] = (func.julianday(end) - func.julianday(start)) * literal_column(
            "86400.0"
        )
    elif dialect == "postgresql":
        raw = extract("epoch", end - start)
    else:
        # a DOUBLE literal makes the quotient a DOUBLE (MariaDB cannot CAST AS FLOAT)
        raw = func.timestampdiff(literal_column("MICROSECOND"), start, end) / literal_column(
            "1.0E6"
        )
        return func.round(raw, literal_column("3"), type_=Float)
    return cast(func.round(raw, literal_column("3")), Float)


def detect_timescale(bind: Connection | Engine | Any) -> bool:
    """Whether the TimescaleDB extension is installed in the database of ``bind`` (cached)."""
    engine: Engine | None = getattr(bind, "engine", None)
    if engine is None:
        return False
    if normalise_dialect(engine.dialect.name) != "postgresql":
        return False
    cached = _timescale_cache.get(engine)
    if cached is not None:
        return cached
    query = text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            found = conn.execute(query).first() is not None
    else:
        found = bind.execute(query).first() is not None
    _timescale_cache[engine] = found
    return found


def to_date(value: Any) -> date:
    """Normalise a fetched bucket value (``date``, ``datetime`` or ISO text) to a ``date``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    raise InvalidValueError(f"cannot read a date bucket from {value!r}")


def side_sign(is_short: ColumnElement[Any]) -> ColumnElement[Any]:
    """``1`` for a long trade, ``-1`` for a short one."""
    return case((is_short.is_(True), -1), else_=1)


def as_int(expr: ColumnElement[Any]) -> ColumnElement[int]:
    """Cast to INTEGER (for counts computed with SUM(CASE ...))."""
    return cast(expr, Integer)


class _NoIndex(ColumnElement[Any]):
    """A column that SQLite must not look up through an index (``+column``)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(_NoIndex)
def _no_index_default(element: _NoIndex, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(_NoIndex, "sqlite")
def _no_index_sqlite(element: _NoIndex, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.column, **kw))


def no_index(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column``, which SQLite must not read through an index (``+column``; as is elsewhere)."""
    return _NoIndex(column)


def closed_scan(is_open: ColumnElement[Any]) -> ColumnElement[bool]:
    """The condition "closed trade" for a statement that reads most closed trades anyway.

    Nearly every stored trade is closed, so on SQLite an ``is_open = 0`` lookup through an
    index on ``is_open`` re-reads the whole table in index order, one row at a time: ten times
    slower than a plain scan at a million trades (SQLite's planner has no histogram to see the
    skew). ``+is_open = 0`` means the same and lets it scan. Other dialects get
    ``is_open = false``: their planners see the skew in their statistics.
    """
    return _NoIndex(is_open) == false()
