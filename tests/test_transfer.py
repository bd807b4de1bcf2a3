"""``services.transfer``: importing every freqtrade fixture keeps every stored value.

The reference is the fixture JSON's ``raw`` dump: every column of every row exactly as the
freqtrade release wrote it. After an import into SQLite or PostgreSQL each of those values
must read back unchanged from the target (datetimes compared as naive UTC text with
microseconds, ``trading_mode`` by enum name, booleans as 0/1).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import FIXTURES_DIR, make_backend_url
from tradeledger.db import close_db, init_db
from tradeledger.models import ModelBase, Order, Trade
from tradeledger.services.transfer import (
    TransferError,
    import_database,
    import_freqtrade_json,
    load_freqtrade_json,
)

FIXTURES = ("2026.9", "2024.10", "2023.1", "2022.4")
_RAW_CACHE: dict[str, dict[str, Any]] = {}
_MIGRATED_CACHE: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}


def _raw(name: str) -> dict[str, Any]:
    if name not in _RAW_CACHE:
        data = json.loads((FIXTURES_DIR / f"freqtrade-{name}.json").read_text())
        _RAW_CACHE[name] = data["raw"]["tables"]
    return _RAW_CACHE[name]


def _migrated(name: str) -> dict[tuple[str, int], dict[str, Any]]:
    """Rows as freqtrade 2026.9 left them after migrating the old file (``raw_after_open``)."""
    if name not in _MIGRATED_CACHE:
        path = FIXTURES_DIR / f"freqtrade-{name}.read-by-2026.9.json"
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        if path.exists():
            after = json.loads(path.read_text())["raw_after_open"]
            if isinstance(after, dict):
                for tname, dump in after["tables"].items():
                    for row in dump["rows"]:
                        if "id" in row:
                            rows[(tname, row["id"])] = row
        _MIGRATED_CACHE[name] = rows
    return _MIGRATED_CACHE[name]


def _copy_fixture(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / f"src-{name}.sqlite"
    shutil.copy(FIXTURES_DIR / f"freqtrade-{name}.sqlite", dest)
    return dest


def _norm(value: Any, is_dt: bool) -> Any:
    if value is None:
        return None
    if is_dt:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bool):
        return int(value)
    return value


def _assert_values_kept(name: str, engine: sa.Engine, id_offset: dict[str, int] | None = None
                        ) -> int:
    """Every raw value of the fixture is in the target; return the number compared."""
    id_offset = id_offset or {}
    tables = ModelBase.metadata.tables
    compared = 0
    with engine.connect() as conn:
        for tname, dump in _raw(name).items():
            table = tables[tname]
            offset = id_offset.get(tname, 0)
            target = {row.id - offset: row._mapping for row in conn.execute(sa.select(table))
                      if row.id > offset}
            assert len(target) == len(dump["rows"]), tname
            for raw_row in dump["rows"]:
                values = dict(raw_row)
                got = target[values["id"]]
                for col, raw_value in values.items():
                    if col not in table.c:
                        continue  # a column the current schema dropped (none so far)
                    is_dt = "DateTime" in type(table.c[col].type).__name__
                    expected = _norm(raw_value, is_dt)
                    actual = got[col]
                    if col == "id":
                        actual -= offset
                    elif col == "ft_trade_id" and actual is not None:
                        actual -= id_offset.get("trades", 0)
                    if _norm(actual, is_dt) != expected:
                        # kept, or changed exactly as freqtrade 2026.9's own migration does
                        # (e.g. its fix of max_stake_amount on files older than 2024.11)
                        fixed = _migrated(name).get((tname, values["id"]), {})
                        assert col in fixed, (tname, values["id"], col, actual, expected)
                        assert _norm(actual, is_dt) == _norm(fixed[col], is_dt), (
                            tname, values["id"], col)
                    compared += 1
    return compared


@pytest.mark.parametrize("name", FIXTURES)
def test_import_keeps_every_value(process_backend: str, tmp_path: Path, name: str) -> None:
    src = _copy_fixture(name, tmp_path)
    before = src.read_bytes()
    engine = init_db(process_backend)
    seen: list[tuple[str, int, int]] = []
    result = import_database(f"sqlite:///{src}", engine,
                             progress=lambda t, d, n: seen.append((t, d, n)))
    assert result.ok and result.copied == result.verified
    raw = _raw(name)
    for tname, dump in raw.items():
        assert result.copied[tname] == len(dump["rows"])
    assert result.copied["trades"] == (61 if name == "2026.9" else 21)
    assert seen and seen[-1][0] == "tradeledger_reconcile_log"
    assert src.read_bytes() == before, "the source file must not change"
    compared = _assert_values_kept(name, engine)
    assert compared > 1000
    # the ORM reads the imported rows (relationships, enum, datetimes)
    trades = Trade.session.scalars(sa.select(Trade).order_by(Trade.id)).all()
    assert sum(len(t.orders) for t in trades) == len(raw["orders"]["rows"])
    # importing the same database again is refused, nothing is written
    with pytest.raises(TransferError, match="already exist"):
        import_database(f"sqlite:///{src}", engine)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Trade)) == len(trades)
    close_db()


def test_import_into_non_empty_target_shifts_ids(process_backend: str, tmp_path: Path) -> None:
    engine = init_db(process_backend)
    for i in range(3):  # three trades of the target's own, with one order each
        t = Trade(pair="OWN/USDT", exchange="binance", open_rate=1.0, amount=1.0,
                  stake_amount=1.0)
        t.orders.append(Order(order_id=f"own-{i}", ft_order_side="buy", ft_pair="OWN/USDT",
                              ft_is_open=True, ft_amount=1.0, ft_price=1.0, status="open"))
        Trade.session.add(t)
    Trade.session.commit()
    result = import_database(f"sqlite:///{_copy_fixture('2024.10', tmp_path)}", engine)
    assert result.ok
    assert result.id_offsets["trades"] == 3 and result.id_offsets["orders"] == 3
    _assert_values_kept("2024.10", engine, result.id_offsets)
    # ids keep counting after the import (PostgreSQL sequences were moved)
    t = Trade(pair="NEW/USDT", exchange="binance", open_rate=1.0, amount=1.0, stake_amount=1.0)
    Trade.session.add(t)
    Trade.session.commit()
    assert t.id == 3 + 21 + 1
    imported = Order.session.scalars(sa.select(Order).where(Order.ft_trade_id > 3)).all()
    assert len(imported) == 64
    for order in imported:
        assert order.trade.pair == order.ft_pair
    close_db()


def test_import_from_postgresql_to_sqlite(tmp_path: Path) -> None:
    """A server database as the source (copied, adopted, then imported)."""
    pg_url, drop = make_backend_url("postgresql", tmp_path)
    try:
        import_database(f"sqlite:///{_copy_fixture('2023.1', tmp_path)}", init_db(pg_url))
        close_db()
        target = init_db(f"sqlite:///{tmp_path / 'target.sqlite'}")
        result = import_database(pg_url, target)
        assert result.ok and result.copied["trades"] == 21
        _assert_values_kept("2023.1", target)
        close_db()
    finally:
        drop()


def test_import_freqtrade_json(tmp_path: Path) -> None:
    """freqtrade's to_json export (here the fixture layout) becomes the same trades."""
    path = tmp_path / "export.json"
    shutil.copy(FIXTURES_DIR / "freqtrade-2026.9.json", path)
    items = load_freqtrade_json(path)
    assert len(items) == 61
    init_db(f"sqlite:///{tmp_path / 'json.sqlite'}")
    result = import_freqtrade_json(path)
    assert result.ok and result.copied == {"trades": 61, "orders": 188}
    keys = ("pair", "is_open", "exchange", "amount", "stake_amount", "open_rate",
            "close_rate", "close_profit_abs", "fee_open", "fee_close", "leverage", "is_short",
            "exit_reason", "enter_tag", "strategy", "trading_mode", "funding_fees",
            "open_timestamp", "close_timestamp", "stop_loss_abs", "liquidation_price")
    as_read = json.loads(path.read_text())["trades"]
    for item in items:
        trade = Trade.session.get(Trade, item["trade_id"])
        assert trade is not None
        mine = trade.to_json()
        for key in keys:
            assert mine[key] == item[key], (item["trade_id"], key)
        # every order of the file is stored; to_json lists them as freqtrade's does
        assert sorted(o.order_id for o in trade.orders) == sorted(
            o["order_id"] for o in item["orders"])
        theirs = as_read[str(item["trade_id"])]["to_json"]["orders"]
        assert [o["order_id"] for o in mine["orders"]] == [o["order_id"] for o in theirs]
    # the same export again: refused
    with pytest.raises(TransferError, match="already exists"):
        import_freqtrade_json(path)
    close_db()


@pytest.mark.parametrize("content, match", [
    ("not json", "not a JSON file"),
    ('{"foo": 1}', "expected freqtrade trades"),
    ('[{"pair": "BTC/USDT"}]', "has no 'amount'"),
])
def test_bad_json_export(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_freqtrade_json(path)


def test_missing_source_file(tmp_path: Path) -> None:
    engine = init_db(f"sqlite:///{tmp_path / 't.sqlite'}")
    with pytest.raises(FileNotFoundError):
        import_database(f"sqlite:///{tmp_path / 'nope.sqlite'}", engine)
    close_db()


@pytest.mark.parametrize("name", ["2026.9", "2022.4"])
def test_import_into_mariadb_keeps_every_value(tmp_path: Path, name: str) -> None:
    url, drop = make_backend_url("mariadb", tmp_path)
    try:
        engine = init_db(url)
        result = import_database(f"sqlite:///{_copy_fixture(name, tmp_path)}", engine)
        assert result.ok
        assert _assert_values_kept(name, engine) > 1000
        close_db()
    finally:
        drop()


@pytest.mark.parametrize("layout", ["list", "rest", "backtest"])
def test_freqtrade_json_layouts(tmp_path: Path, layout: str) -> None:
    """A list of to_json() trades, the REST API's {"trades": [...]}, a backtest result."""
    fixture = json.loads((FIXTURES_DIR / "freqtrade-2024.10.json").read_text())["trades"]
    trades = []
    for key in sorted(fixture, key=int)[:5]:
        body = dict(fixture[key]["to_json"])
        body["orders"] = fixture[key]["orders"]
        trades.append(body)
    doc: Any = {"list": trades, "rest": {"trades": trades, "trades_count": 5},
                "backtest": {"strategy": {"MyStrategy": {"trades": trades}}}}[layout]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    init_db(f"sqlite:///{tmp_path / 'x.sqlite'}")
    result = import_freqtrade_json(path)
    assert result.ok and result.copied["trades"] == 5
    got = Trade.session.scalars(sa.select(Trade).order_by(Trade.id)).all()
    assert [(t.id, t.pair, t.amount) for t in got] == [
        (t["trade_id"], t["pair"], t["amount"]) for t in trades]
    close_db()
