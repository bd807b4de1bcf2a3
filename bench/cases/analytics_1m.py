"""Issue 7: the 1 000 000-trade figures, measured by the analytics helper's bench_analytics.py.

Runs ``bench_analytics.run_case("million_<backend>", quick=...)`` (1 000 000 closed trades with
2 000 000 orders generated in bulk, then a fresh child measures ``init_db``, the open-trade
queries, every freqtrade-compatible query and every analytics-service metric, and its own
peak RSS) and reports the headline figures against the issue's targets: open-trade query
< 5 ms, every metric < 1 s, ``init_db`` < 0.5 s, peak RSS < 300 MB. ``slowest_metric_ms`` is
the slowest *cold* call (right after a write to one trade, so the analytics result cache
cannot answer and the written block of trade ids is read again); ``slowest_first_ms`` the
slowest first call in the process (nothing stored yet: every block read, as after a bulk
load); ``slowest_restart_ms`` the slowest first call in a *later* process, which loads the
per-block partial results the measuring process stored (``tl_analytics_partials``) and
computes only the block written since; ``slowest_warm_ms`` and
``metrics_median_ms`` are the repeated (cached) calls.
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
    parser.add_argument("--quick", action="store_true", help="20 000 trades instead of 1M")
    args = parser.parse_args()
    quiet()
    base = {"case": "analytics_1m", "lib": "tradeledger", "backend": args.backend}
    if not (Path(__file__).parents[1] / "bench_analytics.py").exists():
        emit({**base, "available": False, "error": "bench/bench_analytics.py does not exist yet"})
        return
    import bench_analytics  # type: ignore[import-not-found]

    res = bench_analytics.run_case(f"million_{args.backend}", quick=args.quick)
    metrics = res.get("metrics", {})
    slowest = max(metrics.items(), key=lambda kv: kv[1]["cold_ms"]) if metrics else None
    emit({**base, "available": True, "closed_trades": res.get("closed_trades"),
          "orders": res.get("orders"), "generate_s": res.get("generate_s"),
          "init_db_s": res.get("init_db_s"),
          "open_trade_count_ms": res.get("open_trade_count", {}).get("median_ms"),
          "get_open_trades_ms": res.get("get_open_trades", {}).get("median_ms"),
          "slowest_metric_ms": res.get("slowest_metric_ms"),
          "slowest_first_ms": res.get("slowest_first_ms"),
          "slowest_restart_ms": res.get("slowest_restart_ms"),
          "restart_blocks": res.get("restart_blocks"),
          "slowest_warm_ms": res.get("slowest_warm_ms"),
          "slowest_metric": slowest[0] if slowest else None,
          "measure_peak_rss_mb": res.get("peak_rss_mb"), "db_size_mb": res.get("db_size_mb"),
          "peak_rss_mb": res.get("peak_rss_mb"),  # the measuring child's, not this wrapper's
          "metrics_cold_ms": {k: v["cold_ms"] for k, v in metrics.items()},
          "metrics_first_ms": {k: v["first_ms"] for k, v in metrics.items()},
          "metrics_restart_ms": res.get("restart_ms"),
          "metrics_median_ms": {k: v["median_ms"] for k, v in metrics.items()}})


if __name__ == "__main__":
    main()
