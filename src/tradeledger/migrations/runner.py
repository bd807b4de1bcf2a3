"""Bring a database to the schema this code expects: create, adopt, upgrade, or refuse.

:func:`prepare_database` is what :func:`tradeledger.db.init_db` runs:

* empty database → the revisions are *replayed* from the baseline to the head (so every fresh
  database exercises the migrations, and extension branches run as written), then stamped;
* a freqtrade database without ``alembic_version`` → adopted into the baseline revision
  (:mod:`tradeledger.migrations.legacy`), stamped ``tl_0001``, then upgraded to the head;
* stamped and behind → upgraded; stamped at the head → nothing (no lock, no write);
* stamped with a revision this code does not know → :class:`SchemaTooNewError` before any
  write; a freqtrade database older than 2022.3 → :class:`SchemaTooOldError`.

``migrate="check"`` only reads and raises :class:`MigrationRequiredError` when an upgrade is
due; ``migrate="off"`` does nothing at all.

Safety: the revision is read without a lock first; if work is due, the migration lock is
taken (PostgreSQL: ``pg_advisory_xact_lock`` inside the migration transaction, with
``lock_timeout``; MariaDB/MySQL: ``GET_LOCK``; SQLite: a file lock next to the database plus
an in-process lock) and the state is read again, so of many starters exactly one migrates.
On SQLite and PostgreSQL the whole change (adoption, stamp, every revision, metadata) is one
transaction. Before changing an existing SQLite file a backup is written next to it with the
online backup API and verified; foreign keys are off during the rebuild and
``PRAGMA foreign_key_check`` must find no new violation before the commit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from tradeledger._version import __version__
from tradeledger.exceptions import (
    ConfigurationError,
    MigrationError,
    MigrationRequiredError,
    ModeMismatchError,
    SchemaTooNewError,
    TradeLedgerError,
)
from tradeledger.migrations.legacy import AdoptionPlan, adopt, plan_adoption

__all__ = [
    "BASELINE_REVISION",
    "EXECUTION_MODES",
    "MIGRATIONS_DIR",
    "PrepareResult",
    "current_revision",
    "current_revisions",
    "database_status",
    "get_script_directory",
    "head_revision",
    "head_revisions",
    "prepare_database",
    "set_database_mode",
]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
BASELINE_REVISION = "tl_0001"
LIBRARY_BRANCH = "tradeledger"
EXECUTION_MODES: tuple[str, ...] = ("live", "dry_run", "backtest")
META_TABLE = "tradeledger_meta"

#: PostgreSQL advisory lock key (``b"tlmigrat"`` as a signed 64-bit integer).
PG_LOCK_KEY = int.from_bytes(b"tlmigrat", "big", signed=True)
DEFAULT_LOCK_TIMEOUT = 600.0
#: How long one schema change may wait for a table lock held by a running bot (PostgreSQL
#: ``lock_timeout``, MariaDB ``lock_wait_timeout``). Short on purpose: a waiting
#: ``ALTER TABLE`` queues every later query on that table behind it, stalling live bots.
DEFAULT_DDL_LOCK_TIMEOUT = 30.0

#: alembic's ``op``/``context`` are module-level proxies: one migration at a time per process.
_PROCESS_LOCK = threading.RLock()

Action = Literal["none", "created", "adopted", "upgraded", "metadata", "off"]


@dataclass
class PrepareResult:
    """What :func:`prepare_database` did."""

    action: Action
    from_revisions: tuple[str, ...] = ()
    to_revisions: tuple[str, ...] = ()
    backup_path: Path | None = None
    waited_for_other: bool = False
    details: list[str] = field(default_factory=list)


#: The result of the last :func:`prepare_database` call in this process (diagnostics).
last_result: PrepareResult | None = None


# ---------------------------------------------------------------------------------------------
# scripts


def _normalise_locations(extra: Sequence[str | os.PathLike[str]] | None) -> tuple[str, ...]:
    out: list[str] = []
    for loc in extra or ():
        path = Path(loc).resolve()
        if not path.is_dir():
            raise ConfigurationError(f"extra_migrations: {loc!s} is not a directory")
        out.append(str(path))
    return tuple(out)


@lru_cache(maxsize=16)
def _script_directory(extra: tuple[str, ...]) -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR), version_locations=[str(VERSIONS_DIR), *extra])


def get_script_directory(
    extra_migrations: Sequence[str | os.PathLike[str]] | None = None,
) -> ScriptDirectory:
    """The Alembic script directory: the library's revisions plus ``extra_migrations``.

    Each extra location holds the user's own revision files, on a branch of their own that
    depends on a library revision (see ``docs/migrations.md``).
    """
    return _script_directory(_normalise_locations(extra_migrations))


def alembic_config(extra_migrations: Sequence[str | os.PathLike[str]] | None = None) -> Config:
    """An in-memory Alembic ``Config`` (no ini file) for alembic's own commands."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [str(VERSIONS_DIR), *_normalise_locations(extra_migrations)]
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    return cfg


def head_revisions(extra_migrations: Sequence[str | os.PathLike[str]] | None = None,
                   ) -> tuple[str, ...]:
    """Every head revision (the library's and those of ``extra_migrations``), sorted."""
    return tuple(sorted(get_script_directory(extra_migrations).get_heads()))


def head_revision() -> str:
    """The library's head revision."""
    heads = get_script_directory().get_heads()
    return heads[0]


def _is_known(script: ScriptDirectory, rev: str) -> bool:
    try:
        return script.revision_map.get_revision(rev) is not None
    except CommandError:
        return False
    except Exception:  # noqa: BLE001 - alembic raises several ResolutionError flavours
        return False


# ---------------------------------------------------------------------------------------------
# state


@dataclass
class _State:
    tables: set[str]
    heads: tuple[str, ...]
    unknown: tuple[str, ...]
    plan: AdoptionPlan | None
    meta: dict[str, Any] | None
    target: tuple[str, ...]

    @property
    def stamped(self) -> bool:
        return bool(self.heads)

    @property
    def is_fresh(self) -> bool:
        return not self.stamped and self.plan is not None and self.plan.is_empty_database

    @property
    def up_to_date(self) -> bool:
        return self.stamped and not self.unknown and set(self.heads) == set(self.target)


def _read_heads(conn: Connection, tables: set[str]) -> tuple[str, ...]:
    if "alembic_version" not in tables:
        return ()
    rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return tuple(sorted(str(r) for r in rows))


def _read_meta(conn: Connection, tables: set[str]) -> dict[str, Any] | None:
    if META_TABLE not in tables:
        return None
    row = conn.execute(sa.text(
        f"SELECT mode, bot_id, library_version FROM {META_TABLE} ORDER BY id")).first()
    if row is None:
        return {}
    return {"mode": row[0], "bot_id": row[1], "library_version": row[2]}


def _read_state(conn: Connection, script: ScriptDirectory) -> _State:
    tables = set(sa.inspect(conn).get_table_names())
    heads = _read_heads(conn, tables)
    unknown = tuple(h for h in heads if not _is_known(script, h))
    plan = None if heads else plan_adoption(conn)
    return _State(tables=tables, heads=heads, unknown=unknown, plan=plan,
                  meta=_read_meta(conn, tables), target=tuple(sorted(script.get_heads())))


def _refuse(state: _State, mode: str | None, url: str) -> None:
    if state.unknown:
        code = ", ".join(state.target)
        raise SchemaTooNewError(
            f"The database '{url}' is at schema revision {', '.join(state.unknown)}, which "
            f"this tradeledger {__version__} does not know (its newest revision is {code}). "
            "It was written by a newer tradeledger, or by your own migrations: upgrade "
            "tradeledger, or pass their directory with init_db(..., extra_migrations=[...]). "
            "Nothing was written.",
            db_revision=", ".join(state.unknown), code_revision=code)
    recorded = (state.meta or {}).get("mode")
    if mode is not None and recorded is not None and recorded != mode:
        raise ModeMismatchError(
            f"The database '{url}' belongs to a {recorded} bot but was opened with "
            f"mode='{mode}'. Refusing to mix {recorded} and {mode} trades in one database: "
            f"use a separate database for {mode}, or re-tag this one deliberately with "
            f"`tradeledger db set-mode {mode}`.")


def _meta_changes(state: _State, mode: str | None, bot_id: str | None) -> bool:
    meta = state.meta
    if meta is None:
        return False  # no table yet: the upgrade creates and fills it
    if not meta:
        return True
    if meta.get("library_version") != __version__:
        return True
    if mode is not None and meta.get("mode") != mode:
        return True
    return bot_id is not None and meta.get("bot_id") != bot_id


# ---------------------------------------------------------------------------------------------
# locking


def _sqlite_path(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    db = engine.url.database
    if db in (None, "", ":memory:") or str(db).startswith("file:"):
        return None
    return Path(str(db)).resolve()


@contextlib.contextmanager
def _migration_connection(engine: Engine, lock_timeout: float,
                          ddl_lock_timeout: float = DEFAULT_DDL_LOCK_TIMEOUT,
                          ) -> Iterator[Connection]:
    """A connection holding the migration lock, inside an open transaction."""
    dialect = engine.dialect.name
    with contextlib.ExitStack() as stack:
        path = _sqlite_path(engine)
        if path is not None:
            from filelock import FileLock

            lock = FileLock(str(path) + ".tl-migrate.lock", timeout=lock_timeout, mode=0o600)
            try:
                stack.enter_context(lock)
            except TimeoutError as exc:  # filelock.Timeout subclasses TimeoutError
                raise MigrationError(
                    f"another process holds the migration lock of {path} "
                    f"(waited {lock_timeout:.0f} s)") from exc
        conn = stack.enter_context(engine.connect())
        if dialect == "sqlite":
            fk_was_on = bool(conn.exec_driver_sql("PRAGMA foreign_keys").scalar())
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            conn.commit()
            stack.callback(_sqlite_fk_restore, conn, fk_was_on)
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif dialect == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'")
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(ddl_lock_timeout * 1000)}ms'")
        else:
            name = f"tradeledger_migrate:{engine.url.database}"[:64]
            got = conn.execute(sa.text("SELECT GET_LOCK(:n, :t)"),
                               {"n": name, "t": int(lock_timeout)}).scalar()
            if got != 1:
                raise MigrationError(
                    f"could not take the migration lock {name!r} within {lock_timeout:.0f} s")
            stack.callback(_mysql_release, conn, name)
            conn.exec_driver_sql(f"SET SESSION lock_wait_timeout = {max(1, int(ddl_lock_timeout))}")
        yield conn


def _sqlite_fk_restore(conn: Connection, on: bool) -> None:
    with contextlib.suppress(Exception):
        if conn.in_transaction():
            conn.rollback()
        conn.exec_driver_sql(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
        conn.commit()


def _mysql_release(conn: Connection, name: str) -> None:
    with contextlib.suppress(Exception):
        conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
        conn.exec_driver_sql("SET SESSION lock_wait_timeout = DEFAULT")
        conn.commit()


# ---------------------------------------------------------------------------------------------
# doing the work


def _run_upgrade(conn: Connection, script: ScriptDirectory, target: str = "heads") -> None:
    def _upgrade(rev: Any, context: Any) -> Any:
        return script._upgrade_revs(target, rev)

    env = EnvironmentContext(Config(), script, fn=_upgrade, destination_rev=target)
    with env:
        env.configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite",
                      transaction_per_migration=False)
        with env.begin_transaction():
            env.run_migrations()


def _stamp(conn: Connection, script: ScriptDirectory, revision: str) -> None:
    MigrationContext.configure(conn).stamp(script, revision)


def _library_tables() -> list[sa.Table]:
    from tradeledger.models import ModelBase

    out: list[sa.Table] = []
    for mapper in ModelBase.registry.mappers:
        if mapper.class_.__module__.startswith("tradeledger."):
            out.extend(t for t in mapper.tables if isinstance(t, sa.Table))
    return out


def _create_unmigrated_tables(conn: Connection) -> list[str]:
    """Development guard: create library model tables that no revision creates yet.

    Logged as a warning; the test comparing the models with the migration head fails in CI
    for such a table, so no release ships one.
    """
    existing = set(sa.inspect(conn).get_table_names())
    missing = [t for t in _library_tables() if t.name not in existing]
    if missing:
        from tradeledger.models import ModelBase

        ModelBase.metadata.create_all(conn, tables=missing, checkfirst=True)
        logger.warning("tables without a migration revision were created: %s",
                       ", ".join(t.name for t in missing))
    return [t.name for t in missing]


def _write_meta(conn: Connection, mode: str | None, bot_id: str | None) -> None:
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.models.meta import META_ROW_ID, TradeLedgerMeta

    if not sa.inspect(conn).has_table(META_TABLE):
        return
    table = TradeLedgerMeta.metadata.tables[META_TABLE]
    now = dt_now()
    row = conn.execute(sa.select(table).where(table.c.id == META_ROW_ID)).first()
    if row is None:
        conn.execute(table.insert().values(
            id=META_ROW_ID, library_version=__version__, created_by_version=__version__,
            bot_id=bot_id, mode=mode, created_at=now, updated_at=now))
        return
    values: dict[str, Any] = {}
    if row.library_version != __version__:
        values["library_version"] = __version__
    if mode is not None and row.mode != mode:
        values["mode"] = mode
    if bot_id is not None and row.bot_id != bot_id:
        if row.bot_id is not None:
            logger.warning("database bot identity changes from %r to %r", row.bot_id, bot_id)
        values["bot_id"] = bot_id
    if values:
        values["updated_at"] = now
        conn.execute(table.update().where(table.c.id == META_ROW_ID).values(**values))


#: The baseline's foreign keys, checked by value even where an old table did not declare them.
_BASELINE_FKS = (
    ("orders", "ft_trade_id", "trades"),
    ("trade_custom_data", "ft_trade_id", "trades"),
)


def _fk_violations(conn: Connection) -> set[tuple[Any, ...]]:
    """``(table, rowid, parent)`` of every row breaking a foreign key (SQLite).

    Rows that already broke one before a migration (freqtrade never enables foreign keys on
    SQLite, so orphan orders exist) are tolerated; a migration must not add any.
    """
    found = {(r[0], r[1], r[2]) for r in conn.exec_driver_sql("PRAGMA foreign_key_check")}
    insp = sa.inspect(conn)
    names = set(insp.get_table_names())
    for child, column, parent in _BASELINE_FKS:
        if child in names and parent in names and any(
                c["name"] == column for c in insp.get_columns(child)):
            rows = conn.exec_driver_sql(
                f'SELECT rowid FROM "{child}" WHERE "{column}" IS NOT NULL AND "{column}" '
                f'NOT IN (SELECT id FROM "{parent}")').scalars()
            found |= {(child, rowid, parent) for rowid in rows}
    return found


def _sqlite_backup(path: Path, state: _State) -> Path:
    """Verified copy of the database next to it, ``<file>.pre-<revision>.bak``.

    Read through a second connection while the migration connection holds the write lock
    (``BEGIN IMMEDIATE``), so the copy is exactly the state the migration starts from.
    """
    from tradeledger.services.backup import sqlite_online_backup

    label = "+".join(state.heads) if state.heads else "freqtrade"
    dest = path.with_name(f"{path.name}.pre-{label}.bak")
    sqlite_online_backup(path, dest)
    return dest


def _migrate(engine: Engine, script: ScriptDirectory, mode: str | None, bot_id: str | None,
             lock_timeout: float, url: str,
             ddl_lock_timeout: float = DEFAULT_DDL_LOCK_TIMEOUT) -> PrepareResult:
    dialect = engine.dialect.name
    with _migration_connection(engine, lock_timeout, ddl_lock_timeout) as conn:
        try:
            state = _read_state(conn, script)  # again, under the lock
            _refuse(state, mode, url)
            if state.up_to_date and not _meta_changes(state, mode, bot_id):
                conn.rollback()
                return PrepareResult("none", state.heads, state.heads, waited_for_other=True)
            result = PrepareResult("none", from_revisions=state.heads)
            path = _sqlite_path(engine)
            if path is not None and not state.is_fresh and not state.up_to_date:
                try:
                    result.backup_path = _sqlite_backup(path, state)
                except (OSError, TradeLedgerError, sqlite3.Error) as exc:
                    raise MigrationError(
                        f"could not back up {path} before migrating it ({exc}); nothing was "
                        "changed. Free space / permissions next to the file, then retry."
                    ) from exc
            before = _fk_violations(conn) if dialect == "sqlite" else set()
            if before:
                logger.warning("the database already holds %d rows breaking foreign keys "
                               "(e.g. orphan orders); they are kept as they are", len(before))
            if state.is_fresh:
                assert state.plan is not None
                if state.plan.changes_schema and (state.plan.leftovers_new
                                                  or state.plan.leftovers_old):
                    adopt(conn, state.plan)
                _run_upgrade(conn, script)
                result.action = "created"
            elif not state.stamped:
                assert state.plan is not None
                adopt(conn, state.plan)
                _stamp(conn, script, BASELINE_REVISION)
                _run_upgrade(conn, script)
                result.action = "adopted"
                result.details.append(state.plan.describe())
            elif not state.up_to_date:
                _run_upgrade(conn, script)
                result.action = "upgraded"
            else:
                result.action = "metadata"
            result.details.extend(_create_unmigrated_tables(conn))
            _write_meta(conn, mode, bot_id)
            if dialect == "sqlite":
                new = _fk_violations(conn) - before
                if new:
                    raise MigrationError(
                        f"the migration would break foreign keys ({len(new)} rows, e.g. "
                        f"{sorted(new)[:3]}); nothing was changed")
            result.to_revisions = _read_heads(conn, set(sa.inspect(conn).get_table_names()))
            conn.commit()
        except TradeLedgerError:
            conn.rollback()
            raise
        except Exception as exc:
            conn.rollback()
            text = str(exc).lower()
            hint = ("Another process holds a lock on the tables (a running bot's open "
                    "transaction?): stop it or retry. " if "lock" in text and (
                        "timeout" in text or "wait" in text) else "")
            raise MigrationError(
                f"migrating '{url}' failed: {type(exc).__name__}: {exc}. {hint}"
                + ("The database was left unchanged." if dialect != "mysql" and
                   dialect != "mariadb" else
                   "MariaDB/MySQL cannot roll back schema changes; the next start resumes.")
            ) from exc
    if result.to_revisions != result.from_revisions or result.action == "metadata":
        logger.info("database %s: %s %s -> %s", url, result.action,
                    ",".join(result.from_revisions) or "-", ",".join(result.to_revisions))
    return result


def _validate(migrate: str, mode: str | None) -> None:
    if migrate not in ("auto", "check", "off"):
        raise ConfigurationError(f"migrate must be 'auto', 'check' or 'off', got {migrate!r}")
    if mode is not None and mode not in EXECUTION_MODES:
        raise ConfigurationError(
            f"mode must be one of {', '.join(EXECUTION_MODES)} or None, got {mode!r}")


def prepare_database(
    engine: Engine,
    *,
    migrate: str = "auto",
    mode: str | None = None,
    bot_id: str | None = None,
    extra_migrations: Sequence[str | os.PathLike[str]] | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ddl_lock_timeout: float = DEFAULT_DDL_LOCK_TIMEOUT,
) -> PrepareResult:
    """Create, adopt or upgrade the schema behind ``engine`` (see the module docstring).

    Args:
        engine: the database.
        migrate: ``"auto"``, ``"check"`` (read only; raise if an upgrade is due) or ``"off"``.
        mode: ``live``, ``dry_run`` or ``backtest``: recorded in ``tradeledger_meta`` and
            compared with the recorded mode (a mismatch raises, before any write).
        bot_id: identity of the bot, recorded in ``tradeledger_meta``.
        extra_migrations: directories with the user's own revisions (their own branch).
        lock_timeout: seconds to wait for another process's migration.
        ddl_lock_timeout: seconds one schema change may wait for a table lock held by a
            running bot before the migration gives up (and, on SQLite/PostgreSQL, rolls back).

    Returns:
        What was done.

    Raises:
        SchemaTooNewError: the database carries a revision this code does not know.
        SchemaTooOldError: a freqtrade database older than 2022.3.
        MigrationRequiredError: ``migrate="check"`` and an upgrade is due.
        ModeMismatchError: the database belongs to another execution mode.
        MigrationError: the upgrade failed (SQLite/PostgreSQL: nothing was changed).
    """
    global last_result
    _validate(migrate, mode)
    if migrate == "off":
        last_result = PrepareResult("off")
        return last_result
    script = get_script_directory(extra_migrations)
    url = engine.url.render_as_string(hide_password=True)
    with _PROCESS_LOCK:
        with engine.connect() as conn:
            state = _read_state(conn, script)
            conn.rollback()
        _refuse(state, mode, url)
        if state.up_to_date and not _meta_changes(state, mode, bot_id):
            last_result = PrepareResult("none", state.heads, state.heads)
            return last_result
        if migrate == "check":
            if state.up_to_date:
                last_result = PrepareResult("none", state.heads, state.heads)
                return last_result
            raise MigrationRequiredError(_required_message(state, url))
        last_result = _migrate(engine, script, mode, bot_id, lock_timeout, url,
                               ddl_lock_timeout)
        return last_result


def _required_message(state: _State, url: str) -> str:
    target = ", ".join(state.target)
    if state.is_fresh:
        what = "is empty and needs its tables"
    elif not state.stamped:
        assert state.plan is not None
        what = f"is a freqtrade database to adopt ({state.plan.describe()})"
    else:
        what = f"is at revision {', '.join(state.heads)}"
    return (f"The database '{url}' {what}; this code needs revision {target}. Run "
            "`tradeledger db upgrade` (or init_db(..., migrate='auto')) once, then start "
            "with migrate='check'. Nothing was written.")


# ---------------------------------------------------------------------------------------------
# read-only helpers


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """Every revision stamped in the database (several with extension branches)."""
    with engine.connect() as conn:
        return _read_heads(conn, set(sa.inspect(conn).get_table_names()))


def current_revision(engine: Engine) -> str | None:
    """The library's revision stamped in the database, or ``None`` if unstamped."""
    heads = current_revisions(engine)
    if not heads:
        return None
    script = get_script_directory()
    for head in heads:
        if _is_known(script, head):
            return head
    return heads[0]


def database_status(engine: Engine,
                    extra_migrations: Sequence[str | os.PathLike[str]] | None = None,
                    ) -> dict[str, Any]:
    """Read-only summary: current and head revisions, whether an upgrade is due, metadata."""
    script = get_script_directory(extra_migrations)
    with engine.connect() as conn:
        state = _read_state(conn, script)
        conn.rollback()
    if state.unknown:
        status = "too new"
    elif state.up_to_date:
        status = "up to date"
    elif state.is_fresh:
        status = "empty"
    elif not state.stamped:
        status = "freqtrade database (adoption due)"
    else:
        status = "upgrade due"
    return {"current": state.heads, "head": state.target, "status": status,
            "unknown": state.unknown, "meta": state.meta,
            "adoption": state.plan.describe() if state.plan and not state.is_fresh else None}


def set_database_mode(engine: Engine, mode: str) -> None:
    """Re-tag the database's execution mode (deliberately, e.g. dry run promoted to live)."""
    _validate("auto", mode)
    with engine.begin() as conn:
        if not sa.inspect(conn).has_table(META_TABLE):
            raise MigrationRequiredError("the database has no tradeledger_meta table: upgrade it")
        from tradeledger.domain.timeutil import dt_now
        from tradeledger.models.meta import META_ROW_ID, TradeLedgerMeta

        table = TradeLedgerMeta.metadata.tables[META_TABLE]
        if conn.execute(sa.select(table.c.id)).first() is None:
            conn.execute(table.insert().values(id=META_ROW_ID, mode=mode,
                                               library_version=__version__,
                                               created_by_version=__version__,
                                               created_at=dt_now(), updated_at=dt_now()))
        else:
            conn.execute(table.update().values(mode=mode, updated_at=dt_now()))
