"""Every analytics metric on 5 000 generated trades against an independent computation.

The trades (seeded, so reproducible) mix spot/margin/futures, long/short, leverage 1-75x,
DCA entries, trades without orders or with an unfilled entry, open trades, draws, missing
min/max rates, trailing stops and liquidation prices. Each backend gets them with one bulk
insert; backtesting mode gets the same trades as ``LocalTrade`` objects in the stores. The
expected values are computed here in plain Python, row by row, from the same dictionaries
(no SQL, no code of the service); floats are compared with rel 1e-9 (SQL sums may add in
another order). The risk ratios use the formulas documented in
``tradeledger.services.analytics.risk`` (quantstats/empyrical are not installed: they pull in
pandas and scipy), written out again independently below.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

import tradeledger
from tests.conftest import make_backend_url, selected_backends
from tradeledger.domain.enums import TradingMode
from tradeledger.domain.order import LocalOrder
from tradeledger.domain.trade import LocalTrade
from tradeledger.models import Order, Trade
from tradeledger.services.analytics import AnalyticsService, TradeFilter

N = 5000
BASE = datetime(2024, 1, 1, tzinfo=UTC)
PAIRS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT",
         "ADA/USDT", "DOGE/USDT"]
EXITS = ["roi", "stop_loss", "stoploss_on_exchange", "trailing_stop_loss", "exit_signal",
         "liquidation", "force_exit", None]
STOPS = ("stop_loss", "stoploss_on_exchange", "trailing_stop_loss")
BALANCE = 10_000.0


def generate(n: int = N, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    trades: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    for tid in range(1, n + 1):
        mode = rng.choice([TradingMode.SPOT, TradingMode.MARGIN, TradingMode.FUTURES])
        short = mode != TradingMode.SPOT and rng.random() < 0.4
        sign = -1 if short else 1
        lev = 1.0 if mode == TradingMode.SPOT else rng.choice([1, 1.5, 2, 3, 5, 10, 20, 75])
        open_rate = round(rng.uniform(0.5, 500), 4)
        amount = round(rng.uniform(0.1, 50), 3)
        stake = open_rate * amount / lev
        open_date = BASE + timedelta(seconds=rng.randrange(0, 150 * 86400))
        is_open = rng.random() < 0.04
        duration = rng.choice([rng.randrange(60, 3600), rng.randrange(3600, 86400),
                               rng.randrange(86400, 10 * 86400)])
        ratio = 0.0 if rng.random() < 0.02 else round(rng.gauss(0.002, 0.05), 8)
        close_rate = open_rate * (1 + sign * ratio / lev)
        min_rate: float | None = min(open_rate, close_rate) * (1 - rng.uniform(0, 0.08))
        max_rate: float | None = max(open_rate, close_rate) * (1 + rng.uniform(0, 0.08))
        if rng.random() < 0.03:
            min_rate, max_rate = None, 0.0
        initial = open_rate * (1 - sign * rng.uniform(0.02, 0.1))
        trailing = rng.random() < 0.3
        stop = initial + sign * open_rate * rng.uniform(0, 0.12) if trailing else initial
        liq = None
        if lev > 1 and rng.random() < 0.8:
            liq = open_rate * (1 - sign * 0.9 / lev)
        trades.append({
            "id": tid, "exchange": "binance", "pair": rng.choice(PAIRS), "is_open": is_open,
            "fee_open": 0.001, "fee_close": 0.001, "open_rate": open_rate,
            "close_rate": None if is_open else close_rate,
            "close_profit": None if is_open else ratio,
            "close_profit_abs": None if is_open else round(stake * ratio, 8),
            "stake_amount": stake, "max_stake_amount": stake, "amount": amount,
            "open_date": open_date,
            "close_date": None if is_open else open_date + timedelta(seconds=duration),
            "stop_loss": stop, "initial_stop_loss": initial, "is_stop_loss_trailing": trailing,
            "min_rate": min_rate, "max_rate": max_rate,
            "exit_reason": None if is_open else rng.choice(EXITS),
            "enter_tag": rng.choice([None, "a", "b", "c", ""]),
            "strategy": rng.choice(["S1", "S2"]), "trading_mode": mode, "leverage": lev,
            "is_short": short, "liquidation_price": liq, "interest_rate": 0.0,
            "record_version": 2, "realized_profit": 0.0,
        })
        kind = rng.random()
        if kind < 0.03:
            continue  # no orders at all
        entry = "sell" if short else "buy"
        legs: list[tuple[str, float, float, str]] = []
        if kind < 0.05:
            legs.append((entry, amount, 0.0, "canceled"))  # an entry that never filled
        elif kind < 0.25:
            first = round(amount * 0.4, 3)
            legs += [(entry, first, first, "closed"),
                     (entry, amount - first, amount - first, "closed")]
        else:
            legs.append((entry, amount, amount, "closed"))
        if not is_open:
            legs.append(("buy" if short else "sell", amount, amount, "closed"))
        for side, amt, filled, status in legs:
            oid = len(orders) + 1
            price = open_rate if side == entry else close_rate
            average = None if rng.random() < 0.05 else price * (1 + rng.uniform(-1e-3, 1e-3))
            orders.append({
                "id": oid, "ft_trade_id": tid, "ft_order_side": side,
                "ft_pair": trades[-1]["pair"], "ft_is_open": False, "ft_amount": amt,
                "ft_price": price, "order_id": f"g{oid}", "status": status,
                "symbol": trades[-1]["pair"], "order_type": "limit", "side": side,
                "price": price, "average": average, "amount": amt, "filled": filled,
                "remaining": amt - filled, "cost": filled * (average or price),
                "order_date": open_date, "order_filled_date": open_date if filled else None,
            })
    return trades, orders


TRADES, ORDERS = generate()
FILTERS = {
    "none": TradeFilter(),
    "mixed": TradeFilter(pairs=["BTC/USDT", "ETH/USDT:USDT", "SOL/USDT"], side="long",
                         start=BASE + timedelta(days=20), end=BASE + timedelta(days=100)),
    "short-futures-tag": TradeFilter(side="short", trading_mode="futures", enter_tag="a"),
    "strategy-exit-open-date": TradeFilter(strategy="S2", exit_reason="stop_loss",
                                           start=BASE + timedelta(days=30),
                                           date_field="open_date"),
}


def matches(t: dict[str, Any], f: TradeFilter) -> bool:
    """Python version of a filter (closed trades only, as every closed-trade metric)."""
    if t["is_open"]:
        return False
    checks = [
        f.pairs is None or t["pair"] in f.pairs,
        f.strategy is None or t["strategy"] == f.strategy,
        f.enter_tag is None or t["enter_tag"] == f.enter_tag,
        f.exit_reason is None or t["exit_reason"] == f.exit_reason,
        f.side is None or (f.side == "short") == t["is_short"],
        f.trading_mode is None or t["trading_mode"] == f.trading_mode,
        f.start is None or t[f.date_field] >= f.start,
        f.end is None or t[f.date_field] < f.end,
    ]
    return all(checks)


# --- independent computations ---------------------------------------------------------------


def capital(t: dict[str, Any], by_trade: dict[int, list[dict[str, Any]]]) -> float:
    entry = "sell" if t["is_short"] else "buy"
    filled = [o for o in by_trade[t["id"]] if o["ft_order_side"] == entry and o["filled"] > 0]
    if filled:
        return sum(o["filled"] * (o["average"] if o["average"] is not None else o["price"])
                   / t["leverage"] for o in filled)
    return t["stake_amount"] or t["open_rate"] * t["amount"] / t["leverage"]


def exp_performance(sel: list[dict[str, Any]], by: str) -> dict[str, Any]:
    by_trade: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for o in ORDERS:
        by_trade[o["ft_trade_id"]].append(o)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in sel:
        tag = "Other" if t["enter_tag"] is None else t["enter_tag"]
        reason = "Other" if t["exit_reason"] is None else t["exit_reason"]
        key = {"pair": t["pair"], "enter_tag": tag, "exit_reason": reason,
               "mix_tag": f"{tag} {reason}"}[by]
        groups[key].append(t)
    rows = []
    for key, ts in groups.items():
        profit = sum(t["close_profit_abs"] for t in ts)
        if by == "mix_tag":
            ratio = sum(t["close_profit"] for t in ts)
            order_key: tuple[Any, ...] = (-max(t["close_profit_abs"] for t in ts),
                                          min(t["id"] for t in ts))
        else:
            cap = sum(capital(t, by_trade) for t in ts)
            ratio = profit / cap if cap else 0.0
            order_key = (-profit, key)
        rows.append((order_key, {"key": key, "profit_ratio": ratio,
                                 "profit_pct": round(ratio * 100, 2), "profit_abs": profit,
                                 "count": len(ts)}))
    rows.sort(key=lambda r: r[0])
    return {"by": by, "rows": [r[1] for r in rows]}


def bucket(d: datetime, granularity: str) -> date:
    day = d.date()
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def next_bucket(b: date, granularity: str) -> date:
    if granularity == "day":
        return b + timedelta(days=1)
    if granularity == "week":
        return b + timedelta(days=7)
    return (b.replace(day=28) + timedelta(days=4)).replace(day=1)


def exp_periods(sel: list[dict[str, Any]], f: TradeFilter, granularity: str) -> dict[str, Any]:
    acc: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for t in sel:
        acc[bucket(t["close_date"], granularity)].append(t)
    if not acc:
        return {"granularity": granularity, "rows": []}
    first = min(acc) if f.start is None or f.date_field != "close_date" else bucket(
        f.start, granularity)
    last = max(acc) if f.end is None or f.date_field != "close_date" else bucket(
        f.end - timedelta(microseconds=1), granularity)
    rows = []
    b = first
    while b <= last:
        ts = acc.get(b, [])
        profit = sum(t["close_profit_abs"] for t in ts)
        cap = sum(t["stake_amount"] for t in ts)
        rows.append({"period_start": b, "profit_abs": profit, "trade_count": len(ts),
                     "wins": sum(t["close_profit_abs"] > 0 for t in ts),
                     "losses": sum(t["close_profit_abs"] < 0 for t in ts), "capital": cap,
                     "profit_ratio": profit / cap if cap else 0.0,
                     "gross_profit": sum(t["close_profit_abs"] for t in ts
                                         if t["close_profit_abs"] > 0),
                     "gross_loss": sum(t["close_profit_abs"] for t in ts
                                       if t["close_profit_abs"] < 0)})
        b = next_bucket(b, granularity)
    return {"granularity": granularity, "rows": rows}


def exp_drawdown(sel: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(sel, key=lambda t: (t["close_date"], t["id"]))
    equity = peak = BALANCE
    peak_date = None
    best_abs: tuple[float, Any, Any, float, float] = (0.0, None, None, 0.0, 0.0)
    best_rel: tuple[float, Any, Any, float, float] = (0.0, None, None, 0.0, 0.0)
    first_open = min((t["open_date"] for t in sel), default=None)
    for t in ordered:
        equity += t["close_profit_abs"]
        if equity >= peak:
            peak, peak_date = equity, t["close_date"]
        dd = peak - equity
        start = peak_date or first_open
        if dd > best_abs[0]:
            best_abs = (dd, start, t["close_date"], peak, equity)
        if dd / peak > best_rel[0]:
            best_rel = (dd / peak, start, t["close_date"], peak, equity)
    dd_abs, start, end, pk, tr = best_abs
    return {
        "starting_balance": BALANCE, "trade_count": len(sel), "max_drawdown_abs": dd_abs,
        "peak_equity": pk if dd_abs else None, "trough_equity": tr if dd_abs else None,
        "start": start, "end": end,
        "duration_seconds": (end - start).total_seconds() if end else None,
        "max_drawdown_rel": best_rel[0],
        "rel_peak_equity": best_rel[3] if best_rel[0] else None,
        "rel_trough_equity": best_rel[4] if best_rel[0] else None,
        "rel_start": best_rel[1], "rel_end": best_rel[2],
    }


def exp_stats(sel: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(sel)
    p = [t["close_profit_abs"] for t in sel]
    wins = [x for x in p if x > 0]
    losses = [x for x in p if x < 0]
    gp, gl = sum(wins), sum(losses)
    avg_win = gp / len(wins) if wins else 0.0
    avg_loss = -gl / len(losses) if losses else 0.0
    durations = [(t["close_date"] - t["open_date"]).total_seconds() for t in sel]

    def ref(t: dict[str, Any] | None) -> dict[str, Any] | None:
        if t is None:
            return None
        return {"trade_id": t["id"], "pair": t["pair"], "profit_ratio": t["close_profit"],
                "profit_abs": t["close_profit_abs"]}

    best = min(sel, key=lambda t: (-t["close_profit"], t["id"])) if sel else None
    worst = min(sel, key=lambda t: (t["close_profit"], t["id"])) if sel else None
    return {
        "trade_count": n, "wins": len(wins), "losses": len(losses),
        "draws": n - len(wins) - len(losses), "win_rate": len(wins) / n if n else 0.0,
        "total_profit_abs": sum(p), "gross_profit": gp, "gross_loss": gl,
        "profit_factor": gp / -gl if gl else None, "avg_win": avg_win, "avg_loss": avg_loss,
        "expectancy": sum(p) / n if n else 0.0,
        "expectancy_ratio": (1 + avg_win / avg_loss) * len(wins) / n - 1 if avg_loss else None,
        "avg_profit_ratio": statistics.fmean(t["close_profit"] for t in sel) if sel else 0.0,
        "avg_duration_seconds": statistics.fmean(durations) if durations else None,
        "median_duration_seconds": statistics.median(durations) if durations else None,
        "best_trade": ref(best), "worst_trade": ref(worst),
    }


def exp_risk(sel: list[dict[str, Any]], f: TradeFilter) -> dict[str, Any]:
    daily = [r["profit_abs"] for r in exp_periods(sel, f, "day")["rows"]]
    equity, rets, eq_curve = BALANCE, [], [BALANCE]
    for pnl in daily:
        rets.append(pnl / equity)
        equity += pnl
        eq_curve.append(equity)
    peaks = [max(eq_curve[: i + 1]) for i in range(len(eq_curve))]
    mdd = max((pk - e) / pk for pk, e in zip(peaks, eq_curve, strict=True))
    n = len(rets)
    mean = statistics.fmean(rets) if rets else None
    std = statistics.stdev(rets) if n >= 2 else None
    down = math.sqrt(sum(min(r, 0) ** 2 for r in rets) / n) if n else 0.0
    cagr = (equity / BALANCE) ** (365 / n) - 1 if n else None
    return {
        "starting_balance": BALANCE, "risk_free_rate": 0.0, "periods_per_year": 365, "days": n,
        "mean_daily_return": mean, "daily_volatility": std, "annualized_return": cagr,
        "annualized_volatility": std * math.sqrt(365) if std else None,
        "max_drawdown_rel": mdd,
        "sharpe": mean / std * math.sqrt(365) if mean is not None and std else None,
        "sortino": mean / down * math.sqrt(365) if mean is not None and down else None,
        "calmar": cagr / mdd if cagr is not None and mdd else None,
    }


def exp_leverage(sel: list[dict[str, Any]]) -> dict[str, Any]:
    edges = [1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0]
    labels = ["<=1x", "1-2x", "2-3x", "3-5x", "5-10x", "10-20x", "20-50x", ">50x"]
    bounds = [(None, 1.0), *itertools.pairwise(edges), (50.0, None)]
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for t in sel:
        groups[(bisect.bisect_left(edges, t["leverage"]), int(t["is_short"]))].append(t)
    rows = []
    for (b, short), ts in sorted(groups.items()):
        liq = [t for t in ts if t["liquidation_price"]]
        entry = [abs(t["open_rate"] - t["liquidation_price"]) / t["open_rate"] for t in liq]
        closest = []
        for t in liq:
            if t["is_short"]:
                hi = t["max_rate"] or t["open_rate"]
                closest.append((t["liquidation_price"] - hi) / hi)
            else:
                lo = t["min_rate"] or t["open_rate"]
                closest.append((lo - t["liquidation_price"]) / lo)
        profit = sum(t["close_profit_abs"] for t in ts)
        cap = sum(t["stake_amount"] for t in ts)
        wins = sum(t["close_profit_abs"] > 0 for t in ts)
        rows.append({
            "bucket": labels[b], "min_leverage": bounds[b][0], "max_leverage": bounds[b][1],
            "side": "short" if short else "long", "trade_count": len(ts), "wins": wins,
            "win_rate": wins / len(ts), "profit_abs": profit, "capital": cap,
            "profit_ratio": profit / cap, "avg_profit_ratio":
                statistics.fmean(t["close_profit"] for t in ts),
            "liquidations": sum(t["exit_reason"] == "liquidation" for t in ts),
            "with_liquidation_price": len(liq),
            "avg_entry_distance": statistics.fmean(entry) if entry else None,
            "min_entry_distance": min(entry) if entry else None,
            "avg_closest_distance": statistics.fmean(closest) if closest else None,
            "min_closest_distance": min(closest) if closest else None,
        })
    return {"edges": edges, "rows": rows}


def exp_stoploss(sel: list[dict[str, Any]]) -> dict[str, Any]:
    def d(t: dict[str, Any]) -> int:
        return -1 if t["is_short"] else 1
    stops = [t for t in sel if t["exit_reason"] in STOPS]
    slip = [t for t in stops if t["stop_loss"] > 0]
    slip_r = [d(t) * (t["close_rate"] - t["stop_loss"]) / t["stop_loss"] for t in slip]
    mae, mfe = [], []
    for t in sel:
        o, lo, hi = t["open_rate"], t["min_rate"], t["max_rate"]
        if t["is_short"]:
            if hi:
                mae.append((o - hi) / o)
            if lo:
                mfe.append((o - lo) / o)
        else:
            if lo:
                mae.append((lo - o) / o)
            if hi:
                mfe.append((hi - o) / o)
    moved = [t for t in sel if t["is_stop_loss_trailing"]
             or t["stop_loss"] != t["initial_stop_loss"]]
    lock = [d(t) * (t["stop_loss"] - t["initial_stop_loss"]) / t["open_rate"] for t in moved]
    trail = [t for t in sel if t["exit_reason"] == "trailing_stop_loss"]
    by_reason: dict[str, int] = {}
    for t in stops:
        by_reason[t["exit_reason"]] = by_reason.get(t["exit_reason"], 0) + 1

    def mean(x: list[float]) -> float | None:
        return statistics.fmean(x) if x else None

    return {
        "trade_count": len(sel), "stop_exits": len(stops),
        "stop_exit_share": len(stops) / len(sel) if sel else 0.0,
        "liquidations": sum(t["exit_reason"] == "liquidation" for t in sel),
        "exits_by_reason": dict(sorted(by_reason.items())), "slippage_count": len(slip),
        "avg_slippage_ratio": mean(slip_r), "worst_slippage_ratio": min(slip_r, default=None),
        "total_slippage_abs": sum(d(t) * (t["close_rate"] - t["stop_loss"]) * t["amount"]
                                  for t in slip),
        "excursion_count": len(mae), "avg_mae": mean(mae), "worst_mae": min(mae, default=None),
        "avg_mfe": mean(mfe), "best_mfe": max(mfe, default=None),
        "trailing_count": len(moved), "avg_lock_in_ratio": mean(lock),
        "total_lock_in_abs": sum(d(t) * (t["stop_loss"] - t["initial_stop_loss"]) * t["amount"]
                                 for t in moved),
        "locked_profit_count": sum(d(t) * (t["stop_loss"] - t["open_rate"]) > 0 for t in moved),
        "trailing_exits": len(trail),
        "trailing_exit_gain_abs": sum(d(t) * (t["close_rate"] - t["initial_stop_loss"])
                                      * t["amount"] for t in trail),
    }


def same(a: Any, b: Any, path: str = "") -> None:
    """Assert equal; floats within rel 1e-9 / abs 1e-9."""
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {a} != {b}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{path}: {a.keys()} != {b.keys()}"
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


# --- loading ---------------------------------------------------------------------------------


def load_backtesting() -> None:
    by_trade: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for o in ORDERS:
        by_trade[o["ft_trade_id"]].append(o)
    for row in TRADES:
        trade = LocalTrade(**row, orders=[LocalOrder(**o) for o in by_trade[row["id"]]])
        LocalTrade.add_bt_trade(trade)
    tradeledger.disable_database_use("5m")


@pytest.fixture(scope="module", params=[*selected_backends(), "backtesting"])
def service(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyticsService]:
    """The generated trades in each backend, or a backtesting snapshot of them."""
    if request.param == "backtesting":
        LocalTrade.reset_trades()
        load_backtesting()
        try:
            svc = AnalyticsService()
            assert svc.backtesting
            yield svc
        finally:
            tradeledger.enable_database_use()
            LocalTrade.reset_trades()
        return
    url, drop = make_backend_url(request.param, tmp_path_factory.mktemp("gen"))
    try:
        engine = tradeledger.init_db(url)
        with engine.begin() as conn:
            conn.execute(insert(Trade.__table__), TRADES)
            conn.execute(insert(Order.__table__), ORDERS)
        yield AnalyticsService(engine)
    finally:
        drop()


CHECKS: dict[str, Callable[[AnalyticsService, TradeFilter, list[dict[str, Any]]],
                           tuple[Any, Any]]] = {
    "performance-pair": lambda s, f, sel: (s.performance("pair", f), exp_performance(sel, "pair")),
    "performance-enter": lambda s, f, sel: (s.performance("enter_tag", f),
                                            exp_performance(sel, "enter_tag")),
    "performance-exit": lambda s, f, sel: (s.performance("exit_reason", f),
                                           exp_performance(sel, "exit_reason")),
    "performance-mix": lambda s, f, sel: (s.performance("mix_tag", f),
                                          exp_performance(sel, "mix_tag")),
    "days": lambda s, f, sel: (s.profit_by_period("day", f), exp_periods(sel, f, "day")),
    "weeks": lambda s, f, sel: (s.profit_by_period("week", f), exp_periods(sel, f, "week")),
    "months": lambda s, f, sel: (s.profit_by_period("month", f), exp_periods(sel, f, "month")),
    "drawdown": lambda s, f, sel: (s.max_drawdown(BALANCE, f), exp_drawdown(sel)),
    "stats": lambda s, f, sel: (s.trade_stats(f), exp_stats(sel)),
    "risk": lambda s, f, sel: (s.risk(BALANCE, f), exp_risk(sel, f)),
    "leverage": lambda s, f, sel: (s.leverage(f), exp_leverage(sel)),
    "stoploss": lambda s, f, sel: (s.stoploss(f), exp_stoploss(sel)),
}


def test_generated_set_shape() -> None:
    """The generator covers what the metrics distinguish (not a vacuous data set)."""
    closed = [t for t in TRADES if not t["is_open"]]
    assert len(TRADES) == N and 4500 < len(closed) < N
    assert sum(t["close_profit_abs"] == 0 for t in closed) > 20
    with_orders = {o["ft_trade_id"] for o in ORDERS}
    assert sum(t["id"] not in with_orders for t in closed) > 50
    assert {t["exit_reason"] for t in closed} == set(EXITS)
    assert any(t["leverage"] > 50 for t in closed) and any(t["is_short"] for t in closed)


@pytest.mark.parametrize("filter_name", list(FILTERS))
def test_every_metric_matches_the_independent_computation(
    service: AnalyticsService, filter_name: str
) -> None:
    flt = FILTERS[filter_name]
    sel = [t for t in TRADES if matches(t, flt)]
    assert len(sel) > 20, "each filter selects trades"
    for name, check in CHECKS.items():
        ours, expected = check(service, flt, sel)
        same(ours.to_dict(), expected, f"{filter_name}/{name}")


def test_equity_curves(service: AnalyticsService) -> None:
    closed = sorted((t for t in TRADES if not t["is_open"]),
                    key=lambda t: (t["close_date"], t["id"]))
    curve = service.equity_curve(BALANCE, granularity="trade")
    assert len(curve.rows) == len(closed)
    equity = BALANCE
    for point, t in zip(curve.rows, closed, strict=True):
        equity += t["close_profit_abs"]
        assert point.time == t["close_date"] and math.isclose(point.equity, equity, rel_tol=1e-9)
    assert math.isclose(curve.final_equity, equity, rel_tol=1e-9)
    daily = service.equity_curve(BALANCE)
    days = exp_periods(closed, TradeFilter(), "day")["rows"]
    assert [p.time for p in daily.rows] == [r["period_start"] for r in days]
    assert math.isclose(daily.final_equity, equity, rel_tol=1e-9)


@pytest.mark.parametrize("balance", [0.0, 50.0, 2_000.0, 1e6])
def test_drawdown_methods_agree(service: AnalyticsService, balance: float) -> None:
    """The pruned hourly method and the window-function method give the same drawdowns.

    Small balances drive the equity below zero (relative drawdowns past 100 %, or undefined
    with a zero balance), which exercises every bound of the pruning.
    """
    from tradeledger.services.analytics.equity import max_drawdown

    for flt in FILTERS.values():
        days = max_drawdown(service.context, balance, flt, method="buckets").to_dict()
        window = max_drawdown(service.context, balance, flt, method="window").to_dict()
        same(days, window, f"{balance}/{flt}")
    sel = [t for t in TRADES if not t["is_open"]]
    if balance == 2_000.0:
        global BALANCE
        saved, BALANCE = BALANCE, balance
        try:
            same(service.max_drawdown(balance).to_dict(), exp_drawdown(sel))
        finally:
            BALANCE = saved
