"""Shared helpers of the benchmark case scripts (stdlib only at import time).

Every case script runs in a fresh process, in the virtualenv of the library it measures
(``--lib tradeledger``: /work/main/.venv, ``--lib freqtrade``: bench/.venv-freqtrade,
``--lib raw``: the raw DB-API driver in the tradeledger venv), and prints ONE JSON line
on stdout as its last line. The runner (bench/run.py) reads that line.

Database targets are given to a case as ``--db sqlite:PATH`` or ``--db pg:DBNAME``; the
runner creates (and drops) the PostgreSQL database. Each library gets the URL form of its
own driver: freqtrade psycopg2 (as in its facts-sheet figures), tradeledger psycopg 3.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")

LIBS = ("tradeledger", "freqtrade", "raw")


def base_parser(description: str, libs: tuple[str, ...] = LIBS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lib", choices=libs, required=True)
    return parser


def quiet() -> None:
    """Disable logging entirely (the timing must not include log formatting)."""
    logging.disable(logging.CRITICAL)


def rss_mb() -> float:
    """Current resident set size of this process in MB (from /proc/self/statm)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def maxrss_mb() -> float:
    """Peak RSS of this process in MB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def emit(result: dict[str, Any]) -> None:
    """Print the case result as one JSON line (adds peak RSS)."""
    result.setdefault("peak_rss_mb", round(maxrss_mb(), 1))
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def db_url(lib: str, target: str) -> str:
    """SQLAlchemy URL of ``target`` (``sqlite:PATH`` / ``pg:DBNAME``) for ``lib``."""
    kind, _, rest = target.partition(":")
    if kind == "sqlite":
        return f"sqlite:///{rest}"
    if kind == "pg":
        driver = "psycopg2" if lib == "freqtrade" else "psycopg"
        return f"postgresql+{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{rest}"
    raise SystemExit(f"bad --db {target!r}: expected sqlite:PATH or pg:DBNAME")


def prepare_sqlite_wal(target: str) -> None:
    """Put a SQLite file into WAL mode before a library opens it.

    freqtrade's own figures (facts sheet §8) were taken on a WAL file with
    ``synchronous=FULL``; freqtrade does not set WAL itself, so the benchmark does, once,
    for every library (WAL is persistent in the file). tradeledger sets it anyway.
    """
    kind, _, path = target.partition(":")
    if kind != "sqlite":
        return
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def load(lib: str) -> SimpleNamespace:
    """Import the persistence API of ``lib`` under common names."""
    if lib == "freqtrade":
        from freqtrade.enums import TradingMode
        from freqtrade.persistence import LocalTrade, Order, PairLocks, Trade, init_db

        return SimpleNamespace(init_db=init_db, Trade=Trade, LocalTrade=LocalTrade,
                               Order=Order, BtOrder=Order, PairLocks=PairLocks,
                               TradingMode=TradingMode)
    from tradeledger import LocalOrder, LocalTrade, Order, PairLocks, Trade, TradingMode, init_db

    return SimpleNamespace(init_db=init_db, Trade=Trade, LocalTrade=LocalTrade, Order=Order,
                           BtOrder=LocalOrder, PairLocks=PairLocks, TradingMode=TradingMode)


def time_calls(fn: Callable[[], Any], n: int, rounds: int = 5,
               warmup: int = 200) -> tuple[float, list[float], Any]:
    """Call ``fn`` ``n`` times in ``rounds`` rounds, gc off; (median calls/s, rates, result)."""
    result = fn()
    for _ in range(min(warmup, n)):
        fn()
    per_round = max(1, n // rounds)
    rates: list[float] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(per_round):
                fn()
            rates.append(per_round / (time.perf_counter() - start))
    finally:
        gc.enable()
    return statistics.median(rates), rates, result


def time_each(fn: Callable[[], Any], n: int, warmup: int = 2) -> dict[str, float]:
    """Time ``n`` single calls; mean / p50 / p95 / min in ms."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {"mean_ms": round(statistics.fmean(samples), 3),
            "p50_ms": round(statistics.median(samples), 3), "p95_ms": round(p95, 3),
            "min_ms": round(samples[0], 3), "samples": n}
