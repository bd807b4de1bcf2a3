"""Issue 5: ``PairLocks.is_pair_locked`` for a locked and an unlocked pair, 50 active locks.

Same set-up as bench/bench_locks.py and the facts sheet §8 case 3: 50 active locks on 50 pairs
(sides ``*``/``long``/``short`` round robin, through ``PairLocks.lock_pair``); the locked pair
has a ``*`` lock; the unlocked pair has none (so the global lock is looked up too).
Database mode (``--db``): default ``now`` (wall clock), ``is_pair_locked(pair)``.
Backtesting mode (no ``--db``): ``PairLocks.use_db = False``, a fixed candle time and
``side="long"``, as freqtrade's backtesting calls it; ``--expired N`` first adds N expired
locks (half of them global), which stay in the store.

``--lib raw`` (database mode only): the same locks, then the very SQL text tradeledger's check
sends, run through the bare driver (``sqlite3``, or psycopg 3 with a server-side prepared
statement) in autocommit: the floor for any library that answers with one query per check
(the issue's freshness rule). It also reports a bare ``SELECT 1`` round trip
(``select1_us``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import (
    base_parser,
    db_url,
    emit,
    load,
    prepare_sqlite_wal,
    quiet,
    time_calls,
)

N_ACTIVE = 50
SIDES = ("*", "long", "short")
CANDLE = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LOCKED_PAIR = "PAIR0/USDT"
UNLOCKED_PAIR = "NOLOCK/USDT"


def create_locks(PairLocks, now: datetime, expired: int, lib: str = "") -> None:  # noqa: N803
    original = PairLocks.__dict__.get("get_pair_locks")
    if expired and lib == "freqtrade" and not PairLocks.use_db:
        # freqtrade's lock_pair scans every existing lock for a duplicate first, which makes
        # creating 100 000 locks O(n^2) (hours). The expired locks all have distinct end
        # times, so that scan can never find one: skip it while creating them. The store
        # ends up exactly as lock_pair would leave it.
        PairLocks.get_pair_locks = staticmethod(lambda *a, **k: [])
    try:
        _create_expired(PairLocks, now, expired)
    finally:
        if original is not None:
            PairLocks.get_pair_locks = original
    for i in range(N_ACTIVE):
        PairLocks.lock_pair(f"PAIR{i}/USDT", now + timedelta(hours=2), "bench", now=now,
                            side=SIDES[i % 3])


def _create_expired(PairLocks, now: datetime, expired: int) -> None:  # noqa: N803
    for i in range(expired):
        pair = "*" if i % 2 else f"PAIR{i % N_ACTIVE}/USDT"
        until = now - timedelta(minutes=5 * (expired - i) + 10)
        PairLocks.lock_pair(pair, until, "old", now=until - timedelta(hours=1),
                            side=SIDES[i % 3])


def raw_check(target: str, url: str, pair: str, calls: int) -> dict[str, object]:
    """Time tradeledger's lock-check SQL through the bare driver (see the module docstring)."""
    from sqlalchemy import create_engine

    from tradeledger.services.pairlocks import _FastCheck

    engine = create_engine(url)
    fast = _FastCheck(engine.dialect)
    sql = fast.sql[(2, "*")]
    engine.dispose()
    params = (pair, fast.bind_end(datetime.now(UTC)))
    if target.startswith("sqlite:"):
        import sqlite3

        conn = sqlite3.connect(target.partition(":")[2], isolation_level=None)
        rate, rates, result = time_calls(
            lambda: conn.execute(sql, params).fetchone() is not None, calls)
        one, _, _ = time_calls(lambda: conn.execute("SELECT 1").fetchone(), calls)
    else:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                               autocommit=True)
        rate, rates, result = time_calls(
            lambda: conn.execute(sql, params, prepare=True).fetchone() is not None, calls)
        one, _, _ = time_calls(lambda: conn.execute("SELECT 1", prepare=True).fetchone(), calls)
    conn.close()
    return {"rate": rate, "rates": rates, "result": result, "select1_us": round(1e6 / one, 2)}


def main() -> None:
    parser = base_parser(__doc__ or "", libs=("tradeledger", "freqtrade", "raw"))
    parser.add_argument("--db", default=None, help="sqlite:PATH or pg:DBNAME; none = backtesting")
    parser.add_argument("--kind", choices=("locked", "unlocked"), required=True)
    parser.add_argument("--expired", type=int, default=0)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    quiet()
    if args.lib == "raw" and not args.db:
        raise SystemExit("--lib raw needs --db")
    lib = load("tradeledger" if args.lib == "raw" else args.lib)
    PairLocks = lib.PairLocks  # noqa: N806
    pair = LOCKED_PAIR if args.kind == "locked" else UNLOCKED_PAIR
    PairLocks.timeframe = "5m"
    if args.db:
        prepare_sqlite_wal(args.db)
        url = db_url(args.lib, args.db)
        lib.init_db(url)
        PairLocks.use_db = True
        create_locks(PairLocks, datetime.now(UTC), args.expired, args.lib)
        extra: dict[str, object] = {}
        if args.lib == "raw":
            raw = raw_check(args.db, url, pair, args.calls)
            rate, rates, result = raw["rate"], raw["rates"], raw["result"]  # type: ignore[assignment]
            extra["select1_us"] = raw["select1_us"]
        else:
            check = PairLocks.is_pair_locked
            rate, rates, result = time_calls(lambda: check(pair), args.calls)
    else:
        extra = {}
        PairLocks.use_db = False
        PairLocks.reset_locks()
        create_locks(PairLocks, CANDLE, args.expired, args.lib)
        check = PairLocks.is_pair_locked
        rate, rates, result = time_calls(lambda: check(pair, CANDLE, "long"), args.calls)
    expected = args.kind == "locked"
    emit({"case": "pair_locks", "lib": args.lib,
          "mode": "db" if args.db else "backtesting",
          "db": args.db.partition(":")[0] if args.db else None, "kind": args.kind,
          "expired_locks": args.expired, "calls": args.calls,
          "calls_per_s": round(rate, 1), "best_calls_per_s": round(max(rates), 1),
          "us_per_call": round(1e6 / rate, 2), "result": result,
          "result_ok": result is expected, **extra})


if __name__ == "__main__":
    main()
