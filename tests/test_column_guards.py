"""Values assigned to mapped columns are checked when set, the same on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tradeledger import InvalidValueError, Order, PairLock, Trade, init_db

BASE: dict[str, Any] = dict(pair="BTC/USDT", exchange="binance", open_rate=1.0, amount=1.0,
                            stake_amount=1.0, fee_open=0.0, fee_close=0.0,
                            open_date=datetime(2024, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(("field", "value", "match"), [
    ("pair", "X" * 26, "Trade.pair is 26 characters"),
    ("pair", None, "Trade.pair is required"),
    ("exchange", 5, "Trade.exchange must be a string"),
    ("amount", "1.5", "Trade.amount must be a number"),
    ("is_short", "yes", "Trade.is_short must be a bool"),
    ("open_date", "2024-01-01", "Trade.open_date must be a datetime"),
    ("timeframe", 1.5, "Trade.timeframe must be an integer"),
    # found by the full-size fuzz run: SQLite stores NaN as NULL (NOT NULL failed at commit)
    # (PostgreSQL stored NaN, MariaDB's driver refused it): refused the same everywhere
    ("amount", float("nan"), "Trade.amount must be a finite number, got nan"),
    ("open_rate", float("nan"), "Trade.open_rate must be a finite number, got nan"),
    ("stop_loss_pct", float("nan"), "Trade.stop_loss_pct must be a finite number, got nan"),
    # second full-size fuzz run: an infinity made the Decimal accounting raise InvalidOperation
    ("fee_open", float("inf"), "Trade.fee_open must be a finite number, got inf"),
    ("amount", float("-inf"), "Trade.amount must be a finite number, got -inf"),
    ("stake_amount", Decimal("Infinity"), "Trade.stake_amount must be a finite number"),
    ("open_rate", 10**400, "Trade.open_rate must be a finite number"),
    # ... and ints beyond the column's range failed in the driver (OverflowError, DataError)
    ("timeframe", 2**70, "Trade.timeframe is out of the 32-bit integer range"),
    ("timeframe", 2**31, "Trade.timeframe is out of the 32-bit integer range"),
    ("timeframe", -(2**31) - 1, "Trade.timeframe is out of the 32-bit integer range"),
])
def test_trade_bad_values_name_the_field(field: str, value: Any, match: str) -> None:
    with pytest.raises(InvalidValueError, match=match):
        Trade(**{**BASE, field: value})


def test_free_text_is_cut_identifiers_are_not(backend: str) -> None:
    init_db(backend)
    t = Trade(**{**BASE, "enter_tag": "e" * 300, "exit_reason": "x" * 300})
    assert len(t.enter_tag or "") == 255 and len(t.exit_reason or "") == 255
    Trade.session.add(t)
    Trade.commit()
    with pytest.raises(InvalidValueError, match="order_id is 256 characters"):
        Order(ft_order_side="buy", ft_pair="BTC/USDT", ft_amount=1.0, ft_price=1.0,
              order_id="1" * 256)
    o = Order(ft_order_side="buy", ft_pair="BTC/USDT", ft_amount=1.0, ft_price=1.0,
              order_id="1", ft_order_tag="t" * 300)
    assert len(o.ft_order_tag or "") == 255
    with pytest.raises(InvalidValueError, match=r"PairLock\.pair"):
        PairLock(pair="P" * 30, side="*", lock_time=datetime.now(UTC),
                 lock_end_time=datetime.now(UTC), active=True)


def test_numeric_types_accepted() -> None:
    from decimal import Decimal

    t = Trade(**{**BASE, "amount": 2, "stake_amount": Decimal("1.5"), "is_open": 1})
    assert t.amount == 2


def test_integer_bounds_are_stored(backend: str) -> None:
    """The 32-bit bounds of an INTEGER column are accepted on every backend."""
    init_db(backend)
    t = Trade(**{**BASE, "timeframe": 2**31 - 1, "precision_mode": -(2**31)})
    Trade.session.add(t)
    Trade.commit()
    Trade.session.expire_all()
    assert (t.timeframe, t.precision_mode) == (2**31 - 1, -(2**31))
