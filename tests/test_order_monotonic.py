"""Idempotent, monotonic order updates (issue 4.3)."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._order_golden import COLUMNS
from tradeledger.domain.order import LocalOrder

T0 = 1_700_000_000_000


def _state(o: Any, *, skip_update_date: bool = True) -> dict[str, Any]:
    return {c: getattr(o, c) for c in COLUMNS
            if not (skip_update_date and c == "order_update_date")}


def _snap(filled: float, status: str = "open", amount: float = 4.0, **extra: Any) -> dict[str, Any]:
    return {"id": "A", "symbol": "ETH/USDT", "type": "limit", "side": "buy", "price": 10.0,
            "amount": amount, "filled": filled, "remaining": amount - filled,
            "average": 10.0 if filled else None, "cost": 10.0 * filled, "status": status,
            "timestamp": T0, "lastTradeTimestamp": T0 + int(filled * 1000) if filled else None,
            **extra}


def _new() -> LocalOrder:
    return LocalOrder.parse_from_ccxt_object(_snap(0.0), "ETH/USDT", "buy")


def test_same_update_twice_changes_nothing() -> None:
    o = _new()
    first = o.update_from_ccxt_object(_snap(1.0))
    assert first.changed and first.fill_delta == 1.0
    state = _state(o)
    second = o.update_from_ccxt_object(_snap(1.0))
    assert not second.changed and not second.stale and second.fill_delta == 0.0
    assert _state(o) == state


def test_filled_going_down_is_stale() -> None:
    o = _new()
    o.update_from_ccxt_object(_snap(3.0))
    state = _state(o, skip_update_date=False)
    outcome = o.update_from_ccxt_object(_snap(1.0))
    assert outcome.stale and not outcome.changed and outcome.fill_delta == 0.0
    assert _state(o, skip_update_date=False) == state


def test_closed_order_not_reopened() -> None:
    o = _new()
    with time_machine.travel(T0 / 1000 + 60, tick=False):
        closed = o.update_from_ccxt_object(_snap(4.0, "closed"))
    assert closed.closed_now and not o.ft_is_open
    filled_date = o.order_filled_date
    state = _state(o, skip_update_date=False)
    # the full fill delivered again, but from an older "open" snapshot
    outcome = o.update_from_ccxt_object(_snap(4.0, "open"))
    assert outcome.stale
    assert _state(o, skip_update_date=False) == state
    assert o.order_filled_date == filled_date


def test_freqtrade_mode_reopens() -> None:
    """The deviation is a choice: ``monotonic=False`` gives freqtrade's behaviour."""
    o = _new()
    o.update_from_ccxt_object(_snap(4.0, "closed"))
    o.update_from_ccxt_object(_snap(2.0, "open"), monotonic=False)
    assert o.ft_is_open and o.filled == 2.0


def test_class_switch() -> None:
    o = _new()
    o.update_from_ccxt_object(_snap(3.0))
    o.monotonic_updates = False  # per instance
    o.update_from_ccxt_object(_snap(1.0))
    assert o.filled == 1.0


def test_order_filled_date_set_once() -> None:
    o = _new()
    o.update_from_ccxt_object(_snap(2.0, "canceled", lastTradeTimestamp=T0 + 5000))
    first = o.order_filled_date
    assert first is not None and first.tzinfo is not None
    o.update_from_ccxt_object(_snap(2.0, "canceled", lastTradeTimestamp=T0 + 9000))
    assert o.order_filled_date == first


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A monotone snapshot history ending final, then delivered shuffled with duplicates."""
    amount = 4.0
    steps = draw(st.lists(st.integers(1, 4000), min_size=0, max_size=5, unique=True))
    fills = sorted(s / 1000 for s in steps if s / 1000 < amount)
    final_status = draw(st.sampled_from(["closed", "canceled", "expired"]))
    final_fill = amount if final_status == "closed" else (fills[-1] if fills else 0.0)
    history = [_snap(f) for f in fills] + [_snap(final_fill, final_status)]
    extra = draw(st.lists(st.sampled_from(range(len(history))), max_size=6))
    stream = history + [history[i] for i in extra]
    order = draw(st.permutations(stream))
    return list(order), history[-1]


@settings(max_examples=300, deadline=None)
@given(data=deliveries())
def test_any_delivery_order_ends_in_the_final_state(
    data: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    stream, final = data
    reference = _new()
    reference.update_from_ccxt_object(final)
    o = _new()
    booked = 0.0
    for snapshot in stream:
        outcome = o.update_from_ccxt_object(snapshot)
        booked += outcome.fill_delta
    assert _state(o, skip_update_date=True) | {"order_filled_date": None} == _state(
        reference, skip_update_date=True) | {"order_filled_date": None}
    assert not o.ft_is_open
    # each unit of fill is counted exactly once across all deliveries
    assert booked == pytest.approx(final["filled"], abs=1e-12)
