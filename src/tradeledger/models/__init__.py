"""Mapping layer: SQLAlchemy models over the domain classes (importing it maps them all)."""

import tradeledger.models.analytics_state  # noqa: F401  (tl_analytics_state in the metadata)
from tradeledger.models.base import ModelBase
from tradeledger.models.custom_data import _CustomData
from tradeledger.models.journal import JournalEntry
from tradeledger.models.keyvalue import KeyValueStore, _KeyValueStoreModel
from tradeledger.models.meta import TradeLedgerMeta
from tradeledger.models.order import Order
from tradeledger.models.order_intent import OrderIntent, ReconcileLogEntry
from tradeledger.models.pairlock import PairLock
from tradeledger.models.trade import Trade
from tradeledger.models.wallet_history import WalletHistory

__all__ = [
    "JournalEntry",
    "KeyValueStore",
    "ModelBase",
    "Order",
    "OrderIntent",
    "PairLock",
    "ReconcileLogEntry",
    "Trade",
    "TradeLedgerMeta",
    "WalletHistory",
    "_CustomData",
    "_KeyValueStoreModel",
]
