"""tradeledger: crash-safe persistence for algorithmic trading.

Trades, orders, pair locks, a key-value store and per-trade custom data on SQLite,
PostgreSQL and MariaDB, with the API and on-disk schema of freqtrade's persistence package
(release 2026.9), plus crash recovery, reconciliation, analytics and an audit journal.
See README.md and docs/.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from tradeledger._version import __version__
from tradeledger.db import (
    close_db,
    get_engine,
    get_read_engine,
    get_request_or_thread_id,
    init_db,
    mask_url,
    request_scope,
)
from tradeledger.domain.custom_data import (
    CustomDataWrapper,
)
from tradeledger.domain.enums import (
    ExitType,
    MarginMode,
    TradingMode,
)
from tradeledger.domain.order import (
    LocalOrder,
)
from tradeledger.domain.trade import (
    LocalTrade,
    ProfitStruct,
)
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
    OptionalDependencyError,
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
from tradeledger.models import (
    ModelBase,
    Order,
    PairLock,
    Trade,
    WalletHistory,
)
from tradeledger.models.keyvalue import (
    KeyStoreKeys,
    KeyValueStore,
    set_startup_time,
)
from tradeledger.services.pairlocks import (
    PairLocks,
)
from tradeledger.usedb import (
    FtNoDBContext,
    disable_database_use,
    enable_database_use,
)

if _TYPE_CHECKING:
    from tradeledger.services.analytics import (
        AnalyticsService,
        TradeFilter,
    )
    from tradeledger.services.backup import (
        backup_database,
    )
    from tradeledger.services.integrity import (
        check_database,
    )
    from tradeledger.services.intents import (
        apply_exchange_update,
        attach_exchange_response,
        mark_intent_failed,
        pending_intents,
        record_intent,
        resolve_intent,
    )
    from tradeledger.services.journal import (
        journal_actor,
        trade_history,
    )
    from tradeledger.services.persist import (
        persist_trade,
        persist_trades,
    )
    from tradeledger.services.reconcile import (
        ReasonCode,
        ReconcileReport,
        apply_reconciliation,
        reconcile,
    )
    from tradeledger.services.recovery import (
        RecoveryReport,
        build_recovery_report,
    )
    from tradeledger.services.retry import (
        run_in_transaction,
    )

# Services are imported on first use, so `import tradeledger` stays fast.
_LAZY: dict[str, str] = {
    "AnalyticsService": "tradeledger.services.analytics",
    "TradeFilter": "tradeledger.services.analytics",
    "backup_database": "tradeledger.services.backup",
    "check_database": "tradeledger.services.integrity",
    "apply_exchange_update": "tradeledger.services.intents",
    "attach_exchange_response": "tradeledger.services.intents",
    "mark_intent_failed": "tradeledger.services.intents",
    "pending_intents": "tradeledger.services.intents",
    "record_intent": "tradeledger.services.intents",
    "resolve_intent": "tradeledger.services.intents",
    "journal_actor": "tradeledger.services.journal",
    "trade_history": "tradeledger.services.journal",
    "persist_trade": "tradeledger.services.persist",
    "persist_trades": "tradeledger.services.persist",
    "ReasonCode": "tradeledger.services.reconcile",
    "ReconcileReport": "tradeledger.services.reconcile",
    "apply_reconciliation": "tradeledger.services.reconcile",
    "reconcile": "tradeledger.services.reconcile",
    "RecoveryReport": "tradeledger.services.recovery",
    "build_recovery_report": "tradeledger.services.recovery",
    "run_in_transaction": "tradeledger.services.retry",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AnalyticsService",
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
    "OptionalDependencyError",
    "Order",
    "OrderMismatchError",
    "PairLock",
    "PairLocks",
    "ProfitStruct",
    "ReasonCode",
    "ReconcileReport",
    "RecoveryReport",
    "SchemaError",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "TimescaleUnavailableError",
    "Trade",
    "TradeFilter",
    "TradeLedgerError",
    "TradingMode",
    "UnknownIntentError",
    "UnsupportedExchangeError",
    "UnsupportedTradingModeError",
    "WalletHistory",
    "__version__",
    "apply_exchange_update",
    "apply_reconciliation",
    "attach_exchange_response",
    "backup_database",
    "build_recovery_report",
    "check_database",
    "close_db",
    "disable_database_use",
    "enable_database_use",
    "get_engine",
    "get_read_engine",
    "get_request_or_thread_id",
    "init_db",
    "journal_actor",
    "mark_intent_failed",
    "mask_url",
    "pending_intents",
    "persist_trade",
    "persist_trades",
    "reconcile",
    "record_intent",
    "request_scope",
    "resolve_intent",
    "run_in_transaction",
    "set_startup_time",
    "trade_history",
]
