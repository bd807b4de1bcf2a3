"""A small in-memory exchange that speaks CCXT order dictionaries (for tests).

It is not a mock of tradeledger: it keeps its own book of orders, fills, positions and
delisted markets, and answers the way a CCXT exchange would. Its state can be saved to and
loaded from a JSON file so that a child process and the test process share it.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

FEE_RATE = 0.001


class BadSymbol(Exception):
    """The market does not exist (any more) - CCXT's ``BadSymbol``."""


class OrderNotFound(Exception):
    """CCXT's ``OrderNotFound``."""


class FakeExchange:
    """Orders by id, a clock in ms, net positions per pair, delisted markets."""

    def __init__(self, now_ms: int | None = None) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, float] = {}
        self.delisted: set[str] = set()
        self.now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        self.next_id = 1000
        #: When set, the next ``create_order`` answer carries ``id: None`` (freqtrade#8913).
        self.answer_with_none_id = False

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        data = {"orders": self.orders, "positions": self.positions,
                "delisted": sorted(self.delisted), "now_ms": self.now_ms,
                "next_id": self.next_id}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> FakeExchange:
        data = json.loads(path.read_text())
        ex = cls(data["now_ms"])
        ex.orders = data["orders"]
        ex.positions = data["positions"]
        ex.delisted = set(data["delisted"])
        ex.next_id = data["next_id"]
        return ex

    # ------------------------------------------------------------------ helpers
    def tick(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)

    def _check_market(self, symbol: str) -> None:
        if symbol in self.delisted:
            raise BadSymbol(f"fake does not have market symbol {symbol}")

    def _new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def _public(self, order: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(order)

    # ------------------------------------------------------------------ trading API
    def create_order(self, symbol: str, type: str, side: str, amount: float,
                     price: float | None = None, params: dict[str, Any] | None = None,
                     *, stop_price: float | None = None) -> dict[str, Any]:
        self._check_market(symbol)
        params = params or {}
        oid = self._new_id()
        order = {
            "id": oid, "clientOrderId": params.get("clientOrderId"), "symbol": symbol,
            "type": type, "side": side, "price": price, "average": None, "amount": amount,
            "filled": 0.0, "remaining": amount, "cost": 0.0, "status": "open",
            "timestamp": self.now_ms, "lastTradeTimestamp": None, "fee": None,
            "stopPrice": stop_price, "info": {},
        }
        self.orders[oid] = order
        answer = self._public(order)
        if self.answer_with_none_id:
            self.answer_with_none_id = False
            answer["id"] = None
        return answer

    def fill(self, order_id: str, amount: float | None = None,
             price: float | None = None) -> dict[str, Any]:
        """Fill ``amount`` (default: the rest) of an open order at ``price``."""
        order = self.orders[order_id]
        if order["status"] != "open":
            raise ValueError(f"order {order_id} is {order['status']}")
        qty = order["remaining"] if amount is None else amount
        px = price if price is not None else (order["price"] or order["stopPrice"])
        filled = order["filled"] + qty
        cost = order["cost"] + qty * px
        order.update(filled=filled, remaining=order["amount"] - filled, cost=cost,
                     average=cost / filled, lastTradeTimestamp=self.now_ms,
                     fee={"cost": cost * FEE_RATE, "currency": order["symbol"].split("/")[1],
                          "rate": FEE_RATE})
        if abs(order["remaining"]) <= 1e-12:
            order["remaining"] = 0.0
            order["status"] = "closed"
        sign = 1.0 if order["side"] == "buy" else -1.0
        self.positions[order["symbol"]] = self.positions.get(order["symbol"], 0.0) + sign * qty
        return self._public(order)

    def cancel_order(self, order_id: str, symbol: str | None = None) -> dict[str, Any]:
        order = self.orders[order_id]
        if order["status"] == "open":
            order["status"] = "canceled"
        return self._public(order)

    def external_order(self, symbol: str, side: str, amount: float, price: float,
                       *, fill: bool = True) -> dict[str, Any]:
        """An order placed on the account by someone else (a human, another bot)."""
        answer = self.create_order(symbol, "limit", side, amount, price)
        if fill:
            answer = self.fill(answer["id"])
        return answer

    # ------------------------------------------------------------------ queries
    def fetch_order(self, order_id: str, symbol: str | None = None) -> dict[str, Any]:
        if order_id not in self.orders:
            raise OrderNotFound(order_id)
        self._check_market(self.orders[order_id]["symbol"])
        return self._public(self.orders[order_id])

    def fetch_order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        for order in self.orders.values():
            if order.get("clientOrderId") == client_order_id:
                return self._public(order)
        return None

    def fetch_orders(self, symbol: str, since: int | None = None) -> list[dict[str, Any]]:
        self._check_market(symbol)
        return [self._public(o) for o in self.orders.values()
                if o["symbol"] == symbol and (since is None or o["timestamp"] >= since)]

    def fetch_positions(self) -> dict[str, float]:
        return dict(self.positions)

    def fetch_balance(self) -> dict[str, float]:
        """Total balance per base currency (spot: what the fills left on the account)."""
        totals: dict[str, float] = {}
        for pair, amount in self.positions.items():
            base = pair.split("/")[0]
            totals[base] = totals.get(base, 0.0) + amount
        return totals
