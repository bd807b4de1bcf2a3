"""Issue 7: the 1 000 000-trade figures of bench/bench_analytics.py (the analytics helper's).

Runs ``bench/bench_analytics.py``'s importable ``run_case`` for each of its cases (if it
exposes ``CASES``; else ``run_case()`` once) and reports what it returns. Until that file
exists it reports ``available: false``.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from _common import emit, quiet  # noqa: E402


def main() -> None:
    quick = "--quick" in sys.argv
    quiet()
    base = {"case": "analytics_1m", "lib": "tradeledger"}
    if not (Path(__file__).parents[1] / "bench_analytics.py").exists():
        emit({**base, "available": False, "error": "bench/bench_analytics.py does not exist yet"})
        return
    import bench_analytics  # type: ignore[import-not-found]

    run_case = bench_analytics.run_case
    params = inspect.signature(run_case).parameters
    kwargs = {}
    if quick:
        for name in ("quick", "small"):
            if name in params:
                kwargs[name] = True
        for name in ("n", "trades", "n_trades"):
            if name in params:
                kwargs[name] = 20_000
    names = list(getattr(bench_analytics, "CASES", [])) or [None]
    out = {}
    for name in names:
        try:
            out[str(name)] = run_case(name, **kwargs) if name is not None else run_case(**kwargs)
        except Exception as exc:  # noqa: BLE001 - report, do not hide
            out[str(name)] = {"error": repr(exc)}
    emit({**base, "available": True, "quick": quick, "figures": out})


if __name__ == "__main__":
    main()
