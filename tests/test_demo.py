"""``tradeledger demo``: a short seeded session, killed with SIGKILL midway, then checked.

After the run the database must hold every order the exchange knows exactly once (nothing
lost at the kill, nothing doubled by the recovery), the trades that were open at the kill,
no pending intent, a clean reconciliation, no integrity finding, and analytics that agree
with the trades.
"""

from __future__ import annotations

import builtins
import math
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rich.console import Console

from tradeledger.db import close_db, init_db
from tradeledger.demo.bot import DEMO_EXCHANGE, DemoBot
from tradeledger.demo.exchange import SimExchange
from tradeledger.demo.runner import DemoConfig, DemoError, DemoResult, _prepare_database, run_demo
from tradeledger.models import Order, PairLock, Trade
from tradeledger.models.order_intent import OrderIntent
from tradeledger.services.analytics import AnalyticsService
from tradeledger.services.integrity import check_database
from tradeledger.services.reconcile import reconcile

STEPS = 160


def test_demo_session(tmp_path: Path) -> None:
    """One seeded session (the run is the expensive part; one test, so xdist runs it once)."""
    run = _run_demo(tmp_path)
    _check_killed_and_recovered(run)
    _check_no_duplicate_or_lost_orders(run)
    _check_session_content(run)
    _check_analytics_consistent_with_trades(run)


def _run_demo(tmp: Path) -> tuple[DemoResult, str, Path]:
    url = f"sqlite:///{tmp / 'demo.sqlite'}"
    out = Console(file=open(tmp / "out.txt", "w"), width=120)
    result = run_demo(DemoConfig(db_url=url, seed=7, steps=STEPS, progress=False,
                                 plot=tmp / "demo.png"), out)
    out.file.close()
    close_db()
    return result, url, tmp


def _check_killed_and_recovered(demo_run: tuple[DemoResult, str, Path]) -> None:
    result, url, tmp = demo_run
    assert result.killed and result.crash_client_order_id
    assert result.killed_at_step is not None and result.killed_at_step >= STEPS // 2
    pending = [i["client_order_id"] for i in result.recovery["pending_intents"]]
    assert pending == [result.crash_client_order_id]
    assert result.reconcile_clean_after
    reasons = {d["reason"] for d in result.reconcile_differences}
    assert "unknown_exchange_order" in reasons  # the order of the pending intent, adopted
    text = (tmp / "out.txt").read_text()
    assert "SIGKILL" in text and "Recovery report" in text and "Performance by pair" in text

    init_db(url)
    try:
        # the trades open at the kill are all still there, each closed properly or open
        for info in result.recovery["open_trades"]:
            trade = Trade.session.get(Trade, info["id"])
            assert trade is not None and trade.pair == info["pair"]
            assert trade.is_open or (trade.close_date is not None and trade.close_rate)
        intents = Trade.session.scalars(sa.select(OrderIntent)).all()
        assert intents and {i.status for i in intents} == {"acknowledged"}
    finally:
        close_db()


def _check_no_duplicate_or_lost_orders(demo_run: tuple[DemoResult, str, Path]) -> None:
    result, url, _ = demo_run
    ex = SimExchange.load(result.exchange_file)
    init_db(url)
    try:
        rows = Order.session.execute(sa.select(Order.ft_pair, Order.order_id)).all()
        in_db = [(r.ft_pair, r.order_id) for r in rows]
        assert len(in_db) == len(set(in_db)), "duplicate orders"
        on_exchange = {(o["symbol"], o["id"]) for o in ex.orders.values()}
        assert set(in_db) == on_exchange, "orders lost or invented"
        # every order was placed through an intent, and each intent names its order
        intents = {i.exchange_order_id for i in
                   Trade.session.scalars(sa.select(OrderIntent)).all()}
        assert {oid for _, oid in in_db} == intents
        # the database agrees with the exchange at the end
        pairs = [p.pair for p in ex.pairs]
        assert reconcile(list(ex.orders.values()), pairs=pairs).is_clean
        # each order's state matches the exchange's
        for o in Order.session.scalars(sa.select(Order)).all():
            theirs = ex.orders[o.order_id]
            assert o.status == theirs["status"] and o.filled == theirs["filled"], o.order_id
    finally:
        close_db()


def _check_session_content(demo_run: tuple[DemoResult, str, Path]) -> None:
    """The session shows what the demo promises: shorts, leverage, DCA, partial exits ..."""
    result, url, _ = demo_run
    engine = init_db(url)
    try:
        trades = Trade.session.scalars(sa.select(Trade)).all()
        assert len(trades) == result.trades >= 10
        assert {t.exchange for t in trades} == {DEMO_EXCHANGE}
        assert any(t.is_short for t in trades) and any(not t.is_short for t in trades)
        assert any((t.leverage or 1) > 1 for t in trades)
        assert len({t.pair for t in trades}) >= 3
        tags = {o.ft_order_tag for t in trades for o in t.orders}
        assert {"dca", "partial_exit", "stoploss"} <= tags
        assert any(t.exit_reason == "stoploss_on_exchange" for t in trades)
        assert any(t.funding_fees for t in trades)
        assert all((t.fee_open_cost or 0) > 0 for t in trades if t.nr_of_successful_entries)
        assert Trade.session.scalar(sa.select(sa.func.count()).select_from(PairLock)) > 0
        for t in trades:
            if not t.is_open:  # entries and exits net out
                entries = sum(o.filled or 0 for o in t.select_filled_orders(t.entry_side))
                exits = sum(o.filled or 0 for o in t.orders
                            if o.ft_order_side != t.entry_side and not o.ft_is_open)
                assert math.isclose(entries, exits, rel_tol=1e-9), t.id
        report = check_database(engine)
        assert report.ok, report.findings
    finally:
        close_db()


def _check_analytics_consistent_with_trades(demo_run: tuple[DemoResult, str, Path]) -> None:
    result, url, _ = demo_run
    init_db(url)
    try:
        closed = Trade.session.scalars(sa.select(Trade).where(Trade.is_open.is_(False))).all()
        total = math.fsum(t.close_profit_abs or 0.0 for t in closed)
        svc = AnalyticsService()
        stats = svc.trade_stats()
        assert stats.trade_count == len(closed)
        assert stats.wins == sum(1 for t in closed if (t.close_profit_abs or 0) > 0)
        assert math.isclose(stats.total_profit_abs, total, rel_tol=1e-9, abs_tol=1e-9)
        for by in ("pair", "exit_reason", "enter_tag"):
            rows = svc.performance(by).rows  # type: ignore[arg-type]
            assert sum(r.count for r in rows) == len(closed)
            assert math.isclose(math.fsum(r.profit_abs for r in rows), total, rel_tol=1e-9,
                                abs_tol=1e-6)
        by_pair = {r.key: r.count for r in svc.performance("pair").rows}
        for pair, count in by_pair.items():
            assert count == sum(1 for t in closed if t.pair == pair)
        curve = svc.equity_curve(10_000.0, granularity="trade")
        assert math.isclose(curve.final_equity, 10_000.0 + total, rel_tol=1e-12)
    finally:
        close_db()
    assert result.plot is not None and result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _bot_trades(seed: int, steps: int) -> list[tuple[Any, ...]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        init_db("sqlite://")
        try:
            ex = SimExchange(Path(tmp) / "ex.json", seed=seed, steps=steps)
            DemoBot(ex).run()
            return [(t.pair, t.is_short, t.open_date, t.close_date, t.amount, t.close_profit_abs,
                     t.exit_reason, len(t.orders))
                    for t in Trade.session.scalars(sa.select(Trade).order_by(Trade.id)).all()]
        finally:
            close_db()


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    first = _bot_trades(3, 70)
    assert first and first == _bot_trades(3, 70)
    other = SimExchange(tmp_path / "x.json", seed=4, steps=100)
    mine = SimExchange(tmp_path / "y.json", seed=3, steps=100)
    assert [other.price("BTC/USDT", i) for i in range(100)] != [
        mine.price("BTC/USDT", i) for i in range(100)]


def test_fresh_refuses_foreign_trades_and_append_keeps(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mine.sqlite'}"
    init_db(url)
    Trade.session.add(Trade(pair="BTC/USDT", exchange="binance", open_rate=1.0, amount=1.0,
                            stake_amount=1.0))
    Trade.session.commit()
    close_db()
    out = Console(file=open(tmp_path / "o.txt", "w"))
    with pytest.raises(DemoError, match="did not make"):
        _prepare_database(DemoConfig(db_url=url), out)
    close_db()
    _prepare_database(DemoConfig(db_url=url, fresh=False), out)
    assert Trade.session.scalar(sa.select(sa.func.count()).select_from(Trade)) == 1
    close_db()
    out.file.close()
    assert "appending" in (tmp_path / "o.txt").read_text()


def test_plot_skipped_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tradeledger.cli.plotting import PlotUnavailableError, write_performance_plot

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(PlotUnavailableError, match=r"tradeledger\[plot\]"):
        write_performance_plot(tmp_path / "x.png", starting_balance=1.0)
