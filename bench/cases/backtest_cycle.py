"""Issue 3 (a): the backtest lifecycle of facts sheet §8 case 4, kept trades and memory.

Per trade, as freqtrade's backtesting does it: ``LocalTrade(...)``, ``add_bt_trade``,
``adjust_stop_loss(open_rate, stoploss, initial=True)``, an entry order appended and filled
with ``close_bt_order``, ``recalc_trade_from_orders()``, an exit order appended and filled
with ``close_bt_order``, ``close(rate, show_msg=False)``, ``close_bt_trade``. Every trade stays
in ``LocalTrade.bt_trades``. freqtrade builds its (SQLAlchemy-mapped, unsaved) ``Order`` in
backtesting; tradeledger's backtesting uses its plain ``LocalOrder`` (``--order-class orm``
uses tradeledger's mapped ``Order`` instead, for comparison).

Memory per kept closed trade = (RSS after the run - RSS before the first trade) / trades.
"""

from __future__ import annotations

import gc
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import base_parser, emit, load, quiet, rss_mb

PAIRS = [f"C{i}/USDT" for i in range(20)]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
FEE = 0.001
TICK_SIZE = 4


def main() -> None:
    parser = base_parser(__doc__ or "", libs=("tradeledger", "freqtrade"))
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--precision", type=int, choices=(0, 1), default=1)
    parser.add_argument("--order-class", choices=("default", "orm"), default="default")
    args = parser.parse_args()
    quiet()
    lib = load(args.lib)
    LocalTrade = lib.LocalTrade  # noqa: N806 - the library class under its own name
    OrderCls = lib.Order if args.order_class == "orm" else lib.BtOrder  # noqa: N806
    LocalTrade.use_db = False
    if hasattr(lib.Trade, "use_db"):
        lib.Trade.use_db = False
    LocalTrade.bt_trades = LocalTrade.bt_trades  # keep the library's own store type
    LocalTrade.reset_trades()
    spot = lib.TradingMode.SPOT
    precision: dict[str, object] = {}
    if args.precision:
        precision = {"amount_precision": 0.0001, "price_precision": 0.01,
                     "precision_mode": TICK_SIZE, "precision_mode_price": TICK_SIZE,
                     "contract_size": 1.0}
    n = args.trades
    step = timedelta(minutes=5)
    gc.collect()
    rss_before = rss_mb()
    start = time.perf_counter()
    for i in range(n):
        pair = PAIRS[i % 20]
        rate = 100.0 + (i % 97) * 0.37
        amount = round(100.0 / rate, 4)
        open_date = T0 + step * i
        close_date = open_date + step * 6
        trade = LocalTrade(
            id=i + 1, pair=pair, base_currency=pair.split("/")[0], stake_currency="USDT",
            open_rate=rate, open_rate_requested=rate, open_date=open_date,
            stake_amount=100.0, amount=0, amount_requested=amount, fee_open=FEE,
            fee_close=FEE, is_open=True, enter_tag="bench", timeframe=5, exchange="binance",
            is_short=False, trading_mode=spot, leverage=1.0, liquidation_price=None,
            orders=[], **precision,
        )
        LocalTrade.add_bt_trade(trade)
        trade.adjust_stop_loss(trade.open_rate, -0.05, initial=True)
        entry = OrderCls(
            id=2 * i + 1, ft_trade_id=trade.id, ft_is_open=True, ft_pair=pair,
            order_id=str(2 * i + 1), symbol=pair, ft_order_side="buy", side="buy",
            order_type="limit", status="open", order_date=open_date,
            order_filled_date=open_date, order_update_date=open_date, ft_price=rate,
            price=rate, average=rate, amount=amount, filled=0, remaining=amount,
            cost=amount * rate * (1 + FEE), ft_order_tag="bench",
        )
        entry._trade_bt = trade
        trade.orders.append(entry)
        entry.close_bt_order(open_date, trade)
        trade.recalc_trade_from_orders()
        close_rate = rate * (1.02 if i % 3 else 0.97)
        trade.exit_reason = "roi" if i % 3 else "stop_loss"
        trade.close_date = close_date
        exit_order = OrderCls(
            id=2 * i + 2, ft_trade_id=trade.id, ft_is_open=True, ft_pair=pair,
            order_id=str(2 * i + 2), symbol=pair, ft_order_side="sell", side="sell",
            order_type="limit", status="open", order_date=close_date,
            order_filled_date=close_date, order_update_date=close_date,
            ft_price=close_rate, price=close_rate, average=close_rate,
            amount=trade.amount, filled=0, remaining=trade.amount,
            cost=trade.amount * close_rate * (1 - FEE), ft_order_tag="roi",
        )
        exit_order._trade_bt = trade
        trade.orders.append(exit_order)
        exit_order.close_bt_order(close_date, trade)
        trade.close(exit_order.safe_price, show_msg=False)
        LocalTrade.close_bt_trade(trade)
    elapsed = time.perf_counter() - start
    gc.collect()
    rss_after = rss_mb()
    kept = len(LocalTrade.bt_trades)
    last = LocalTrade.bt_trades[-1]
    emit({
        "case": "backtest_cycle", "lib": args.lib, "trades": n, "precision": bool(args.precision),
        "order_class": args.order_class, "seconds": round(elapsed, 3),
        "trades_per_s": round(n / elapsed, 1), "kept_closed_trades": kept,
        "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(rss_after, 1),
        "kb_per_trade": round((rss_after - rss_before) * 1000 / n, 3),
        "check_last_close_profit_abs": last.close_profit_abs,
        "check_total_profit": LocalTrade.get_total_closed_profit()
        if hasattr(LocalTrade, "get_total_closed_profit") else None,
    })


if __name__ == "__main__":
    main()
