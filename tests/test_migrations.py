"""Migrations: create/stamp, upgrade, refuse (too new / too old / check / mode), legacy layouts.

Legacy layouts follow the facts sheet §4 column table (``fee``, ``sell_reason``,
``ticker_interval``, ``buy_tag``, pairlocks without ``side``, a 25-character key-value key,
MariaDB single-precision ``FLOAT``); the expected values are the §4 fallback expressions
evaluated by hand on the rows below.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tradeledger.db import close_db, create_db_engine, init_db
from tradeledger.exceptions import (
    ConfigurationError,
    MigrationRequiredError,
    ModeMismatchError,
    SchemaTooNewError,
    SchemaTooOldError,
)
from tradeledger.migrations import runner
from tradeledger.migrations.baseline import datetime_type, float_type
from tradeledger.migrations.legacy import TOO_OLD_MESSAGE
from tradeledger.models import ModelBase


def snapshot(url: str) -> dict[str, Any]:
    """Every table's columns and rows (to prove that nothing was written)."""
    eng = sa.create_engine(url)
    out: dict[str, Any] = {}
    try:
        insp = sa.inspect(eng)
        with eng.connect() as conn:
            for name in sorted(insp.get_table_names()):
                cols = [c["name"] for c in insp.get_columns(name)]
                q = eng.dialect.identifier_preparer.quote
                rows = [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {q(name)}"))]
                out[name] = (cols, sorted(rows, key=repr))
    finally:
        eng.dispose()
    return out


def tables(url: str) -> set[str]:
    eng = sa.create_engine(url)
    try:
        return set(sa.inspect(eng).get_table_names())
    finally:
        eng.dispose()


# ---------------------------------------------------------------------------------------------
# fresh databases


def test_fresh_database_is_created_and_stamped(backend: str) -> None:
    engine = init_db(backend, mode="dry_run", bot_id="bot-1")
    res = runner.last_result
    assert res is not None and res.action == "created"
    assert runner.current_revision(engine) == runner.head_revision()
    assert runner.current_revisions(engine) == runner.head_revisions()
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT mode, bot_id, library_version, created_by_version FROM tradeledger_meta"
        )).one()
    from tradeledger import __version__

    assert tuple(row) == ("dry_run", "bot-1", __version__, __version__)
    if backend != "sqlite://":  # a new sqlite:// engine is a new, empty database
        init_db(backend, mode="dry_run")
        assert runner.last_result is not None and runner.last_result.action == "none"


def test_models_match_migration_head(backend: str) -> None:
    """Replaying every revision on an empty database gives exactly the models' schema."""
    engine = create_db_engine(backend)
    try:
        with engine.connect() as conn:
            runner._run_upgrade(conn, runner.get_script_directory())
            conn.commit()
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(ctx, ModelBase.metadata)
        assert diffs == [], "models differ from the migration head; add a revision:\n" + \
            "\n".join(repr(d) for d in diffs)
    finally:
        engine.dispose()


def test_single_library_head() -> None:
    assert len(runner.get_script_directory().get_heads()) == 1
    assert runner.head_revision() == runner.head_revisions()[0]


def test_upgrade_from_baseline_revision(backend: str, backend_name: str) -> None:
    """A database at ``tl_0001`` is upgraded (SQLite: after a verified backup)."""
    if backend_name == "sqlite-memory":
        pytest.skip("a sqlite:// database does not outlive its engine")
    engine = create_db_engine(backend)
    with engine.connect() as conn:
        runner._run_upgrade(conn, runner.get_script_directory(), runner.BASELINE_REVISION)
        conn.commit()
    engine.dispose()
    with pytest.raises(MigrationRequiredError, match="tl_0001"):
        init_db(backend, migrate="check")
    init_db(backend)
    res = runner.last_result
    assert res is not None and res.action == "upgraded"
    assert res.from_revisions == ("tl_0001",) and res.to_revisions == runner.head_revisions()
    if backend_name == "sqlite-file":
        assert res.backup_path is not None
        assert res.backup_path.name.endswith(".pre-tl_0001.bak")
        with sqlite3.connect(res.backup_path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] \
                == "tl_0001"


# ---------------------------------------------------------------------------------------------
# refusals


def _stamp_unknown(url: str, revision: str = "tl_9999_future") -> None:
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    eng.dispose()


def test_unknown_newer_revision_is_refused_without_writing(backend: str,
                                                          backend_name: str) -> None:
    if backend_name == "sqlite-memory":
        pytest.skip("needs a database that outlives its engine")
    init_db(backend, mode="live")
    close_db()
    _stamp_unknown(backend)
    before = snapshot(backend)
    file_bytes = None
    if backend_name == "sqlite-file":
        file_bytes = Path(sa.make_url(backend).database or "").read_bytes()
    for migrate in ("auto", "check"):
        with pytest.raises(SchemaTooNewError) as info:
            init_db(backend, migrate=migrate, mode="live", bot_id="other")  # type: ignore[arg-type]
        assert "tl_9999_future" in str(info.value)
        assert runner.head_revision() in str(info.value)
        assert info.value.db_revision == "tl_9999_future"
    assert snapshot(backend) == before
    if file_bytes is not None:
        path = Path(sa.make_url(backend).database or "")
        assert path.read_bytes() == file_bytes
        assert not any(p.name.endswith(".bak") for p in path.parent.iterdir())


def test_check_mode_raises_and_writes_nothing(backend: str, backend_name: str) -> None:
    if backend_name == "sqlite-memory":
        with pytest.raises(MigrationRequiredError, match="empty"):
            init_db(backend, migrate="check")
        return
    with pytest.raises(MigrationRequiredError, match="tradeledger db upgrade"):
        init_db(backend, migrate="check")
    assert tables(backend) == set()
    init_db(backend)
    init_db(backend, migrate="check")  # up to date: fine
    assert runner.last_result is not None and runner.last_result.action == "none"


def test_off_touches_nothing(backend: str, backend_name: str) -> None:
    init_db(backend, migrate="off")
    assert runner.last_result is not None and runner.last_result.action == "off"
    if backend_name != "sqlite-memory":
        assert tables(backend) == set()


def test_bad_arguments() -> None:
    with pytest.raises(ConfigurationError, match="mode"):
        init_db("sqlite://", mode="paper")
    with pytest.raises(ConfigurationError, match="migrate"):
        init_db("sqlite://", migrate="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not a directory"):
        init_db("sqlite://", extra_migrations=["/nonexistent/dir"])


@pytest.mark.parametrize(("recorded", "opened"), [("dry_run", "live"), ("live", "dry_run"),
                                                  ("backtest", "live")])
def test_mode_mismatch_is_refused_before_any_write(backend: str, backend_name: str,
                                                   recorded: str, opened: str) -> None:
    if backend_name == "sqlite-memory":
        pytest.skip("needs a database that outlives its engine")
    init_db(backend, mode=recorded)
    close_db()
    before = snapshot(backend)
    with pytest.raises(ModeMismatchError) as info:
        init_db(backend, mode=opened)
    assert recorded in str(info.value) and opened in str(info.value)
    assert snapshot(backend) == before
    init_db(backend, mode=recorded)  # same mode: fine
    init_db(backend)  # no mode given (analysis, CLI): fine
    runner.set_database_mode(create_db_engine(backend), opened)  # deliberate re-tag
    init_db(backend, mode=opened)


def test_mode_recorded_on_first_open_with_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    init_db(url)
    eng = init_db(url, mode="live", bot_id="b1")
    assert runner.last_result is not None and runner.last_result.action == "metadata"
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT mode, bot_id FROM tradeledger_meta")).one() \
            == ("live", "b1")
    with pytest.raises(ModeMismatchError):
        init_db(url, mode="dry_run")


# ---------------------------------------------------------------------------------------------
# legacy layouts (facts §4)

OPEN = datetime(2024, 1, 8, 9, 30)
CLOSE = datetime(2024, 1, 9, 10, 0)


def _legacy_2021(md: sa.MetaData, *, ticker_interval: bool = True) -> None:
    """freqtrade ~2022.3 layout with the oldest column names still accepted."""
    f, dt = float_type, datetime_type
    cols = [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("exchange", sa.String(25), nullable=False),
        sa.Column("pair", sa.String(25), nullable=False),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("fee", f()),
        sa.Column("open_rate", f()),
        sa.Column("close_rate", f()),
        sa.Column("close_profit", f()),
        sa.Column("stake_amount", f(), nullable=False),
        sa.Column("amount", f()),
        sa.Column("open_date", dt(), nullable=False),
        sa.Column("close_date", dt()),
        sa.Column("open_order_id", sa.String(255)),
        sa.Column("stop_loss", f()),
        sa.Column("initial_stop_loss", f()),
        sa.Column("max_rate", f()),
        sa.Column("sell_reason", sa.String(100)),
        sa.Column("buy_tag", sa.String(100)),
        sa.Column("strategy", sa.String(100)),
        sa.Column("stoploss_order_id", sa.String(255)),
    ]
    if ticker_interval:
        cols.append(sa.Column("ticker_interval", sa.String(10)))
    sa.Table("trades", md, *cols)
    sa.Table(
        "orders", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ft_trade_id", sa.Integer, nullable=False),
        sa.Column("ft_order_side", sa.String(25), nullable=False),
        sa.Column("ft_pair", sa.String(25), nullable=False),
        sa.Column("ft_is_open", sa.Boolean, nullable=False),
        sa.Column("order_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(255)),
        sa.Column("symbol", sa.String(25)),
        sa.Column("order_type", sa.String(50)),
        sa.Column("side", sa.String(25)),
        sa.Column("price", f()),
        sa.Column("amount", f()),
        sa.Column("filled", f()),
        sa.Column("remaining", f()),
        sa.Column("cost", f()),
        sa.Column("order_date", dt()),
        sa.Column("order_filled_date", dt()),
        sa.Column("order_update_date", dt()),
    )
    sa.Table(
        "pairlocks", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pair", sa.String(25), nullable=False),
        sa.Column("reason", sa.String(255)),
        sa.Column("lock_time", dt(), nullable=False),
        sa.Column("lock_end_time", dt(), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )


def _fill_legacy_2021(conn: sa.Connection, md: sa.MetaData) -> None:
    trades, orders, locks = md.tables["trades"], md.tables["orders"], md.tables["pairlocks"]
    base = {"exchange": "Binance", "fee": 0.0025, "stake_amount": 100.0,
            "open_order_id": None, "stoploss_order_id": None, "strategy": "S"}
    if "ticker_interval" in trades.c:
        base["ticker_interval"] = "5m"
    conn.execute(trades.insert(), [
        {**base, "id": 1, "pair": "ETH/BTC", "is_open": True, "open_rate": 0.05,
         "close_rate": None, "close_profit": None, "amount": 2000.0, "open_date": OPEN,
         "close_date": None, "stop_loss": 0.04, "initial_stop_loss": 0.04, "max_rate": 0.051,
         "sell_reason": None, "buy_tag": "tag_a"},
        {**base, "id": 2, "pair": "XRP/BTC", "is_open": False, "open_rate": 2.0,
         "close_rate": 2.2, "close_profit": 0.095, "amount": 50.0, "open_date": OPEN,
         "close_date": CLOSE, "stop_loss": None, "initial_stop_loss": None, "max_rate": None,
         "sell_reason": "sell_signal", "buy_tag": None},
        {**base, "id": 3, "pair": "LTC/BTC", "is_open": False, "open_rate": 1.0,
         "close_rate": 0.9, "close_profit": -0.1, "amount": 100.0, "open_date": OPEN,
         "close_date": CLOSE, "stop_loss": 0.9, "initial_stop_loss": 0.9, "max_rate": 1.0,
         "sell_reason": "force_sell", "buy_tag": None},
    ])
    common = {"status": "closed", "order_type": "limit", "order_date": OPEN,
              "order_filled_date": OPEN, "order_update_date": OPEN}
    conn.execute(orders.insert(), [
        {**common, "id": 1, "ft_trade_id": 1, "ft_order_side": "buy", "ft_pair": "ETH/BTC",
         "ft_is_open": False, "order_id": "o-1", "symbol": "ETH/BTC", "side": "buy",
         "price": 0.05, "amount": 2000.0, "filled": 2000.0, "remaining": 0.0, "cost": 100.0},
        # an open dry-run stoploss order: closed by fix_old_dry_orders
        {**common, "id": 2, "ft_trade_id": 1, "ft_order_side": "stoploss",
         "ft_pair": "ETH/BTC", "ft_is_open": True, "order_id": "dry_stop_1", "status": "open",
         "symbol": "ETH/BTC", "side": "sell", "price": None, "amount": None, "filled": 0.0,
         "remaining": None, "cost": None},
        # an open dry order of a trade that does not exist (orphan): closed too
        {**common, "id": 3, "ft_trade_id": 7, "ft_order_side": "buy", "ft_pair": "ADA/BTC",
         "ft_is_open": True, "order_id": "dry_orphan", "status": "open", "symbol": "ADA/BTC",
         "side": "buy", "price": 0.1, "amount": 10.0, "filled": 0.0, "remaining": 10.0,
         "cost": 0.0},
        # an open real order of the open trade: stays open
        {**common, "id": 4, "ft_trade_id": 1, "ft_order_side": "sell", "ft_pair": "ETH/BTC",
         "ft_is_open": True, "order_id": "x-4", "status": "open", "symbol": "ETH/BTC",
         "side": "sell", "price": 0.06, "amount": 2000.0, "filled": 0.0, "remaining": 2000.0,
         "cost": 0.0},
    ])
    conn.execute(locks.insert(), [
        {"id": 1, "pair": "BTC/USDT", "reason": "r", "lock_time": OPEN, "lock_end_time": CLOSE,
         "active": True},
        {"id": 5, "pair": "*", "reason": None, "lock_time": OPEN, "lock_end_time": CLOSE,
         "active": False},
    ])


def _build(url: str, build: Any, fill: Any) -> None:
    eng = sa.create_engine(url)
    md = sa.MetaData()
    build(md)
    md.create_all(eng)
    with eng.begin() as conn:
        fill(conn, md)
    eng.dispose()


def _rows(engine: sa.Engine, table: str) -> dict[int, dict[str, Any]]:
    q = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        return {r.id: dict(r._mapping)
                for r in conn.execute(sa.text(f"SELECT * FROM {q(table)} ORDER BY id"))}


def test_legacy_layout_2022_3(backend: str, backend_name: str) -> None:
    if backend_name == "sqlite-memory":
        pytest.skip("needs a database that outlives its engine")
    _build(backend, _legacy_2021, _fill_legacy_2021)
    with pytest.raises(MigrationRequiredError, match="freqtrade database"):
        init_db(backend, migrate="check")
    engine = init_db(backend)
    assert runner.last_result is not None and runner.last_result.action == "adopted"
    t = _rows(engine, "trades")
    assert t[1]["exchange"] == "binance"  # lower()
    assert t[1]["fee_open"] == t[1]["fee_close"] == 0.0025  # from `fee`
    assert t[1]["enter_tag"] == "tag_a"  # from `buy_tag`
    assert t[1]["exit_reason"] is None
    assert t[2]["exit_reason"] == "exit_signal"  # sell_signal renamed
    assert t[3]["exit_reason"] == "force_exit"  # force_sell renamed
    # ticker_interval '5m': SQLite keeps the text (as freqtrade); servers store minutes
    assert t[1]["timeframe"] == ("5m" if backend.startswith("sqlite") else 5)
    # open_trade_value = amount * open_rate * (1 + fee) = 2000 * 0.05 * 1.0025 = 100.25
    assert t[1]["open_trade_value"] == pytest.approx(100.25, rel=1e-12)
    # close_profit_abs = amount*close_rate*(1-fee) - open_trade_value
    #                  = 50*2.2*0.9975 - 50*2*1.0025 = 109.725 - 100.25 = 9.475
    assert t[2]["close_profit_abs"] == pytest.approx(9.475, rel=1e-12)
    assert t[1]["close_profit_abs"] is None  # close_rate is null on the open trade
    assert t[1]["max_stake_amount"] == t[1]["stake_amount"] == 100.0
    assert t[1]["amount_requested"] == 2000.0
    assert t[1]["realized_profit"] == 0.0 and t[1]["leverage"] == 1.0
    assert t[1]["interest_rate"] == 0.0 and t[1]["funding_fees"] == 0.0
    assert not t[1]["is_short"] and not t[1]["is_stop_loss_trailing"]
    assert t[1]["record_version"] == 1
    o = _rows(engine, "orders")
    assert [bool(o[i]["ft_is_open"]) for i in (1, 2, 3, 4)] == [False, False, False, True]
    assert o[2]["ft_amount"] == 0.0 and o[2]["ft_price"] == 0.0  # coalesce(null, 0.0)
    assert o[1]["ft_amount"] == 2000.0 and o[1]["ft_price"] == 0.05
    assert o[1]["funding_fee"] == 0.0 and o[1]["stop_price"] is None
    locks = _rows(engine, "pairlocks")
    assert [(k, v["side"], bool(v["active"])) for k, v in locks.items()] == \
        [(1, "*", True), (5, "*", False)]
    assert "trades_bak0" not in tables(backend)
    # ids continue after the highest copied id
    from tradeledger.models import PairLock, Trade

    lock = PairLock(pair="X/Y", side="*", lock_time=OPEN, lock_end_time=CLOSE, active=True)
    Trade.session.add(lock)
    Trade.session.commit()
    assert lock.id == 6


def test_fallbacks_apply_only_to_missing_columns(tmp_path: Path) -> None:
    """`stop_loss` exists in the old table: NULL stays NULL; missing `min_rate` is NULL,
    missing `stop_loss_pct` is NULL, and the trailing flag compares their coalesced values."""
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    _build(url, _legacy_2021, _fill_legacy_2021)
    engine = init_db(url)
    t = _rows(engine, "trades")
    assert t[2]["stop_loss"] is None and t[2]["max_rate"] is None
    assert t[2]["min_rate"] is None and t[2]["stop_loss_pct"] is None
    assert t[2]["is_stop_loss_trailing"] == 0


def test_pre_2022_3_database_is_too_old(backend: str, backend_name: str) -> None:
    if backend_name == "sqlite-memory":
        pytest.skip("needs a database that outlives its engine")

    def build(md: sa.MetaData) -> None:
        _legacy_2021(md)
        md.remove(md.tables["orders"])

    def fill(conn: sa.Connection, md: sa.MetaData) -> None:
        conn.execute(md.tables["trades"].insert(), [{
            "id": 1, "exchange": "binance", "pair": "A/B", "is_open": True, "fee": 0.001,
            "open_rate": 1.0, "stake_amount": 1.0, "amount": 1.0, "open_date": OPEN}])

    _build(backend, build, fill)
    before = snapshot(backend)
    with pytest.raises(SchemaTooOldError) as info:
        init_db(backend)
    assert str(info.value) == TOO_OLD_MESSAGE
    assert snapshot(backend) == before


def test_fix_wrong_max_stake_amount_and_kv_key_length(backend: str, backend_name: str) -> None:
    """2024.10-like layout: no record_version; 25-character KeyValueStore keys."""
    if backend_name == "sqlite-memory":
        pytest.skip("needs a database that outlives its engine")
    from tradeledger.migrations.baseline import baseline_metadata

    def build(md: sa.MetaData) -> None:
        base = baseline_metadata()
        for t in base.sorted_tables:
            t.to_metadata(md)
        trades = md.tables["trades"]
        trades._columns.remove(trades.c.record_version)  # type: ignore[attr-defined]
        kv = md.tables["KeyValueStore"]
        kv.c.key.type = sa.String(25)

    def fill(conn: sa.Connection, md: sa.MetaData) -> None:
        trades = md.tables["trades"]
        row = {c.name: None for c in trades.c}
        row.update(exchange="binance", pair="A/B", fee_open=0.0, fee_close=0.0,
                   open_rate=1.0, stake_amount=30.0, amount=90.0, open_date=OPEN,
                   is_stop_loss_trailing=False, is_short=False, interest_rate=0.0)
        conn.execute(trades.insert(), [
            {**row, "id": 1, "is_open": False, "leverage": 3.0, "max_stake_amount": 90.0},
            {**row, "id": 2, "is_open": True, "leverage": 3.0, "max_stake_amount": 90.0},
            {**row, "id": 3, "is_open": False, "leverage": 1.0, "max_stake_amount": 30.0},
        ])
        conn.execute(md.tables["KeyValueStore"].insert(), [
            {"id": 1, "key": "bot_start_time", "value_type": "datetime", "datetime_value": OPEN}])

    _build(backend, build, fill)
    engine = init_db(backend)
    t = _rows(engine, "trades")
    # closed and leveraged: 90 / 3 = 30 and record_version 2; others keep version 1
    assert (t[1]["max_stake_amount"], t[1]["record_version"]) == (30.0, 2)
    assert (t[2]["max_stake_amount"], t[2]["record_version"]) == (90.0, 1)
    assert (t[3]["max_stake_amount"], t[3]["record_version"]) == (30.0, 1)
    cols = {c["name"]: c for c in sa.inspect(engine).get_columns("KeyValueStore")}
    assert cols["key"]["type"].length == 50
    from tradeledger.models import KeyValueStore

    assert KeyValueStore.get_value("bot_start_time") == OPEN.replace(tzinfo=UTC)
    KeyValueStore.store_value("k" * 50, 1)


def test_mariadb_single_precision_floats_are_widened() -> None:
    """freqtrade on MariaDB created FLOAT (single precision) columns: rebuilt as DOUBLE."""
    from tests.conftest import create_server_database, require_backend
    from tradeledger.migrations.baseline import baseline_metadata

    require_backend("mariadb")
    url, drop = create_server_database("mariadb")
    try:
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            for t in baseline_metadata().sorted_tables:
                t.create(conn)
            conn.execute(sa.text("ALTER TABLE trades MODIFY open_rate FLOAT NOT NULL"))
        engine = init_db(url)
        assert runner.last_result is not None
        assert "rebuild trades, orders" in runner.last_result.details[0]
        cols = {c["name"]: c for c in sa.inspect(engine).get_columns("trades")}
        assert "DOUBLE" in str(cols["open_rate"]["type"]).upper()
        fks = sa.inspect(engine).get_foreign_keys("trade_custom_data")
        assert [fk["referred_table"] for fk in fks] == ["trades"]
        eng.dispose()
    finally:
        close_db()
        drop()


def test_sqlite_new_foreign_key_violation_aborts(tmp_path: Path) -> None:
    """A revision that would break foreign keys is rolled back (foreign_key_check)."""
    from tradeledger.migrations import runner as r

    url = f"sqlite:///{tmp_path / 'fk.sqlite'}"
    engine = create_db_engine(url)
    with engine.connect() as conn:
        r._run_upgrade(conn, r.get_script_directory(), r.BASELINE_REVISION)
        conn.commit()
    engine.dispose()
    original = r._create_unmigrated_tables

    def sabotage(conn: sa.Connection) -> list[str]:
        conn.exec_driver_sql("INSERT INTO orders (id, ft_trade_id, ft_order_side, ft_pair, "
                             "ft_is_open, ft_amount, ft_price, order_id) "
                             "VALUES (1, 99, 'buy', 'A/B', 1, 1, 1, 'x')")
        return original(conn)

    from tradeledger.exceptions import MigrationError

    mp = pytest.MonkeyPatch()
    mp.setattr(r, "_create_unmigrated_tables", sabotage)
    try:
        with pytest.raises(MigrationError, match="foreign keys"):
            init_db(url)
    finally:
        mp.undo()
    assert runner.current_revision(create_db_engine(url)) == "tl_0001"
    init_db(url)
    assert runner.current_revision(create_db_engine(url)) == runner.head_revision()


def test_postgresql_ddl_waits_only_briefly_for_a_running_bot() -> None:
    """A bot's open transaction on ``trades`` makes the migration give up after
    ``ddl_lock_timeout`` (instead of stalling every bot behind its ACCESS EXCLUSIVE request),
    with the database unchanged; once the bot commits, the migration goes through."""
    import time

    from tests.conftest import create_server_database, require_backend
    from tradeledger.exceptions import MigrationError

    require_backend("postgresql")
    url, drop = create_server_database("postgresql")
    try:
        _build(url, _legacy_2021, _fill_legacy_2021)
        bot = sa.create_engine(url)
        with bot.connect() as held:
            held.execute(sa.text("SELECT count(*) FROM trades")).scalar()  # ACCESS SHARE
            engine = create_db_engine(url)
            start = time.monotonic()
            with pytest.raises(MigrationError, match="lock"):
                runner.prepare_database(engine, ddl_lock_timeout=0.5)
            assert time.monotonic() - start < 10
            engine.dispose()
            held.rollback()
        bot.dispose()
        assert "trades_bak0" not in tables(url) and "alembic_version" not in tables(url)
        init_db(url)
        assert runner.last_result is not None and runner.last_result.action == "adopted"
    finally:
        close_db()
        drop()


@pytest.mark.parametrize("url_kind", ["memory", "file"])
def test_sqlite_foreign_key_setting_is_restored(url_kind: str, tmp_path: Path) -> None:
    """The migration turns foreign keys off for its rebuilds and puts the setting back as
    the engine had it (on for files, as init_db configures them; untouched for sqlite://)."""
    url = "sqlite://" if url_kind == "memory" else f"sqlite:///{tmp_path / 'fk.sqlite'}"
    engine = create_db_engine(url)
    with engine.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
    runner.prepare_database(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == before
    engine.dispose()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_ids_of_deleted_rows_are_never_reused(server: str) -> None:
    """The old sequence (PostgreSQL) / AUTO_INCREMENT (MariaDB) ran ahead of the highest id
    (rows were deleted): after adoption new ids continue after it, not after max(id)."""
    from tests.conftest import create_server_database, require_backend

    require_backend(server)
    url, drop = create_server_database(server)
    try:
        _build(url, _legacy_2021, _fill_legacy_2021)
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            if server == "postgresql":
                conn.execute(sa.text(
                    "SELECT setval(pg_get_serial_sequence('trades', 'id'), 100, true)"))
            else:
                conn.execute(sa.text("ALTER TABLE trades AUTO_INCREMENT = 101"))
        eng.dispose()
        init_db(url)
        assert runner.last_result is not None and runner.last_result.action == "adopted"
        from tradeledger.models import Trade

        t = Trade(pair="A/B", exchange="binance", open_rate=1.0, amount=1.0, stake_amount=1.0,
                  fee_open=0.0, fee_close=0.0, is_open=True)
        Trade.session.add(t)
        Trade.session.commit()
        assert t.id == 101  # the old counter's next value (max(id) is 3)
    finally:
        close_db()
        drop()
