"""Analytics service on a small hand-computed case, on every backend and in backtesting mode.

Five closed trades (and one open trade that every closed-trade metric must ignore), from a
starting balance of 1000; every expected number below is worked out in the comments.

    id pair      side  lev stake amount open  close  profit  ratio  closes at          exit
    1  BTC/USDT  long  1   100   1      100   110    +10     0.10   01-01 12:00 (2 h)  roi
    2  BTC/USDT  short 2   50    1      100   105    -20    -0.40   01-02 06:00 (6 h)  stop_loss
    3  ETH/USDT  long  1   200   2      100   115    +30     0.15   01-05 00:00 (48 h) trailing
    4  ETH/USDT  long  1   100   1      100   55     -45    -0.45   01-05 01:00 (1 h)  None
    5  LTC/USDT  long  3   100   3      100   100     0      0.00   01-08 12:00 (12 h) exit_signal
    6  BTC/USDT  long  1   1000  10     100   (open)

Trade 4 has no orders (its capital is its stake, DESIGN.md); the others have a filled entry
order of ``amount @ 100`` (capital ``amount * 100 / leverage``) and a closed exit order.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

import tradeledger
from tests.conftest import make_backend_url, selected_backends
from tradeledger.domain.enums import TradingMode
from tradeledger.domain.order import LocalOrder
from tradeledger.domain.trade import LocalTrade
from tradeledger.exceptions import InvalidValueError, OptionalDependencyError
from tradeledger.models import Order, Trade
from tradeledger.services.analytics import AnalyticsService, PerformanceRow, TradeFilter

D0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def _h(hours: float) -> datetime:
    return D0 + timedelta(hours=hours)


def _trade(tid: int, pair: str, *, short: bool, lev: float, amount: float, close_rate: float | None,
           profit: float | None, ratio: float | None, open_h: float, close_h: float | None,
           exit_reason: str | None, enter_tag: str | None = None, min_rate: float = 100.0,
           max_rate: float = 100.0, stop: float = 0.0, initial_stop: float = 0.0,
           trailing: bool = False, liq: float | None = None) -> dict[str, Any]:
    return {
        "id": tid, "exchange": "binance", "pair": pair, "is_open": close_h is None,
        "fee_open": 0.0, "fee_close": 0.0, "open_rate": 100.0, "close_rate": close_rate,
        "close_profit": ratio, "close_profit_abs": profit,
        "stake_amount": amount * 100.0 / lev, "max_stake_amount": amount * 100.0 / lev,
        "amount": amount, "open_date": _h(open_h),
        "close_date": None if close_h is None else _h(close_h),
        "stop_loss": stop, "initial_stop_loss": initial_stop, "is_stop_loss_trailing": trailing,
        "min_rate": min_rate, "max_rate": max_rate, "exit_reason": exit_reason,
        "enter_tag": enter_tag, "strategy": "S",
        "trading_mode": TradingMode.SPOT if lev == 1 and not short else TradingMode.FUTURES,
        "leverage": lev, "is_short": short, "liquidation_price": liq, "interest_rate": 0.0,
        "record_version": 2, "realized_profit": 0.0,
    }


TRADES = [
    _trade(1, "BTC/USDT", short=False, lev=1, amount=1, close_rate=110, profit=10, ratio=0.10,
           open_h=10, close_h=12, exit_reason="roi", min_rate=95, max_rate=112, stop=90,
           initial_stop=90),
    _trade(2, "BTC/USDT", short=True, lev=2, amount=1, close_rate=105, profit=-20, ratio=-0.40,
           open_h=24, close_h=30, exit_reason="stop_loss", min_rate=98, max_rate=106, stop=104,
           initial_stop=104, liq=150),
    _trade(3, "ETH/USDT", short=False, lev=1, amount=2, close_rate=115, profit=30, ratio=0.15,
           open_h=48, close_h=96, exit_reason="trailing_stop_loss", enter_tag="x", min_rate=99,
           max_rate=120, stop=115, initial_stop=90, trailing=True),
    _trade(4, "ETH/USDT", short=False, lev=1, amount=1, close_rate=55, profit=-45, ratio=-0.45,
           open_h=96, close_h=97, exit_reason=None, enter_tag="x", min_rate=55, max_rate=101,
           stop=50, initial_stop=50),
    _trade(5, "LTC/USDT", short=False, lev=3, amount=3, close_rate=100, profit=0.0, ratio=0.0,
           open_h=168, close_h=180, exit_reason="exit_signal", min_rate=80, max_rate=100,
           stop=75, initial_stop=75, liq=70),
    _trade(6, "BTC/USDT", short=False, lev=1, amount=10, close_rate=None, profit=None,
           ratio=None, open_h=200, close_h=None, exit_reason=None),
]


def _orders() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    oid = 0
    for t in TRADES:
        if t["id"] == 4:
            continue
        entry = "sell" if t["is_short"] else "buy"
        legs = [(entry, 100.0, t["open_date"])]
        if not t["is_open"]:
            legs.append(("buy" if t["is_short"] else "sell", t["close_rate"], t["close_date"]))
        for side, price, when in legs:
            oid += 1
            out.append({
                "id": oid, "ft_trade_id": t["id"], "ft_order_side": side, "ft_pair": t["pair"],
                "ft_is_open": False, "ft_amount": t["amount"], "ft_price": price,
                "order_id": f"o{oid}", "status": "closed", "symbol": t["pair"],
                "order_type": "market", "side": side, "price": price, "average": price,
                "amount": t["amount"], "filled": t["amount"], "remaining": 0.0,
                "cost": price * t["amount"], "order_date": when, "order_filled_date": when,
            })
    return out


def load_db(url: str) -> Any:
    engine = tradeledger.init_db(url)
    with engine.begin() as conn:
        conn.execute(insert(Trade.__table__), TRADES)
        conn.execute(insert(Order.__table__), _orders())
    return engine


def load_backtesting() -> None:
    orders = _orders()
    for row in TRADES:
        trade = LocalTrade(**row)
        for orow in orders:
            if orow["ft_trade_id"] == row["id"]:
                order = LocalOrder(**orow)
                order._trade_bt = trade
                trade.orders.append(order)
        LocalTrade.add_bt_trade(trade)
    tradeledger.disable_database_use("5m")


@pytest.fixture(scope="module", params=[*selected_backends(), "backtesting"])
def loaded(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The trades loaded once per module into each backend (``backtesting``: no database)."""
    if request.param == "backtesting":
        yield "backtesting"
        return
    url, drop = make_backend_url(request.param, tmp_path_factory.mktemp("db"))
    try:
        load_db(url)
        yield "db"
    finally:
        drop()


@pytest.fixture
def mode(loaded: str) -> str:
    """``db`` (trades in the database) or ``backtesting`` (trades in LocalTrade's stores)."""
    if loaded == "backtesting":
        load_backtesting()
    return loaded


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# --- freqtrade-compatible queries ------------------------------------------------------------


def test_reference_queries(mode: str) -> None:
    # BTC: 10-20 = -10 on capital 100 + 100/2 = 150; ETH: 30-45 = -15 on 200 + stake 100
    # (trade 4 has no orders); LTC: 0 on 300/3 = 100. Ordered by profit: LTC, BTC, ETH.
    perf = Trade.get_overall_performance()
    assert [r["pair"] for r in perf] == ["LTC/USDT", "BTC/USDT", "ETH/USDT"]
    assert close(perf[1]["profit_ratio"], -10 / 150)
    assert perf[1]["profit_pct"] == perf[1]["profit"] == -6.67
    assert close(perf[2]["profit_ratio"], -15 / 300) and perf[2]["count"] == 2
    assert perf[0] == {"pair": "LTC/USDT", "profit_ratio": 0.0, "profit": 0.0,
                       "profit_pct": 0.0, "profit_abs": 0.0, "count": 1}
    # start_date keeps trades closed on or after it: trade 5 only
    assert [r["pair"] for r in Trade.get_overall_performance(_h(100))] == ["LTC/USDT"]
    # enter tags: x = trades 3+4 (-15 on 300), Other = 1, 2, 5 (-10 on 250)
    tags = Trade.get_enter_tag_performance(None)
    assert [(r["enter_tag"], r["count"]) for r in tags] == [("Other", 3), ("x", 2)]
    assert close(tags[0]["profit_ratio"], -10 / 250)
    assert [r["enter_tag"] for r in Trade.get_enter_tag_performance("ETH/USDT")] == ["x"]
    exits = {r["exit_reason"]: r for r in Trade.get_exit_reason_performance(None)}
    assert exits["Other"]["count"] == 1 and close(exits["Other"]["profit_ratio"], -45 / 100)
    # mix tags: ratios summed; "x trailing_stop_loss" (+30) first, "x Other" (-45) last
    mix = Trade.get_mix_tag_performance(None)
    assert mix[0]["mix_tag"] == "x trailing_stop_loss" and mix[-1]["mix_tag"] == "x Other"
    assert mix[-1]["profit_pct"] == -45.0
    cond = Trade.pair == "BTC/USDT"
    flt = [cond]
    best = Trade.get_best_pair(flt)
    assert len(flt) == 1 and flt[0] is cond  # the caller's list is not changed
    assert best is not None and best[0] == "BTC/USDT" and best[3] == 2
    assert Trade.get_best_pair() == ("LTC/USDT", 0.0, 0.0, 1)
    # volume: closed orders' cost: 100+110 + 100+105 + 200+230 + 1000 (entry of 6) + 300+300
    assert close(Trade.get_trading_volume(), 2445.0)
    assert close(Trade.get_trading_volume(Trade.pair == "LTC/USDT"), 600.0)
    assert close(Trade.get_total_closed_profit(), -25.0)
    assert close(Trade.total_open_trades_stakes(), 1000.0)


# --- service families -------------------------------------------------------------------------


def test_periods(mode: str) -> None:
    svc = AnalyticsService()
    assert svc.backtesting is (mode == "backtesting")
    days = svc.profit_by_period("day").rows
    # 01-01 +10, 01-02 -20, 01-03/04 flat, 01-05 +30-45, 01-06/07 flat, 01-08 0 (a draw)
    assert [r.period_start for r in days] == [date(2024, 1, d) for d in range(1, 9)]
    assert [r.profit_abs for r in days] == [10, -20, 0, 0, -15, 0, 0, 0]
    assert [r.trade_count for r in days] == [1, 1, 0, 0, 2, 0, 0, 1]
    assert days[4].wins == 1 and days[4].losses == 1 and close(days[4].profit_ratio, -15 / 300)
    sparse = svc.profit_by_period("day", fill_gaps=False).rows
    assert [r.period_start.day for r in sparse] == [1, 2, 5, 8]
    weeks = svc.profit_by_period("week").rows  # 2024-01-01 is a Monday
    assert [(r.period_start, r.profit_abs, r.trade_count) for r in weeks] == [
        (date(2024, 1, 1), -25, 4), (date(2024, 1, 8), 0, 1)]
    months = svc.profit_by_period("month").rows
    assert [(r.period_start, r.profit_abs, r.trade_count) for r in months] == [
        (date(2024, 1, 1), -25, 5)]
    # a filter range fills from its start to its end (half open: 01-10 excluded)
    ranged = svc.profit_by_period("day", TradeFilter(start=D0 + timedelta(days=4),
                                                     end=datetime(2024, 1, 10))).rows
    assert next(r.period_start for r in ranged) == date(2024, 1, 5)
    assert [r.period_start for r in ranged][-1] == date(2024, 1, 9)
    assert svc.profit_by_period("week", TradeFilter(pairs="BTC/USDT")).rows[0].profit_abs == -10
    with pytest.raises(InvalidValueError, match="granularity"):
        svc.profit_by_period("year")  # type: ignore[arg-type]


def test_equity_and_drawdown(mode: str) -> None:
    svc = AnalyticsService()
    # equity after each close: 1010, 990, 1020, 975, 975 -> max drawdown 45 from the 1020
    # peak (trade 3 closing 01-05 00:00) to 975 (trade 4, 01-05 01:00): 1 h, 45/1020.
    dd = svc.max_drawdown(1000)
    assert dd.max_drawdown_abs == 45 and dd.peak_equity == 1020 and dd.trough_equity == 975
    assert dd.start == _h(96) and dd.end == _h(97) and dd.duration_seconds == 3600
    assert close(dd.max_drawdown_rel, 45 / 1020) and dd.rel_end == _h(97)
    assert dd.trade_count == 5
    # BTC only: 1010 then 990: 20 from the peak set by trade 1
    btc = svc.max_drawdown(1000, TradeFilter(pairs="BTC/USDT"))
    assert btc.max_drawdown_abs == 20 and btc.start == _h(12) and btc.end == _h(30)
    # ETH only, balance 100: 130 then 85; losing first from the start would use first open
    eth = svc.max_drawdown(100, TradeFilter(pairs="ETH/USDT"))
    assert eth.max_drawdown_abs == 45 and close(eth.max_drawdown_rel, 45 / 130)
    short = svc.max_drawdown(1000, TradeFilter(side="short"))  # only trade 2: -20 from start
    assert short.max_drawdown_abs == 20 and short.start == _h(24) and short.end == _h(30)
    assert short.duration_seconds == 6 * 3600
    empty = svc.max_drawdown(1000, TradeFilter(pairs="XRP/USDT"))
    assert empty.trade_count == 0 and empty.max_drawdown_abs == 0 and empty.start is None
    curve = svc.equity_curve(1000, granularity="trade").rows
    assert [p.equity for p in curve] == [1010, 990, 1020, 975, 975]
    assert [p.drawdown_abs for p in curve] == [0, 20, 0, 45, 45]
    daily = svc.equity_curve(1000)
    assert [p.equity for p in daily.rows] == [1010, 990, 990, 990, 975, 975, 975, 975]
    assert daily.final_equity == 975 and daily.rows[4].peak == 1010
    with pytest.raises(InvalidValueError, match="starting_balance"):
        svc.max_drawdown(-1)


def test_trade_stats(mode: str) -> None:
    s = AnalyticsService().trade_stats()
    assert (s.trade_count, s.wins, s.losses, s.draws) == (5, 2, 2, 1)
    assert s.win_rate == 0.4 and s.total_profit_abs == -25
    assert s.gross_profit == 40 and s.gross_loss == -65
    assert close(s.profit_factor, 40 / 65)
    assert s.avg_win == 20 and s.avg_loss == 32.5 and s.expectancy == -5
    assert close(s.expectancy_ratio, (1 + 20 / 32.5) * 0.4 - 1)
    assert close(s.avg_profit_ratio, (0.10 - 0.40 + 0.15 - 0.45 + 0) / 5)
    # durations 2 h, 6 h, 48 h, 1 h, 12 h -> mean 49680 s, median 6 h
    assert s.avg_duration_seconds == 49680 and s.median_duration_seconds == 21600
    assert s.best_trade is not None and s.best_trade.trade_id == 3
    assert s.worst_trade is not None and s.worst_trade.trade_id == 4
    # even count (BTC: 2 h and 6 h) -> median is the mean of the middle two
    assert AnalyticsService().trade_stats(TradeFilter(pairs="BTC/USDT")).median_duration_seconds \
        == 4 * 3600
    none = AnalyticsService().trade_stats(TradeFilter(status="open"))
    assert none.trade_count == 0 and none.profit_factor is None and none.best_trade is None


def test_risk(mode: str) -> None:
    r = AnalyticsService().risk(1000)
    # daily returns on the opening equity of each day, flat days included (8 days)
    rets = [10 / 1000, -20 / 1010, 0, 0, -15 / 990, 0, 0, 0]
    mean = sum(rets) / 8
    std = math.sqrt(sum((x - mean) ** 2 for x in rets) / 7)
    down = math.sqrt(sum(min(x, 0) ** 2 for x in rets) / 8)
    assert r.days == 8
    assert close(r.sharpe, mean / std * math.sqrt(365))
    assert close(r.sortino, mean / down * math.sqrt(365))
    # daily equity 1010, 990, ..., 975: worst drop 35 from 1010
    assert close(r.max_drawdown_rel, 35 / 1010)
    assert close(r.calmar, ((975 / 1000) ** (365 / 8) - 1) / (35 / 1010))
    rf = AnalyticsService().risk(1000, risk_free_rate=0.0365)
    ex = [x - 0.0001 for x in rets]
    m2 = sum(ex) / 8
    assert close(rf.sharpe, m2 / math.sqrt(sum((x - m2) ** 2 for x in ex) / 7) * math.sqrt(365))


def test_leverage(mode: str) -> None:
    rows = {(r.bucket, r.side): r for r in AnalyticsService().leverage().rows}
    assert list(rows) == [("<=1x", "long"), ("1-2x", "short"), ("2-3x", "long")]
    low = rows[("<=1x", "long")]  # trades 1, 3, 4
    assert (low.trade_count, low.wins, low.profit_abs, low.capital) == (3, 2, -5, 400)
    assert low.profit_ratio == -5 / 400 and close(low.avg_profit_ratio, -0.2 / 3)
    assert low.with_liquidation_price == 0 and low.avg_entry_distance is None
    s = rows[("1-2x", "short")]  # trade 2: liq 150, entry 100, highest 106
    assert s.avg_entry_distance == 0.5 and close(s.min_closest_distance, (150 - 106) / 106)
    x3 = rows[("2-3x", "long")]  # trade 5: liq 70, lowest 80
    assert close(x3.min_entry_distance, 0.3) and close(x3.avg_closest_distance, 10 / 80)
    custom = AnalyticsService().leverage(edges=[2])
    assert [(r.bucket, r.side, r.trade_count) for r in custom.rows] == [
        ("<=2x", "long", 3), ("<=2x", "short", 1), (">2x", "long", 1)]
    with pytest.raises(InvalidValueError, match="edges"):
        AnalyticsService().leverage(edges=[3, 2])


def test_stoploss(mode: str) -> None:
    s = AnalyticsService().stoploss()
    assert (s.trade_count, s.stop_exits, s.stop_exit_share) == (5, 2, 0.4)
    assert s.exits_by_reason == {"stop_loss": 1, "trailing_stop_loss": 1}
    # trade 2 (short) filled at 105 vs stop 104: -(1/104), -1 in stake; trade 3 exactly at stop
    assert s.slippage_count == 2 and close(s.worst_slippage_ratio, -1 / 104)
    assert close(s.avg_slippage_ratio, -1 / 104 / 2) and s.total_slippage_abs == -1
    # MAE: -0.05, -0.06 (short: 100 vs high 106), -0.01, -0.45, -0.20; MFE .12 .02 .2 .01 0
    assert close(s.avg_mae, -0.77 / 5) and close(s.worst_mae, -0.45)
    assert close(s.avg_mfe, 0.35 / 5) and close(s.best_mfe, 0.2)
    # trailing: trade 3 moved its stop 90 -> 115 on entry 100, amount 2
    assert s.trailing_count == 1 and s.avg_lock_in_ratio == 0.25 and s.total_lock_in_abs == 50
    assert s.locked_profit_count == 1 and s.trailing_exits == 1
    assert s.trailing_exit_gain_abs == 50


def test_filters(mode: str) -> None:
    svc = AnalyticsService()
    def n(**kw: Any) -> int:
        return svc.trade_stats(TradeFilter(**kw)).trade_count
    assert n(pairs=["BTC/USDT", "LTC/USDT"]) == 3
    assert n(strategy="S") == 5 and n(strategy="other") == 0
    assert n(enter_tag="x") == 2 and n(exit_reason="roi") == 1
    assert n(side="short") == 1 and n(side="long") == 4
    assert n(trading_mode="futures") == 2 and n(trading_mode=TradingMode.SPOT) == 3
    assert n(start=_h(96)) == 3 and n(end=_h(96)) == 2
    assert n(start=_h(90), date_field="open_date") == 2
    assert n(status="all") == 5  # closed-trade metrics never count the open trade
    # performance honours the status: the open trade 6 with no realised profit yet, capital
    # 10 @ 100 from its filled entry order
    perf = svc.performance("pair", TradeFilter(status="open"))
    assert perf.rows == (PerformanceRow("BTC/USDT", 0.0, 0.0, 0.0, 1),)
    assert svc.performance("enter_tag", TradeFilter(status="closed", enter_tag="x")).rows == (
        PerformanceRow("x", -15 / 300, -5.0, -15.0, 2),)
    assert svc.performance("pair", TradeFilter(status="all")).rows[0].key == "LTC/USDT"


def test_results_convert(mode: str) -> None:
    svc = AnalyticsService()
    d = svc.trade_stats().to_dict()
    assert d["best_trade"] == {"trade_id": 3, "pair": "ETH/USDT", "profit_ratio": 0.15,
                               "profit_abs": 30.0}
    rows = svc.profit_by_period("week").to_dict()["rows"]
    assert rows[0]["period_start"] == date(2024, 1, 1) and rows[0]["profit_abs"] == -25
    assert svc.leverage().to_dict()["edges"] == [1, 2, 3, 5, 10, 20, 50]


def test_dataframe_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    from tradeledger.services.analytics import PeriodProfit, PeriodRow

    result = PeriodProfit("day", (PeriodRow(date(2024, 1, 1), 1.0, 1, 1, 0, 10.0, 0.1),))
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(OptionalDependencyError, match="pip install pandas"):
        result.to_dataframe()
    with pytest.raises(ImportError):
        result.to_dataframe()
    assert result.to_dict()["rows"][0]["profit_abs"] == 1.0


def test_dataframe_with_pandas() -> None:
    pytest.importorskip("pandas")
    from tradeledger.services.analytics import PeriodProfit, PeriodRow, RiskMetrics

    result = PeriodProfit("day", (PeriodRow(date(2024, 1, 1), 1.0, 1, 1, 0, 10.0, 0.1),))
    frame = result.to_dataframe()
    assert list(frame.columns)[:2] == ["period_start", "profit_abs"] and len(frame) == 1
    risk = RiskMetrics(1000.0, 0.0, 365, 0, None, None, None, None, 0.0, None, None, None)
    assert risk.to_dataframe().iloc[0]["starting_balance"] == 1000.0


def test_filter_validation() -> None:
    with pytest.raises(InvalidValueError, match="side"):
        TradeFilter(side="up")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="status"):
        TradeFilter(status="closedish")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="trading_mode"):
        TradeFilter(trading_mode="swap")
    with pytest.raises(InvalidValueError, match="start"):
        TradeFilter(start=_h(5), end=_h(1))
    with pytest.raises(InvalidValueError, match="pairs"):
        TradeFilter(pairs=[1, 2])  # type: ignore[list-item]
    naive = TradeFilter(start=datetime(2024, 1, 1), pairs="BTC/USDT")
    assert naive.start == D0 and naive.pairs == ("BTC/USDT",)


def test_dataframe_conversion_with_a_stub_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DataFrame path without installing pandas: a stub records what it is given."""
    import types

    from tradeledger.services.analytics import PeriodProfit, PeriodRow, RiskMetrics

    calls: list[tuple[Any, Any]] = []

    class FakeFrame:
        def __init__(self, data: Any, columns: Any = None) -> None:
            calls.append((data, columns))

    stub = types.ModuleType("pandas")
    stub.DataFrame = FakeFrame  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pandas", stub)
    rows = (PeriodRow(date(2024, 1, 1), 1.0, 1, 1, 0, 10.0, 0.1),)
    assert isinstance(PeriodProfit("day", rows).to_dataframe(), FakeFrame)
    data, columns = calls[-1]
    assert columns[0] == "period_start" and data[0]["capital"] == 10.0
    RiskMetrics(1000.0, 0.0, 365, 0, None, None, None, None, 0.0, None, None, None).to_dataframe()
    assert calls[-1][0] == [{**{k: None for k in ("mean_daily_return", "daily_volatility",
                                                   "annualized_return", "annualized_volatility",
                                                   "sharpe", "sortino", "calmar")},
                             "starting_balance": 1000.0, "risk_free_rate": 0.0,
                             "periods_per_year": 365, "days": 0, "max_drawdown_rel": 0.0}]
