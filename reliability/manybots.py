"""Many bots: 8 processes on one PostgreSQL database, each its own bot, writing concurrently.

Each process opens the database with ``init_db(url, bot_id="botN", exclusive=True)`` (its own
single-writer guard) and writes ``--size / 8`` trades, each committed together with its entry
order, plus a pair lock every 10 trades and custom data every 25. All processes start together
(a barrier). Checks: every bot finds exactly its own trades, orders and locks (none lost, none
duplicated, none attributed to another bot), every order id unique, and a second instance of
a running bot is refused. Throughput (commits/s and rows/s) is printed beside ``pgbench`` run
with 8 clients on a table of the same shape for the same number of rows and commits.

Usage: ``python -m reliability.manybots --size 80000`` (size = trades in total).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from reliability.common import (
    PG_ADMIN_URL,
    Figures,
    LogScanner,
    new_database,
    parser,
    run_main,
    workdir,
)

BOTS = 8


def _bot(url: str, bot: int, n: int, barrier: Any, results: Any) -> None:
    from tradeledger.db import close_db, get_engine, init_db
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.exceptions import InstanceLockedError
    from tradeledger.models import Order, Trade
    from tradeledger.services.guard import InstanceGuard
    from tradeledger.services.pairlocks import PairLocks

    name = f"bot{bot}"
    init_db(url, bot_id=name, exclusive=True)
    PairLocks.timeframe = "5m"
    barrier.wait()  # every bot now holds its guard
    try:  # a second instance of a running sibling must be refused
        InstanceGuard(get_engine(), f"bot{(bot + 1) % BOTS}").release()
        second = "accepted"
    except InstanceLockedError:
        second = "refused"
    t0 = time.perf_counter()
    commits = rows = 0
    for j in range(n):
        pair = f"M{j % 40}/USDT"
        trade = Trade(pair=pair, exchange="fake", open_rate=10.0, amount=1.0, stake_amount=10.0,
                      open_date=dt_now(), strategy=name, enter_tag=f"{name}-{j}")
        trade.orders.append(Order(ft_order_side="buy", ft_pair=pair, ft_is_open=False,
                                  ft_amount=1.0, ft_price=10.0, order_id=f"{name}-o{j}",
                                  status="closed", symbol=pair, order_type="limit", side="buy",
                                  price=10.0, average=10.0, amount=1.0, filled=1.0,
                                  remaining=0.0, cost=10.0, order_date=dt_now()))
        Trade.session.add(trade)
        Trade.commit()
        commits += 1
        rows += 2
        if j % 10 == 0:
            now = dt_now()
            PairLocks.lock_pair(pair, now + timedelta(minutes=j % 50 + 5), f"{name}-l{j}",
                                now=now)
            commits += 1
            rows += 1
        if j % 25 == 0:
            trade.set_custom_data("bot", name)
            commits += 1
            rows += 1
    elapsed = time.perf_counter() - t0
    close_db()
    results.put((bot, commits, rows, elapsed, second))


def _pgbench(db_name: str, rows: int, commits: int, wd: Path, fig: Figures) -> None:
    exe = shutil.which("pgbench") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))), None)
    if exe is None:
        fig.set("pgbench", "not installed (apt-get install postgresql-contrib)")
        return
    admin_host = PG_ADMIN_URL.split("@", 1)[1]
    host, _, port = admin_host.partition(":")
    user = PG_ADMIN_URL.split("://", 1)[1].split("@", 1)[0].split(":")[0]
    env = dict(os.environ, PGHOST=host, PGPORT=port or "5432", PGUSER=user)
    subprocess.run([exe.replace("pgbench", "psql") if Path(exe.replace("pgbench", "psql"))
                    .exists() else "psql", "-q", "-d", db_name, "-c",
                    "CREATE TABLE bench_trades (id serial PRIMARY KEY, bot int, seq int, "
                    "pair varchar(25), open_rate float, amount float, strategy varchar(100)); "
                    "CREATE TABLE bench_orders (id serial PRIMARY KEY, trade_id int "
                    "REFERENCES bench_trades(id), order_id varchar(255), filled float, "
                    "UNIQUE (order_id))"], env=env, check=True, capture_output=True)
    script = wd / "bench.sql"
    script.write_text(
        "\\set seq random(1, 1000000000)\n"
        "BEGIN;\n"
        "INSERT INTO bench_trades (bot, seq, pair, open_rate, amount, strategy) "
        "VALUES (:client_id, :seq, 'M1/USDT', 10.0, 1.0, 'bench');\n"
        "INSERT INTO bench_orders (trade_id, order_id, filled) "
        "VALUES (currval('bench_trades_id_seq'), 'o' || :client_id || '-' || :seq || '-' "
        "|| currval('bench_trades_id_seq'), 1.0);\n"
        "END;\n")
    per_client = max(1, commits // BOTS)
    res = subprocess.run([exe, "-n", "-c", str(BOTS), "-j", "2", "-t", str(per_client),
                          "-f", str(script), db_name], env=env, capture_output=True, text=True,
                         check=False)
    m = re.search(r"tps = ([0-9.]+)", res.stdout)
    if res.returncode != 0 or m is None:
        fig.set("pgbench", f"failed: {res.stderr.strip()[:200]}")
        return
    tps = float(m.group(1))
    fig.set("pgbench.clients", BOTS)
    fig.set("pgbench.commits", per_client * BOTS)
    fig.set("pgbench.rows", per_client * BOTS * 2)
    fig.set("pgbench.commits_per_second", round(tps, 1))
    fig.set("pgbench.rows_per_second", round(tps * 2, 1))


def main(args: argparse.Namespace) -> Figures:
    from tradeledger.db import close_db, init_db
    from tradeledger.models import Order, Trade
    from tradeledger.models.custom_data import _CustomData

    fig = Figures("manybots")
    scanner = LogScanner()
    per_bot = max(1, args.size // BOTS)
    with scanner.installed(), workdir("manybots") as wd:
        db = new_database("postgresql", wd)
        try:
            init_db(db.url)
            close_db()
            ctx = mp.get_context("fork")
            barrier = ctx.Barrier(BOTS + 1)
            results = ctx.Queue()
            procs = [ctx.Process(target=_bot, args=(db.url, b, per_bot, barrier, results))
                     for b in range(BOTS)]
            for p in procs:
                p.start()
            barrier.wait(timeout=300)
            t0 = time.perf_counter()  # (includes each bot's one guard probe)
            got = [results.get(timeout=3600) for _ in procs]
            wall = time.perf_counter() - t0
            for p in procs:
                p.join(timeout=60)
                fig.check(p.exitcode == 0, f"bot process exit code {p.exitcode}")
            commits = sum(g[1] for g in got)
            rows = sum(g[2] for g in got)
            fig.set("bots", BOTS)
            fig.set("trades_per_bot", per_bot)
            fig.set("commits", commits)
            fig.set("rows", rows)
            fig.set("wall_seconds", round(wall, 2))
            fig.set("commits_per_second", round(commits / wall, 1))
            fig.set("rows_per_second", round(rows / wall, 1))
            seconds = Counter(g[4] for g in got)
            fig.set("second_instance_of_running_bot", dict(seconds))
            fig.check(seconds.get("refused") == BOTS, "a second live instance was not refused")
            eng = db.admin_engine()
            try:
                with eng.connect() as conn:
                    per_strategy = dict(conn.execute(select(Trade.strategy, func.count())
                                                     .group_by(Trade.strategy)).all())
                    distinct_tags = conn.execute(select(func.count(func.distinct(
                        Trade.enter_tag)))).scalar_one()
                    n_orders = conn.execute(select(func.count()).select_from(Order)).scalar_one()
                    wrong_orders = conn.execute(text(
                        "SELECT count(*) FROM orders o JOIN trades t ON t.id = o.ft_trade_id "
                        "WHERE o.order_id NOT LIKE t.strategy || '-o%'")).scalar_one()
                    locks = dict(conn.execute(text(
                        "SELECT split_part(reason, '-', 1), count(*) FROM pairlocks "
                        "GROUP BY 1")).all())
                    cds = conn.execute(select(func.count()).select_from(_CustomData)).scalar_one()
            finally:
                eng.dispose()
            expected_locks = len(range(0, per_bot, 10))
            expected_cd = len(range(0, per_bot, 25))
            for b in range(BOTS):
                name = f"bot{b}"
                fig.check(per_strategy.get(name) == per_bot,
                          f"{name}: {per_strategy.get(name)} trades, expected {per_bot}")
                fig.check(locks.get(name) == expected_locks,
                          f"{name}: {locks.get(name)} locks, expected {expected_locks}")
            fig.check(distinct_tags == per_bot * BOTS, f"duplicated trades: {distinct_tags}")
            fig.check(n_orders == per_bot * BOTS, f"orders {n_orders} != {per_bot * BOTS}")
            fig.check(wrong_orders == 0, f"{wrong_orders} orders on another bot's trade")
            fig.check(cds == expected_cd * BOTS, f"custom data rows {cds}")
            fig.set("lost_rows", 0 if not fig.violations else "see violations")
            _pgbench(db.name, rows, commits, wd, fig)
        finally:
            db.drop()
    scanner.report_to(fig)
    return fig


def _parser() -> argparse.ArgumentParser:
    return parser("manybots", "trades in total over the 8 bots (full run: 80000)", 800)


if __name__ == "__main__":
    run_main(main, _parser())
