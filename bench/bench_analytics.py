"""Benchmark of the analytics (issue 7): performance queries and every service metric.

Cases (:data:`CASES`):

* ``overall_20k_sqlite`` / ``overall_20k_postgresql``: 20 000 closed trades (2 filled orders
  each) over 20 pairs + 200 open trades; ``Trade.get_overall_performance()`` warm on the scoped
  session, mean / p95 in ms (facts sheet §8 case 5: freqtrade 85 ms SQLite file, 45 ms PG).
* ``million_sqlite`` / ``million_postgresql``: 1 000 000 closed trades with 2 000 000 orders
  (+ 100 open trades with one order each), generated in bulk (SQLite ``executemany`` of
  tuples, PostgreSQL ``COPY``) in a child process; a second, fresh child measures
  ``init_db`` on the filled database, the open-trade queries (``get_open_trade_count``,
  ``get_open_trades``), every freqtrade-compatible query and every metric of the analytics
  service and its own peak RSS. Each metric is timed three ways: *first* (its first call in
  the process: nothing computed yet, every block of trade ids is read), *cold* (one call
  right after a committed write to one trade, as when a trade has just closed: the result
  cache cannot answer and the written block is computed again, the others' partial results
  are reused) and *warm* (median of the repeats; answered by the result cache while nothing
  is written).

Usage::

    python bench/bench_analytics.py                       # every case
    python bench/bench_analytics.py million_sqlite --n 200000

Importable: ``run_case(name, *, n=None, quick=False, repeats=None) -> dict`` and ``CASES``.
Environment: ``TRADELEDGER_BENCH_PG`` (admin URL, default
``postgresql+psycopg://postgres@127.0.0.1:5432``); databases get random names and are dropped.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

PG_ADMIN_URL = os.environ.get(
    "TRADELEDGER_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
CASES: tuple[str, ...] = (
    "overall_20k_sqlite",
    "overall_20k_postgresql",
    "million_sqlite",
    "million_postgresql",
)
PAIRS = [f"P{i}/USDT" for i in range(20)]
EXITS = ["roi", "stop_loss", "stoploss_on_exchange", "trailing_stop_loss", "exit_signal",
         "force_exit", None]
TAGS = [None, "a", "b", "c"]
BASE = datetime(2022, 1, 1)
TRADE_COLS = (
    "id", "exchange", "pair", "is_open", "fee_open", "fee_close", "open_rate", "close_rate",
    "close_profit", "close_profit_abs", "stake_amount", "max_stake_amount", "amount",
    "open_date", "close_date", "stop_loss", "initial_stop_loss", "is_stop_loss_trailing",
    "max_rate", "min_rate", "exit_reason", "strategy", "enter_tag", "trading_mode", "leverage",
    "is_short", "liquidation_price", "interest_rate", "record_version", "realized_profit",
    "open_trade_value",
)
ORDER_COLS = (
    "id", "ft_trade_id", "ft_order_side", "ft_pair", "ft_is_open", "ft_amount", "ft_price",
    "order_id", "status", "order_type", "side", "price", "average", "amount", "filled",
    "remaining", "cost", "order_date", "order_filled_date",
)


# --- data --------------------------------------------------------------------------------------


def _fmt(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(n_closed: int, n_open: int, chunk: int = 50_000,
             seed: int = 1) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Rows (tuples in TRADE_COLS / ORDER_COLS order) in chunks; dates as SQLite text."""
    rng = random.Random(seed)
    rnd = rng.random
    span = 1000 * 86400  # ~3 years
    trades: list[tuple[Any, ...]] = []
    orders: list[tuple[Any, ...]] = []
    oid = 0
    total = n_closed + n_open
    for tid in range(1, total + 1):
        is_open = tid > n_closed
        short = rnd() < 0.3
        lev = 1.0 if rnd() < 0.5 else float(rng.choice((2, 3, 5, 10, 20)))
        pair = PAIRS[tid % 20]
        open_rate = 10.0 + 990.0 * rnd()
        amount = 0.1 + 10.0 * rnd()
        stake = open_rate * amount / lev
        opened = BASE + timedelta(seconds=int(span * tid / total))
        closed = opened + timedelta(seconds=60 + int(3 * 86400 * rnd()))
        ratio = (rnd() - 0.48) * 0.1
        sign = -1.0 if short else 1.0
        close_rate = open_rate * (1 + sign * ratio / lev)
        initial = open_rate * (1 - sign * 0.05)
        trailing = rnd() < 0.3
        stop = initial + sign * open_rate * 0.04 * rnd() if trailing else initial
        trades.append((
            tid, "binance", pair, is_open, 0.001, 0.001, open_rate,
            None if is_open else close_rate, None if is_open else ratio,
            None if is_open else stake * ratio, stake, stake, amount, _fmt(opened),
            None if is_open else _fmt(closed), stop, initial, trailing,
            max(open_rate, close_rate) * 1.01, min(open_rate, close_rate) * 0.99,
            None if is_open else EXITS[tid % 7], "S1", TAGS[tid % 4],
            "SPOT" if lev == 1 and not short else "FUTURES", lev, short,
            open_rate * (1 - sign * 0.9 / lev) if lev > 1 else None, 0.0, 2, 0.0,
            stake * lev * 1.001,
        ))
        entry, exit_ = ("sell", "buy") if short else ("buy", "sell")
        oid += 1
        orders.append((oid, tid, entry, pair, False, amount, open_rate, f"b{oid}", "closed",
                       "limit", entry, open_rate, open_rate, amount, amount, 0.0,
                       amount * open_rate, _fmt(opened), _fmt(opened)))
        if not is_open:
            oid += 1
            orders.append((oid, tid, exit_, pair, False, amount, close_rate, f"b{oid}",
                           "closed", "limit", exit_, close_rate, close_rate, amount, amount,
                           0.0, amount * close_rate, _fmt(closed), _fmt(closed)))
        if len(trades) >= chunk:
            yield trades, orders
            trades, orders = [], []
    if trades:
        yield trades, orders


def fill_sqlite(url: str, n_closed: int, n_open: int) -> float:
    """Create the schema with init_db, then bulk-insert with the sqlite3 driver; seconds."""
    import sqlite3

    from tradeledger.db import close_db, init_db

    init_db(url)
    close_db()
    path = url.removeprefix("sqlite:///")
    start = time.perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    tq = f"INSERT INTO trades ({','.join(TRADE_COLS)}) VALUES ({','.join('?' * len(TRADE_COLS))})"
    oq = f"INSERT INTO orders ({','.join(ORDER_COLS)}) VALUES ({','.join('?' * len(ORDER_COLS))})"
    for trades, orders in generate(n_closed, n_open):
        con.executemany(tq, trades)
        con.executemany(oq, orders)
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return time.perf_counter() - start


def fill_postgresql(url: str, n_closed: int, n_open: int) -> float:
    """Create the schema with init_db, then COPY the rows in; seconds."""
    import psycopg

    from tradeledger.db import close_db, init_db

    init_db(url)
    close_db()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    start = time.perf_counter()
    with psycopg.connect(dsn) as con, con.cursor() as cur:
        for trades, orders in generate(n_closed, n_open):
            with cur.copy(f"COPY trades ({','.join(TRADE_COLS)}) FROM STDIN") as cp:
                for row in trades:
                    cp.write_row(row)
            with cur.copy(f"COPY orders ({','.join(ORDER_COLS)}) FROM STDIN") as cp:
                for row in orders:
                    cp.write_row(row)
        cur.execute("SELECT setval(pg_get_serial_sequence('trades', 'id'), max(id)) FROM trades")
        cur.execute("SELECT setval(pg_get_serial_sequence('orders', 'id'), max(id)) FROM orders")
        con.commit()
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("VACUUM ANALYZE trades")
        con.execute("VACUUM ANALYZE orders")
    return time.perf_counter() - start


# --- measuring ---------------------------------------------------------------------------------


def add_indexes(url: str) -> float:
    """Create the tl_ analytics indexes (what their migration does); seconds."""
    from tradeledger.db import close_db, init_db
    from tradeledger.services.analytics.indexes import create_analytics_indexes

    engine = init_db(url)
    start = time.perf_counter()
    create_analytics_indexes(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE trades")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    seconds = time.perf_counter() - start
    close_db()
    return seconds


def _time(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {"median_ms": round(statistics.median(samples), 3),
            "mean_ms": round(statistics.fmean(samples), 3), "p95_ms": round(p95, 3)}


def _maxrss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _metrics(engine: Any) -> dict[str, Callable[[], Any]]:
    """Every metric measured: the freqtrade-compatible queries and the analytics service."""
    import tradeledger
    from tradeledger.services.analytics import AnalyticsService, TradeFilter

    trade_cls = tradeledger.Trade
    svc = AnalyticsService(engine)
    last_day = BASE + timedelta(days=1000)
    flt = TradeFilter(pairs=["P1/USDT", "P2/USDT"], side="long",
                      start=last_day - timedelta(days=90), end=last_day)
    return {
        "get_overall_performance": lambda: trade_cls.get_overall_performance(),
        "get_enter_tag_performance": lambda: trade_cls.get_enter_tag_performance(None),
        "get_exit_reason_performance": lambda: trade_cls.get_exit_reason_performance(None),
        "get_mix_tag_performance": lambda: trade_cls.get_mix_tag_performance(None),
        "get_best_pair": lambda: trade_cls.get_best_pair(),
        "get_trading_volume": lambda: trade_cls.get_trading_volume(),
        "get_total_closed_profit": lambda: trade_cls.get_total_closed_profit(),
        "total_open_trades_stakes": lambda: trade_cls.total_open_trades_stakes(),
        "svc.performance(pair, filter)": lambda: svc.performance("pair", flt),
        "svc.profit_by_period(day)": lambda: svc.profit_by_period("day"),
        "svc.profit_by_period(week)": lambda: svc.profit_by_period("week"),
        "svc.profit_by_period(month)": lambda: svc.profit_by_period("month"),
        "svc.profit_by_period(day, filter)": lambda: svc.profit_by_period("day", flt),
        "svc.equity_curve(day)": lambda: svc.equity_curve(10_000),
        "svc.max_drawdown": lambda: svc.max_drawdown(10_000),
        "svc.max_drawdown(filter)": lambda: svc.max_drawdown(10_000, flt),
        "svc.trade_stats": lambda: svc.trade_stats(),
        "svc.trade_stats(filter)": lambda: svc.trade_stats(flt),
        "svc.risk": lambda: svc.risk(10_000),
        "svc.leverage": lambda: svc.leverage(),
        "svc.stoploss": lambda: svc.stoploss(),
    }


def measure(url: str, repeats: int) -> dict[str, Any]:
    """Fresh-process measurements on a filled database (called in a child process)."""
    logging.disable(logging.CRITICAL)
    t0 = time.perf_counter()
    import tradeledger

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine = tradeledger.init_db(url)
    init_s = time.perf_counter() - t0
    trade_cls = tradeledger.Trade
    out: dict[str, Any] = {"import_s": round(import_s, 3), "init_db_s": round(init_s, 4)}
    out["open_trade_count"] = _time(trade_cls.get_open_trade_count, max(repeats, 20))
    out["get_open_trades"] = _time(lambda: trade_cls.get_open_trades(), max(repeats, 20))
    out["rss_before_metrics_mb"] = _maxrss_mb()
    metrics = _metrics(engine)
    from sqlalchemy import text

    def invalidate() -> None:  # a committed no-op write to one trade, as a closing trade
        with engine.begin() as conn:
            conn.execute(text("UPDATE trades SET close_profit_abs = close_profit_abs "
                              "WHERE id = 1"))

    out["metrics"] = {}
    for name, fn in metrics.items():
        gc.collect()
        t0 = time.perf_counter()
        fn()  # the first call in this process: every block computed from scratch
        first_ms = round((time.perf_counter() - t0) * 1000, 3)
        invalidate()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        cold_ms = round((time.perf_counter() - t0) * 1000, 3)
        out["metrics"][name] = {"first_ms": first_ms, "cold_ms": cold_ms, **_time(fn, repeats)}
    out["slowest_metric_ms"] = max(m["cold_ms"] for m in out["metrics"].values())
    out["slowest_first_ms"] = max(m["first_ms"] for m in out["metrics"].values())
    out["slowest_warm_ms"] = max(m["median_ms"] for m in out["metrics"].values())
    out["peak_rss_mb"] = _maxrss_mb()
    tradeledger.close_db()
    return out


def measure_restart(url: str) -> dict[str, Any]:
    """Each metric's first call in a new process, after another measured them (a restart).

    The measuring process stored its per-block partial results in the database (and then
    wrote to one trade before each metric's cold call, so one block of each is stale): this
    process loads them and computes only that block again.
    """
    logging.disable(logging.CRITICAL)
    import tradeledger
    from tradeledger.services.analytics.blocks import blocks_stats

    engine = tradeledger.init_db(url)
    out: dict[str, Any] = {}
    for name, fn in _metrics(engine).items():
        gc.collect()
        t0 = time.perf_counter()
        fn()
        out[name] = round((time.perf_counter() - t0) * 1000, 3)
    stats = blocks_stats()
    tradeledger.close_db()
    return {"restart_ms": out, "slowest_restart_ms": max(out.values()),
            "restart_blocks": {k: stats[k] for k in ("loaded", "computed", "persisted")},
            "restart_peak_rss_mb": _maxrss_mb()}


def measure_overall(url: str, repeats: int) -> dict[str, Any]:
    """get_overall_performance warm on the scoped session (facts sheet §8 case 5)."""
    logging.disable(logging.CRITICAL)
    import tradeledger

    tradeledger.init_db(url)
    res = _time(lambda: tradeledger.Trade.get_overall_performance(), repeats)
    res["peak_rss_mb"] = _maxrss_mb()
    tradeledger.close_db()
    return res


# --- databases and processes -------------------------------------------------------------------


def _new_database(backend: str, tmpdir: str) -> tuple[str, Callable[[], None]]:
    if backend == "sqlite":
        return f"sqlite:///{tmpdir}/bench-{uuid.uuid4().hex[:8]}.sqlite", lambda: None
    from sqlalchemy import create_engine, text

    name = f"tl_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{PG_ADMIN_URL}/{name}", drop


def _child(args: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_case(name: str, *, n: int | None = None, quick: bool = False,
             repeats: int | None = None, indexes: bool = True) -> dict[str, Any]:
    """Run one case of :data:`CASES`; returns its figures (times in ms, sizes in MB).

    Args:
        name: case name.
        n: number of closed trades (default 20 000 or 1 000 000 by case).
        quick: smaller sizes (20 000 trades for the million cases) and fewer repeats.
        repeats: timed repetitions per measurement.
        indexes: create the ``tl_`` analytics indexes after filling (as their migration
            does); False measures the bare freqtrade schema.
    """
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; cases: {CASES}")
    backend = "postgresql" if name.endswith("postgresql") else "sqlite"
    million = name.startswith("million")
    n_closed = n or (20_000 if quick or not million else 1_000_000)
    n_open = 100 if million else 200
    repeats = repeats or (3 if quick or million else 20)
    with tempfile.TemporaryDirectory() as tmpdir:
        url, drop = _new_database(backend, tmpdir)
        try:
            fill = _child(["fill", backend, url, str(n_closed), str(n_open),
                           "1" if indexes else "0"])
            kind = "measure" if million else "overall"
            res = _child([kind, url, str(repeats)])
            if million:
                res.update(_child(["restart", url]))
            size = None
            if backend == "sqlite":
                size = round(os.path.getsize(url.removeprefix("sqlite:///")) / 1e6, 1)
        finally:
            drop()
    return {"case": name, "backend": backend, "closed_trades": n_closed, "open_trades": n_open,
            "orders": 2 * n_closed + n_open, "generate_s": fill["seconds"],
            "tl_indexes": indexes, "indexes_s": fill.get("indexes_s"),
            "generate_peak_rss_mb": fill["peak_rss_mb"], "db_size_mb": size, **res}


def _child_main(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "fill":
        backend, url, n_closed, n_open = argv[1], argv[2], int(argv[3]), int(argv[4])
        filler = fill_postgresql if backend == "postgresql" else fill_sqlite
        seconds = filler(url, n_closed, n_open)
        out: dict[str, Any] = {"seconds": round(seconds, 2)}
        if argv[5] == "1":
            out["indexes_s"] = round(add_indexes(url), 2)
        out["peak_rss_mb"] = _maxrss_mb()
    elif kind == "measure":
        out = measure(argv[1], int(argv[2]))
    elif kind == "restart":
        out = measure_restart(argv[1])
    else:
        out = measure_overall(argv[1], int(argv[2]))
    print(json.dumps(out))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="case names or prefixes (default: all)")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-indexes", action="store_true", help="skip the tl_ indexes")
    args = parser.parse_args()
    chosen = [c for c in CASES if not args.cases or any(c.startswith(p) for p in args.cases)]
    for case in chosen:
        result = run_case(case, n=args.n, quick=args.quick, repeats=args.repeats,
                          indexes=not args.no_indexes)
        print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
