"""Concurrency soak: SQLite under a bot + API load, PostgreSQL request units with failures.

SQLite part: a file with ``--size`` closed trades (full run 100 000); for ``--seconds``
(full run 60): 1 writer thread (open, read-then-update, close trades), 16 reader threads
(large history queries over every closed trade, the last 500 closed trades as ORM objects,
open trades, exact total closed profit, best pair) and 50 asyncio tasks on one event loop,
each in its own ``request_scope``, doing read-then-write transactions with an ``await``
between the read and the write. Figures: operations per kind, write latency p50/p99/max.
Violations: any "database is locked" (or any other error) reaching the caller.

PostgreSQL part: ``init_db(pool_size=5)``; ``--size`` request-style units (full run 100 000)
from 8 threads, each unit in ``request_scope``: read a shared counter and a per-thread
counter, check that neither is stale (older than what this process already committed),
increment both and commit; 5 % of the units raise an exception mid-transaction (after a
write). Afterwards: the pool has zero checked-out connections, ``pg_stat_activity`` shows no
``idle in transaction`` session of this database, the counters equal the committed units
(nothing lost, no raised unit leaked a write).

Usage: ``python -m reliability.soak --size 100000 --seconds 60``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update

from reliability.common import (
    Figures,
    LogScanner,
    add_backends_arg,
    new_database,
    parse_backends,
    parser,
    percentile,
    run_main,
    workdir,
)


def _seed_trades(engine: Any, n: int, rng: random.Random) -> None:
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.models import Trade

    table = Trade.__table__
    start = dt_now() - timedelta(days=400)
    rows = []
    for i in range(n):
        od = start + timedelta(minutes=5 * i)
        rate = rng.uniform(1, 100)
        close = rate * rng.uniform(0.9, 1.1)
        amount = rng.uniform(0.1, 10)
        rows.append({
            "exchange": "binance", "pair": f"S{i % 60}/USDT", "is_open": False,
            "fee_open": 0.001, "fee_close": 0.001, "open_rate": rate, "close_rate": close,
            "stake_amount": rate * amount, "amount": amount, "open_date": od,
            "close_date": od + timedelta(hours=3), "close_profit": close / rate - 1,
            "close_profit_abs": (close - rate) * amount, "realized_profit": (close - rate) * amount,
            "strategy": "soak", "enter_tag": f"tag{i % 9}", "exit_reason": "roi",
            "is_stop_loss_trailing": False, "is_short": False, "interest_rate": 0.0,
            "record_version": 2, "leverage": 1.0,
        })
        if len(rows) == 5000:
            with engine.begin() as conn:
                conn.execute(table.insert(), rows)
            rows = []
    if rows:
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)


class _Errors:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.samples: list[str] = []

    def add(self, where: str, exc: BaseException) -> None:
        key = "database is locked" if "locked" in str(exc).lower() else type(exc).__name__
        with self.lock:
            self.counts[f"{where}: {key}"] += 1
            if len(self.samples) < 5:
                self.samples.append(f"{where}: {type(exc).__name__}: {str(exc)[:300]}")


def sqlite_soak(n_trades: int, seconds: float, rng: random.Random, fig: Figures, wd: Path,
                readers: int = 16, tasks: int = 50) -> None:
    from tradeledger.db import close_db, get_engine, init_db, request_scope
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.models import Trade

    db = new_database("sqlite", wd)
    init_db(db.url, pool_size=readers + tasks + 8)
    engine = get_engine()
    t0 = time.perf_counter()
    _seed_trades(engine, n_trades, rng)
    fig.set("sqlite.seeded_trades", n_trades)
    fig.set("sqlite.seed_seconds", round(time.perf_counter() - t0, 2))
    errors = _Errors()
    ops: Counter[str] = Counter()
    ops_lock = threading.Lock()
    latencies: list[float] = []
    task_latencies: list[float] = []
    stop = threading.Event()
    deadline = time.monotonic() + seconds

    def count(kind: str) -> None:
        with ops_lock:
            ops[kind] += 1

    def writer() -> None:
        wrng = random.Random(rng.random())
        while not stop.is_set():
            try:
                t = time.perf_counter()
                trade = Trade(pair=f"W{wrng.randrange(20)}/USDT", exchange="binance",
                              open_rate=10.0, amount=1.0, stake_amount=10.0, open_date=dt_now(),
                              strategy="soak-writer")
                Trade.session.add(trade)
                Trade.commit()
                latencies.append(time.perf_counter() - t)
                count("write_open")
                t = time.perf_counter()  # read-then-write
                opened = Trade.session.scalars(select(Trade).where(
                    Trade.is_open.is_(True)).order_by(Trade.id.desc()).limit(5)).all()
                victim = opened[wrng.randrange(len(opened))]
                victim.stop_loss = wrng.uniform(1, 9)
                if wrng.random() < 0.5:
                    victim.close_rate = 11.0
                    victim.is_open = False
                    victim.close_date = dt_now()
                Trade.commit()
                latencies.append(time.perf_counter() - t)
                count("write_read_then_update")
            except Exception as exc:
                errors.add("writer", exc)
                Trade.session.rollback()
        Trade.session.remove()

    def reader(i: int) -> None:
        rrng = random.Random(i)
        while not stop.is_set():
            kind = rrng.randrange(5)
            try:
                if kind == 0:  # large history: every closed trade's profit (100k rows)
                    with engine.connect() as conn:
                        rows = conn.execute(select(Trade.id, Trade.close_profit_abs,
                                                   Trade.close_date).where(
                            Trade.is_open.is_(False))).all()
                    count(f"read_history_rows_{'ok' if len(rows) >= n_trades else 'short'}")
                elif kind == 1:
                    Trade.session.scalars(select(Trade).where(Trade.is_open.is_(False))
                                          .order_by(Trade.close_date.desc()).limit(500)).all()
                    count("read_last_500_orm")
                elif kind == 2:
                    Trade.get_open_trades()
                    count("read_open_trades")
                elif kind == 3:
                    Trade.get_total_closed_profit()
                    count("read_total_closed_profit")
                else:
                    Trade.get_best_pair()
                    count("read_best_pair")
                Trade.session.rollback()  # end the read (as a request teardown would)
            except Exception as exc:
                errors.add("reader", exc)
                Trade.session.rollback()
        Trade.session.remove()

    async def task(k: int) -> None:
        trng = random.Random(1000 + k)
        while time.monotonic() < deadline:
            try:
                async with request_scope():
                    t = time.perf_counter()
                    opened = Trade.session.scalars(select(Trade).where(
                        Trade.is_open.is_(True)).limit(20)).all()
                    await asyncio.sleep(trng.uniform(0, 0.01))  # the handler awaits something
                    if opened:
                        target = opened[trng.randrange(len(opened))]
                        target.max_rate = trng.uniform(10, 20)
                    Trade.session.add(Trade(pair=f"A{k}/USDT", exchange="binance",
                                            open_rate=5.0, amount=1.0, stake_amount=5.0,
                                            open_date=dt_now(), strategy="soak-api",
                                            is_open=False, close_rate=5.0,
                                            close_date=dt_now()))
                    Trade.commit()
                    task_latencies.append(time.perf_counter() - t)
                    count("task_read_then_write")
            except Exception as exc:
                errors.add("async task", exc)
            await asyncio.sleep(0)

    async def all_tasks() -> None:
        await asyncio.gather(*(task(k) for k in range(tasks)))

    threads = [threading.Thread(target=writer, name="writer")]
    threads += [threading.Thread(target=reader, args=(i,), name=f"reader{i}")
                for i in range(readers)]
    threads.append(threading.Thread(target=lambda: asyncio.run(all_tasks()), name="loop"))
    for th in threads:
        th.start()
    time.sleep(max(0.0, deadline - time.monotonic()))
    stop.set()
    for th in threads:
        th.join(timeout=120)
    with engine.connect() as conn:
        integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
        total = conn.execute(select(func.count()).select_from(Trade)).scalar_one()
    fig.check(integrity == ["ok"], f"sqlite soak: integrity_check {integrity}")
    locked = sum(v for k, v in errors.counts.items() if "database is locked" in k)
    fig.set("sqlite.seconds", seconds)
    fig.set("sqlite.threads", f"1 writer + {readers} readers + {tasks} asyncio tasks")
    fig.set("sqlite.operations", dict(ops))
    fig.set("sqlite.database_is_locked_errors", locked)
    fig.set("sqlite.writer_write_latency_ms_p50", round(percentile(latencies, 50) * 1000, 2))
    fig.set("sqlite.writer_write_latency_ms_p99", round(percentile(latencies, 99) * 1000, 2))
    fig.set("sqlite.writer_write_latency_ms_max", round(max(latencies, default=0) * 1000, 2))
    fig.set("sqlite.task_txn_latency_ms_p99", round(percentile(task_latencies, 99) * 1000, 2))
    fig.set("sqlite.rows_at_end", total)
    fig.check(ops["read_history_rows_short"] == 0, "sqlite soak: a history read missed rows")
    fig.check(ops["write_open"] > 0 and ops["task_read_then_write"] > 0,
              "sqlite soak: no write happened")
    for key, value in errors.counts.items():
        fig.violation(f"sqlite soak: {value} x {key}")
    for sample in errors.samples:
        fig.violation(f"sqlite soak sample: {sample}")
    close_db()


class Boom(RuntimeError):
    """The exception 5 % of the request units raise mid-transaction."""


def postgres_units(n_units: int, rng: random.Random, fig: Figures, wd: Path,
                   threads: int = 8) -> None:
    from tradeledger.db import close_db, get_engine, init_db, request_scope
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.models import Trade
    from tradeledger.models.keyvalue import KeyValueStore

    db = new_database("postgresql", wd)
    try:
        init_db(db.url, pool_size=5)
        engine = get_engine()
        Trade.session.add(Trade(pair="CNT/USDT", exchange="x", open_rate=1.0, amount=0.0,
                                stake_amount=1.0, open_date=dt_now()))
        Trade.commit()
        counter_id = Trade.session.scalars(select(Trade.id)).one()
        Trade.session.remove()
        lock = threading.Lock()
        committed_global = [0.0]
        stale = Counter[str]()
        done = Counter[str]()
        errors = _Errors()
        per_thread_expected: dict[int, int] = {}
        todo = [n_units // threads + (1 if i < n_units % threads else 0) for i in range(threads)]

        def worker(i: int) -> None:
            wrng = random.Random(rng.random())
            mine = 0
            key = f"soak-t{i}"
            for _ in range(todo[i]):
                try:
                    with request_scope():
                        with lock:
                            known = committed_global[0]
                        session = Trade.session
                        value = session.execute(select(Trade.amount).where(
                            Trade.id == counter_id)).scalar_one()
                        if value < known:
                            stale["shared_counter"] += 1
                        own = KeyValueStore.get_int_value(key) or 0
                        if own != mine:
                            stale["own_counter"] += 1
                        new = session.execute(update(Trade).where(Trade.id == counter_id)
                                              .values(amount=Trade.amount + 1)
                                              .returning(Trade.amount)).scalar_one()
                        if wrng.random() < 0.05:
                            raise Boom("request handler failed mid-transaction")
                        KeyValueStore.store_value(key, mine + 1)  # commits both writes
                        mine += 1
                        with lock:
                            committed_global[0] = max(committed_global[0], new)
                        done["committed"] += 1
                except Boom:
                    done["raised_mid_transaction"] += 1
                except Exception as exc:
                    errors.add("pg unit", exc)
            per_thread_expected[i] = mine

        t0 = time.perf_counter()
        ths = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        elapsed = time.perf_counter() - t0
        checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
        admin = db.admin_engine()
        try:
            with admin.connect() as conn:
                idle_in_tx = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                    "AND state LIKE 'idle in transaction%'"), {"d": db.name}).scalar_one()
                sessions = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                    "AND pid <> pg_backend_pid()"), {"d": db.name}).scalar_one()
                final = conn.execute(text("SELECT amount FROM trades WHERE id = :i"),
                                     {"i": counter_id}).scalar_one()
                kv = dict(conn.execute(text(
                    'SELECT key, int_value FROM "KeyValueStore"')).all())
        finally:
            admin.dispose()
        fig.set("postgresql.units", n_units)
        fig.set("postgresql.threads", threads)
        fig.set("postgresql.pool_size", 5)
        fig.set("postgresql.committed", done["committed"])
        fig.set("postgresql.raised_mid_transaction", done["raised_mid_transaction"])
        fig.set("postgresql.units_per_second", round(n_units / elapsed, 1))
        fig.set("postgresql.pool_checked_out_after", checked_out)
        fig.set("postgresql.idle_in_transaction_after", idle_in_tx)
        fig.set("postgresql.server_sessions_after", sessions)
        fig.set("postgresql.stale_reads", sum(stale.values()))
        fig.check(checked_out == 0, f"pg: {checked_out} connections still checked out")
        fig.check(idle_in_tx == 0, f"pg: {idle_in_tx} sessions idle in transaction")
        fig.check(not stale, f"pg: stale reads {dict(stale)}")
        fig.check(final == done["committed"],
                  f"pg: counter {final} != committed units {done['committed']} "
                  "(lost update or leaked write of a failed unit)")
        for i, expected in per_thread_expected.items():
            fig.check(kv.get(f"soak-t{i}", 0) == expected, f"pg: thread {i} counter wrong")
        fig.check(done["raised_mid_transaction"] > 0 or n_units < 50,
                  "pg: no unit raised mid-transaction")
        for key, value in errors.counts.items():
            fig.violation(f"pg units: {value} x {key}")
        for sample in errors.samples:
            fig.violation(f"pg sample: {sample}")
    finally:
        close_db()
        db.drop()


def main(args: argparse.Namespace) -> Figures:
    fig = Figures("soak")
    seed = args.seed if args.seed is not None else int(time.time())
    fig.set("seed", seed)
    rng = random.Random(seed)
    scanner = LogScanner()
    backends = parse_backends(args.backends)
    with scanner.installed(), workdir("soak") as wd:
        if "sqlite" in backends:
            sqlite_soak(args.size, args.seconds, rng, fig, wd)
        if "postgresql" in backends:
            postgres_units(args.size, rng, fig, wd)
    scanner.report_to(fig)
    return fig


def _parser() -> argparse.ArgumentParser:
    p = parser("soak", "trades in the SQLite file and PostgreSQL units (full run: 100000)",
               2000)
    p.add_argument("--seconds", type=float, default=5.0, help="SQLite soak duration (full: 60)")
    add_backends_arg(p, ("sqlite", "postgresql"))
    return p


if __name__ == "__main__":
    run_main(main, _parser())
