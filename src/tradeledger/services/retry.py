"""Retry a unit of database work, but only when retrying cannot duplicate anything.

:func:`run_in_transaction` runs ``fn()`` (which uses the models' scoped sessions and commits,
as every tradeledger write does) and retries it after a *transient* failure:

* the connection was lost (server restart, ``pg_terminate_backend``, network, MariaDB "gone
  away") — the pool hands out a fresh connection on the next attempt;
* a serialization failure, deadlock or lock timeout (PostgreSQL SQLSTATE ``40001``, ``40P01``,
  ``55P03``; MariaDB 1213, 1205; SQLite ``database is locked`` / ``busy``).

It never retries when the failure may have happened *after* the database stored the work:
if the connection of a server database broke while ``COMMIT`` was in flight, the outcome is
unknown, and ``fn`` is retried only when the caller says it is idempotent (``idempotent=True``:
e.g. :func:`~tradeledger.services.intents.apply_exchange_update`, which books each fill once
however often it is delivered); otherwise :class:`~tradeledger.exceptions.CommitOutcomeUnknownError`
is raised for the caller to check before acting again. A failing SQLite ``COMMIT`` is not
ambiguous (the engine is in-process: the transaction is either stored or rolled back).

Everything else (integrity errors, bad input, disk full, a bug in ``fn``) is raised at once.
The last error is raised when the retries run out; nothing is swallowed. Before each retry the
scoped sessions of the current scope are rolled back and removed, so ``fn`` must (re)load what
it changes (don't pass it ORM objects loaded outside).

A unit that commits more than once (several library calls) is retried after a failure only if
none of its commits had completed, or if it is idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tradeledger.exceptions import CommitOutcomeUnknownError

__all__ = ["FailureKind", "classify_error", "is_retryable", "run_in_transaction"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
FailureKind = Literal["disconnect", "transient", "fatal"]

_PG_TRANSIENT = frozenset({"40001", "40P01", "55P03"})
_PG_DISCONNECT_PREFIXES = ("08", "57P")  # connection exceptions, admin shutdown/terminate
_MYSQL_TRANSIENT = frozenset({1205, 1213})
_MYSQL_DISCONNECT = frozenset({2006, 2013, 2055, 1927, 4031, 1053})
_SQLITE_TRANSIENT = ("database is locked", "database is busy", "database table is locked")

class _Attempt:
    """What happened to commits during one attempt (mutated by the event listeners)."""

    __slots__ = ("committed", "in_flight")

    def __init__(self) -> None:
        self.in_flight: str | None = None  # dialect of a COMMIT sent but not confirmed
        self.committed = False  # a COMMIT of this attempt completed


_attempt: ContextVar[_Attempt | None] = ContextVar("tl_retry_attempt", default=None)


def _on_begin(conn: Any) -> None:
    state = _attempt.get()
    if state is not None and state.in_flight is not None:
        state.in_flight = None  # the connection went on: that COMMIT completed
        state.committed = True


def _on_commit(conn: Any) -> None:
    state = _attempt.get()
    if state is not None:
        state.in_flight = conn.dialect.name


def _on_session_commit(session: Any) -> None:
    state = _attempt.get()
    if state is not None:
        state.in_flight = None
        state.committed = True


event.listen(Engine, "begin", _on_begin)
event.listen(Engine, "commit", _on_commit)
event.listen(Session, "after_commit", _on_session_commit)


def classify_error(exc: BaseException) -> FailureKind:
    """Tell a lost connection (``disconnect``), a retryable conflict and anything else."""
    if not isinstance(exc, DBAPIError):
        return "fatal"
    if exc.connection_invalidated:
        return "disconnect"
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate in _PG_TRANSIENT:
            return "transient"
        if sqlstate.startswith(_PG_DISCONNECT_PREFIXES):
            return "disconnect"
    args = getattr(orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    if code is not None:
        if code in _MYSQL_TRANSIENT:
            return "transient"
        if code in _MYSQL_DISCONNECT:
            return "disconnect"
    text = str(orig).lower()
    if any(marker in text for marker in _SQLITE_TRANSIENT):
        return "transient"
    if "server closed the connection" in text or "connection is closed" in text \
            or "terminating connection" in text or "consuming input failed" in text:
        return "disconnect"
    return "fatal"


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a disconnect or a transient conflict (see :func:`classify_error`)."""
    return classify_error(exc) != "fatal"


def _reset_sessions() -> None:
    from tradeledger.db import _scoped_sessions

    for scoped in list(_scoped_sessions):
        try:
            scoped.rollback()
        except Exception:  # a dead connection: removing the session is enough
            logger.debug("rollback before retry failed", exc_info=True)
        scoped.remove()


def run_in_transaction(
    fn: Callable[[], T],
    *,
    retries: int = 3,
    backoff: float = 0.05,
    max_backoff: float = 2.0,
    idempotent: bool = False,
    name: str | None = None,
    on_retry: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``fn()`` and retry it after a transient failure, when that is safe.

    Args:
        fn: the unit of work; it uses the scoped sessions and commits itself.
        retries: how many times to retry (0: never).
        backoff: first pause in seconds, doubled per retry up to ``max_backoff``.
        idempotent: ``fn`` may run twice without harm (e.g. applying an exchange order
            snapshot); only then is it retried when a server ``COMMIT`` failed half-way.
        name: label for the log records.
        on_retry: called with ``(attempt, error)`` before each retry.
        sleep: the pause function (tests pass a fake).

    Returns:
        What ``fn`` returns.

    Raises:
        CommitOutcomeUnknownError: the connection broke during ``COMMIT`` and ``fn`` is not
            idempotent (the original error is its ``__cause__``).
        Exception: a non-retryable error of ``fn``, or the last error once retries run out.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries!r}")
    label = name or getattr(fn, "__name__", "unit")
    attempt = 0
    while True:
        state = _Attempt()
        token = _attempt.set(state)
        try:
            return fn()
        except Exception as exc:
            _reset_sessions()
            kind = classify_error(exc)
            if kind == "fatal":
                raise
            if not idempotent and state.in_flight not in (None, "sqlite"):
                raise CommitOutcomeUnknownError(
                    f"{label}: the connection failed during COMMIT ({type(exc).__name__}); "
                    "the work may or may not be stored - check before doing it again"
                ) from exc
            if not idempotent and state.committed:
                raise CommitOutcomeUnknownError(
                    f"{label}: failed ({type(exc).__name__}) after part of its work was "
                    "committed; it is not retried - check before doing it again"
                ) from exc
            if attempt >= retries:
                logger.error("%s failed after %d attempts: %s", label, attempt + 1,
                             type(exc).__name__)
                raise
            attempt += 1
            logger.warning("%s: %s (%s), retry %d of %d", label, kind, type(exc).__name__,
                           attempt, retries)
            if on_retry is not None:
                on_retry(attempt, exc)
            sleep(min(max_backoff, backoff * 2 ** (attempt - 1)))
        finally:
            _attempt.reset(token)
