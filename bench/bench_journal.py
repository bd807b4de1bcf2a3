"""Cost of the audit journal on the write path (issue 10, target: at most 25 % fewer commits/s).

Workload: a closed trade with a filled entry and a filled exit order (``recalc``, ``close``),
``Trade.session.add`` + ``Trade.commit()`` — one commit per trade, i.e. one trade row and two
order rows (plus three journal rows when the journal is on). The same database is used for
both modes; rounds alternate journal off / on (``tradeledger.services.journal.set_enabled``)
so drift of the machine hits both alike; each mode's rate is the median of its rounds.

Usage::

    .venv/bin/python bench/bench_journal.py --backend sqlite --trades 400 --rounds 5
    .venv/bin/python bench/bench_journal.py --backend postgresql

Importable: ``run_case(backend="sqlite", trades=400, rounds=5) -> dict`` (used by the
benchmark report). SQLite runs on a file in a temporary directory (WAL, ``synchronous=FULL``,
the library's defaults); PostgreSQL on a fresh database created on ``--pg`` and dropped after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("TRADELEDGER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
PAIRS = [f"C{i}/USDT" for i in range(20)]


def build_trade(i: int) -> Any:
    """A closed trade with a filled entry and a filled exit order (not yet added)."""
    from tradeledger import Order, Trade, TradingMode

    pair = PAIRS[i % 20]
    rate = 100.0 + (i % 97) * 0.37
    amount = round(100.0 / rate, 4)
    open_date = T0 + timedelta(minutes=5 * i)
    close_date = open_date + timedelta(minutes=30)
    close_rate = rate * (1.02 if i % 3 else 0.97)
    trade = Trade(
        pair=pair, base_currency=pair.split("/")[0], stake_currency="USDT", exchange="binance",
        strategy="Bench", timeframe=5, open_rate=rate, open_rate_requested=rate,
        open_date=open_date, amount=amount, amount_requested=amount, stake_amount=100.0,
        fee_open=0.001, fee_close=0.001, is_open=True, leverage=1.0, is_short=False,
        trading_mode=TradingMode.SPOT, enter_tag="bench", interest_rate=0.0,
        funding_fees=0.0, realized_profit=0.0, stop_loss=rate * 0.95, stop_loss_pct=-0.05,
        initial_stop_loss=rate * 0.95, initial_stop_loss_pct=-0.05,
    )
    common = {"ft_pair": pair, "symbol": pair, "ft_is_open": False, "status": "closed",
              "order_type": "limit", "remaining": 0.0}
    for side, price, when, suffix in (("buy", rate, open_date, "e"),
                                      ("sell", close_rate, close_date, "x")):
        trade.orders.append(Order(
            ft_order_side=side, side=side, ft_amount=amount, ft_price=price, price=price,
            average=price, amount=amount, filled=amount, cost=amount * price,
            order_id=f"{i}-{suffix}-{uuid.uuid4().hex[:8]}", order_date=when,
            order_filled_date=when, order_update_date=when, **common))
    trade.recalc_trade_from_orders()
    trade.exit_reason = "roi"
    trade.close_date = close_date
    trade.close(close_rate)
    return trade


def _noop() -> None:
    pass


def _database(backend: str, tmp: Path) -> tuple[str, Callable[[], None]]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'journal-bench.sqlite'}", _noop
    if backend != "postgresql":
        raise SystemExit(f"unknown backend {backend!r} (sqlite or postgresql)")
    from sqlalchemy import create_engine, text

    name = f"tl_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{PG_ADMIN}/{name}", drop


def _round(n: int, offset: int) -> tuple[float, float]:
    """Commits/s (wall clock) and this process's CPU milliseconds per commit."""
    from tradeledger import Trade

    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        Trade.session.add(build_trade(offset + i))
        Trade.commit()
    return n / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / n


def run_case(backend: str = "sqlite", trades: int = 400, rounds: int = 5,
             url: str | None = None) -> dict[str, Any]:
    """Measure trades-with-orders commits/s with the journal off and on.

    Args:
        backend: ``"sqlite"`` (a file) or ``"postgresql"``.
        trades: trades committed per round.
        rounds: rounds per mode (alternating off/on); the median is reported.
        url: use this database instead of a fresh one (it gets rows added).

    Returns:
        ``{"case": "journal_overhead", "backend", "trades", "rounds", "trades_per_s_off",
        "trades_per_s_on", "overhead_pct", "cpu_ms_per_commit_off", "cpu_ms_per_commit_on",
        "journal_rows", ...}``.
    """
    from sqlalchemy import func, select

    from tradeledger import Trade, close_db, init_db
    from tradeledger.models import JournalEntry
    from tradeledger.services import journal

    with tempfile.TemporaryDirectory() as tmpdir:
        target, drop = (url, _noop) if url else _database(backend, Path(tmpdir))
        try:
            init_db(target, journal=True)
            journal.set_enabled(True)
            _round(30, 50_000_000)  # warm-up: statement caches, both paths
            journal.set_enabled(False)
            _round(30, 60_000_000)
            off: list[float] = []
            on: list[float] = []
            cpu_off: list[float] = []
            cpu_on: list[float] = []
            for r in range(rounds):
                journal.set_enabled(False)
                rate, cpu = _round(trades, r * 2 * trades)
                off.append(rate)
                cpu_off.append(cpu)
                journal.set_enabled(True)
                rate, cpu = _round(trades, (r * 2 + 1) * trades)
                on.append(rate)
                cpu_on.append(cpu)
            Trade.session.remove()
            rows = Trade.session.scalar(select(func.count()).select_from(JournalEntry))
            Trade.session.remove()
            rate_off, rate_on = statistics.median(off), statistics.median(on)
            return {
                "case": "journal_overhead", "lib": "tradeledger", "backend": backend,
                "trades": trades, "rounds": rounds,
                "trades_per_s_off": round(rate_off, 1), "trades_per_s_on": round(rate_on, 1),
                "overhead_pct": round((1 - rate_on / rate_off) * 100, 1),
                # client CPU per commit (robust on a loaded machine; excludes the server)
                "cpu_ms_per_commit_off": round(statistics.median(cpu_off), 3),
                "cpu_ms_per_commit_on": round(statistics.median(cpu_on), 3),
                "rounds_off": [round(x, 1) for x in off], "rounds_on": [round(x, 1) for x in on],
                "journal_rows": rows, "target_pct": 25.0,
                "machine": f"{platform.machine()} {os.cpu_count()} cpu, "
                           f"Python {platform.python_version()}",
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            }
        finally:
            close_db()
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--trades", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    backends = ("sqlite", "postgresql") if args.backend == "all" else (args.backend,)
    for backend in backends:
        result = run_case(backend, args.trades, args.rounds)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
