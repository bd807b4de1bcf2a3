"""The exceptions tradeledger raises.

Every exception derives from :class:`TradeLedgerError`. Where freqtrade raises a generic
``OperationalException`` or ``DependencyException`` the same names exist here, and the
specific subclasses below also derive from the built-in class freqtrade would raise in that
place (``ValueError``, ``TypeError``, ``ImportError`` ...), so code written against freqtrade
keeps catching them::

    TradeLedgerError
    ├── OperationalException                      (freqtrade: OperationalException)
    │   ├── ConfigurationError
    │   │   ├── InvalidDatabaseURL (ValueError)     bad or unsupported db_url
    │   │   └── MissingDriverError (ImportError)    DB driver not installed: names the extra
    │   ├── UnsupportedExchangeError                margin interest unknown for an exchange
    │   ├── UnsupportedTradingModeError
    │   ├── MarginConfigError                       margin trade without interest_rate
    │   ├── SchemaError
    │   │   ├── SchemaTooOldError                   pre-2022.3 freqtrade database
    │   │   ├── SchemaTooNewError                   stamped with a revision this code lacks
    │   │   ├── MigrationRequiredError              migrate="check" and an upgrade is due
    │   │   └── MigrationError                      an upgrade failed (database unchanged)
    │   ├── DatabaseUnavailableError                the server cannot be reached
    │   ├── ModeMismatchError                       dry_run database opened as live, ...
    │   ├── InstanceLockedError                     another live instance holds the guard
    │   ├── TimescaleUnavailableError               no TimescaleDB on the server (unchanged)
    │   └── CommitOutcomeUnknownError               the connection failed during COMMIT
    ├── DependencyException                       (freqtrade: DependencyException)
    │   └── OrderMismatchError                      CCXT update for another order id
    ├── InvalidOrderError (ValueError)            malformed CCXT order input
    │   └── MissingOrderIdError (KeyError)          CCXT order without a usable id
    ├── UnknownIntentError (LookupError)          no order intent with that client order id
    ├── OptionalDependencyError (ImportError)     an optional package (pandas) is missing
    ├── InvalidLockError (ValueError)             bad pair-lock input (e.g. no timeframe)
    ├── InvalidValueError (ValueError)            other bad input (key-value store ...)
    └── BacktestingModeError (NotImplementedError) a DB-only call made in backtesting
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BacktestingModeError",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "DatabaseUnavailableError",
    "DependencyException",
    "InstanceLockedError",
    "InvalidDatabaseURL",
    "InvalidLockError",
    "InvalidOrderError",
    "InvalidValueError",
    "MarginConfigError",
    "MigrationError",
    "MigrationRequiredError",
    "MissingDriverError",
    "MissingOrderIdError",
    "ModeMismatchError",
    "OperationalException",
    "OptionalDependencyError",
    "OrderMismatchError",
    "SchemaError",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "TimescaleUnavailableError",
    "TradeLedgerError",
    "UnknownIntentError",
    "UnsupportedExchangeError",
    "UnsupportedTradingModeError",
]


class TradeLedgerError(Exception):
    """Root of every exception raised by tradeledger."""


class OperationalException(TradeLedgerError):
    """A condition the operator must fix (freqtrade's ``OperationalException``)."""


class DependencyException(TradeLedgerError):
    """A dependency between objects is violated (freqtrade's ``DependencyException``)."""


class ConfigurationError(OperationalException):
    """Invalid configuration given to tradeledger."""


class InvalidDatabaseURL(ConfigurationError, ValueError):
    """The database URL is malformed or names an unsupported dialect."""


class MissingDriverError(ConfigurationError, ImportError):
    """The DB-API driver for a URL is not installed; the message names the extra."""


class UnsupportedExchangeError(OperationalException):
    """Margin interest is not known for this exchange."""


class UnsupportedTradingModeError(OperationalException):
    """The trading mode is not supported for this calculation."""


class MarginConfigError(OperationalException):
    """A margin trade was created without an interest rate."""


class SchemaError(OperationalException):
    """The database schema cannot be used as it is."""


class SchemaTooOldError(SchemaError):
    """The database was written by a freqtrade release older than 2022.3."""


class SchemaTooNewError(SchemaError):
    """The database carries a schema revision this version does not know."""

    def __init__(self, message: str, *, db_revision: str | None = None,
                 code_revision: str | None = None) -> None:
        super().__init__(message)
        self.db_revision = db_revision
        self.code_revision = code_revision


class MigrationRequiredError(SchemaError):
    """``migrate="check"`` found a database that needs an upgrade."""


class MigrationError(SchemaError):
    """A schema upgrade failed; the database was left as it was."""


class DatabaseUnavailableError(OperationalException):
    """The database server cannot be reached (the message masks the password)."""


class ModeMismatchError(OperationalException):
    """The database belongs to another execution mode (live / dry_run / backtest)."""


class InstanceLockedError(OperationalException):
    """Another live instance holds the single-writer guard of this database."""


class CommitOutcomeUnknownError(OperationalException):
    """The connection failed while COMMIT was in flight: the work may or may not be stored.

    Raised by :func:`tradeledger.services.retry.run_in_transaction` instead of retrying a unit
    that is not idempotent; check the database (or the exchange) before doing it again.
    """


class OrderMismatchError(DependencyException):
    """A CCXT order update was applied to an order with another id."""


class InvalidOrderError(TradeLedgerError, ValueError):
    """A CCXT order structure is malformed; the message names the field and value."""

    def __init__(self, message: str, *, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class InvalidLockError(TradeLedgerError, ValueError):
    """A pair-lock call got unusable input (no timeframe, bad side, ...)."""


class InvalidValueError(TradeLedgerError, ValueError):
    """A value cannot be stored (unknown type, bad key, ...)."""


class BacktestingModeError(TradeLedgerError, NotImplementedError):
    """A database-only call was made while database use is disabled (backtesting)."""


class MissingOrderIdError(InvalidOrderError, KeyError):
    """A CCXT order has no usable ``id`` (missing, ``None`` or empty).

    Also a ``KeyError``, which is what freqtrade raises for a missing ``id``.
    """

    def __str__(self) -> str:
        """Return the plain message (``KeyError`` would quote it)."""
        return str(self.args[0]) if self.args else ""


class UnknownIntentError(TradeLedgerError, LookupError):
    """No order intent with the given client order id exists."""


class OptionalDependencyError(TradeLedgerError, ImportError):
    """An optional package needed by this call (e.g. pandas) is not installed."""


class TimescaleUnavailableError(OperationalException):
    """TimescaleDB is not available on this database server (nothing was changed)."""
