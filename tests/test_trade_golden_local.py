"""Replay every golden trade/backtest scenario through the plain ``LocalTrade``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.golden_harness import (
    GoldenReplayer,
    load_golden,
    local_start_values,
    raised_matches,
)
from tradeledger.domain.order import LocalOrder
from tradeledger.domain.trade import LocalTrade

TRADE_FILE = load_golden("trade_scenarios.json")
BT_FILE = load_golden("backtest_scenarios.json")

#: Raising cases freqtrade raises for the ORM ``Trade`` only: ``LocalTrade`` has class
#: defaults for ``amount`` / ``open_rate`` (as in freqtrade), so it accepts these inputs.
ORM_ONLY_RAISING = {"raise-missing-amount", "raise-missing-open-rate"}


def local_factory(kwargs: dict[str, Any], created: dict[str, Any] | None) -> LocalTrade:
    trade = LocalTrade(**kwargs)
    if created is not None and "id" not in kwargs:
        trade.id = 1  # the id the database assigned in the recorded run
    local_start_values(trade, created)
    return trade


def _replayer() -> GoldenReplayer:
    return GoldenReplayer(local_factory, LocalOrder, query_cls=LocalTrade)


@pytest.mark.parametrize("scenario", TRADE_FILE["scenarios"], ids=lambda s: s["id"])
def test_trade_scenario_local(scenario: dict[str, Any]) -> None:
    mismatches = _replayer().run_trade_scenario(scenario)
    assert not mismatches, "\n".join(mismatches[:20])


@pytest.mark.parametrize("case", TRADE_FILE["raising"], ids=lambda c: c["id"])
def test_raising_case_local(case: dict[str, Any]) -> None:
    LocalTrade.reset_trades()
    mismatches, exc, _trade = _replayer().run_raising(case)
    assert not mismatches, "\n".join(mismatches)
    if case["id"] in ORM_ONLY_RAISING:
        assert exc is None
        return
    assert exc is not None, f"{case['id']}: expected {case['raises']}, nothing raised"
    assert raised_matches(case["raises"], exc), f"{case['raises']} vs {exc!r}"


@pytest.mark.parametrize("scenario", BT_FILE["scenarios"], ids=lambda s: s["id"])
def test_backtest_scenario_local(scenario: dict[str, Any]) -> None:
    LocalTrade.reset_trades()
    try:
        mismatches = _replayer().run_backtest_scenario(scenario)
    finally:
        LocalTrade.reset_trades()
    assert not mismatches, "\n".join(mismatches[:20])
