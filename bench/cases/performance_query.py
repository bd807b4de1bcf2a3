"""Issue 7: ``Trade.get_overall_performance()`` on 20 000 closed trades (facts sheet §8 case 5).

Data: 20 000 closed trades (2 filled orders each) over 20 pairs + 200 open trades (1 filled
entry order each). One template trade is written through the library's own ORM, read back,
and copied in bulk (Core ``executemany`` through the library's own table objects, untimed),
so both libraries query the same rows in their own (identical) schema.
Timing: warm calls on the same scoped session (as the bot loop does); mean / p95 in ms.
Also, identically for both libraries: ``first_call_ms`` (the first call after populating) and
``after_write_*`` (each call preceded by an untimed committed write to one closed trade, as
when a trade has just closed; tradeledger's result cache cannot answer those, so they are
its cold figures).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import (
    base_parser,
    db_url,
    emit,
    load,
    prepare_sqlite_wal,
    quiet,
    time_each,
)
from persist_trade import PAIRS, build_trade

EXIT_REASONS = ("roi", "stop_loss", "exit_signal", "trailing_stop_loss")


def populate(lib: Any, closed: int, open_: int) -> float:
    from sqlalchemy import insert, select

    Trade, Order = lib.Trade, lib.Order  # noqa: N806
    session = Trade.session
    template = build_trade(lib, 0, "template-")
    session.add(template)
    Trade.commit()
    ttab, otab = Trade.__table__, Order.__table__
    trow = dict(session.execute(select(ttab).where(ttab.c.id == template.id)).mappings().one())
    orows = [dict(r) for r in session.execute(
        select(otab).where(otab.c.ft_trade_id == template.id).order_by(otab.c.id)).mappings()]
    session.execute(otab.delete())
    session.execute(ttab.delete())
    Trade.commit()
    start = time.perf_counter()
    trades: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    order_id = 0

    def flush() -> None:
        if trades:
            session.execute(insert(ttab), trades)
            session.execute(insert(otab), orders)
            Trade.commit()
            trades.clear()
            orders.clear()

    for i in range(closed + open_):
        is_open = i >= closed
        pair = PAIRS[i % 20]
        ratio = ((i * 7919) % 2001 - 1000) / 20000.0  # -5 % .. +5 %
        row = dict(trow)
        row.update(id=i + 1, pair=pair, exit_reason=EXIT_REASONS[i % 4],
                   enter_tag=f"tag{i % 5}", open_date=trow["open_date"] + timedelta(minutes=i))
        if is_open:
            row.update(is_open=True, close_rate=None, close_profit=None, close_profit_abs=None,
                       close_date=None, exit_reason=None, realized_profit=0.0)
        else:
            row.update(close_profit=ratio, close_profit_abs=round(ratio * 100.0, 8),
                       realized_profit=round(ratio * 100.0, 8),
                       close_date=row["open_date"] + timedelta(minutes=30))
        trades.append(row)
        for k, orow in enumerate(orows[:1] if is_open else orows):
            order_id += 1
            o = dict(orow)
            o.update(id=order_id, ft_trade_id=i + 1, ft_pair=pair, symbol=pair,
                     order_id=f"b{i}-{k}")
            orders.append(o)
        if len(trades) >= 2000:
            flush()
    flush()
    return time.perf_counter() - start


def time_after_write(lib: Any, fn: Any, n: int) -> dict[str, float]:
    """Time ``n`` calls, each after an untimed commit that rewrites one closed trade's row."""
    from sqlalchemy import update

    Trade = lib.Trade  # noqa: N806
    ttab = Trade.__table__
    samples: list[float] = []
    for i in range(n):
        Trade.session.execute(update(ttab).where(ttab.c.id == i + 1)
                              .values(close_profit_abs=ttab.c.close_profit_abs))
        Trade.commit()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {"mean_ms": round(sum(samples) / n, 3), "p95_ms": round(p95, 3)}


def main() -> None:
    parser = base_parser(__doc__ or "", libs=("tradeledger", "freqtrade"))
    parser.add_argument("--db", required=True)
    parser.add_argument("--closed", type=int, default=20_000)
    parser.add_argument("--open", type=int, default=200)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    quiet()
    lib = load(args.lib)
    prepare_sqlite_wal(args.db)
    lib.init_db(db_url(args.lib, args.db))
    base = {"case": "performance_query", "lib": args.lib, "db": args.db.partition(":")[0],
            "closed_trades": args.closed, "open_trades": args.open}
    fn = getattr(lib.Trade, "get_overall_performance", None)
    if fn is None:
        emit({**base, "available": False,
              "error": "Trade.get_overall_performance is not implemented yet"})
        return
    populate_s = populate(lib, args.closed, args.open)
    start = time.perf_counter()
    result = fn()
    first_ms = (time.perf_counter() - start) * 1000
    stats = time_each(fn, args.calls)
    after_write = time_after_write(lib, fn, args.calls)
    emit({**base, "available": True, "populate_s": round(populate_s, 2), **stats,
          "first_call_ms": round(first_ms, 3),
          **{f"after_write_{k}": v for k, v in after_write.items() if k != "samples"},
          "groups": len(result), "trade_count": sum(r["count"] for r in result),
          "profit_abs_sum": round(sum(r["profit_abs"] for r in result), 6)})


if __name__ == "__main__":
    main()
