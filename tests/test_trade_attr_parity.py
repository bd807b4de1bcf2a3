"""Attribute parity between ``LocalTrade`` (backtesting) and the ORM ``Trade``."""

from __future__ import annotations

from datetime import UTC, datetime
from types import FunctionType

from tradeledger.domain.enums import TradingMode
from tradeledger.domain.trade import TRADE_FIELDS, LocalTrade
from tradeledger.models import Trade

#: Public names only the ORM class has: database helpers and SQLAlchemy infrastructure.
DB_ONLY = {
    "commit",
    "rollback",
    "delete",
    "session",
    "metadata",
    "registry",
    "type_annotation_map",
    "custom_data",
    "get_trades",
    "get_trades_query",
    "get_open_trades_without_assigned_fees",
    "get_closed_trades_without_assigned_fees",
    # aggregate performance queries (analytics; DB only in freqtrade too)
    "get_overall_performance",
    "get_enter_tag_performance",
    "get_exit_reason_performance",
    "get_mix_tag_performance",
    "get_best_pair",
    "get_trading_volume",
}


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_trade_is_a_local_trade() -> None:
    assert issubclass(Trade, LocalTrade)


def test_every_local_trade_attribute_exists_on_trade() -> None:
    missing = sorted(name for name in _public(LocalTrade) if not hasattr(Trade, name))
    assert not missing


def test_every_trade_attribute_exists_on_local_trade() -> None:
    missing = sorted(name for name in _public(Trade) - DB_ONLY if name not in _public(LocalTrade))
    # open_date has no class default on LocalTrade (as in freqtrade); it is an annotation
    assert missing == ["open_date"]
    assert "open_date" in LocalTrade.__annotations__


def test_every_column_is_a_local_trade_field() -> None:
    columns = {c.key for c in Trade.__table__.columns}
    assert columns == set(TRADE_FIELDS)
    for name in TRADE_FIELDS:
        assert name == "open_date" or hasattr(LocalTrade, name), name


def test_plain_values_and_properties_agree() -> None:
    kwargs = {
        "pair": "ETH/USDT:USDT",
        "exchange": "binance",
        "open_date": datetime(2024, 3, 1, 10, tzinfo=UTC),
        "open_rate": 2000.0,
        "amount": 1.5,
        "stake_amount": 1000.0,
        "fee_open": 0.001,
        "fee_close": 0.001,
        "leverage": 3.0,
        "is_short": True,
        "stop_loss": 0.0,
        "stop_loss_pct": None,
        "max_rate": 0.0,
        "exit_reason": None,
        "exit_order_status": None,
        "fee_open_currency": None,
        "fee_close_currency": None,
        "strategy": None,
        "base_currency": None,
        "stake_currency": None,
        "max_stake_amount": None,
        "funding_fees": None,
        # the trades.trading_mode column has no default (NULL = spot), LocalTrade's is SPOT
        "trading_mode": TradingMode.SPOT,
    }
    local = LocalTrade(**kwargs)  # type: ignore[arg-type]
    orm = Trade(**kwargs)
    local.realized_profit = 0.0
    for name in sorted(_public(LocalTrade)):
        attr = getattr(LocalTrade, name)
        if isinstance(attr, (FunctionType, classmethod, staticmethod)) or callable(attr):
            continue
        if name.startswith("bt_") or name in ("use_db", "orders", "id"):  # id: DB-assigned
            continue
        assert getattr(local, name) == getattr(orm, name), name
    orm.id = 0
    assert local.to_json() == orm.to_json()
    assert repr(local) == repr(orm)
