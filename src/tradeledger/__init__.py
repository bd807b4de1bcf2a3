"""tradeledger: crash-safe persistence for algorithmic trading.

Trades, orders, pair locks, a key-value store and per-trade custom data on SQLite,
PostgreSQL and MariaDB, with the API and on-disk schema of freqtrade's persistence package
(release 2026.9). See README.md and docs/.
"""

from tradeledger._version import __version__
from tradeledger.db import (
    close_db,
    get_engine,
    get_request_or_thread_id,
    init_db,
    mask_url,
    request_scope,
)
from tradeledger.domain.custom_data import CustomDataWrapper
from tradeledger.domain.enums import ExitType, MarginMode, TradingMode
from tradeledger.domain.order import LocalOrder
from tradeledger.domain.trade import LocalTrade, ProfitStruct
from tradeledger.exceptions import (
    BacktestingModeError,
    CommitOutcomeUnknownError,
    ConfigurationError,
    DatabaseUnavailableError,
    DependencyException,
    InstanceLockedError,
    InvalidDatabaseURL,
    InvalidLockError,
    InvalidOrderError,
    InvalidValueError,
    MarginConfigError,
    MigrationError,
    MigrationRequiredError,
    MissingDriverError,
    MissingOrderIdError,
    ModeMismatchError,
    OperationalException,
    OrderMismatchError,
    SchemaError,
    SchemaTooNewError,
    SchemaTooOldError,
    TimescaleUnavailableError,
    TradeLedgerError,
    UnknownIntentError,
    UnsupportedExchangeError,
    UnsupportedTradingModeError,
)
from tradeledger.models import ModelBase, Order, PairLock, Trade, WalletHistory
from tradeledger.models.keyvalue import KeyStoreKeys, KeyValueStore, set_startup_time
from tradeledger.services.pairlocks import PairLocks
from tradeledger.usedb import FtNoDBContext, disable_database_use, enable_database_use

__all__ = [
    "BacktestingModeError",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "CustomDataWrapper",
    "DatabaseUnavailableError",
    "DependencyException",
    "ExitType",
    "FtNoDBContext",
    "InstanceLockedError",
    "InvalidDatabaseURL",
    "InvalidLockError",
    "InvalidOrderError",
    "InvalidValueError",
    "KeyStoreKeys",
    "KeyValueStore",
    "LocalOrder",
    "LocalTrade",
    "MarginConfigError",
    "MarginMode",
    "MigrationError",
    "MigrationRequiredError",
    "MissingDriverError",
    "MissingOrderIdError",
    "ModeMismatchError",
    "ModelBase",
    "OperationalException",
    "Order",
    "OrderMismatchError",
    "PairLock",
    "PairLocks",
    "ProfitStruct",
    "SchemaError",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "TimescaleUnavailableError",
    "Trade",
    "TradeLedgerError",
    "TradingMode",
    "UnknownIntentError",
    "UnsupportedExchangeError",
    "UnsupportedTradingModeError",
    "WalletHistory",
    "__version__",
    "close_db",
    "disable_database_use",
    "enable_database_use",
    "get_engine",
    "get_request_or_thread_id",
    "init_db",
    "mask_url",
    "request_scope",
    "set_startup_time",
]
