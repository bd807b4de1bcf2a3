"""TimescaleDB: turn the audit journal and ``wallet_history`` into compressed hypertables.

``enable(engine)`` (``tradeledger timescale enable``) works only where the ``timescaledb``
extension is installed in the database or available on the server; otherwise it raises
:class:`~tradeledger.exceptions.TimescaleUnavailableError` before changing anything.

What it does, per table (``tradeledger_journal`` on ``created_at``, ``wallet_history`` on
``timestamp``), each step skipped when already done:

1. ``CREATE EXTENSION IF NOT EXISTS timescaledb`` (only when available but not installed);
2. primary key ``(id)`` → ``(id, <time column>)``: TimescaleDB requires every unique index
   to contain the partitioning column (one transaction);
3. ``SELECT create_hypertable(...)`` with ``migrate_data => true`` (existing rows move into
   chunks) and ``if_not_exists``;
4. ``ALTER TABLE ... SET (timescaledb.compress, compress_orderby, compress_segmentby)``;
5. ``SELECT add_compression_policy(..., if_not_exists => true)``.

Steps 3-5 run outside a transaction block (autocommit), as TimescaleDB requires for
``create_hypertable`` with data migration and for the background-job calls. Table names
are qualified with the connection's schema (bots with ``init_db(schema=...)``).

freqtrade still opens the database: the tables keep their columns; ``wallet_history``'s
primary key gains ``timestamp`` (its unique ``(timestamp, currency)`` constraint stays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text

from tradeledger.exceptions import InvalidValueError, TimescaleUnavailableError

__all__ = [
    "HYPERTABLES",
    "EnableResult",
    "Step",
    "TimescaleStatus",
    "detect",
    "enable",
    "plan",
]


@dataclass(frozen=True)
class _Hypertable:
    table: str
    time_column: str
    segment_by: str


#: The tables made hypertables: (table, time column, compression segment column).
HYPERTABLES: tuple[_Hypertable, ...] = (
    _Hypertable("tradeledger_journal", "created_at", "entity"),
    _Hypertable("wallet_history", "timestamp", "currency"),
)


@dataclass(frozen=True)
class TimescaleStatus:
    """What the server offers."""

    dialect: str
    available: bool  # the extension can be used (installed, or installable)
    installed: bool  # CREATE EXTENSION was done in this database
    version: str | None
    hypertables: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class Step:
    """One SQL statement of the plan."""

    sql: str
    autocommit: bool
    description: str


@dataclass
class EnableResult:
    """What :func:`enable` did (or, with ``dry_run``, would do)."""

    steps: list[Step] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"dry_run": self.dry_run,
                "steps": [{"sql": s.sql, "autocommit": s.autocommit,
                           "description": s.description} for s in self.steps]}


def detect(engine: Engine) -> TimescaleStatus:
    """Whether TimescaleDB can be used on ``engine``'s database (read only)."""
    dialect = engine.dialect.name
    if dialect != "postgresql":
        return TimescaleStatus(dialect, False, False, None,
                               reason=f"TimescaleDB is a PostgreSQL extension; this database is "
                                      f"{dialect}")
    with engine.connect() as conn:
        installed = conn.execute(text(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
        available = conn.execute(text(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        )).scalar()
        tables: tuple[str, ...] = ()
        if installed is not None:
            tables = tuple(str(r) for r in conn.execute(text(
                "SELECT hypertable_name FROM timescaledb_information.hypertables "
                "WHERE hypertable_schema = current_schema() ORDER BY 1")).scalars())
        conn.rollback()
    if installed is None and available is None:
        return TimescaleStatus(dialect, False, False, None,
                               reason="the timescaledb extension is not installed on this "
                                      "PostgreSQL server (pg_available_extensions has no "
                                      "'timescaledb'; it must also be in "
                                      "shared_preload_libraries)")
    return TimescaleStatus(dialect, True, installed is not None,
                           str(installed or available), tables)


def _interval(value: timedelta, name: str) -> str:
    if not isinstance(value, timedelta) or value.total_seconds() <= 0:
        raise InvalidValueError(f"{name}: expected a positive timedelta, got {value!r}")
    return f"INTERVAL '{int(value.total_seconds())} seconds'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def plan(
    schema: str,
    *,
    install_extension: bool = False,
    chunk_interval: timedelta = timedelta(days=7),
    compress_after: timedelta = timedelta(days=30),
    primary_keys: dict[str, tuple[str, ...]] | None = None,
    hypertables: tuple[str, ...] = (),
    compressed: tuple[str, ...] = (),
) -> list[Step]:
    """The SQL of :func:`enable` for tables in ``schema`` (pure: no database access).

    Args:
        schema: schema of the tables (``current_schema()`` of the bot's connection).
        install_extension: start with ``CREATE EXTENSION IF NOT EXISTS timescaledb``.
        chunk_interval: time range of one chunk.
        compress_after: chunks older than this are compressed by the policy.
        primary_keys: current primary key columns per table (a key that already contains
            the time column is left alone); ``None``: assume ``(id)``.
        hypertables: tables that are hypertables already (steps 2-3 skipped).
        compressed: tables with compression enabled already (step 4 skipped).
    """
    chunk = _interval(chunk_interval, "chunk_interval")
    after = _interval(compress_after, "compress_after")
    steps: list[Step] = []
    if install_extension:
        steps.append(Step("CREATE EXTENSION IF NOT EXISTS timescaledb", True,
                          "install the TimescaleDB extension in this database"))
    for ht in HYPERTABLES:
        qualified = f"{_q(schema)}.{_q(ht.table)}"
        regclass = f"'{qualified}'"
        pk = (primary_keys or {}).get(ht.table, ("id",))
        if ht.table not in hypertables and ht.time_column not in pk:
            steps.append(Step(
                f"ALTER TABLE {qualified} DROP CONSTRAINT {_q(ht.table + '_pkey')}, "
                f"ADD CONSTRAINT {_q(ht.table + '_pkey')} PRIMARY KEY "
                f"(id, {_q(ht.time_column)})", False,
                f"{ht.table}: primary key (id, {ht.time_column}) (hypertables need the time "
                "column in every unique index)"))
        if ht.table not in hypertables:
            steps.append(Step(
                f"SELECT create_hypertable({regclass}, '{ht.time_column}', "
                f"chunk_time_interval => {chunk}, migrate_data => true, "
                f"if_not_exists => true)", True,
                f"{ht.table}: hypertable on {ht.time_column}"))
        if ht.table not in compressed:
            steps.append(Step(
                f"ALTER TABLE {qualified} SET (timescaledb.compress, "
                f"timescaledb.compress_orderby = '{ht.time_column} DESC, id DESC', "
                f"timescaledb.compress_segmentby = '{ht.segment_by}')", True,
                f"{ht.table}: compression by {ht.segment_by}"))
        steps.append(Step(
            f"SELECT add_compression_policy({regclass}, {after}, if_not_exists => true)", True,
            f"{ht.table}: compress chunks older than {compress_after}"))
    return steps


def _current(conn: Connection) -> tuple[str, dict[str, tuple[str, ...]], tuple[str, ...]]:
    schema = str(conn.execute(text("SELECT current_schema()")).scalar())
    insp = inspect(conn)
    keys = {ht.table: tuple(insp.get_pk_constraint(ht.table)["constrained_columns"])
            for ht in HYPERTABLES if insp.has_table(ht.table)}
    missing = [ht.table for ht in HYPERTABLES if ht.table not in keys]
    if missing:
        raise TimescaleUnavailableError(
            f"tables {', '.join(missing)} are missing: upgrade the database first "
            "(tradeledger init / init_db); nothing was changed")
    compressed: tuple[str, ...] = ()
    if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).scalar():
        compressed = tuple(str(r) for r in conn.execute(text(
            "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE "
            "hypertable_schema = current_schema() AND compression_enabled")).scalars())
    return schema, keys, compressed


def enable(
    engine: Engine,
    *,
    chunk_interval: timedelta = timedelta(days=7),
    compress_after: timedelta = timedelta(days=30),
    dry_run: bool = False,
) -> EnableResult:
    """Make the journal and ``wallet_history`` compressed hypertables (see the module doc).

    Raises:
        TimescaleUnavailableError: not PostgreSQL, or no TimescaleDB on the server, or the
            tables are missing; nothing was changed.
    """
    status = detect(engine)
    if not status.available:
        raise TimescaleUnavailableError(
            f"TimescaleDB is not available: {status.reason}. Nothing was changed.")
    with engine.connect() as conn:
        schema, keys, compressed = _current(conn)
        conn.rollback()
    steps = plan(schema, install_extension=not status.installed,
                 chunk_interval=chunk_interval, compress_after=compress_after,
                 primary_keys=keys, hypertables=status.hypertables, compressed=compressed)
    result = EnableResult(steps, dry_run)
    if dry_run:
        return result
    for step in steps:
        if step.autocommit:
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(step.sql))
        else:
            with engine.begin() as conn:
                conn.execute(text(step.sql))
    return result
