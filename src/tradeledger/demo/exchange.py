"""A small simulated exchange that speaks CCXT order dictionaries.

The market is a deterministic price path per pair (a seeded random walk with regime changes
and rare jumps), advanced one 5-minute candle at a time. The exchange keeps its own book of
orders and fills, so the bot and the exchange can disagree after a crash exactly as with a
real exchange. Its whole state lives in a small JSON file written atomically after every
change, so it survives the SIGKILL of the process that uses it.

Order behaviour:

* ``market``: filled at once at the current close (taker fee).
* ``limit``: filled at the next candle if the candle touches the limit price (maker fee).
* ``stop_market`` (stop-loss on exchange): triggered when a candle crosses ``stopPrice``,
  filled at the stop price (taker fee).
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PAIRS",
    "DEMO_START",
    "STEP",
    "OrderNotFound",
    "PairSpec",
    "SimExchange",
]

#: The simulated clock starts here (a fixed date in the past, so runs are reproducible).
DEMO_START = datetime(2025, 6, 2, tzinfo=UTC)
#: One candle.
STEP = timedelta(minutes=5)
MAKER_FEE = 0.0005
TAKER_FEE = 0.001
#: Funding is exchanged every hour on the demo's perpetual futures (as on several exchanges).
FUNDING_EVERY = 12


class OrderNotFound(Exception):
    """CCXT's ``OrderNotFound``."""


@dataclass(frozen=True, slots=True)
class PairSpec:
    """A market of the simulated exchange."""

    pair: str
    start_price: float
    volatility: float  # standard deviation of the 5-minute log return
    futures: bool
    leverage: float

    @property
    def quote(self) -> str:
        """Quote currency (``USDT`` for ``ETH/USDT:USDT``)."""
        return self.pair.split("/")[1].split(":")[0]

    @property
    def base(self) -> str:
        """Base currency."""
        return self.pair.split("/")[0]


DEFAULT_PAIRS: tuple[PairSpec, ...] = (
    PairSpec("BTC/USDT", 67_000.0, 0.0030, False, 1.0),
    PairSpec("ETH/USDT", 3_500.0, 0.0040, False, 1.0),
    PairSpec("SOL/USDT:USDT", 160.0, 0.0055, True, 3.0),
    PairSpec("XRP/USDT:USDT", 0.52, 0.0050, True, 5.0),
)


def _price_path(seed: int, spec: PairSpec, n: int) -> list[float]:
    rng = random.Random(f"tradeledger-demo:{seed}:{spec.pair}")
    prices = [spec.start_price]
    drift = 0.0
    for i in range(1, n):
        if i % 48 == 1:
            drift = rng.gauss(0.0, spec.volatility / 4)
        ret = rng.gauss(drift, spec.volatility)
        if rng.random() < 0.01:
            ret += rng.choice((-1, 1)) * spec.volatility * rng.uniform(3, 6)
        prices.append(prices[-1] * math.exp(ret))
    return prices


def _round_price(value: float) -> float:
    if value <= 0:
        return value
    digits = 6 - math.floor(math.log10(value))
    return round(value, max(digits, 0))


class SimExchange:
    """Orders by id, a candle clock, net positions per pair; persisted to ``path``."""

    def __init__(self, path: Path, *, seed: int, steps: int,
                 pairs: tuple[PairSpec, ...] = DEFAULT_PAIRS, id_prefix: str = "") -> None:
        self.path = Path(path)
        #: Prepended to order ids (a second session appended to one database).
        self.id_prefix = id_prefix
        self.seed = seed
        self.steps = steps
        self.pairs = pairs
        self.step = 0
        self.orders: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, float] = {}
        self.next_id = 1
        self._prices = {p.pair: _price_path(seed, p, steps + 64) for p in pairs}

    # ------------------------------------------------------------------ persistence
    def save(self) -> None:
        """Write the state atomically (temporary file, then rename).

        No fsync: the demo guards against a killed process, not a power cut, and a renamed
        file survives the death of the process that wrote it.
        """
        data = {"seed": self.seed, "steps": self.steps, "step": self.step,
                "orders": self.orders, "positions": self.positions, "next_id": self.next_id,
                "id_prefix": self.id_prefix,
                "pairs": [[p.pair, p.start_price, p.volatility, p.futures, p.leverage]
                          for p in self.pairs]}
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: Path) -> SimExchange:
        """Read the state written by :meth:`save`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        pairs = tuple(PairSpec(p[0], p[1], p[2], p[3], p[4]) for p in data["pairs"])
        ex = cls(path, seed=data["seed"], steps=data["steps"], pairs=pairs,
                 id_prefix=data.get("id_prefix", ""))
        ex.step = data["step"]
        ex.orders = data["orders"]
        ex.positions = data["positions"]
        ex.next_id = data["next_id"]
        return ex

    # ------------------------------------------------------------------ market data
    def spec(self, pair: str) -> PairSpec:
        """The market ``pair``."""
        for p in self.pairs:
            if p.pair == pair:
                return p
        raise KeyError(pair)

    def now(self, step: int | None = None) -> datetime:
        """The simulated time (close of candle ``step``)."""
        return DEMO_START + STEP * (self.step if step is None else step)

    def now_ms(self) -> int:
        """The simulated time in milliseconds."""
        return int(self.now().timestamp() * 1000)

    def price(self, pair: str, step: int | None = None) -> float:
        """Close of candle ``step`` (default: the current one)."""
        return _round_price(self._prices[pair][self.step if step is None else step])

    def candle(self, pair: str, step: int | None = None) -> tuple[float, float]:
        """``(low, high)`` of candle ``step``: the range between the previous and this close."""
        i = self.step if step is None else step
        prev = self._prices[pair][max(i - 1, 0)]
        cur = self._prices[pair][i]
        wick = abs(cur - prev) * 0.25
        return _round_price(min(prev, cur) - wick), _round_price(max(prev, cur) + wick)

    def closes(self, pair: str, n: int) -> list[float]:
        """The last ``n`` closes up to the current candle."""
        start = max(self.step - n + 1, 0)
        return [self.price(pair, i) for i in range(start, self.step + 1)]

    def funding_rate(self, pair: str, step: int | None = None) -> float:
        """Funding rate paid by longs at ``step`` (shorts receive it)."""
        i = self.step if step is None else step
        rng = random.Random(f"tradeledger-demo-funding:{self.seed}:{pair}:{i}")
        return round(rng.uniform(-0.00002, 0.0001), 6)

    # ------------------------------------------------------------------ trading API
    def _new_id(self) -> str:
        oid = f"{self.id_prefix}{self.next_id:08d}"
        self.next_id += 1
        return oid

    def create_order(self, symbol: str, type: str, side: str, amount: float,
                     price: float | None = None, params: dict[str, Any] | None = None,
                     *, save: bool = True) -> dict[str, Any]:
        """Place an order; a market order is filled at once."""
        self.spec(symbol)
        params = params or {}
        order: dict[str, Any] = {
            "id": self._new_id(), "clientOrderId": params.get("clientOrderId"),
            "symbol": symbol, "type": type, "side": side,
            "price": price if type == "limit" else None, "average": None,
            "amount": amount, "filled": 0.0, "remaining": amount, "cost": 0.0,
            "status": "open", "timestamp": self.now_ms(), "lastTradeTimestamp": None,
            "fee": None, "stopPrice": params.get("stopPrice"), "info": {},
        }
        self.orders[order["id"]] = order
        if type == "market":
            self._fill(order, self.price(symbol), TAKER_FEE)
        if save:
            self.save()
        return copy.deepcopy(order)

    def _fill(self, order: dict[str, Any], price: float, fee_rate: float) -> None:
        qty = float(order["remaining"])
        cost = qty * price
        order.update(filled=order["amount"], remaining=0.0, cost=order["cost"] + cost,
                     average=price, status="closed", lastTradeTimestamp=self.now_ms(),
                     fee={"cost": cost * fee_rate, "currency": self.spec(order["symbol"]).quote,
                          "rate": fee_rate})
        sign = 1.0 if order["side"] == "buy" else -1.0
        pos = self.positions.get(order["symbol"], 0.0) + sign * qty
        self.positions[order["symbol"]] = 0.0 if abs(pos) < 1e-9 else pos

    def cancel_order(self, order_id: str, symbol: str | None = None) -> dict[str, Any]:
        """Cancel an open order (a closed order is returned unchanged)."""
        order = self.orders.get(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        if order["status"] == "open":
            order["status"] = "canceled"
            self.save()
        return copy.deepcopy(order)

    def advance(self) -> list[dict[str, Any]]:
        """Move to the next candle and fill what it triggers; return the orders filled."""
        self.step += 1
        filled: list[dict[str, Any]] = []
        for order in self.orders.values():
            if order["status"] != "open":
                continue
            low, high = self.candle(order["symbol"])
            if order["type"] == "limit":
                px = float(order["price"])
                if (order["side"] == "buy" and low <= px) or (order["side"] == "sell"
                                                              and high >= px):
                    self._fill(order, px, MAKER_FEE)
                    filled.append(copy.deepcopy(order))
            elif order["type"] == "stop_market":
                stop = float(order["stopPrice"])
                if (order["side"] == "sell" and low <= stop) or (order["side"] == "buy"
                                                                 and high >= stop):
                    self._fill(order, stop, TAKER_FEE)
                    filled.append(copy.deepcopy(order))
        self.save()
        return filled

    # ------------------------------------------------------------------ queries
    def fetch_order(self, order_id: str, symbol: str | None = None) -> dict[str, Any]:
        """One order by exchange id."""
        if order_id not in self.orders:
            raise OrderNotFound(order_id)
        return copy.deepcopy(self.orders[order_id])

    def fetch_order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        """One order by client order id, or ``None``."""
        for order in self.orders.values():
            if order.get("clientOrderId") == client_order_id:
                return copy.deepcopy(order)
        return None

    def fetch_orders(self, symbol: str) -> list[dict[str, Any]]:
        """Every order of ``symbol`` (open and closed)."""
        return [copy.deepcopy(o) for o in self.orders.values() if o["symbol"] == symbol]

    def fetch_positions(self) -> dict[str, float]:
        """Net position per pair (long positive)."""
        return dict(self.positions)
