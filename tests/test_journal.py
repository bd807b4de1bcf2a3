"""Audit journal: entries in the same transaction, actors, queries, verify, switch, CLI."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from tradeledger import CustomDataWrapper, Order, PairLocks, Trade, init_db
from tradeledger.cli import app
from tradeledger.exceptions import InvalidValueError
from tradeledger.models import JournalEntry
from tradeledger.services import journal as J

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_trade(i: int = 0, *, orders: int = 1, commit: bool = True) -> Trade:
    rate = 100.0 + i
    t = Trade(pair=f"P{i % 5}/USDT", exchange="binance", open_rate=rate, amount=1.0,
              stake_amount=rate, fee_open=0.001, fee_close=0.001,
              open_date=T0 + timedelta(hours=i), strategy="S")
    for k in range(orders):
        t.orders.append(Order(
            ft_order_side="buy", ft_pair=t.pair, ft_is_open=False, ft_amount=1.0,
            ft_price=rate, order_id=f"{i}-{k}-{random.random()}", status="closed", side="buy",
            amount=1.0, filled=1.0, price=rate, average=rate, cost=rate, order_type="limit",
            order_date=T0 + timedelta(hours=i)))
    Trade.session.add(t)
    if commit:
        Trade.commit()
    return t


def count_entries() -> int:
    Trade.session.rollback()
    return int(Trade.session.scalar(select(func.count()).select_from(JournalEntry)) or 0)


# ---------------------------------------------------------------------------------------------
# every backend


def test_trade_lifecycle_is_journalled_and_verifies(backend: str) -> None:
    init_db(backend, bot_id="bot-a")
    t = make_trade(1, orders=2)
    tid = t.id
    order_ids = [o.id for o in t.orders]
    t.close_rate = 111.5
    t.exit_reason = "roi"
    t.close_date = T0 + timedelta(days=1)
    Trade.commit()
    with J.journal_actor("api"):
        t.stop_loss = 90.25
        Trade.commit()

    hist = J.trade_history(tid)
    assert [(r.entity, r.op) for r in hist] == [
        ("trade", "insert"), ("order", "insert"), ("order", "insert"), ("trade", "update"),
        ("trade", "update")]
    assert {r.entity_id for r in hist if r.entity == "order"} == set(order_ids)
    assert all(r.bot_id == "bot-a" for r in hist)
    assert [r.actor for r in hist] == ["bot", "bot", "bot", "bot", "api"]
    # the three rows of one commit share one transaction id, the later commits have their own
    assert len({hist[0].tx_id, hist[1].tx_id, hist[2].tx_id}) == 1
    assert len({hist[0].tx_id, hist[3].tx_id, hist[4].tx_id}) == 3
    insert = hist[0]
    assert insert.before is None and insert.after is not None
    assert insert.after["pair"] == "P1/USDT" and insert.after["open_rate"] == 101.0
    assert "close_rate" not in insert.after  # NULL columns are not named in an insert
    upd = hist[3]
    assert upd.changes() == {"close_rate": (None, 111.5), "exit_reason": (None, "roi"),
                             "close_date": (None, "2024-01-02T00:00:00+00:00")}
    assert hist[4].changes() == {"stop_loss": (0.0, 90.25)}

    report = J.verify()
    assert report.ok, [str(d) for d in report.differences]
    assert report.checked == {"trade": 1, "order": 2}

    t.delete()  # cascades to its orders
    hist = J.trade_history(tid)
    assert sorted((r.entity, r.op) for r in hist[5:]) == [
        ("order", "delete"), ("order", "delete"), ("trade", "delete")]
    deleted_trade = next(r for r in hist[5:] if r.entity == "trade")
    assert deleted_trade.before is not None and deleted_trade.before["stop_loss"] == 90.25
    assert J.verify().ok
    assert J.rebuild("trade") == {}
    check_pairlocks_and_custom_data()


def test_random_workload_rebuilds_exactly(backend: str) -> None:
    """Seeded random inserts, updates, deletes, rollbacks: the journal rebuilds every row."""
    init_db(backend)
    PairLocks.timeframe = "5m"
    rng = random.Random(1234)
    trades: list[Trade] = []
    committed_inserts = 0
    for step in range(60):
        action = rng.choice(["new", "new", "update", "order", "delete", "rollback", "lock",
                             "orphan"])
        if action == "new" or not trades:
            trades.append(make_trade(step, orders=rng.randint(0, 2)))
            committed_inserts += 1
        elif action == "update":
            t = rng.choice(trades)
            t.stop_loss = rng.uniform(50, 99)
            t.max_rate = rng.choice([None, rng.uniform(100, 200)])
            t.exit_reason = rng.choice([None, "roi", "x" * 300])  # cut to 255
            Trade.commit()
        elif action == "order":
            t = rng.choice(trades)
            t.orders.append(Order(ft_order_side="sell", ft_pair=t.pair, ft_is_open=True,
                                  ft_amount=0.5, ft_price=1.5, order_id=f"s{step}",
                                  status="open", side="sell", amount=0.5))
            Trade.commit()
            t.orders[-1].status = "closed"
            t.orders[-1].filled = 0.5
            Trade.commit()
        elif action == "delete":
            t = trades.pop(rng.randrange(len(trades)))
            t.delete()
        elif action == "orphan":  # delete-orphan cascade: found by the flush itself
            t = rng.choice(trades)
            if t.orders:
                t.orders.remove(t.orders[-1])
                Trade.commit()
        elif action == "rollback":
            make_trade(1000 + step, orders=1, commit=False)
            Trade.session.flush()  # written (journal too), then rolled back
            Trade.session.rollback()
        else:
            PairLocks.lock_pair(f"P{step % 5}/USDT", T0 + timedelta(days=3650), "r", now=T0)
    report = J.verify(("trade", "order", "pairlock"))
    assert report.ok, [str(d) for d in report.differences][:10]
    assert report.checked["trade"] == len(trades)
    inserts = J.entries(entity="trade")
    assert sum(1 for r in inserts if r.op == "insert") == committed_inserts


def check_pairlocks_and_custom_data() -> None:
    PairLocks.timeframe = "5m"
    t = make_trade(2)
    lock = PairLocks.lock_pair("P2/USDT", T0 + timedelta(days=3650), "cooldown", now=T0)
    PairLocks.unlock_pair("P2/USDT", T0 + timedelta(minutes=1))
    CustomDataWrapper.set_custom_data(t.id, "note", "a")
    CustomDataWrapper.set_custom_data(t.id, "note", "b")
    CustomDataWrapper.delete_custom_data(t.id, "note")  # a bulk DELETE statement
    locks = J.entries(entity="pairlock")
    assert [(r.op, r.entity_id) for r in locks] == [("insert", lock.id), ("update", lock.id)]
    assert locks[1].changes() == {"active": (True, False)}
    cds = [r for r in J.trade_history(t.id) if r.entity == "custom_data"]
    assert [r.op for r in cds] == ["insert", "update", "delete"]
    assert cds[1].changes()["cd_value"] == ("a", "b")
    assert cds[2].before is not None and cds[2].before["cd_value"] == "b"
    assert J.verify(J.ENTITIES).ok


# ---------------------------------------------------------------------------------------------
# SQLite only (behaviour that does not depend on the backend)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    init_db(url, bot_id="b1")
    return url


def test_rollback_leaves_no_entry(db: str) -> None:
    make_trade(1)
    before = count_entries()
    t = make_trade(2, commit=False)
    Trade.session.flush()
    assert t.id is not None
    Trade.session.rollback()
    assert count_entries() == before


def test_failed_journal_write_rolls_back_the_change(db: str) -> None:
    """Same transaction: when the journal row cannot be written, the trade is not either."""
    from sqlalchemy.exc import DBAPIError

    make_trade(1)
    Trade.session.remove()
    with Trade.session() as s:
        s.execute(text("CREATE TRIGGER no_journal BEFORE INSERT ON tradeledger_journal "
                       "BEGIN SELECT RAISE(ABORT, 'journal refused'); END"))
        s.commit()
    with pytest.raises(DBAPIError, match="journal refused"):
        make_trade(2)
    Trade.session.rollback()
    assert Trade.session.scalar(select(func.count()).select_from(Trade)) == 1
    J.set_enabled(False)  # switched off, the same write goes through
    make_trade(3)
    assert Trade.session.scalar(select(func.count()).select_from(Trade)) == 2


def test_verify_reports_changes_made_behind_the_library(db: str) -> None:
    a = make_trade(1, orders=1)
    b = make_trade(2, orders=1)
    a_id, b_id = a.id, b.id
    order_id = a.orders[0].id
    Trade.session.remove()
    with Trade.session() as s:  # raw SQL: invisible to the journal
        s.execute(text("UPDATE trades SET close_rate = 123.0 WHERE id = :i"), {"i": a_id})
        s.execute(text("DELETE FROM orders WHERE ft_trade_id = :i"), {"i": b_id})
        s.execute(text("DELETE FROM trades WHERE id = :i"), {"i": b_id})
        s.execute(text(
            "INSERT INTO trades (id, exchange, pair, is_open, fee_open, fee_close, open_rate, "
            "stake_amount, amount, open_date, is_stop_loss_trailing, is_short, interest_rate, "
            "record_version) VALUES (99, 'x', 'Z/USDT', 1, 0, 0, 1, 1, 1, "
            "'2024-01-01 00:00:00', 0, 0, 0, 2)"))
        s.commit()
    report = J.verify()
    assert not report.ok
    found = {(d.entity, d.entity_id, d.kind, d.field) for d in report.differences}
    assert found == {("trade", a_id, "field", "close_rate"), ("trade", b_id, "not_in_table", None),
                     ("order", order_id + 1, "not_in_table", None),
                     ("trade", 99, "not_in_journal", None)}
    diff = next(d for d in report.differences if d.field == "close_rate")
    assert (diff.journal, diff.table) == (None, 123.0)
    # the baseline records the row the journal never saw; the others stay reported
    assert J.baseline(("trade",))["trade"] == 1
    assert {(d.entity_id, d.kind) for d in J.verify().differences} == {
        (a_id, "field"), (b_id, "not_in_table"), (order_id + 1, "not_in_table")}
    assert J.entries(actor="migration")[0].op == "baseline"


def test_switch_off_and_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'off.sqlite'}"
    init_db(url, journal=False)
    assert not J.is_enabled()
    make_trade(1)
    assert count_entries() == 0
    J.set_enabled(True)
    make_trade(2)
    assert count_entries() == 2  # the trade and its order
    init_db(url)  # default: on
    assert J.is_enabled()
    report = J.verify()
    assert [(d.entity_id, d.kind) for d in report.differences] == [(1, "not_in_journal")] * 2


def test_actor_context_and_bad_input(db: str) -> None:
    assert J.current_actor() == "bot"
    with J.journal_actor("cli"):
        with J.journal_actor("reconcile"):
            assert J.current_actor() == "reconcile"
            make_trade(1, orders=0)
        assert J.current_actor() == "cli"
    assert J.current_actor() == "bot"
    assert J.entries()[0].actor == "reconcile"
    with pytest.raises(InvalidValueError, match="actor"):
        with J.journal_actor("hacker"):
            pass
    with pytest.raises(InvalidValueError, match="actor"):
        J.entries(actor="nobody")
    with pytest.raises(InvalidValueError, match="entity"):
        J.entries(entity="wallet")
    with pytest.raises(InvalidValueError, match="trade_id"):
        J.trade_history("1")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="since"):
        J.entries(since="yesterday")  # type: ignore[arg-type]


def test_time_range_and_actor_filters(db: str) -> None:
    make_trade(1, orders=0)
    first = J.entries()[0].created_at
    with J.journal_actor("api"):
        make_trade(2, orders=0)
    second = J.entries()[-1].created_at
    assert second >= first
    assert [r.entity_id for r in J.entries(actor="api")] == [2]
    assert [r.entity_id for r in J.entries(since=second)] == ([2] if second > first else [1, 2])
    assert [r.entity_id for r in J.entries(until=first)] == []
    naive = first.replace(tzinfo=None)  # naive = UTC
    assert [r.entity_id for r in J.entries(since=naive, actor="bot")] == [1]
    assert len(J.entries(limit=1)) == 1


def test_cli_history_list_verify(db: str) -> None:
    runner = CliRunner()
    t = make_trade(1, orders=1)
    tid = t.id
    res = runner.invoke(app, ["journal", "history", str(tid), "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [(r["entity"], r["op"]) for r in rows] == [("trade", "insert"), ("order", "insert")]
    # a change made by a CLI command is recorded with actor "cli"
    res = runner.invoke(app, ["locks", "add", "P1/USDT", "--db", db, "--minutes", "30"])
    assert res.exit_code == 0, res.output
    assert J.entries(entity="pairlock")[-1].actor == "cli"
    assert J.current_actor() == "bot"  # the command's actor did not leak
    res = runner.invoke(app, ["journal", "list", "--db", db, "--actor", "bot", "--json"])
    assert res.exit_code == 0, res.output
    assert {r["actor"] for r in json.loads(res.output)} == {"bot"}
    res = runner.invoke(app, ["journal", "list", "--db", db, "--since", "not-a-date"])
    assert res.exit_code == 9
    res = runner.invoke(app, ["journal", "verify", "--db", db])
    assert res.exit_code == 0, res.output
    assert "no difference" in res.output
    res = runner.invoke(app, ["journal", "verify", "--db", db, "--all", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["checked"] == {"trade": 1, "order": 1, "pairlock": 1,
                                                 "custom_data": 0}
    Trade.session.remove()
    with Trade.session() as s:
        s.execute(text("UPDATE orders SET cost = 1.0"))
        s.commit()
    res = runner.invoke(app, ["journal", "verify", "--db", db, "--json"])
    assert res.exit_code == 10
    assert json.loads(res.output)["differences"][0]["field"] == "cost"


def test_demo_session_with_crash_and_reconcile_rebuilds_from_journal(tmp_path: Path) -> None:
    """T25 on a whole simulated session: the bot process is SIGKILLed midway, recovered and
    reconciled; every trade and order rebuilt from the journal equals its row."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    exe = Path(sys.executable).with_name("tradeledger")
    res = subprocess.run([str(exe), "demo", "--db", url, "--steps", "100", "--seed", "3"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    init_db(url)
    report = J.verify()
    assert report.ok, [str(d) for d in report.differences][:10]
    assert report.checked["trade"] > 0 and report.checked["order"] > 0
    actors = {r.actor for r in J.entries()}
    assert {"bot", "reconcile"} <= actors
