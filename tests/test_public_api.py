"""The public API: ``__all__`` lists exactly the public names of the package root."""

from __future__ import annotations

import tradeledger

FREQTRADE_NAMES = {
    "CustomDataWrapper", "KeyStoreKeys", "KeyValueStore", "init_db", "PairLocks", "LocalTrade",
    "Order", "Trade", "FtNoDBContext", "disable_database_use", "enable_database_use",
    "WalletHistory",
}


def test_all_matches_public_names() -> None:
    public = {
        name for name in dir(tradeledger)
        if not name.startswith("_")
        and not isinstance(getattr(tradeledger, name), type(tradeledger))
    }
    assert set(tradeledger.__all__) - {"__version__"} == public
    assert sorted(tradeledger.__all__) == list(tradeledger.__all__)


def test_freqtrade_persistence_names_are_exported() -> None:
    assert FREQTRADE_NAMES <= set(tradeledger.__all__)


def test_every_exception_derives_from_root() -> None:
    from tradeledger import exceptions

    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        assert issubclass(cls, tradeledger.TradeLedgerError), name
        assert name in tradeledger.__all__, name
