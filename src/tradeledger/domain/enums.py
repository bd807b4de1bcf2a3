"""Enumerations and constants shared by the domain layer (freqtrade-compatible values)."""

from __future__ import annotations

from enum import Enum, StrEnum

__all__ = [
    "CANCELED_EXCHANGE_STATES",
    "CUSTOM_TAG_MAX_LENGTH",
    "DATETIME_PRINT_FORMAT",
    "DECIMAL_PLACES",
    "MATH_CLOSE_PREC",
    "NON_OPEN_EXCHANGE_STATES",
    "ROUND",
    "ROUND_DOWN",
    "ROUND_UP",
    "SIGNIFICANT_DIGITS",
    "TICK_SIZE",
    "TRUNCATE",
    "ExitType",
    "MarginMode",
    "TradingMode",
]


class TradingMode(StrEnum):
    """Trading mode of a trade; stored by member *name* (``SPOT``...) as freqtrade does."""

    SPOT = "spot"
    MARGIN = "margin"
    FUTURES = "futures"


class MarginMode(StrEnum):
    """Margin mode (used by liquidation code)."""

    CROSS = "cross"
    ISOLATED = "isolated"
    NONE = ""


class ExitType(Enum):
    """Exit reasons freqtrade writes itself."""

    ROI = "roi"
    STOP_LOSS = "stop_loss"
    STOPLOSS_ON_EXCHANGE = "stoploss_on_exchange"
    TRAILING_STOP_LOSS = "trailing_stop_loss"
    LIQUIDATION = "liquidation"
    EXIT_SIGNAL = "exit_signal"
    FORCE_EXIT = "force_exit"
    EMERGENCY_EXIT = "emergency_exit"
    CUSTOM_EXIT = "custom_exit"
    PARTIAL_EXIT = "partial_exit"
    SOLD_ON_EXCHANGE = "sold_on_exchange"
    NONE = ""


DATETIME_PRINT_FORMAT = "%Y-%m-%d %H:%M:%S"
MATH_CLOSE_PREC = 1e-14
CUSTOM_TAG_MAX_LENGTH = 255
CANCELED_EXCHANGE_STATES: tuple[str, ...] = ("cancelled", "canceled", "expired", "rejected")
NON_OPEN_EXCHANGE_STATES: tuple[str, ...] = (*CANCELED_EXCHANGE_STATES, "closed")

# ccxt precision modes (values stored in precision_mode / precision_mode_price)
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4
# ccxt rounding modes
TRUNCATE = 0
ROUND = 1
ROUND_UP = 2
ROUND_DOWN = 3
