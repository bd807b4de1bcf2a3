"""Replay every ``order_scenarios.json`` scenario (and the 4 raising cases) through LocalOrder.

Two modes:
* ``monotonic=False`` (freqtrade's behaviour): every record must equal the golden one.
* default (monotonic updates, the documented deviation): records equal the golden ones until a
  *stale* update (see ``_order_golden.is_stale``); that update must change nothing, and later
  updates of the scenario must keep the order's fill and final state (no roll-back).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import time_machine

from tests._order_golden import diff, is_stale, load, parse_dt, record
from tradeledger.domain.enums import NON_OPEN_EXCHANGE_STATES
from tradeledger.domain.order import LocalOrder

SCENARIOS = load()["scenarios"]
RAISING = load()["raising"]


def _make_trade(leverage: float) -> Any:
    try:
        from tradeledger.domain.trade import LocalTrade
    except ImportError:  # the accounting module is not there yet: only leverage is needed
        return SimpleNamespace(leverage=leverage)
    return LocalTrade(leverage=leverage)


def _parse(sc: dict[str, Any]) -> LocalOrder:
    p = sc["parse"]
    with time_machine.travel(parse_dt(p["at"]), tick=False):
        o = LocalOrder.parse_from_ccxt_object(
            p["order"], sc["pair"], sc["side"], p.get("amount"), p.get("price")
        )
        o._trade_bt = _make_trade(sc["leverage"])
        if "ft_fee_base" in sc:
            o.ft_fee_base = sc["ft_fee_base"]
    return o


def _replay(sc: dict[str, Any], monotonic: bool) -> list[str]:
    problems: list[str] = []
    o = _parse(sc)
    problems += diff(record(o, sc["entry_side"]), sc["parse"]["expect"], "parse")
    prev = sc["parse"]["expect"]
    diverged = False
    for i, upd in enumerate(sc["updates"]):
        exp = upd["expect"]
        where = f"update[{i}]"
        before = record(o, sc["entry_side"])
        with time_machine.travel(parse_dt(upd["at"]), tick=False):
            try:
                outcome = o.update_from_ccxt_object(upd["order"], monotonic=monotonic)
            except Exception as exc:
                got_rec = record(o, sc["entry_side"])
                if "raises" not in exp:
                    problems.append(f"{where}: raised {exc!r}")
                    continue
                problems += diff(
                    {"raises": {"class": "", "exc": exc}}, {"raises": exp["raises"]}, where
                )
                problems += diff(got_rec, before, where + ".unchanged")
                if not diverged:
                    problems += diff(got_rec, exp["state"], where + ".state")
                continue
            got = record(o, sc["entry_side"])
        if "raises" in exp:
            problems.append(f"{where}: expected {exp['raises']}, got no error")
            continue
        if monotonic and (diverged or is_stale(prev, upd["order"])):
            if not diverged:
                # the stale update itself: nothing at all changes
                assert outcome.stale, where
                problems += diff(got, before, where + ".stale-unchanged")
                diverged = True
            # no roll-back afterwards
            if before["filled"] is not None and (got["filled"] or 0.0) < before["filled"]:
                problems.append(f"{where}: filled rolled back")
            if before["status"] in NON_OPEN_EXCHANGE_STATES and got["ft_is_open"]:
                problems.append(f"{where}: final order reopened")
            continue
        problems += diff(got, exp, where)
        prev = exp
    return problems


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_golden_freqtrade_mode(sc: dict[str, Any]) -> None:
    assert _replay(sc, monotonic=False) == []


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_golden_monotonic_mode(sc: dict[str, Any]) -> None:
    assert _replay(sc, monotonic=True) == []


def test_stale_updates_exist_in_golden() -> None:
    """The monotonic mode really diverges somewhere (else its test above proves nothing)."""
    count = 0
    for sc in SCENARIOS:
        prev = sc["parse"]["expect"]
        for upd in sc["updates"]:
            if "raises" in upd["expect"]:
                continue
            count += is_stale(prev, upd["order"])
            prev = upd["expect"]
    assert count >= 1


@pytest.mark.parametrize("sc", RAISING, ids=[s["id"] for s in RAISING])
def test_golden_raising(sc: dict[str, Any]) -> None:
    exp = sc["parse"]["expect"]
    if "raises" in exp:
        from tests._order_golden import EXC_CLASSES

        with pytest.raises(EXC_CLASSES[exp["raises"]["class"]]):
            _parse(sc)
        return
    for monotonic in (False, True):
        assert _replay(sc, monotonic=monotonic) == []
