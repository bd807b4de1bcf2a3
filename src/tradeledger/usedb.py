"""Switch between database mode and backtesting (in-memory) mode.

``disable_database_use(timeframe)`` makes ``Trade``'s query helpers, ``PairLocks`` and
``CustomDataWrapper`` work on in-memory stores (as freqtrade's backtesting does);
``enable_database_use()`` switches back. ``FtNoDBContext`` (alias ``no_database``) does both
around a ``with`` block.
"""

from __future__ import annotations

from types import TracebackType

from tradeledger.domain.custom_data import CustomDataWrapper
from tradeledger.models.trade import Trade
from tradeledger.services.pairlocks import PairLocks

__all__ = ["FtNoDBContext", "disable_database_use", "enable_database_use", "no_database"]


def disable_database_use(timeframe: str) -> None:
    """Use in-memory stores for trades, pair locks and custom data (backtesting).

    Args:
        timeframe: candle timeframe pair locks are rounded to (e.g. ``"5m"``).
    """
    PairLocks.use_db = False
    PairLocks.timeframe = timeframe
    Trade.use_db = False
    CustomDataWrapper.use_db = False


def enable_database_use() -> None:
    """Go back to database mode (the default)."""
    PairLocks.use_db = True
    PairLocks.timeframe = ""
    Trade.use_db = True
    CustomDataWrapper.use_db = True


class FtNoDBContext:
    """Context manager: database use is off inside the block, on again after it."""

    def __init__(self, timeframe: str = "") -> None:
        self.timeframe = timeframe

    def __enter__(self) -> FtNoDBContext:
        disable_database_use(self.timeframe)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        enable_database_use()


#: Descriptive alias of :class:`FtNoDBContext`.
no_database = FtNoDBContext
