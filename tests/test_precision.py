"""Hand-computed cases for the precision helpers (ccxt definitions, no ccxt)."""

from __future__ import annotations

import decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeledger.domain.enums import (
    DECIMAL_PLACES,
    ROUND,
    ROUND_DOWN,
    ROUND_UP,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    TRUNCATE,
)
from tradeledger.domain.precision import (
    amount_to_contract_precision,
    amount_to_contracts,
    amount_to_precision,
    contracts_to_amount,
    decimal_to_precision,
    price_to_precision,
)
from tradeledger.exceptions import InvalidValueError

D = decimal.Decimal


@pytest.mark.parametrize(
    ("value", "rounding", "precision", "mode", "expected"),
    [
        # DECIMAL_PLACES: 2 places of 1.235 -> tie goes away from zero (ROUND), 1.23 (TRUNCATE)
        ("1.235", ROUND, 2, DECIMAL_PLACES, "1.24"),
        ("1.235", TRUNCATE, 2, DECIMAL_PLACES, "1.23"),
        ("-1.235", ROUND, 2, DECIMAL_PLACES, "-1.24"),
        ("-1.239", TRUNCATE, 2, DECIMAL_PLACES, "-1.23"),
        ("1.231", ROUND_UP, 2, DECIMAL_PLACES, "1.24"),
        ("-1.231", ROUND_UP, 2, DECIMAL_PLACES, "-1.23"),  # towards +inf
        ("-1.231", ROUND_DOWN, 2, DECIMAL_PLACES, "-1.24"),  # towards -inf
        # negative places: -2 -> hundreds (1250 -> 1300 ROUND, 1200 TRUNCATE)
        ("1250", ROUND, -2, DECIMAL_PLACES, "1300"),
        ("1299", TRUNCATE, -2, DECIMAL_PLACES, "1200"),
        # SIGNIFICANT_DIGITS: 3 digits of 0.0123456 -> 0.0123; of 98765 -> 98800 / 98700
        ("0.0123456", ROUND, 3, SIGNIFICANT_DIGITS, "0.0123"),
        ("98765", ROUND, 3, SIGNIFICANT_DIGITS, "98800"),
        ("98765", TRUNCATE, 3, SIGNIFICANT_DIGITS, "98700"),
        ("0.0123001", ROUND_UP, 3, SIGNIFICANT_DIGITS, "0.0124"),
        ("0", ROUND, 3, SIGNIFICANT_DIGITS, "0"),
        # TICK_SIZE 0.05: 1.23 = 24 ticks + 0.03 -> 1.25 (0.03 >= half tick), truncate 1.20
        ("1.23", ROUND, "0.05", TICK_SIZE, "1.25"),
        ("1.22", ROUND, "0.05", TICK_SIZE, "1.20"),
        ("1.225", ROUND, "0.05", TICK_SIZE, "1.25"),  # exactly half a tick: away from zero
        ("1.249", TRUNCATE, "0.05", TICK_SIZE, "1.20"),
        ("-1.249", TRUNCATE, "0.05", TICK_SIZE, "-1.20"),
        ("1.201", ROUND_UP, "0.05", TICK_SIZE, "1.25"),
        ("-1.201", ROUND_DOWN, "0.05", TICK_SIZE, "-1.25"),
        # tick 25 (integer steps): 110 -> 100 truncated, 125 rounded (10 < 12.5 -> 100)
        ("110", TRUNCATE, 25, TICK_SIZE, "100"),
        ("110", ROUND, 25, TICK_SIZE, "100"),
        ("113", ROUND, 25, TICK_SIZE, "125"),
    ],
)
def test_decimal_to_precision(
    value: str, rounding: int, precision: object, mode: int, expected: str
) -> None:
    prec = D(precision) if isinstance(precision, str) else precision
    assert decimal_to_precision(D(value), rounding, prec, mode) == D(expected)  # type: ignore[arg-type]


def test_unknown_modes_raise() -> None:
    with pytest.raises(InvalidValueError, match="rounding_mode"):
        decimal_to_precision(D(1), 9, 2, DECIMAL_PLACES)
    with pytest.raises(InvalidValueError, match="precision_mode"):
        decimal_to_precision(D(1), ROUND, 2, 7)
    with pytest.raises(InvalidValueError, match="tick size"):
        decimal_to_precision(D(1), ROUND, D(0), TICK_SIZE)


def test_price_to_precision_identity_without_precision() -> None:
    assert price_to_precision(1.23456, None, TICK_SIZE) == 1.23456
    assert price_to_precision(1.23456, 0.01, None) == 1.23456


def test_price_to_precision_round_and_ticks() -> None:
    # 0.1 + 0.2 = 0.30000000000000004 on the 0.01 tick is 0.3 exactly
    assert price_to_precision(0.1 + 0.2, 0.01, TICK_SIZE) == 0.3
    assert price_to_precision(2.345, 2, DECIMAL_PLACES) == 2.35  # decimal text 2.345: tie away
    # stop-loss rounding towards the current price: long up, short down
    assert price_to_precision(0.9512, 0.01, TICK_SIZE, rounding_mode=ROUND_UP) == 0.96
    assert price_to_precision(1.0488, 0.01, TICK_SIZE, rounding_mode=ROUND_DOWN) == 1.04
    # already on a tick: returned unchanged
    assert price_to_precision(0.95, 0.01, TICK_SIZE, rounding_mode=ROUND_UP) == 0.95


def test_price_to_precision_decimal_places_up_down_is_float_math() -> None:
    # freqtrade's float formula: 1.4265 * 10**4 = 14265.000000000002 -> ceil 14266 -> 1.4266
    assert price_to_precision(1.4265, 4, DECIMAL_PLACES, rounding_mode=ROUND_UP) == 1.4266
    # 0.00227819 * 10**8 = 227818.99999999997 -> floor 227818
    assert price_to_precision(0.00227819, 8, DECIMAL_PLACES, rounding_mode=ROUND_DOWN) == (
        0.00227818
    )
    assert price_to_precision(1.23001, 2, DECIMAL_PLACES, rounding_mode=ROUND_UP) == 1.24


def test_amount_to_precision_truncates() -> None:
    assert amount_to_precision(1.23999, 2, DECIMAL_PLACES) == 1.23
    assert amount_to_precision(1.23999, 0.001, TICK_SIZE) == 1.239
    assert amount_to_precision(123.456, 2, SIGNIFICANT_DIGITS) == 120.0
    assert amount_to_precision(1.5, None, DECIMAL_PLACES) == 1.5


def test_contract_conversions() -> None:
    # 25 base units with contract size 10 -> 2.5 contracts -> truncated 2 -> 20 base units
    assert amount_to_contracts(25.0, 10.0) == 2.5
    assert contracts_to_amount(2.0, 10.0) == 20.0
    assert amount_to_contract_precision(25.0, 1, TICK_SIZE, 10.0) == 20.0
    # contract size 1 or None: no conversion
    assert amount_to_contracts(25.0, 1.0) == 25.0
    assert amount_to_contracts(25.0, None) == 25.0
    # 0.3 / 0.1 in float is 2.9999999999999996 (would truncate to 2 contracts); in decimal
    # it is exactly 3 contracts -> 3 * 0.1 = 0.3
    assert amount_to_contracts(0.3, 0.1) == 3.0
    assert amount_to_contract_precision(0.3, 1, TICK_SIZE, 0.1) == 0.3
    assert amount_to_contract_precision(7.0, None, TICK_SIZE, 10.0) == 7.0


@given(
    st.decimals(min_value=-(10**6), max_value=10**6, places=6, allow_nan=False),
    st.sampled_from([D("0.01"), D("0.05"), D("0.25"), D("5")]),
)
def test_tick_rounding_lands_on_grid_in_the_right_direction(value: D, tick: D) -> None:
    down = decimal_to_precision(value, ROUND_DOWN, tick, TICK_SIZE)
    up = decimal_to_precision(value, ROUND_UP, tick, TICK_SIZE)
    trunc = decimal_to_precision(value, TRUNCATE, tick, TICK_SIZE)
    near = decimal_to_precision(value, ROUND, tick, TICK_SIZE)
    for result in (down, up, trunc, near):
        assert result % tick == 0
    assert down <= value <= up
    assert up - down in (0, tick)
    assert abs(trunc) <= abs(value)
    assert abs(near - value) * 2 <= tick
