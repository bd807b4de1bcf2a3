"""``Trade.get_total_closed_profit()`` / ``total_open_trades_stakes()`` are exact on every backend.

The database adds the closed trades' profits (SQLite: a registered aggregate; PostgreSQL:
``numeric``; MariaDB: ``DECIMAL(65,38)``) and must give the float of the exact sum of the
values' shortest decimal texts (``Decimal(repr(x))``, DESIGN.md), rounded once -- the
reference here is computed with ``fractions.Fraction``, independently of the code under
test. Values a backend cannot sum exactly fall back to the Python sum, which is exact too.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from tradeledger.db import close_db, init_db
from tradeledger.models import trade as trade_module
from tradeledger.models.trade import Trade

OPEN = datetime(2024, 1, 1, tzinfo=UTC)


def reference(values: Sequence[float | None]) -> float:
    """Exact sum of ``Decimal(repr(v))`` for the non-zero values, rounded once to a float."""
    total = sum((Fraction(Decimal(repr(v))) for v in values if v), Fraction(0))
    return float(total)


@pytest.fixture
def live(backend: str) -> Iterator[None]:
    init_db(backend)
    Trade.use_db = True
    yield
    Trade.session.remove()
    close_db()


def _store(closed: Sequence[float | None], open_stakes: Sequence[float] = ()) -> None:
    rows: list[dict[str, Any]] = [
        {"exchange": "x", "pair": f"P{i % 7}/USDT", "open_rate": 1.0, "amount": 1.0,
         "stake_amount": 1.0, "is_open": False, "close_profit_abs": value, "open_date": OPEN}
        for i, value in enumerate(closed)
    ]
    rows += [
        {"exchange": "x", "pair": "O/USDT", "open_rate": 1.0, "amount": 1.0,
         "stake_amount": stake, "is_open": True, "close_profit_abs": 1e300,  # not counted
         "open_date": OPEN}
        for stake in open_stakes
    ]
    session = Trade.session()
    session.execute(Trade.__table__.delete())
    if rows:
        session.execute(Trade.__table__.insert(), rows)
    session.commit()


def _in_database_only(mp: pytest.MonkeyPatch) -> None:
    def refused(values: Any) -> float:
        raise AssertionError("summed in Python, expected the database to sum")

    mp.setattr(trade_module, "_exact_sum", refused)


CASES: dict[str, list[float | None]] = {
    "cancellation": [1e14, 1.0, -1e14],
    "cancellation, other order": [1.0, 1e14, -1e14, 3e-9],
    "decimal texts, not binary values": [0.1, 0.2],
    "thousand tenths": [0.1] * 1000,
    "tiny beside large": [123456.789, 5e-324, -123456.789],
    "tiny only": [5e-324, 5e-324, 2.2250738585072014e-308, -1e-300],
    "17 digits": [0.12345678901234568, 9.87654321098765e-05, 123456789.12345679,
                  -0.30000000000000004],
    "nulls and zeros": [None, 0.0, -0.0, None, 2.5, None, -0.0, 1.25],
    "all null": [None, None],
    "just below the database range": [999999999999999.9, -999999999999999.9, 0.5],
    "huge (Python fallback on servers)": [1e300, 1.0, -1e300, 1.7976931348623157e308,
                                          -1.7976931348623157e308],
    "large integral doubles": [3.092535278770144e18, 2.109793591122499e16, -1.0],
    "empty": [],
}


@pytest.mark.parametrize("name", list(CASES))
def test_total_closed_profit_is_exact(live: None, name: str) -> None:
    values = CASES[name]
    _store(values, open_stakes=[7.0])
    assert Trade.get_total_closed_profit() == reference(values)
    assert repr(Trade.get_total_closed_profit()) == repr(reference(values))  # sign of zero


def test_the_decimal_text_rule_differs_from_binary_sums(live: None) -> None:
    _store([0.1, 0.2])
    assert Trade.get_total_closed_profit() == 0.3 != 0.1 + 0.2


@pytest.mark.parametrize("name", ["cancellation", "decimal texts, not binary values",
                                  "17 digits", "nulls and zeros", "tiny beside large",
                                  "just below the database range"])
def test_money_ranges_are_summed_by_the_database(live: None, backend: str, name: str) -> None:
    values = CASES[name]
    _store(values)
    summed_in_python: list[Any] = []
    real = trade_module._exact_sum
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trade_module, "_exact_sum",
                   lambda vals: summed_in_python.append(1) or real(vals))
        assert Trade.get_total_closed_profit() == reference(values)
    # below 1e-22 MariaDB's DECIMAL(65,38) would not be exact: that case is summed in Python
    expect_python = "mysql" in backend and name == "tiny beside large"
    assert bool(summed_in_python) is expect_python


def _random_doubles(rng: random.Random, n: int) -> list[float | None]:
    out: list[float | None] = []
    while len(out) < n:
        kind = rng.randrange(5)
        if kind == 0:  # any finite double
            x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
            if x != x or x in (float("inf"), float("-inf")):
                continue
            out.append(x)
        elif kind == 1:  # money-like
            out.append(round(rng.uniform(-5000, 5000), rng.randrange(0, 12)))
        elif kind == 2:  # any magnitude of the database range
            out.append(rng.uniform(-1, 1) * 10.0 ** rng.randrange(-21, 15))
        elif kind == 3:
            out.append(None)
        else:  # cancellation partners
            prev = next((v for v in reversed(out) if v is not None), 1.0)
            out.append(-prev)
    return out


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("wide", [False, True])
def test_random_values_match_the_exact_reference(live: None, seed: int, wide: bool) -> None:
    rng = random.Random(seed)
    values = _random_doubles(rng, 3000)
    if not wide:  # keep to money magnitudes: the database sums on every backend
        values = [v for v in values if v is None or v == 0 or 1e-20 < abs(v) < 1e14]
    _store(values)
    with pytest.MonkeyPatch.context() as mp:
        if not wide:
            _in_database_only(mp)
        assert Trade.get_total_closed_profit() == reference(values)


def test_open_stakes_are_exact(live: None) -> None:
    stakes = [0.1, 0.2, 1e14, -1e14, 5e-324]
    _store([1.0], open_stakes=stakes)
    assert Trade.total_open_trades_stakes() == reference(stakes)


def test_python_sum_never_rounds_silently() -> None:
    # the old 100-digit context lost the 1.0 here (1e200 + 1 rounded back to 1e200)
    values = [1e200, 1.0, -1e200, 5e-324]
    assert trade_module._exact_sum(values) == reference(values) == 1.0
