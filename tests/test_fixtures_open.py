"""Real freqtrade databases (../shared/fixtures) open and upgrade to exactly what 2026.9 reads.

* SQLite: each fixture is copied to a temporary directory and opened with ``init_db``; every
  row of every freqtrade table then equals ``raw_after_open`` of its ``read-by-2026.9`` JSON
  (the migrated rows of freqtrade 2026.9 itself), and the 2026.9 file is unchanged.
* PostgreSQL / MariaDB: the fixture's *old* rows are loaded into a server database with the
  old layout (DDL built from the fixture's ``raw`` column lists), adopted there, and compared
  the same way.
* The ORM then reads every trade (``to_json``), order, lock, key-value and custom-data value
  exactly as freqtrade 2026.9 did, on every backend.
* Opening a second time changes nothing.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import FIXTURES_DIR, create_server_database, require_backend
from tradeledger.db import close_db, init_db
from tradeledger.migrations import runner
from tradeledger.migrations.baseline import baseline_metadata, datetime_type, float_type

OLD_VERSIONS = ("2022.4", "2023.1", "2024.10")
ALL_VERSIONS = (*OLD_VERSIONS, "2026.9")
FT_TABLES = ("trades", "orders", "pairlocks", "KeyValueStore", "trade_custom_data",
             "wallet_history")
SERVER_BACKENDS = ("postgresql", "mariadb")

_json_cache: dict[str, dict[str, Any]] = {}


def fixture_json(version: str) -> dict[str, Any]:
    name = (f"freqtrade-{version}.json" if version == "2026.9"
            else f"freqtrade-{version}.read-by-2026.9.json")
    if name not in _json_cache:
        path = FIXTURES_DIR / name
        if not path.exists():
            pytest.skip(f"fixture {path} not found (set TRADELEDGER_SHARED)")
        _json_cache[name] = json.loads(path.read_text())
    return _json_cache[name]


def expected_after_open(version: str) -> dict[str, Any]:
    data = fixture_json(version)
    after = data["raw_after_open"]
    return data["raw"] if after == "identical to raw" else after


def copy_fixture(version: str, tmp_path: Path) -> Path:
    src = FIXTURES_DIR / f"freqtrade-{version}.sqlite"
    dst = tmp_path / f"freqtrade-{version}.sqlite"
    shutil.copy(src, dst)
    dst.chmod(0o600)
    return dst


def sqlite_dump(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {}
        for table in FT_TABLES:
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            if not cols:
                continue
            rows = [dict(zip(cols, r, strict=True)) for r in
                    conn.execute(f'SELECT * FROM "{table}" ORDER BY "{cols[0]}"')]
            out[table] = {"columns": cols, "rows": rows}
        return out
    finally:
        conn.close()


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "name") and not isinstance(value, str):  # enum member
        return value.name
    return value


def server_dump(engine: sa.Engine) -> dict[str, Any]:
    out: dict[str, Any] = {}
    insp = sa.inspect(engine)
    with engine.connect() as conn:
        for table in FT_TABLES:
            if not insp.has_table(table):
                continue
            cols = [c["name"] for c in insp.get_columns(table)]
            q = engine.dialect.identifier_preparer.quote
            res = conn.execute(sa.text(f"SELECT * FROM {q(table)} ORDER BY id"))
            rows = [{k: _norm(v) for k, v in r._mapping.items()} for r in res]
            out[table] = {"columns": cols, "rows": rows}
    return out


def assert_same_value(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, float) and isinstance(actual, float | int) \
            and not isinstance(actual, bool):
        assert math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-15), \
            f"{where}: {actual!r} != {expected!r}"
        return
    assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_tables_match(actual: dict[str, Any], expected: dict[str, Any], label: str) -> None:
    for table in FT_TABLES:
        if table not in expected["tables"]:
            continue
        exp = expected["tables"][table]
        assert table in actual, f"{label}: table {table} missing"
        got = actual[table]
        assert got["columns"] == exp["columns"], f"{label}: columns of {table}"
        assert len(got["rows"]) == len(exp["rows"]), f"{label}: row count of {table}"
        for g, e in zip(got["rows"], exp["rows"], strict=True):
            for col in exp["columns"]:
                assert_same_value(g[col], e[col], f"{label} {table} id={e.get('id')} {col}")


# ---------------------------------------------------------------------------------------------
# ORM read-back (what freqtrade 2026.9 reports)


def _assert_json_equal(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not a dict"
        assert set(actual) == set(expected), \
            f"{where}: keys differ: +{set(actual) - set(expected)} -{set(expected) - set(actual)}"
        for k in expected:
            _assert_json_equal(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list | tuple) and len(actual) == len(expected), \
            f"{where}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_json_equal(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool) \
            and isinstance(actual, int | float):
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12), \
            f"{where}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_orm_reads(version: str) -> None:
    import time_machine

    from tradeledger.domain.custom_data import CustomDataWrapper
    from tradeledger.models import KeyValueStore, PairLock, Trade

    data = fixture_json(version)
    frozen = datetime.fromisoformat(data["frozen_time"])
    with time_machine.travel(frozen, tick=False):
        trades = {t.id: t for t in Trade.session.scalars(sa.select(Trade)).all()}
        assert sorted(trades) == sorted(int(k) for k in data["trades"])
        for key, exp in data["trades"].items():
            trade = trades[int(key)]
            _assert_json_equal(trade.to_json(), exp["to_json"], f"trade {key} to_json")
            orders = [o.to_json(trade.entry_side) for o in trade.orders]
            _assert_json_equal(orders, exp["orders"], f"trade {key} orders")
            if "custom_data" in exp:
                got = [
                    {"key": cd.cd_key, "type": cd.cd_type, "value": cd.value}
                    for cd in CustomDataWrapper.get_custom_data(trade_id=trade.id)
                ]
                want = [{"key": c["key"], "type": c["type"], "value": c["value"]}
                        for c in exp["custom_data"]]
                _assert_json_equal(got, want, f"trade {key} custom_data")
        locks = [lock.to_json() for lock in
                 Trade.session.scalars(sa.select(PairLock).order_by(PairLock.id))]
        _assert_json_equal(locks, data["pairlocks"], "pairlocks")
        for key, value in data.get("key_value_store", {}).items():
            got = KeyValueStore.get_value(key)
            if isinstance(got, datetime):
                got = got.isoformat()
            if key == "fixture_bool" and value is not None:
                # freqtrade stores a bool as int 1 and reads back 1; tradeledger reads that row
                # back the same way (rows it writes itself keep the bool type)
                assert got in (True, 1)
                continue
            _assert_json_equal(got, value, f"KeyValueStore[{key}]")
        if data.get("wallet_history"):
            from tradeledger.models import WalletHistory

            rows = []
            for w in Trade.session.scalars(sa.select(WalletHistory).order_by(WalletHistory.id)):
                row = {c: getattr(w, c) for c in data["wallet_history"][0]}
                row["timestamp"] = row["timestamp"].isoformat()
                rows.append(row)
            _assert_json_equal(rows, data["wallet_history"], "wallet_history")
    Trade.session.rollback()


# ---------------------------------------------------------------------------------------------
# SQLite


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_sqlite_fixture_upgrades_to_what_2026_9_reads(version: str, tmp_path: Path) -> None:
    db = copy_fixture(version, tmp_path)
    init_db(f"sqlite:///{db}")
    result = runner.last_result
    assert result is not None and result.action == "adopted"
    assert result.backup_path is not None and result.backup_path.exists()
    # the backup is the untouched original
    assert sqlite_dump(result.backup_path) == sqlite_dump(FIXTURES_DIR /
                                                          f"freqtrade-{version}.sqlite")
    assert_tables_match(sqlite_dump(db), expected_after_open(version), f"sqlite {version}")
    # no stray freqtrade-style backup tables, no shadow leftovers
    with sqlite3.connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not {n for n in names if "_bak" in n or "__tl_" in n}
    assert runner.current_revision(sa.create_engine(f"sqlite:///{db}")) == runner.head_revision()
    assert_orm_reads(version)
    close_db()


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_sqlite_second_open_changes_nothing(version: str, tmp_path: Path) -> None:
    db = copy_fixture(version, tmp_path)
    init_db(f"sqlite:///{db}")
    close_db()
    first = db.read_bytes()
    before = sqlite_dump(db)
    init_db(f"sqlite:///{db}")
    assert runner.last_result is not None and runner.last_result.action == "none"
    close_db()
    assert sqlite_dump(db) == before
    # WAL checkpointed on close: the main file itself is byte-identical
    assert db.read_bytes() == first


def test_2026_9_file_opens_in_place(tmp_path: Path) -> None:
    db = copy_fixture("2026.9", tmp_path)
    before = sqlite_dump(db)
    init_db(f"sqlite:///{db}")
    assert sqlite_dump(db) == before
    close_db()


# ---------------------------------------------------------------------------------------------
# PostgreSQL / MariaDB: load the old rows with the old layout, adopt there

_LEGACY_TYPES: dict[str, Callable[[], Any]] = {
    "open_order_id": lambda: sa.String(255),
    "stoploss_order_id": lambda: sa.String(255),
    "stoploss_last_update": datetime_type,
    "sell_reason": lambda: sa.String(100),
    "sell_order_status": lambda: sa.String(100),
    "buy_tag": lambda: sa.String(100),
    "fee": float_type,
    "isolated_liq": float_type,
    "ticker_interval": lambda: sa.String(10),
}


def legacy_metadata(raw: dict[str, Any], *, kv_key_length: int = 50) -> sa.MetaData:
    """Tables with exactly the fixture's old column lists (types from the baseline)."""
    base = baseline_metadata()
    md = sa.MetaData()
    for table, spec in raw["tables"].items():
        if table not in FT_TABLES:
            continue
        ref = base.tables[table]
        cols = []
        for name in spec["columns"]:
            if name in ref.c:
                bc = ref.c[name]
                col_type = bc.type
                if table == "KeyValueStore" and name == "key":
                    col_type = sa.String(kv_key_length)
                fks = [sa.ForeignKey(f"{fk.column.table.name}.{fk.column.name}")
                       for fk in bc.foreign_keys]
                cols.append(sa.Column(name, col_type, *fks, primary_key=bc.primary_key,
                                      nullable=bc.nullable))
            else:
                cols.append(sa.Column(name, _LEGACY_TYPES[name](), nullable=True))
        names = set(spec["columns"])
        extra: list[Any] = [
            sa.UniqueConstraint(*[c.name for c in cons.columns], name=cons.name)
            for cons in ref.constraints
            if isinstance(cons, sa.UniqueConstraint) and not isinstance(
                cons, sa.PrimaryKeyConstraint) and {c.name for c in cons.columns} <= names
        ]
        legacy = sa.Table(table, md, *cols, *extra)
        for ix in ref.indexes:  # freqtrade's indexes, as its create_all made them
            if {c.name for c in ix.columns} <= names:
                sa.Index(ix.name, *[legacy.c[c.name] for c in ix.columns])
    return md


def _to_db_value(col: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(col.type, sa.DateTime):
        return datetime.fromisoformat(value)
    if isinstance(col.type, sa.Boolean):
        return bool(value)
    return value


def load_legacy(engine: sa.Engine, raw: dict[str, Any], **kw: Any) -> None:
    md = legacy_metadata(raw, **kw)
    md.create_all(engine)
    with engine.begin() as conn:
        for table in md.sorted_tables:
            rows = raw["tables"][table.name]["rows"]
            if rows:
                conn.execute(table.insert(), [
                    {k: _to_db_value(table.c[k], v) for k, v in r.items()} for r in rows])
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM \"{table.name}\"), false)"))


@pytest.fixture(params=SERVER_BACKENDS)
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    require_backend(request.param)
    url, drop = create_server_database(request.param)
    try:
        yield url
    finally:
        close_db()
        drop()


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_server_adopts_fixture_rows(version: str, server_url: str) -> None:
    raw = fixture_json(version)["raw"]
    engine = sa.create_engine(server_url)
    load_legacy(engine, raw, kv_key_length=25 if version == "2024.10" else 50)
    init_db(server_url)
    assert runner.last_result is not None and runner.last_result.action == "adopted"
    dump = server_dump(engine)
    assert_tables_match(dump, expected_after_open(version), f"{server_url[:10]} {version}")
    assert_orm_reads(version)
    # sequences / auto-increment continue after the highest copied id
    from tradeledger.models import Trade

    new = Trade(pair="ETH/USDT", exchange="binance", open_rate=1.0, amount=1.0,
                stake_amount=1.0, fee_open=0.0, fee_close=0.0, is_open=True)
    Trade.session.add(new)
    Trade.session.commit()
    assert new.id == max(r["id"] for r in raw["tables"]["trades"]["rows"]) + 1
    Trade.session.rollback()
    # opening again changes nothing
    close_db()
    init_db(server_url)
    assert runner.last_result is not None and runner.last_result.action == "none"
    after = server_dump(engine)
    dump["trades"]["rows"].append(after["trades"]["rows"][-1])
    assert after == dump
    engine.dispose()
