"""Shared pieces of the command line: the ``--db`` option, exit codes, error reporting."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from tradeledger.db import DEFAULT_DB_URL, mask_url
from tradeledger.exceptions import (
    DatabaseUnavailableError,
    InvalidDatabaseURL,
    MissingDriverError,
    ModeMismatchError,
    OptionalDependencyError,
    SchemaError,
    SchemaTooNewError,
    TradeLedgerError,
)

console = Console()
err_console = Console(stderr=True)

#: Exit codes of every command (documented in ``tradeledger --help`` and docs/operations.md).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_BAD_URL = 3
EXIT_MISSING_DRIVER = 4
EXIT_UNAVAILABLE = 5
EXIT_SCHEMA_TOO_NEW = 6
EXIT_SCHEMA = 7
EXIT_MODE_MISMATCH = 8
EXIT_BAD_INPUT = 9
EXIT_CHECK_FAILED = 10
EXIT_MISSING_FILE = 11

DbOption = Annotated[
    str,
    typer.Option("--db", envvar="TRADELEDGER_DB_URL", show_envvar=True,
                 help="Database URL (password is never printed).", show_default=True),
]
DEFAULT_DB = DEFAULT_DB_URL

F = TypeVar("F", bound=Callable[..., Any])


def exit_code_for(exc: BaseException) -> int:
    """Map an exception to the command line's exit code."""
    if isinstance(exc, InvalidDatabaseURL):
        return EXIT_BAD_URL
    if isinstance(exc, MissingDriverError | OptionalDependencyError):
        return EXIT_MISSING_DRIVER
    if isinstance(exc, DatabaseUnavailableError):
        return EXIT_UNAVAILABLE
    if isinstance(exc, SchemaTooNewError):
        return EXIT_SCHEMA_TOO_NEW
    if isinstance(exc, SchemaError):
        return EXIT_SCHEMA
    if isinstance(exc, ModeMismatchError):
        return EXIT_MODE_MISMATCH
    if isinstance(exc, FileNotFoundError):
        return EXIT_MISSING_FILE
    if isinstance(exc, ValueError | TradeLedgerError):
        return EXIT_BAD_INPUT
    return EXIT_FAILURE


def handle_errors(func: F) -> F:
    """Turn library errors into a one-line message and a distinct exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except (TradeLedgerError, ValueError, FileNotFoundError) as exc:
            # escape: messages hold brackets (``pip install 'tradeledger[plot]'``)
            err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}")
            raise typer.Exit(exit_code_for(exc)) from None

    return wrapper  # type: ignore[return-value]


def shown(url: str) -> str:
    """The URL as it may be printed."""
    return mask_url(url)
