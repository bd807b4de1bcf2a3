"""Replay of the golden trade vectors (``trade_scenarios.json``, ``backtest_scenarios.json``).

Reusable by the plain ``LocalTrade`` tests and the ORM ``Trade`` tests: the caller supplies

* ``trade_factory(kwargs, created)`` → a trade (``created`` is the recorded state right after
  construction, or ``None``);
* ``order_factory(**kwargs)`` → an order;
* ``after_op(trade)`` → the trade to snapshot after each state-changing op (the ORM version
  commits, expires and reloads it from the database; the default returns it unchanged);
* ``query_cls`` → the class whose ``get_trades_proxy`` etc. answer backtest ``query`` ops.

Every op runs with the wall clock frozen at its ``at`` instant (``time_machine``), as the
generator did. Floats compare with ``abs(a-b) <= max(abs_tol, rel_tol*max(|a|,|b|))``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import time_machine

from tradeledger import exceptions as tl_exc
from tradeledger.domain.enums import TradingMode

SHARED_DIR = Path(
    os.environ.get("TRADELEDGER_SHARED", Path(__file__).resolve().parents[2] / "shared")
)
GOLDEN_DIR = SHARED_DIR / "golden"
REL_TOL = 1e-9
ABS_TOL = 1e-12

STATE_ATTRS: tuple[str, ...] = (
    "is_open",
    "amount",
    "open_rate",
    "stake_amount",
    "max_stake_amount",
    "open_trade_value",
    "realized_profit",
    "close_rate",
    "close_rate_requested",
    "close_profit",
    "close_profit_abs",
    "close_date",
    "fee_open",
    "fee_open_cost",
    "fee_open_currency",
    "fee_close",
    "fee_close_cost",
    "fee_close_currency",
    "funding_fees",
    "funding_fee_running",
    "stop_loss",
    "stop_loss_pct",
    "initial_stop_loss",
    "initial_stop_loss_pct",
    "is_stop_loss_trailing",
    "max_rate",
    "min_rate",
    "liquidation_price",
    "exit_reason",
    "exit_order_status",
)
STATE_PROPS: tuple[str, ...] = (
    "nr_of_successful_entries",
    "nr_of_successful_exits",
    "stoploss_or_liquidation",
    "has_open_orders",
)
DATETIME_KEYS = frozenset(
    ("open_date", "close_date", "order_date", "order_filled_date", "order_update_date")
)

EXCEPTION_CLASSES: dict[str, type[BaseException]] = {
    "ValueError": ValueError,
    "TypeError": TypeError,
    "ZeroDivisionError": ZeroDivisionError,
    "KeyError": KeyError,
    "OperationalException": tl_exc.OperationalException,
    "DependencyException": tl_exc.DependencyException,
}


@cache
def load_golden(name: str) -> dict[str, Any]:
    """The parsed golden file ``name`` (e.g. ``"trade_scenarios.json"``)."""
    with open(GOLDEN_DIR / name, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def parse_dt(value: str | None) -> datetime | None:
    """ISO text → aware datetime (the golden files always carry an offset)."""
    return None if value is None else datetime.fromisoformat(value)


def convert_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Parse datetimes and the trading mode of constructor keyword arguments."""
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in DATETIME_KEYS and isinstance(value, str):
            out[key] = parse_dt(value)
        elif key == "trading_mode" and isinstance(value, str):
            out[key] = TradingMode(value)
        else:
            out[key] = value
    return out


def snapshot(trade: Any) -> dict[str, Any]:
    """The state snapshot of README §1.3."""
    snap: dict[str, Any] = {}
    for name in STATE_ATTRS:
        value = getattr(trade, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        snap[name] = value
    for name in STATE_PROPS:
        snap[name] = getattr(trade, name)
    snap["orders"] = [
        {"order_id": o.order_id, "ft_is_open": o.ft_is_open, "funding_fee": o.funding_fee}
        for o in trade.orders
    ]
    return snap


def floats_close(a: float, b: float) -> bool:
    """The golden tolerance (rel 1e-9, abs 1e-12)."""
    if a == b:
        return True
    if math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= max(ABS_TOL, REL_TOL * max(abs(a), abs(b)))


def compare(expected: Any, actual: Any, path: str = "", cut_text: bool = False) -> list[str]:
    """Mismatches between a golden value and ours (empty list = equal).

    ``cut_text``: expect over-long order tags cut to 255 characters (ORM, DESIGN.md).
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected dict, got {actual!r}"]
        out: list[str] = []
        missing = expected.keys() - actual.keys()
        extra = actual.keys() - expected.keys()
        if missing:
            out.append(f"{path}: missing keys {sorted(missing)}")
        if extra:
            out.append(f"{path}: unexpected keys {sorted(extra)}")
        for key in expected.keys() & actual.keys():
            out.extend(compare(expected[key], actual[key], f"{path}.{key}", cut_text))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list | tuple):
            return [f"{path}: expected list, got {actual!r}"]
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} items, got {len(actual)}: {actual!r}"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out.extend(compare(e, a, f"{path}[{i}]", cut_text))
        return out
    if expected is None or isinstance(expected, bool) or isinstance(actual, bool):
        if expected is actual or (
            isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
        ):
            return []
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    if isinstance(expected, int | float):
        if not isinstance(actual, int | float | Decimal):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        if floats_close(float(expected), float(actual)):
            return []
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    if isinstance(expected, str):
        if cut_text and path.endswith("ft_order_tag") and len(expected) > 255:
            # DESIGN.md deliberate deviation: over-long text is cut to the column length on
            # every backend (freqtrade's SQLite run kept the whole order tag).
            expected = expected[:255]
        if isinstance(actual, datetime):
            actual = actual.isoformat()
        if (
            isinstance(actual, str)
            and path.endswith("close_date")
            and expected
            and actual
            and parse_dt(expected) == parse_dt(actual)
        ):
            return []
        if expected == actual:
            return []
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    if expected == actual:
        return []
    return [f"{path}: expected {expected!r}, got {actual!r}"]


def raised_matches(expected: dict[str, Any], exc: BaseException) -> bool:
    """True if ``exc`` is of (a subclass of) the class freqtrade raised."""
    cls = EXCEPTION_CLASSES.get(expected["class"])
    return cls is not None and isinstance(exc, cls)


def _call(fn: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        return True, fn()
    except Exception as exc:
        return False, exc


def probe_results(trade: Any, op: dict[str, Any]) -> dict[str, tuple[bool, Any]]:
    """Run the read-only calls of a ``probe`` op."""
    rate, amount, open_rate = op["rate"], op["amount"], op["open_rate"]

    def profit() -> dict[str, float]:
        res = trade.calculate_profit(rate, amount, open_rate)
        return {
            "profit_abs": res.profit_abs,
            "profit_ratio": res.profit_ratio,
            "total_profit": res.total_profit,
            "total_profit_ratio": res.total_profit_ratio,
        }

    def interest() -> dict[str, Any]:
        res = trade.calculate_interest()
        return {"float": float(res), "decimal": res}

    out = {
        "calculate_profit": _call(profit),
        "calc_profit_ratio": _call(lambda: trade.calc_profit_ratio(rate, amount, open_rate)),
        "calc_close_trade_value": _call(lambda: trade.calc_close_trade_value(rate, amount)),
        "calculate_interest": _call(interest),
    }
    if "roi_target" in op:
        out["calc_close_rate_for_roi"] = _call(
            lambda: trade.calc_close_rate_for_roi(op["roi_target"])
        )
    if op.get("to_json"):
        out["to_json"] = _call(lambda: trade.to_json(op.get("minified", False)))
    return out


def compare_probe(
    expected: dict[str, Any], results: dict[str, tuple[bool, Any]], cut_text: bool = False
) -> list[str]:
    """Compare probe results, including recorded exceptions."""
    out: list[str] = []
    if expected.keys() != results.keys():
        out.append(f"probe keys: expected {sorted(expected)}, got {sorted(results)}")
    for key in expected.keys() & results.keys():
        exp = expected[key]
        ok, value = results[key]
        if isinstance(exp, dict) and "raises" in exp:
            if ok:
                out.append(f"{key}: expected {exp['raises']}, got value {value!r}")
            elif not raised_matches(exp["raises"], value):
                out.append(f"{key}: expected {exp['raises']}, got {type(value).__name__}: {value}")
            continue
        if not ok:
            out.append(f"{key}: raised {type(value).__name__}: {value}")
            continue
        if key == "calculate_interest":
            out.extend(compare(exp["float"], value["float"], f"{key}.float"))
            if Decimal(exp["decimal"]) != value["decimal"]:
                out.append(f"{key}.decimal: expected {exp['decimal']}, got {value['decimal']}")
            continue
        out.extend(compare(exp, value, key, cut_text))
    return out


TradeFactory = Callable[[dict[str, Any], dict[str, Any] | None], Any]
OrderFactory = Callable[..., Any]


def _identity(trade: Any) -> Any:
    return trade


class GoldenReplayer:
    """Replays golden scenarios through a trade implementation and collects mismatches."""

    def __init__(
        self,
        trade_factory: TradeFactory,
        order_factory: OrderFactory,
        *,
        after_op: Callable[[Any], Any] = _identity,
        on_error: Callable[[Any], Any] = _identity,
        query_cls: Any = None,
        cut_text: bool = False,
    ) -> None:
        self.trade_factory = trade_factory
        self.order_factory = order_factory
        self.after_op = after_op
        self.on_error = on_error
        self.query_cls = query_cls
        self.cut_text = cut_text

    # ---- live ops -------------------------------------------------------------------------
    def apply_op(self, trade: Any, op: dict[str, Any], at: datetime) -> None:
        """Perform one state-changing op on ``trade`` (README §1.2 / §2)."""
        kind = op["op"]
        if kind == "order":
            order = self.order_factory(**convert_kwargs(op["order"]))
            trade.orders.append(order)
            if "set_exit_reason" in op:
                trade.exit_reason = op["set_exit_reason"]
            trade.update_trade(order)
        elif kind == "order_update":
            order = trade.select_order_by_order_id(op["order_id"])
            for key, value in convert_kwargs(op["set"]).items():
                setattr(order, key, value)
            if "set_exit_reason" in op:
                trade.exit_reason = op["set_exit_reason"]
            if op["apply"]:
                trade.update_trade(order)
        elif kind == "funding":
            trade.set_funding_fees(op["value"])
        elif kind == "stoploss":
            trade.adjust_stop_loss(
                op["current_price"],
                op["stoploss"],
                initial=op["initial"],
                allow_refresh=op["allow_refresh"],
            )
        elif kind == "minmax":
            trade.adjust_min_max_rates(op["current_price"], op["current_price_low"])
        elif kind == "liquidation":
            trade.set_liquidation_price(op["liquidation_price"])
        elif kind == "fee":
            trade.update_fee(op["fee_cost"], op["fee_currency"], op["fee_rate"], op["side"])
        elif kind == "probe_raw":
            getattr(trade, op["call"])(*op["args"])
        # backtest ops
        elif kind == "bt_order":
            if "set_close_date" in op:
                trade.close_date = parse_dt(op["set_close_date"])
            if "set_exit_reason" in op:
                trade.exit_reason = op["set_exit_reason"]
            order = self.order_factory(**convert_kwargs(op["order"]))
            order._trade_bt = trade
            trade.orders.append(order)
            if op["fill"]:
                order.close_bt_order(at, trade)
        elif kind == "bt_fill":
            trade.select_order_by_order_id(op["order_id"]).close_bt_order(at, trade)
        elif kind == "recalc":
            trade.recalc_trade_from_orders(is_closing=op.get("is_closing", False))
        elif kind == "close":
            if op.get("set_close_date"):
                trade.close_date = at
            trade.close(op["rate"], show_msg=False)
        elif kind == "close_bt_trade":
            type(trade).close_bt_trade(trade)
        elif kind == "remove_bt_trade":
            type(trade).remove_bt_trade(trade)
        else:
            raise AssertionError(f"unknown op {kind!r}")

    def run_trade_scenario(self, scenario: dict[str, Any]) -> list[str]:
        """Replay a live scenario; returns the mismatches (empty = pass)."""
        sid = scenario["id"]
        out: list[str] = []
        kwargs = convert_kwargs(scenario["trade"])
        with time_machine.travel(kwargs["open_date"], tick=False):
            trade = self.trade_factory(kwargs, scenario.get("created"))
            trade = self.after_op(trade)
            if scenario.get("created") is not None:
                out.extend(
                    f"{sid} created {m}" for m in compare(scenario["created"], snapshot(trade))
                )
        for index, op in enumerate(scenario["ops"]):
            at = parse_dt(op["at"])
            assert at is not None
            with time_machine.travel(at, tick=False):
                if op["op"] == "probe":
                    res = probe_results(trade, op)
                    out.extend(
                        f"{sid} op{index} probe {m}"
                        for m in compare_probe(op["expect"], res, self.cut_text)
                    )
                    continue
                self.apply_op(trade, op, at)
                trade = self.after_op(trade)
                out.extend(
                    f"{sid} op{index} {op['op']} {m}"
                    for m in compare(op["expect"], snapshot(trade), cut_text=self.cut_text)
                )
        return out

    def run_raising(self, case: dict[str, Any]) -> tuple[list[str], BaseException | None, Any]:
        """Replay a ``raising`` case: (mismatches before the raise, the exception, trade)."""
        sid = case["id"]
        out: list[str] = []
        expected = case["raises"]
        if case["mode"] == "backtest":
            trade = None
            for index, op in enumerate(case["ops"]):
                at = parse_dt(op["at"])
                with time_machine.travel(at, tick=False):
                    try:
                        if op["op"] == "new_trade":
                            trade = self.trade_factory(convert_kwargs(op["trade"]), None)
                            type(trade).add_bt_trade(trade)
                        else:
                            self.apply_op(trade, op, at)  # type: ignore[arg-type]
                    except Exception as exc:
                        if expected is None or index != expected["op_index"]:
                            out.append(f"{sid} op{index}: unexpected {exc!r}")
                        return out, exc, trade
            return out, None, trade
        kwargs = convert_kwargs(case["trade"])
        with time_machine.travel(kwargs["open_date"], tick=False):
            try:
                trade = self.trade_factory(kwargs, case.get("created"))
                trade = self.after_op(trade)
            except Exception as exc:
                if expected is None or expected["op_index"] != -1:
                    out.append(f"{sid} ctor: unexpected {exc!r}")
                return out, exc, None
            if case.get("created") is not None:
                out.extend(f"{sid} created {m}" for m in compare(case["created"], snapshot(trade)))
        for index, op in enumerate(case["ops"]):
            at = parse_dt(op["at"])
            assert at is not None
            with time_machine.travel(at, tick=False):
                try:
                    if op["op"] == "probe":
                        res = probe_results(trade, op)
                        out.extend(
                            f"{sid} op{index} probe {m}"
                            for m in compare_probe(op["expect"], res, self.cut_text)
                        )
                        continue
                    self.apply_op(trade, op, at)
                    trade = self.after_op(trade)
                except Exception as exc:
                    if expected is None or index != expected["op_index"]:
                        out.append(f"{sid} op{index}: unexpected {exc!r}")
                    trade = self.on_error(trade)
                    return out, exc, trade
                if "expect" in op:
                    out.extend(
                        f"{sid} op{index} {op['op']} {m}"
                        for m in compare(op["expect"], snapshot(trade), cut_text=self.cut_text)
                    )
        return out, None, trade

    # ---- backtesting ----------------------------------------------------------------------
    def run_backtest_scenario(self, scenario: dict[str, Any]) -> list[str]:
        """Replay a backtest scenario (the caller switched database use off)."""
        sid = scenario["id"]
        out: list[str] = []
        trades: dict[int, Any] = {}
        qcls = self.query_cls
        for index, op in enumerate(scenario["ops"]):
            at = parse_dt(op["at"])
            assert at is not None
            prefix = f"{sid} op{index} {op['op']}"
            with time_machine.travel(at, tick=False):
                if op["op"] == "query":
                    out.extend(f"{prefix} {m}" for m in self._run_query(qcls, op))
                    continue
                if op["op"] == "new_trade":
                    trade = self.trade_factory(convert_kwargs(op["trade"]), None)
                    type(trade).add_bt_trade(trade)
                    trades[op["trade_index"]] = trade
                else:
                    trade = trades[op["trade_index"]]
                    if op["op"] == "probe":
                        res = probe_results(trade, op)
                        out.extend(
                            f"{prefix} {m}" for m in compare_probe(op["expect"], res, self.cut_text)
                        )
                        continue
                    self.apply_op(trade, op, at)
                out.extend(
                    f"{prefix} {m}"
                    for m in compare(op["expect"], snapshot(trade), cut_text=self.cut_text)
                )
        return out

    @staticmethod
    def _run_query(qcls: Any, op: dict[str, Any]) -> list[str]:
        exp = op["expect"]
        got: dict[str, Any] = {}
        proxies = []
        for filters in op["proxy"]:
            kwargs = {k: (parse_dt(v) if k in DATETIME_KEYS else v) for k, v in filters.items()}
            proxies.append([t.id for t in qcls.get_trades_proxy(**kwargs)])
        got["get_trades_proxy"] = proxies
        got["get_open_trades"] = [t.id for t in qcls.get_open_trades()]
        got["get_open_trade_count"] = qcls.get_open_trade_count()
        got["total_open_trades_stakes"] = qcls.total_open_trades_stakes()
        got["get_total_closed_profit"] = qcls.get_total_closed_profit()
        got["bt_total_profit"] = qcls.bt_total_profit
        got["bt_open_open_trade_count"] = qcls.bt_open_open_trade_count
        got["bt_trades_open_pp"] = {
            pair: [t.id for t in store] for pair, store in qcls.bt_trades_open_pp.items()
        }
        return compare(exp, got, "")


def local_start_values(trade: Any, created: dict[str, Any] | None) -> None:
    """Give a fresh ``LocalTrade`` the values a live ``Trade`` got from the column defaults.

    Only attributes whose recorded ``created`` value differs from the current one are set.
    """
    if not created:
        return
    for name in STATE_ATTRS:
        if name == "close_date":
            continue
        expected = created[name]
        current = getattr(trade, name)
        if compare(expected, current):
            setattr(trade, name, expected)
