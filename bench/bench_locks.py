"""Benchmark of pair-lock checks (``PairLocks.is_pair_locked``), freqtrade's case 3.

Setup as in the facts sheet §8: 50 active locks on 50 pairs, sides ``*``/``long``/``short``
round robin; a *locked* pair has a ``*`` lock, an *unlocked* pair has none (so the global
lock is looked up too). Database mode uses the default ``now`` (wall clock); backtesting
mode passes a fixed candle time and ``side="long"`` as freqtrade's backtesting does. The
``*_100k_expired`` cases add 100 000 expired locks (spread over the same pairs, half of
them global) before measuring.

Usage::

    python bench/bench_locks.py                 # every case, 20 000 calls (DB: 5 000)
    python bench/bench_locks.py bt_locked 100000   # cases starting with "bt_locked"

Importable: :func:`run_case` ``(name, n) -> dict`` and :data:`CASES`.
Environment: ``TRADELEDGER_BENCH_PG`` (admin URL of a PostgreSQL server, default
``postgresql+psycopg://postgres@127.0.0.1:5432``); a random database is created and dropped.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text

from tradeledger.db import close_db, init_db
from tradeledger.services.pairlocks import PairLocks

PG_ADMIN_URL = os.environ.get(
    "TRADELEDGER_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
N_ACTIVE = 50
N_EXPIRED = 100_000
LOCKED_PAIR = "PAIR0/USDT"  # side '*'
UNLOCKED_PAIR = "NOLOCK/USDT"
SIDES = ("*", "long", "short")
CANDLE = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

DB_KINDS = (
    "locked",
    "unlocked",
    "locked_long",
    "global",
    "locked_100k_expired",
    "unlocked_100k_expired",
)
DB_BACKENDS = ("sqlite_file", "sqlite_memory", "postgresql")
CASES: tuple[str, ...] = (
    "bt_locked",
    "bt_unlocked",
    "bt_locked_100k_expired",
    "bt_unlocked_100k_expired",
    *(f"db_{kind}_{backend}" for backend in DB_BACKENDS for kind in DB_KINDS),
)

#: freqtrade 2026.9 figures of the facts sheet §8 (calls/s, same kind of 2-core machine);
#: for orientation only -- the comparison runner measures freqtrade in the same run.
FACTS_FREQTRADE: dict[str, float] = {
    "bt_locked": 18676.8,
    "bt_unlocked": 9112.8,
    "bt_locked_100k_expired": 18676.8,
    "bt_unlocked_100k_expired": 9112.8,
    "db_locked_sqlite_file": 2138.7,
    "db_locked_sqlite_memory": 2355.7,
    "db_locked_postgresql": 1383.2,
    "db_unlocked_sqlite_file": 1087.2,
    "db_unlocked_sqlite_memory": 1377.7,
    "db_unlocked_postgresql": 693.5,
    "db_locked_long_sqlite_file": 1655.6,
    "db_locked_long_sqlite_memory": 1726.7,
    "db_locked_long_postgresql": 1190.2,
    "db_global_sqlite_file": 2034.7,
    "db_global_sqlite_memory": 1968.5,
    "db_global_postgresql": 1468.6,
    # freqtrade was not measured with expired rows; its check scans them (index on pair only)
    "db_locked_100k_expired_sqlite_file": 2138.7,
    "db_unlocked_100k_expired_sqlite_file": 1087.2,
    "db_locked_100k_expired_sqlite_memory": 2355.7,
    "db_unlocked_100k_expired_sqlite_memory": 1377.7,
    "db_locked_100k_expired_postgresql": 1383.2,
    "db_unlocked_100k_expired_postgresql": 693.5,
}


@contextmanager
def _sqlite_memory() -> Iterator[str]:
    yield "sqlite://"
    close_db()


@contextmanager
def _sqlite_file() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/bench-locks.sqlite"
        close_db()


@contextmanager
def _postgresql() -> Iterator[str]:
    name = f"tl_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL}/{name}"
    finally:
        close_db()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _create_locks(now: datetime, *, expired: int) -> None:
    """50 active locks (and ``expired`` expired ones) through the public API."""
    for i in range(expired):
        pair = "*" if i % 2 else f"PAIR{i % N_ACTIVE}/USDT"
        until = now - timedelta(minutes=5 * (expired - i) + 10)
        PairLocks.lock_pair(pair, until, "old", now=until - timedelta(hours=1), side=SIDES[i % 3])
    for i in range(N_ACTIVE):
        PairLocks.lock_pair(
            f"PAIR{i}/USDT", now + timedelta(hours=2), "bench", now=now, side=SIDES[i % 3]
        )


def _insert_expired_rows(now: datetime, count: int) -> None:
    """``count`` expired and released locks in one bulk INSERT (the API commits per lock)."""
    from tradeledger.db import get_engine
    from tradeledger.models.pairlock import PairLock

    rows = []
    for i in range(count):
        end = now - timedelta(minutes=5 * (count - i) + 10)
        rows.append(
            {
                "pair": "*" if i % 2 else f"PAIR{i % N_ACTIVE}/USDT",
                "side": SIDES[i % 3],
                "reason": "old",
                "lock_time": end - timedelta(hours=1),
                "lock_end_time": end,
                "active": i % 4 != 0,
            }
        )
    with get_engine().begin() as conn:
        conn.execute(PairLock.__table__.insert(), rows)


def _time_calls(fn: Callable[[], bool], n: int, rounds: int = 5) -> tuple[list[float], bool]:
    """Time ``n`` calls in ``rounds`` equal rounds; return each round's calls/s."""
    result = fn()  # warm up (statement compilation and preparation, caches)
    for _ in range(min(500, n)):
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
    return rates, result


def run_case(name: str, n: int) -> dict[str, Any]:
    """Run benchmark case ``name`` with ``n`` timed calls; return its figures.

    Returns:
        ``{"case", "calls", "calls_per_s" (median of 5 rounds), "best_calls_per_s",
        "result" (the check's answer), "x_facts_freqtrade"}``.
    """
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; known: {', '.join(CASES)}")
    pair = UNLOCKED_PAIR if "_unlocked" in name else LOCKED_PAIR
    if name.startswith("bt_"):
        PairLocks.use_db = False
        PairLocks.timeframe = "5m"
        PairLocks.reset_locks()
        try:
            _create_locks(CANDLE, expired=N_EXPIRED if "expired" in name else 0)
            check = PairLocks.is_pair_locked
            rates, result = _time_calls(lambda: check(pair, CANDLE, "long"), n)
        finally:
            PairLocks.reset_locks()
            PairLocks.use_db = True
            PairLocks.timeframe = ""
    else:
        backend = next(b for b in DB_BACKENDS if name.endswith(b))
        database = {
            "sqlite_file": _sqlite_file,
            "sqlite_memory": _sqlite_memory,
            "postgresql": _postgresql,
        }[backend]
        with database() as url:
            init_db(url)
            PairLocks.use_db = True
            PairLocks.timeframe = "5m"
            try:
                now = datetime.now(UTC)
                if "expired" in name:
                    _insert_expired_rows(now, N_EXPIRED)
                _create_locks(now, expired=0)
                check = PairLocks.is_pair_locked
                fn: Callable[[], bool]
                if "_global_" in name:
                    fn = PairLocks.is_global_lock  # no global lock: False
                elif "_long_" in name:
                    fn = lambda: check(pair, side="long")  # noqa: E731
                else:
                    fn = lambda: check(pair)  # noqa: E731
                rates, result = _time_calls(fn, n)
            finally:
                PairLocks.timeframe = ""
    rate = statistics.median(rates)
    return {
        "case": name,
        "calls": n,
        "calls_per_s": round(rate, 1),
        "best_calls_per_s": round(max(rates), 1),
        "result": result,
        "x_facts_freqtrade": round(rate / FACTS_FREQTRADE[name], 1),
    }


def main(argv: list[str]) -> int:
    names = [name for name in CASES if name.startswith(argv[0])] if argv else list(CASES)
    for name in names:
        n = int(argv[1]) if len(argv) > 1 else (20_000 if name.startswith("bt_") else 5_000)
        print(json.dumps(run_case(name, n)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
