"""Many bots on one PostgreSQL database: schemas, isolation, fleet locks, the fleet report.

The main test runs three real bot processes (each ``init_db(url, schema=...)``) against one
database and drives them over stdin/stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.conftest import create_server_database, require_backend
from tradeledger import PairLocks, Trade, close_db, init_db
from tradeledger.cli import app
from tradeledger.exceptions import ConfigurationError, InvalidLockError
from tradeledger.migrations import head_revision
from tradeledger.services import fleet
from tradeledger.services import journal as J

SRC = str(Path(__file__).resolve().parents[1] / "src")

BOT = r"""
import json, sys
from datetime import UTC, datetime, timedelta
from tradeledger import Order, PairLocks, Trade, init_db
from tradeledger.services.fleet import enable_fleet_locks

url, schema, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
init_db(url, schema=schema, bot_id=schema)
enable_fleet_locks()
PairLocks.timeframe = "5m"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
for i in range(n):
    t = Trade(pair=f"P{i % 3}/USDT", exchange="binance", open_rate=100.0, amount=1.0,
              stake_amount=100.0, fee_open=0.0, fee_close=0.0, strategy=schema,
              stake_currency="USDT", open_date=T0 + timedelta(hours=i))
    common = dict(ft_pair=t.pair, ft_is_open=False, ft_amount=1.0, status="closed",
                  amount=1.0, filled=1.0, order_type="market")
    t.orders.append(Order(ft_order_side="buy", side="buy", ft_price=100.0, price=100.0,
                          average=100.0, cost=100.0, order_id=f"{schema}-{i}-e", **common))
    t.recalc_trade_from_orders()
    Trade.session.add(t)
    Trade.commit()
    if i % 2 == 0:
        rate = 101.0 + i
        t.orders.append(Order(ft_order_side="sell", side="sell", ft_price=rate, price=rate,
                              average=rate, cost=rate, order_id=f"{schema}-{i}-x", **common))
        t.recalc_trade_from_orders()
        t.close_date = T0 + timedelta(hours=i, minutes=30)
        t.close(rate)
        Trade.commit()
PairLocks.lock_pair(f"{schema.upper()}/USDT", datetime.now(UTC) + timedelta(hours=1), "own")
print(json.dumps({"ready": schema}), flush=True)


def state():
    Trade.session.rollback()
    return {
        "schema": schema,
        "strategies": sorted({t.strategy for t in Trade.get_trades([]).all()}),
        "count": len(Trade.get_trades([]).all()),
        "eth_locked": PairLocks.is_pair_locked("ETH/USDT"),
        "global": PairLocks.is_global_lock(),
        "locks": sorted(lk.pair + ":" + str(lk.reason) for lk in PairLocks.get_pair_locks(None)),
        "trade1": Trade.session.get(Trade, 1).exit_reason,
    }


for line in sys.stdin:
    cmd = line.strip()
    if cmd == "check":
        print(json.dumps(state()), flush=True)
    elif cmd == "touch":  # change "my" trade 1 through the API
        Trade.session.get(Trade, 1).exit_reason = "touched-by-" + schema
        Trade.commit()
        print(json.dumps(state()), flush=True)
    elif cmd == "unlock":  # a bot cannot release a fleet lock
        PairLocks.unlock_pair("*", side=None)
        PairLocks.unlock_reason("maintenance")
        print(json.dumps(state()), flush=True)
    elif cmd == "quit":
        break
"""


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_backend("postgresql")
    url, drop = create_server_database("postgresql")
    try:
        yield url
    finally:
        fleet.disable_fleet_locks()
        close_db()
        drop()


class Bot:
    def __init__(self, url: str, schema: str, n: int) -> None:
        self.schema = schema
        self.proc = subprocess.Popen(
            [sys.executable, "-c", BOT, url, schema, str(n)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            assert self.proc.stderr is not None
            raise AssertionError(f"bot {self.schema} died: {self.proc.stderr.read()[-3000:]}")
        return dict(json.loads(line))

    def ask(self, cmd: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=20)
            except Exception:
                self.proc.kill()
                self.proc.wait()


def expected_profit(n: int) -> float:
    # closed trades are i = 0, 2, 4, ... < n: bought 1 unit at 100, sold at 101 + i, no fee
    return float(sum(1 + i for i in range(0, n, 2)))


def test_three_bot_processes_are_isolated_and_share_fleet_locks(pg_url: str) -> None:
    sizes = {"bot_a": 3, "bot_b": 4, "bot_c": 5}
    bots = [Bot(pg_url, schema, n) for schema, n in sizes.items()]
    try:
        for bot in bots:
            assert bot.read() == {"ready": bot.schema}
        for bot in bots:
            st = bot.ask("check")
            # each bot sees only its own trades and locks
            assert st["strategies"] == [bot.schema]
            assert st["count"] == sizes[bot.schema]
            assert st["locks"] == [f"{bot.schema.upper()}/USDT:own"]
            assert st["eth_locked"] is False and st["global"] is False
        # "trade 1" of bot_a is bot_a's own: changing it leaves the others' trade 1 alone
        assert bots[0].ask("touch")["trade1"] == "touched-by-bot_a"
        assert bots[1].ask("check")["trade1"] is None
        assert bots[2].ask("check")["trade1"] is None

        # a fleet-wide global lock applies to every bot, and no bot can release it
        now = datetime.now(UTC)
        lock_id = fleet.lock_all_bots(pg_url, "*", now + timedelta(hours=1), "maintenance",
                                      created_by="operator")
        for bot in bots:
            st = bot.ask("check")
            assert st["eth_locked"] is True and st["global"] is True
            assert "*:maintenance" in st["locks"]
        assert bots[1].ask("unlock")["global"] is True
        assert [lk["id"] for lk in fleet.list_fleet_locks(pg_url)] == [lock_id]
        assert fleet.unlock_all_bots(pg_url, reason="maintenance") == 1
        for bot in bots:
            st = bot.ask("check")
            assert st["eth_locked"] is False and st["global"] is False

        # a fleet lock of one pair and side
        fleet.lock_all_bots(pg_url, "ETH/USDT", now + timedelta(hours=1), "news", side="long")
        st = bots[2].ask("check")
        assert st["eth_locked"] is False  # side "*" asked: a long-only lock does not match
        assert "ETH/USDT:news" in st["locks"]
    finally:
        for bot in bots:
            bot.stop()

    # each bot migrated its own schema: its own alembic_version at the head
    eng = create_engine(pg_url)
    try:
        with eng.connect() as conn:
            for schema in sizes:
                assert conn.execute(text(f"SELECT version_num FROM {schema}.alembic_version")
                                    ).scalars().all() == [head_revision()]
            assert conn.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            ).scalar() == 0
    finally:
        eng.dispose()

    report = fleet.fleet_report(pg_url)
    assert [b.schema for b in report.bots] == sorted(sizes)
    for b in report.bots:
        n = sizes[b.schema]
        assert b.bot_id == b.schema
        assert b.closed_trades == (n + 1) // 2
        assert b.open_trades == n // 2
        assert b.total_profit_abs == pytest.approx(expected_profit(n), rel=1e-12)
        assert b.win_rate == 1.0 and b.stake_currency == ("USDT",)
    assert report.closed_trades == sum((n + 1) // 2 for n in sizes.values())
    assert report.open_trades == sum(n // 2 for n in sizes.values())
    assert report.total_profit_abs == pytest.approx(
        sum(expected_profit(n) for n in sizes.values()), rel=1e-12)
    # per pair over all bots: trade i is on pair P(i % 3); closed i even
    by_pair: dict[str, tuple[int, float]] = {}
    for n in sizes.values():
        for i in range(0, n, 2):
            c, p = by_pair.get(f"P{i % 3}/USDT", (0, 0.0))
            by_pair[f"P{i % 3}/USDT"] = (c + 1, p + 1 + i)
    assert {r["pair"]: (r["count"], r["profit_abs"]) for r in report.pairs} == by_pair
    assert report.to_dict()["bots"][0]["schema"] == "bot_a"
    only_b = fleet.fleet_report(pg_url, ["bot_b"])
    assert [b.schema for b in only_b.bots] == ["bot_b"]


def test_schema_per_bot_in_one_process(pg_url: str) -> None:
    init_db(pg_url, schema="alpha", bot_id="alpha")
    t = Trade(pair="BTC/USDT", exchange="binance", open_rate=1.0, amount=1.0, stake_amount=1.0)
    Trade.session.add(t)
    Trade.commit()
    assert [e.bot_id for e in J.entries()] == ["alpha"]
    init_db(pg_url, schema="beta")
    assert Trade.get_trades([]).all() == []
    assert J.entries() == []  # the journal is per schema, too
    assert J.verify().ok
    PairLocks.timeframe = "5m"
    PairLocks.lock_pair("BTC/USDT", datetime.now(UTC) + timedelta(hours=1))
    init_db(pg_url, schema="alpha")
    assert PairLocks.get_pair_locks(None) == []
    assert len(Trade.get_trades([]).all()) == 1
    assert fleet.bot_schemas(pg_url) == ["alpha", "beta"]
    # a bot does not consult fleet locks unless asked
    fleet.lock_all_bots(pg_url, "*", datetime.now(UTC) + timedelta(hours=1))
    assert PairLocks.is_global_lock() is False
    fleet.enable_fleet_locks()
    assert PairLocks.is_global_lock() is True
    assert PairLocks.is_pair_locked("BTC/USDT") is True
    fleet.disable_fleet_locks()

    # the command line: TRADELEDGER_SCHEMA picks the bot; `fleet` works across bots
    runner = CliRunner()
    for schema, total in (("alpha", 1), ("beta", 0)):
        res = runner.invoke(app, ["trades", "--db", pg_url, "--json", "--status", "all"],
                            env={"TRADELEDGER_SCHEMA": schema})
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["total"] == total
    res = runner.invoke(app, ["fleet", "report", "--db", pg_url, "--json"])
    assert res.exit_code == 0, res.output
    assert [(b["schema"], b["open_trades"]) for b in json.loads(res.output)["bots"]] == [
        ("alpha", 1), ("beta", 0)]
    res = runner.invoke(app, ["fleet", "lock", "ETH/USDT", "--db", pg_url, "--minutes", "5",
                              "--reason", "news", "--by", "ops"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["fleet", "locks", "--db", pg_url, "--json"])
    assert [(r["pair"], r["reason"], r["created_by"]) for r in json.loads(res.output)] == [
        ("*", None, None), ("ETH/USDT", "news", "ops")]
    res = runner.invoke(app, ["fleet", "unlock", "--db", pg_url, "--pair", "ETH/USDT"])
    assert res.exit_code == 0 and "released 1" in res.output
    res = runner.invoke(app, ["fleet", "lock", "ETH/USDT", "--db", pg_url])
    assert res.exit_code == 9  # neither --minutes nor --until


def test_schema_and_fleet_bad_input(tmp_path: Path, pg_url: str) -> None:
    for bad in ("Bot", "1bot", "public", "pg_bot", "a-b", "x" * 64, ""):
        with pytest.raises(ConfigurationError, match="schema"):
            init_db(pg_url, schema=bad)
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        init_db(f"sqlite:///{tmp_path / 'x.sqlite'}", schema="bot_a")
    with pytest.raises(InvalidLockError, match="until"):
        fleet.lock_all_bots(pg_url, "*", None)
    with pytest.raises(InvalidLockError, match="side"):
        fleet.lock_all_bots(pg_url, "*", datetime.now(UTC), side="up")
    with pytest.raises(InvalidLockError, match="pair"):
        fleet.lock_all_bots(pg_url, "", datetime.now(UTC))
