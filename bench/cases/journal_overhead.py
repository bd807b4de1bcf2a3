"""Issue 10: cost of the audit journal on the write path (slot until the journal lands).

Runs the persist workload of persist_trade.py twice in this process, on two fresh databases
next to ``--db``: once with the audit journal switched off, once switched on, and reports
``overhead_pct = (1 - rate_on / rate_off) * 100`` (target ≤ 25 %).

The journal is being built by another helper; this script looks for its switch as an
``init_db`` keyword (``journal`` or ``audit``). Until one exists it reports
``available: false`` and the runner shows n/a.
"""

from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import base_parser, db_url, emit, load, prepare_sqlite_wal, quiet  # noqa: E402
from persist_trade import build_trade  # noqa: E402

SWITCHES = ("journal", "audit", "audit_journal")


def measure(lib: Any, target: str, n: int, switch: str, on: bool) -> float:
    prepare_sqlite_wal(target)
    lib.init_db(db_url("tradeledger", target), **{switch: on})
    Trade = lib.Trade  # noqa: N806
    for i in range(20):
        Trade.session.add(build_trade(lib, 10_000_000 + i))
        Trade.commit()
    start = time.perf_counter()
    for i in range(n):
        Trade.session.add(build_trade(lib, i))
        Trade.commit()
    elapsed = time.perf_counter() - start
    from tradeledger import close_db

    close_db()
    return n / elapsed


def main() -> None:
    parser = base_parser(__doc__ or "", libs=("tradeledger",))
    parser.add_argument("--db", required=True, help="sqlite:PATH (pg: not supported here)")
    parser.add_argument("--trades", type=int, default=2000)
    args = parser.parse_args()
    quiet()
    lib = load("tradeledger")
    params = inspect.signature(lib.init_db).parameters
    switch = next((s for s in SWITCHES if s in params), None)
    base = {"case": "journal_overhead", "lib": "tradeledger", "trades": args.trades}
    if switch is None or not args.db.startswith("sqlite:"):
        emit({**base, "available": False,
              "error": "no audit-journal switch in tradeledger.init_db yet "
                       "(slot: bench/cases/journal_overhead.py)"})
        return
    path = args.db.partition(":")[2]
    off = measure(lib, f"sqlite:{path}.off", args.trades, switch, False)
    on = measure(lib, f"sqlite:{path}.on", args.trades, switch, True)
    emit({**base, "available": True, "switch": switch, "trades_per_s_off": round(off, 1),
          "trades_per_s": round(on, 1), "overhead_pct": round((1 - on / off) * 100, 1)})


if __name__ == "__main__":
    main()
