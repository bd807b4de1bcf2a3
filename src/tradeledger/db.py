"""Engines, sessions and :func:`init_db`.

``init_db(url)`` checks the URL, builds an engine tuned for its dialect, prepares the schema
(create, adopt or migrate, see :mod:`tradeledger.migrations`) and binds one
``scoped_session`` to every model class as ``Model.session``. Sessions are scoped by
:func:`get_request_or_thread_id`: a request id held in a context variable (set by
:class:`request_scope`) or else the current thread id.

Dialect choices:

* SQLite file: WAL, ``synchronous=FULL`` (configurable), a busy timeout, foreign keys on.
  Reads run without a transaction (they never hold a snapshot that pins the WAL); the first
  write of a transaction starts it with ``BEGIN IMMEDIATE``, so a writer waits for the write
  lock up front instead of failing with "database is locked" when upgrading a read lock.
  New database files are created readable by their owner only.
* ``sqlite://``: one shared in-memory connection, usable from every thread.
* PostgreSQL: psycopg 3 (``postgresql://`` means ``postgresql+psycopg://``), stale-connection
  check on checkout (see :data:`PING_AFTER_IDLE_S`); ``pgbouncer=True`` turns server-side
  prepared statements off (transaction pooling); ``schema="bot_a"`` confines the bot to its
  own schema (``search_path``, see :mod:`tradeledger.services.fleet`).
* MariaDB/MySQL: PyMySQL, ``utf8mb4``, ``READ COMMITTED`` (so a long-lived session sees
  rows other bots commit), the same stale-connection check, ``pool_recycle`` one hour.

Stale connections (server databases): a pooled connection that sat idle in the pool for
:data:`PING_AFTER_IDLE_S` seconds or more is pinged (``SELECT 1``) before it is handed out,
and replaced (the whole pool is invalidated) if the server no longer answers -- what
SQLAlchemy's ``pool_pre_ping`` does, minus its round trip on every checkout: a session gives
its connection back at each commit and takes it again for the next flush microseconds later,
so a bot committing in a loop paid one extra round trip per commit. A connection that dies
between two such close checkouts fails its next statement with a disconnect error, which
invalidates the pool (the next attempt reconnects; see :mod:`tradeledger.services.retry`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from contextvars import ContextVar, Token
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    InvalidatePoolError,
    NoSuchModuleError,
)
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.orm import close_all_sessions, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool

from tradeledger.exceptions import (
    ConfigurationError,
    DatabaseUnavailableError,
    InvalidDatabaseURL,
    MissingDriverError,
)

__all__ = [
    "DEFAULT_DB_URL",
    "PING_AFTER_IDLE_S",
    "MigrateMode",
    "close_db",
    "get_engine",
    "get_read_engine",
    "get_read_replica",
    "get_request_or_thread_id",
    "init_db",
    "mask_url",
    "request_scope",
]

logger = logging.getLogger(__name__)

DEFAULT_DB_URL = "sqlite:///tradeledger.sqlite"
#: A pooled server connection idle at least this long (seconds) is pinged before use.
PING_AFTER_IDLE_S = 1.0
MigrateMode = Literal["auto", "check", "off"]

_request_id_ctx_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_state_lock = threading.RLock()
_engine: Engine | None = None
_read_engine: Engine | None = None
_scoped_sessions: list[scoped_session[Any]] = []
_guard: Any = None  # tradeledger.services.guard.InstanceGuard held for init_db(exclusive=True)

# scheme may be empty or mistyped; the password runs to the last "@" (it may contain "@")
_PASSWORD_RE = re.compile(r"(?P<head>[^:/@\s]*://[^:/@]*:)(?P<pw>.*)(?P<tail>@)")

_DRIVERS: dict[str, tuple[str, str]] = {
    # dialect name -> (driver to use when none is given, extra to install)
    "postgresql": ("psycopg", "postgres"),
    "mysql": ("pymysql", "mysql"),
    "mariadb": ("pymysql", "mysql"),
}
_EXTRA_BY_MODULE: dict[str, str] = {
    "psycopg": "postgres",
    "psycopg2": "postgres",
    "pymysql": "mysql",
    "MySQLdb": "mysql",
    "mysqlclient": "mysql",
}


def get_request_or_thread_id() -> str:
    """Return the current request id (see :class:`request_scope`) or else the thread id."""
    request_id = _request_id_ctx_var.get()
    if request_id is not None:
        return request_id
    return str(threading.current_thread().ident)


def mask_url(url: str | URL) -> str:
    """Return ``url`` as text with its password replaced by ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparsable text still must not leak a password
        return _PASSWORD_RE.sub(r"\g<head>***\g<tail>", url)


#: Query parameters SQLAlchemy's pysqlite dialect understands (SQLite URI filenames with
#: ``uri=true`` are not supported: the file checks and pragmas need a plain path).
_PYSQLITE_QUERY_KEYS = frozenset(
    {"timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements"})


def _normalise_url(db_url: str) -> URL:
    if not isinstance(db_url, str) or not db_url.strip():
        raise InvalidDatabaseURL(f"db_url must be a non-empty string, got {db_url!r}")
    if "\x00" in db_url:
        raise InvalidDatabaseURL("db_url contains a NUL character")
    if db_url == "sqlite:///":
        raise InvalidDatabaseURL(
            "Bad db-url sqlite:///. For in-memory database, please use `sqlite://`; "
            "for a file, `sqlite:///path/to/file.sqlite`."
        )
    try:
        url = make_url(db_url)
        url.port  # noqa: B018 - a non-numeric port raises here, not later
        url.get_backend_name()
    except (ArgumentError, ValueError, TypeError, AttributeError):
        raise InvalidDatabaseURL(
            f"Given value for db_url: '{mask_url(db_url)}' is no valid database URL! "
            "(expected e.g. sqlite:///file.sqlite, postgresql://user@host/db, "
            "mysql://user@host/db)"
        ) from None
    backend = url.get_backend_name()
    if backend == "postgres":  # Heroku-style spelling
        url = url.set(drivername="postgresql")
        backend = "postgresql"
    if backend in _DRIVERS and "+" not in url.drivername:
        url = url.set(drivername=f"{backend}+{_DRIVERS[backend][0]}")
    if backend in ("mysql", "mariadb") and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    if backend in ("mysql", "mariadb") and not url.database:
        raise InvalidDatabaseURL(
            f"db_url '{mask_url(url)}' names no database; MySQL/MariaDB URLs need one, "
            "e.g. mysql://user@host/tradeledger"
        )
    if backend == "sqlite":
        if url.host or url.username or url.password or url.port:
            # the driver would ignore them and open (or create) the path as a local file
            raise InvalidDatabaseURL(
                f"db_url '{mask_url(url)}': a SQLite URL names a local file, with no host, "
                "user, password or port (sqlite:///relative.sqlite, sqlite:////abs/path.sqlite)"
            )
        unknown = sorted(set(url.query) - _PYSQLITE_QUERY_KEYS)
        if unknown:
            # the driver would ignore them (with a warning): ?mode=ro would open read-write
            raise InvalidDatabaseURL(
                f"db_url '{mask_url(url)}': query parameter(s) {', '.join(unknown)} are not "
                "supported for SQLite (the driver would ignore them, so e.g. mode=ro would "
                "open the file read-write); accepted: "
                f"{', '.join(sorted(_PYSQLITE_QUERY_KEYS))}"
            )
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise InvalidDatabaseURL(
            f"Given value for db_url: '{mask_url(url)}' names an unsupported database "
            f"'{backend}'; tradeledger supports sqlite, postgresql, mysql and mariadb."
        )
    return url


def _is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


_WRITE_PREFIXES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER",
                   "SAVEPOINT")


def _install_sqlite_file_events(engine: Engine, synchronous: str, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute(f"PRAGMA synchronous = {synchronous}")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_immediate(conn: Any, cursor: Any, statement: str, parameters: Any,
                         context: Any, executemany: bool) -> None:
        if not conn.in_transaction():
            return
        dbapi_conn = conn.connection.dbapi_connection
        if dbapi_conn is None or dbapi_conn.in_transaction:
            return
        if statement.lstrip()[:9].upper().startswith(_WRITE_PREFIXES):
            cursor.execute("BEGIN IMMEDIATE")


def _engine_options(url: URL, *, pool_size: int | None, pgbouncer: bool,
                    busy_timeout_ms: int, schema: str | None = None) -> dict[str, Any]:
    backend = url.get_backend_name()
    opts: dict[str, Any] = {}
    if backend == "sqlite":
        opts["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        if _is_sqlite_memory(url):
            opts["poolclass"] = StaticPool
            # one connection shared by every session: a pool-level rollback when one user
            # gives it back would undo another user's open transaction
            opts["pool_reset_on_return"] = None
        elif pool_size is not None:
            opts["pool_size"] = pool_size
    elif backend == "postgresql":
        connect_args: dict[str, Any] = {"application_name": "tradeledger"}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = 10
        if pgbouncer:
            connect_args["prepare_threshold"] = None
        elif schema is not None:
            # the session's search path is set at connection start (one schema, no public)
            connect_args["options"] = f"-c search_path={schema}"
        opts["connect_args"] = connect_args
        if pool_size is not None:
            opts["pool_size"] = pool_size
    else:
        opts["pool_recycle"] = 3600
        opts["isolation_level"] = "READ COMMITTED"
        if pool_size is not None:
            opts["pool_size"] = pool_size
    return opts


_IDLE_KEY = "tl_idle_since"


def _install_idle_ping(engine: Engine) -> None:
    """Ping a pooled connection on checkout only if it sat idle >= ``PING_AFTER_IDLE_S``."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        if dbapi_conn is not None:
            record.info[_IDLE_KEY] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_IDLE_KEY)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # just connected, or back in the pool a moment ago
        try:
            alive = dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_conn, None):
                raise
            alive = False
        if not alive:  # the pool drops every older connection and connects anew
            raise InvalidatePoolError("stale connection: the server did not answer a ping")


_SCHEMAS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def engine_schema(engine: Engine) -> str | None:
    """The PostgreSQL schema an engine of :func:`create_db_engine` confines the bot to."""
    return _SCHEMAS.get(engine)


def _prepare_sqlite_file(url: URL) -> None:
    path = Path(str(url.database))
    if path.parent and not path.parent.exists():
        raise InvalidDatabaseURL(
            f"directory of the SQLite database does not exist: {path.parent} "
            f"(db_url '{mask_url(url)}')"
        )
    try:
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    except (ValueError, OSError) as exc:
        raise InvalidDatabaseURL(
            f"cannot create the SQLite database file of '{mask_url(url)}': {exc}"
        ) from None


_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def validate_schema(schema: str, url: URL | None = None) -> str:
    """Return ``schema`` if it can name a bot's PostgreSQL schema.

    Raises:
        ConfigurationError: not a lower-case identifier (``[a-z_][a-z0-9_]*``, at most 63
            characters), a reserved name, or a database other than PostgreSQL.
    """
    if not isinstance(schema, str) or not _SCHEMA_RE.match(schema) or schema.startswith(
            "pg_") or schema in ("public", "information_schema"):
        raise ConfigurationError(
            f"schema must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 "
            f"characters, not public, information_schema or pg_*), got {schema!r}")
    if url is not None and url.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"schema={schema!r} needs PostgreSQL (got {url.get_backend_name()}); on SQLite "
            "and MariaDB give each bot its own database instead")
    return schema


def _install_schema_per_transaction(engine: Engine, schema: str) -> None:
    """PgBouncer (transaction pooling) drops session settings: set the path per transaction."""
    sql = f"SET LOCAL search_path TO {schema}"

    @event.listens_for(engine, "begin")
    def _set_path(conn: Any) -> None:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()


def ensure_schema(db_url: str, schema: str) -> None:
    """Create the PostgreSQL schema ``schema`` if it does not exist (idempotent)."""
    from sqlalchemy.pool import NullPool

    url = _normalise_url(db_url)
    validate_schema(schema, url)
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                           connect_args={"prepare_threshold": None})
    try:
        with engine.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_namespace WHERE nspname = %(s)s", {"s": schema}).first()
            if exists is None:
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    except SAOperationalError as exc:
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
        raise DatabaseUnavailableError(
            f"Cannot connect to database '{mask_url(url)}': {detail}") from None
    finally:
        engine.dispose()


def create_db_engine(db_url: str, *, pool_size: int | None = None, pgbouncer: bool = False,
                     sqlite_synchronous: str = "FULL", busy_timeout_ms: int = 30_000,
                     echo: bool = False, create_file: bool = True,
                     schema: str | None = None) -> Engine:
    """Build an engine for ``db_url`` with the per-dialect options described above.

    ``schema`` (PostgreSQL): every statement works in that schema only (``search_path``),
    set when the connection starts, or per transaction behind PgBouncer.
    """
    url = _normalise_url(db_url)
    if schema is not None:
        validate_schema(schema, url)
    if sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ConfigurationError(
            f"sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA, got {sqlite_synchronous!r}"
        )
    is_file = url.get_backend_name() == "sqlite" and not _is_sqlite_memory(url)
    if is_file and create_file:
        _prepare_sqlite_file(url)
    opts = _engine_options(url, pool_size=pool_size, pgbouncer=pgbouncer,
                           busy_timeout_ms=busy_timeout_ms, schema=schema)
    try:
        engine = create_engine(url, echo=echo, **opts)
    except NoSuchModuleError:
        raise InvalidDatabaseURL(
            f"Given value for db_url: '{mask_url(url)}' is no valid database URL! "
            "(unknown dialect or driver)"
        ) from None
    except (ArgumentError, ValueError, TypeError) as exc:
        raise InvalidDatabaseURL(
            f"Given value for db_url: '{mask_url(url)}' is no valid database URL! "
            f"({type(exc).__name__}: {mask_url(str(exc))})"
        ) from None
    except ImportError as exc:
        module = (exc.name or str(exc)).split(".")[0]
        extra = _EXTRA_BY_MODULE.get(module, _DRIVERS.get(url.get_backend_name(), ("", ""))[1])
        hint = f" Install it with: pip install 'tradeledger[{extra}]'" if extra else ""
        raise MissingDriverError(
            f"The database driver '{module}' for '{mask_url(url)}' is not installed.{hint}"
        ) from None
    if is_file:
        _install_sqlite_file_events(engine, sqlite_synchronous.upper(), busy_timeout_ms)
    if url.get_backend_name() != "sqlite":
        _install_idle_ping(engine)
    if schema is not None:
        _SCHEMAS[engine] = schema
        if pgbouncer:
            _install_schema_per_transaction(engine, schema)
    return engine


def _mysql_greeting_check(url: URL, timeout: float = 10.0) -> None:
    """Fail fast if a MySQL/MariaDB URL points at something that never greets.

    PyMySQL waits for the server's greeting without a timeout, so a URL with the wrong port
    (e.g. PostgreSQL's) would hang ``init_db`` forever.
    """
    import socket

    if url.get_backend_name() not in ("mysql", "mariadb") or "unix_socket" in url.query:
        return
    host = url.host or "localhost"
    port = url.port or 3306
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            if not sock.recv(1):
                raise OSError("connection closed before the server greeting")
    except OSError as exc:
        raise DatabaseUnavailableError(
            f"Cannot connect to database '{mask_url(url)}': no MySQL/MariaDB server greeting "
            f"from {host}:{port} within {timeout:g} s ({exc or type(exc).__name__})"
        ) from None


def _check_connection(engine: Engine) -> None:
    _mysql_greeting_check(engine.url)
    try:
        with engine.connect():
            pass
    except (SAOperationalError, InterfaceError) as exc:
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
        raise DatabaseUnavailableError(
            f"Cannot connect to database '{mask_url(engine.url)}': {mask_url(detail)}"
        ) from None
    except (DBAPIError, TypeError, ValueError) as exc:
        # e.g. an unknown connection option in the URL's query string
        orig = getattr(exc, "orig", None) or exc
        detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        raise InvalidDatabaseURL(
            f"The database rejected the connection settings of '{mask_url(engine.url)}': "
            f"{mask_url(detail)}"
        ) from None


def _bind_sessions(engine: Engine) -> None:
    from tradeledger.models import ModelBase, _CustomData

    scoped = scoped_session(sessionmaker(bind=engine, autoflush=False),
                            scopefunc=get_request_or_thread_id)
    for mapper in ModelBase.registry.mappers:
        mapper.class_.session = scoped
    custom = scoped_session(sessionmaker(bind=engine, autoflush=True),
                            scopefunc=get_request_or_thread_id)
    _CustomData.session = custom
    _scoped_sessions[:] = [scoped, custom]


def init_db(
    db_url: str,
    *,
    migrate: MigrateMode = "auto",
    mode: str | None = None,
    bot_id: str | None = None,
    read_url: str | None = None,
    pool_size: int | None = None,
    pgbouncer: bool = False,
    sqlite_synchronous: str = "FULL",
    busy_timeout_ms: int = 30_000,
    echo: bool = False,
    extra_migrations: Sequence[str | os.PathLike[str]] | None = None,
    migration_lock_timeout: float = 600.0,
    exclusive: bool = False,
    journal: bool = True,
    schema: str | None = None,
) -> Engine:
    """Open (and if needed create or upgrade) the database at ``db_url`` and bind sessions.

    Args:
        db_url: SQLAlchemy URL, e.g. ``sqlite:///tradeledger.sqlite``, ``sqlite://``,
            ``postgresql://user@host/db`` or ``mysql://user@host/db``.
        migrate: ``"auto"`` creates/upgrades the schema, ``"check"`` raises
            :class:`~tradeledger.exceptions.MigrationRequiredError` if an upgrade is due and
            writes nothing, ``"off"`` touches nothing.
        mode: execution mode recorded in the database (``live``, ``dry_run``, ``backtest``).
        bot_id: identity of this bot, recorded in the database metadata.
        read_url: optional replica used by read-only analytics and CLI commands.
        pool_size: connection pool size (server databases).
        pgbouncer: disable server-side prepared statements (PgBouncer transaction pooling).
        sqlite_synchronous: ``PRAGMA synchronous`` for SQLite files (default ``FULL``).
        busy_timeout_ms: how long SQLite waits for a lock before giving up.
        echo: log SQL statements.
        extra_migrations: directories holding your own Alembic revisions (a branch that
            depends on a tradeledger revision); applied with the library's, see
            ``docs/migrations.md``.
        migration_lock_timeout: seconds to wait while another process migrates.
        exclusive: take the single-writer guard of this database and ``bot_id`` before
            writing anything (see :mod:`tradeledger.services.guard`); it is held until
            :func:`close_db` or the next ``init_db`` and freed by the OS/server on a crash.
        journal: write the audit journal (``tradeledger_journal``) in the same transaction
            as every change of trades, orders, locks and custom data
            (see :mod:`tradeledger.services.journal`); ``False`` switches it off.
        schema: PostgreSQL only: keep this bot's tables in their own schema (created if
            missing, with its own ``alembic_version``); the bot's connections see only that
            schema, so it cannot read or change another bot's rows through the API (see
            :mod:`tradeledger.services.fleet` for the operator's view over all bots).

    Returns:
        The engine now bound to every model class.

    Raises:
        InvalidDatabaseURL: the URL is malformed or names an unsupported database.
        MissingDriverError: the driver is not installed (the message names the extra).
        DatabaseUnavailableError: the server cannot be reached.
        SchemaError: the schema is too old, too new, or needs an upgrade under ``"check"``.
        InstanceLockedError: ``exclusive=True`` and another live instance holds the guard.
    """
    global _engine, _read_engine, _guard
    if migrate not in ("auto", "check", "off"):
        raise ConfigurationError(f"migrate must be 'auto', 'check' or 'off', got {migrate!r}")
    if schema is not None:
        validate_schema(schema, _normalise_url(db_url))
        if migrate == "auto":
            ensure_schema(db_url, schema)
    engine = create_db_engine(db_url, pool_size=pool_size, pgbouncer=pgbouncer,
                              sqlite_synchronous=sqlite_synchronous,
                              busy_timeout_ms=busy_timeout_ms, echo=echo, schema=schema)
    read_engine = None
    guard: Any = None
    try:
        _check_connection(engine)
        if exclusive:
            from tradeledger.services.guard import InstanceGuard

            if _guard is not None and _guard.same_target(engine, bot_id):
                guard = _guard  # the holder opens its own database again
            else:
                guard = InstanceGuard(engine, bot_id)
        if read_url is not None:
            read_engine = create_db_engine(read_url, pool_size=pool_size, pgbouncer=pgbouncer,
                                           busy_timeout_ms=busy_timeout_ms, echo=echo,
                                           schema=schema)
            _check_connection(read_engine)
        from tradeledger.migrations import prepare_database

        prepare_database(engine, migrate=migrate, mode=mode, bot_id=bot_id,
                         extra_migrations=extra_migrations,
                         lock_timeout=migration_lock_timeout)
    except BaseException:
        if guard is not None and guard is not _guard:
            guard.release()
        engine.dispose()
        if read_engine is not None:
            read_engine.dispose()
        raise
    with _state_lock:
        close_all_sessions()
        old, old_read = _engine, _read_engine
        _engine, _read_engine = engine, read_engine
        old_guard, _guard = _guard, guard
        if old_guard is not None and old_guard is not guard:
            old_guard.release()
        _bind_sessions(engine)
        from tradeledger.services import journal as _journal

        _journal.configure(engine, enabled=journal, bot_id=bot_id or schema)
        for previous in (old, old_read):
            if previous is not None:
                previous.dispose()
    logger.info("Database %s ready", mask_url(engine.url))
    return engine


def get_engine() -> Engine:
    """Return the engine bound by the last :func:`init_db` call."""
    if _engine is None:
        raise ConfigurationError("init_db() has not been called")
    return _engine


def get_read_engine() -> Engine:
    """Return the read replica engine if one was configured, else the main engine."""
    return _read_engine if _read_engine is not None else get_engine()


def get_read_replica() -> Engine | None:
    """Return the read replica engine (``init_db(read_url=...)``), or ``None`` without one."""
    return _read_engine


def close_db() -> None:
    """Close every session and dispose the engines."""
    global _engine, _read_engine, _guard
    with _state_lock:
        close_all_sessions()
        for eng in (_engine, _read_engine):
            if eng is not None:
                eng.dispose()
        _engine = _read_engine = None
        from tradeledger.services import journal as _journal

        _journal.configure(None, enabled=False)
        if _guard is not None:
            _guard.release()
            _guard = None


def has_tables(engine: Engine) -> bool:
    """Return whether the database holds any table at all."""
    return bool(inspect(engine).get_table_names())


class request_scope:  # noqa: N801 - used like a function: ``with request_scope():``
    """Give a block (sync or async) its own session; the session is removed at exit.

    Use it around each web request, job or asyncio task that touches the database::

        with request_scope():
            trades = Trade.get_open_trades()

        async with request_scope():
            ...
    """

    def __init__(self, request_id: str | None = None) -> None:
        self.request_id = request_id or uuid.uuid4().hex
        self._token: Token[str | None] | None = None

    def __enter__(self) -> request_scope:
        self._token = _request_id_ctx_var.set(self.request_id)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            _remove_current_sessions()
        finally:
            if self._token is not None:
                _request_id_ctx_var.reset(self._token)
                self._token = None

    async def __aenter__(self) -> request_scope:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


def _remove_current_sessions() -> None:
    for scoped in list(_scoped_sessions):
        scoped.remove()
