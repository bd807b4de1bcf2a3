"""Issue 3 (b): persist a closed trade with two filled orders, one commit per trade.

``--lib tradeledger|freqtrade`` (facts sheet §8 case 1): ``Trade(...)`` + two filled
``Order(...)`` appended to ``trade.orders``, ``recalc_trade_from_orders()``, ``close(rate)``,
``Trade.session.add(trade)``, ``Trade.commit()``.

``--lib tradeledger-fast``: the SAME trade built with the domain classes ``LocalTrade`` +
``LocalOrder`` (the build is timed too), then ``persist_trade(trade)`` (tradeledger's Core
fast path, :mod:`tradeledger.services.persist`): one transaction and one commit per trade,
journal included, no ORM unit of work.

``--lib raw``: the same rows through the bare DB-API driver (sqlite3 / psycopg 3): the
schema and one template trade are written by tradeledger first (untimed), the template rows
are read back, and each timed trade is one INSERT into ``trades`` (RETURNING id) and two
INSERTs into ``orders``, then COMMIT. Same SQLite pragmas as tradeledger (WAL,
``synchronous=FULL``).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import LIBS, base_parser, db_url, emit, load, prepare_sqlite_wal, quiet

T0 = datetime(2024, 1, 1, tzinfo=UTC)
PAIRS = [f"C{i}/USDT" for i in range(20)]


def build_trade(lib: Any, i: int, tag: str = "", *, local: bool = False) -> Any:
    """A closed trade with a filled entry and a filled exit order (not yet added).

    ``local``: built with the domain classes (``LocalTrade`` / ``LocalOrder``).
    """
    trade_cls, order_cls = (lib.LocalTrade, lib.BtOrder) if local else (lib.Trade, lib.Order)
    pair = PAIRS[i % 20]
    rate = 100.0 + (i % 97) * 0.37
    amount = round(100.0 / rate, 4)
    open_date = T0 + timedelta(minutes=5 * i)
    close_date = open_date + timedelta(minutes=30)
    close_rate = rate * (1.02 if i % 3 else 0.97)
    trade = trade_cls(
        pair=pair, base_currency=pair.split("/")[0], stake_currency="USDT", exchange="binance",
        strategy="Bench", timeframe=5, open_rate=rate, open_rate_requested=rate,
        open_date=open_date, amount=amount, amount_requested=amount, stake_amount=100.0,
        fee_open=0.001, fee_close=0.001, is_open=True, leverage=1.0, is_short=False,
        trading_mode=lib.TradingMode.SPOT, enter_tag="bench", interest_rate=0.0,
        funding_fees=0.0, realized_profit=0.0, stop_loss=rate * 0.95, stop_loss_pct=-0.05,
        initial_stop_loss=rate * 0.95, initial_stop_loss_pct=-0.05,
    )
    common = {"ft_pair": pair, "symbol": pair, "ft_is_open": False, "status": "closed",
              "order_type": "limit", "remaining": 0.0}
    trade.orders.append(order_cls(
        ft_order_side="buy", side="buy", ft_amount=amount, ft_price=rate, price=rate,
        average=rate, amount=amount, filled=amount, cost=amount * rate,
        order_id=f"{tag}{i}-e", order_date=open_date, order_filled_date=open_date,
        order_update_date=open_date, **common))
    trade.orders.append(order_cls(
        ft_order_side="sell", side="sell", ft_amount=amount, ft_price=close_rate,
        price=close_rate, average=close_rate, amount=amount, filled=amount,
        cost=amount * close_rate, order_id=f"{tag}{i}-x", order_date=close_date,
        order_filled_date=close_date, order_update_date=close_date, **common))
    trade.recalc_trade_from_orders()
    trade.exit_reason = "roi"
    trade.close_date = close_date
    trade.close(close_rate)
    return trade


def run_orm(lib_name: str, target: str, n: int, tag: str = "") -> dict[str, Any]:
    lib = load(lib_name)
    prepare_sqlite_wal(target)
    lib.init_db(db_url(lib_name, target))
    Trade = lib.Trade  # noqa: N806
    for i in range(20):  # warm-up (statement compilation), untimed
        Trade.session.add(build_trade(lib, 10_000_000 + i, tag))
        Trade.commit()
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        Trade.session.add(build_trade(lib, i, tag))
        Trade.commit()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    Trade.session.remove()
    count = Trade.session.query(Trade).count()
    return {"seconds": round(elapsed, 3), "trades_per_s": round(n / elapsed, 1),
            "cpu_ms_per_trade": round(cpu * 1000 / n, 3), "rows_trades": count}


def run_fast(target: str, n: int, tag: str = "") -> dict[str, Any]:
    """LocalTrade/LocalOrder build + ``persist_trade`` (one commit per trade), both timed."""
    lib = load("tradeledger")
    from tradeledger.services.persist import persist_trade

    prepare_sqlite_wal(target)
    lib.init_db(db_url("tradeledger", target))
    for i in range(20):  # warm-up (statement preparation), untimed
        persist_trade(build_trade(lib, 10_000_000 + i, tag, local=True))
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        persist_trade(build_trade(lib, i, tag, local=True))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    Trade = lib.Trade  # noqa: N806
    count = Trade.session.query(Trade).count()
    Trade.session.remove()
    return {"seconds": round(elapsed, 3), "trades_per_s": round(n / elapsed, 1),
            "cpu_ms_per_trade": round(cpu * 1000 / n, 3), "rows_trades": count}


def template_rows(target: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create the schema with tradeledger, write one trade, read its rows back."""
    from sqlalchemy import select

    lib = load("tradeledger")
    lib.init_db(db_url("tradeledger", target))
    trade = build_trade(lib, 0, "template-")
    lib.Trade.session.add(trade)
    lib.Trade.commit()
    session = lib.Trade.session
    trade_row = dict(session.execute(select(lib.Trade.__table__).where(
        lib.Trade.__table__.c.id == trade.id)).mappings().one())
    order_rows = [dict(r) for r in session.execute(select(lib.Order.__table__).where(
        lib.Order.__table__.c.ft_trade_id == trade.id)).mappings()]
    from tradeledger import close_db

    close_db()
    trade_row.pop("id")
    for row in order_rows:
        row.pop("id")
    return trade_row, order_rows


def run_raw(target: str, n: int) -> dict[str, Any]:
    trade_row, order_rows = template_rows(target)
    kind, _, rest = target.partition(":")
    tcols = list(trade_row)
    ocols = list(order_rows[0])
    if kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(rest, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        ph = "?"
        begin = "BEGIN IMMEDIATE"
    else:
        import psycopg
        from _common import PG_HOST, PG_PORT, PG_USER

        conn = psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=rest)
        ph = "%s"
        begin = None
    tsql = (f"INSERT INTO trades ({', '.join(tcols)}) VALUES ({', '.join([ph] * len(tcols))})"
            " RETURNING id")
    osql = f"INSERT INTO orders ({', '.join(ocols)}) VALUES ({', '.join([ph] * len(ocols))})"
    tvals = [trade_row[c] for c in tcols]
    oid = ocols.index("order_id")
    tid = ocols.index("ft_trade_id")
    ovals = [[r[c] for c in ocols] for r in order_rows]
    import enum

    def fix(v: Any) -> Any:
        if isinstance(v, enum.Enum):  # SQLAlchemy Enum columns store the member name
            return v.name
        if isinstance(v, datetime):  # stored as naive UTC (text on SQLite)
            v = v.astimezone(UTC).replace(tzinfo=None)
            return v.isoformat(" ") if kind == "sqlite" else v
        return v

    tvals = [fix(v) for v in tvals]
    ovals = [[fix(v) for v in row] for row in ovals]

    def one(i: int) -> None:
        cur = conn.cursor()
        if begin:
            cur.execute(begin)
        cur.execute(tsql, tvals)
        new_id = cur.fetchone()[0]
        for k, row in enumerate(ovals):
            vals = list(row)
            vals[tid] = new_id
            vals[oid] = f"raw{i}-{k}"
            cur.execute(osql, vals)
        conn.commit() if not begin else cur.execute("COMMIT")

    for i in range(20):
        one(10_000_000 + i)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        one(i)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    count = conn.execute("SELECT count(*) FROM trades").fetchone()[0]
    conn.close()
    return {"seconds": round(elapsed, 3), "trades_per_s": round(n / elapsed, 1),
            "cpu_ms_per_trade": round(cpu * 1000 / n, 3), "rows_trades": count}


def main() -> None:
    parser = base_parser(__doc__ or "", (*LIBS, "tradeledger-fast"))
    parser.add_argument("--db", required=True, help="sqlite:PATH or pg:DBNAME")
    parser.add_argument("--trades", type=int, default=2000)
    args = parser.parse_args()
    quiet()
    if args.lib == "raw":
        result = run_raw(args.db, args.trades)
    elif args.lib == "tradeledger-fast":
        result = run_fast(args.db, args.trades)
    else:
        result = run_orm(args.lib, args.db, args.trades)
    emit({"case": "persist_trade", "lib": args.lib, "db": args.db.partition(":")[0],
          "trades": args.trades, **result})


if __name__ == "__main__":
    main()
