"""Issue 3 (c): wall time and RSS of importing the library in a fresh interpreter.

``--lib tradeledger``: ``import tradeledger``; ``--lib freqtrade``: ``import
freqtrade.persistence`` (facts sheet §9). The interpreter's own start-up is excluded from
the time (measured around the import statement) but included in the RSS, as in the facts
sheet; ``baseline_rss_mb`` is the RSS just before the import.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import base_parser, emit, rss_mb


def main() -> None:
    parser = base_parser(__doc__ or "", libs=("tradeledger", "freqtrade", "raw"))
    parser.add_argument("--module", default=None, help="import this module instead")
    args = parser.parse_args()
    module = args.module or {"tradeledger": "tradeledger", "freqtrade": "freqtrade.persistence",
                             "raw": "sqlalchemy.orm"}[args.lib]
    before_modules = len(sys.modules)
    baseline = rss_mb()
    start = time.perf_counter()
    importlib.import_module(module)
    elapsed = time.perf_counter() - start
    emit({"case": "import", "lib": args.lib, "module": module, "seconds": round(elapsed, 3),
          "rss_mb": round(rss_mb(), 1), "baseline_rss_mb": round(baseline, 1),
          "modules_loaded": len(sys.modules) - before_modules,
          "heavy_modules": sorted(m for m in ("pandas", "numpy", "ccxt", "pyarrow", "aiohttp",
                                              "matplotlib", "alembic", "typer", "rich")
                                  if m in sys.modules)})


if __name__ == "__main__":
    main()
