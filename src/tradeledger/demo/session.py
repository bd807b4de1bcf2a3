"""The demo bot as a process: ``python -m tradeledger.demo.session --db URL --exchange FILE``.

It prints one line per event on stdout (``STEP i n``, ``EVENT ...``, ``CRASHPOINT <id>``,
``DONE``) for the parent (:mod:`tradeledger.demo.runner`). With ``--crash-at N`` it stops, from
candle ``N`` on, right after the exchange accepted an order and before the answer is stored,
and waits there to be killed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tradeledger.db import close_db, init_db
from tradeledger.demo.bot import DemoBot
from tradeledger.demo.exchange import SimExchange


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the bot until the end of the session (or the crash point)."""
    parser = argparse.ArgumentParser(prog="python -m tradeledger.demo.session")
    parser.add_argument("--db", required=True, help="database URL")
    parser.add_argument("--exchange", required=True, type=Path, help="exchange state file")
    parser.add_argument("--crash-at", type=int, default=None,
                        help="stop for a SIGKILL at the first order sent from this candle on")
    args = parser.parse_args(argv)
    # In WAL mode synchronous=NORMAL loses nothing when the *process* dies (the demo's
    # SIGKILL); only a power cut could drop the last commits. It keeps the demo fast.
    init_db(args.db, sqlite_synchronous="NORMAL")
    try:
        exchange = SimExchange.load(args.exchange)
        DemoBot(exchange, crash_at=args.crash_at, emit=_emit).run()
        _emit("DONE")
    finally:
        close_db()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
