"""Issue 10: cost of the audit journal on the write path (target: ≤ 25 % slower).

Delegates to the journal helper's ``bench/bench_journal.py`` (``run_case(backend, trades,
rounds)``: the persist workload -- a closed trade with two filled orders, one commit each --
in alternating rounds with the journal off and on, on one fresh database; median of the
rounds). Reports ``trades_per_s`` (journal on), ``trades_per_s_off`` and
``overhead_pct = (1 - on / off) * 100``. Before that file exists it reports
``available: false``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from _common import emit, quiet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lib", choices=("tradeledger",), default="tradeledger")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--trades", type=int, default=400, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    quiet()
    base = {"case": "journal_overhead", "lib": "tradeledger", "backend": args.backend}
    if not (Path(__file__).parents[1] / "bench_journal.py").exists():
        emit({**base, "available": False,
              "error": "bench/bench_journal.py (audit journal) does not exist yet"})
        return
    import bench_journal  # type: ignore[import-not-found]

    res = bench_journal.run_case(args.backend, args.trades, args.rounds)
    res.pop("machine", None)
    emit({**base, "available": True, **res, "trades_per_s": res.get("trades_per_s_on")})


if __name__ == "__main__":
    main()
