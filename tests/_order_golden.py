"""Helpers to replay ``order_scenarios.json`` (shared by the plain and the ORM golden tests)."""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from tradeledger import exceptions as tl_exc
from tradeledger.domain.enums import NON_OPEN_EXCHANGE_STATES

SHARED_DIR = Path(
    os.environ.get("TRADELEDGER_SHARED", Path(__file__).resolve().parents[2] / "shared")
)
ORDER_GOLDEN = SHARED_DIR / "golden" / "order_scenarios.json"

COLUMNS = (
    "order_id",
    "ft_order_side",
    "ft_pair",
    "ft_is_open",
    "ft_amount",
    "ft_price",
    "ft_cancel_reason",
    "status",
    "symbol",
    "order_type",
    "side",
    "price",
    "average",
    "amount",
    "filled",
    "remaining",
    "cost",
    "stop_price",
    "order_date",
    "order_filled_date",
    "order_update_date",
    "funding_fee",
    "ft_fee_base",
    "ft_order_tag",
)
PROPERTIES = (
    "safe_amount",
    "safe_placement_price",
    "safe_price",
    "safe_filled",
    "safe_cost",
    "safe_remaining",
    "safe_fee_base",
    "safe_amount_after_fee",
    "order_date_utc",
    "order_filled_utc",
    "stake_amount",
    "stake_amount_filled",
)

#: freqtrade exception names in the golden file -> the classes a compatible caller catches.
EXC_CLASSES: dict[str, type[BaseException]] = {
    "KeyError": KeyError,
    "ValueError": ValueError,
    "TypeError": TypeError,
    "ZeroDivisionError": ZeroDivisionError,
    "DependencyException": tl_exc.DependencyException,
    "OperationalException": tl_exc.OperationalException,
}


@cache
def load() -> dict[str, Any]:
    with ORDER_GOLDEN.open() as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def parse_dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _guard(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:
        return {"raises": {"class": type(exc).__name__, "exc": exc}}


def record(o: Any, entry_side: str) -> dict[str, Any]:
    """The generator's record of an order (columns, properties, serialisations)."""
    rec: dict[str, Any] = {c: getattr(o, c) for c in COLUMNS}
    for p in PROPERTIES:
        rec[p] = _guard(lambda p=p: getattr(o, p))
    rec["to_ccxt_object"] = _guard(o.to_ccxt_object)
    if o.ft_order_side == "stoploss":
        rec["to_ccxt_object_triggerPrice"] = _guard(lambda: o.to_ccxt_object("triggerPrice"))
    rec["to_json"] = _guard(lambda: o.to_json(entry_side))
    rec["to_json_minified"] = _guard(lambda: o.to_json(entry_side, minified=True))
    return rec


def close(a: float, b: float) -> bool:
    return abs(a - b) <= max(1e-12, 1e-9 * max(abs(a), abs(b)))


def diff(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Return human-readable differences between our value and the golden one."""
    if isinstance(expected, datetime):  # record-to-record comparison
        return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, dict) and set(expected) == {"raises"} and "exc" in expected["raises"]:
        same = (
            isinstance(actual, dict)
            and actual.get("raises", {}).get("class") == expected["raises"]["class"]
        )
        return [] if same else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, dict) and set(expected) == {"raises"}:
        cls = EXC_CLASSES[expected["raises"]["class"]]
        if (
            isinstance(actual, dict)
            and "raises" in actual
            and isinstance(actual["raises"]["exc"], cls)
        ):
            return []
        return [f"{path}: expected raise {cls.__name__}, got {actual!r}"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected dict, got {actual!r}"]
        out = []
        if set(actual) != set(expected):
            out.append(f"{path}: keys differ {sorted(set(actual) ^ set(expected))}")
        for k in expected:
            if k in actual:
                out += diff(actual[k], expected[k], f"{path}.{k}")
        return out
    if expected is None or isinstance(expected, bool):
        ok = actual is expected or (isinstance(actual, bool) and actual == expected)
        return [] if ok else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, str) and not _looks_dt(expected):
        return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, str):  # an ISO datetime
        if isinstance(actual, datetime):
            if actual.tzinfo is None:
                return [f"{path}: naive datetime {actual!r}"]
            return [] if actual == parse_dt(expected) else [f"{path}: {actual} != {expected}"]
        return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, (int, float)):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return [f"{path}: {actual!r} != {expected!r}"]
        if math.isnan(expected) and math.isnan(actual):
            return []
        return (
            [] if close(float(actual), float(expected)) else [f"{path}: {actual!r} != {expected!r}"]
        )
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} != {expected!r}"]
        out = []
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            out += diff(a, e, f"{path}[{i}]")
        return out
    raise AssertionError(f"unhandled golden value at {path}: {expected!r}")


def _looks_dt(text: str) -> bool:
    if len(text) < 19 or text[4] != "-" or text[10] != "T":
        return False
    try:
        parse_dt(text)
    except ValueError:
        return False
    return "+" in text[19:]


def is_stale(prev: dict[str, Any], update: dict[str, Any]) -> bool:
    """The documented staleness rule, evaluated on golden data (previous *expected* state).

    An update is stale when its ``filled`` is below the previous ``filled`` or it reports
    ``open`` for an order whose previous status is final.
    """
    new_filled = update.get("filled")
    if new_filled is not None and prev["filled"] is not None and new_filled < prev["filled"]:
        return True
    return update.get("status") == "open" and prev["status"] in NON_OPEN_EXCHANGE_STATES
