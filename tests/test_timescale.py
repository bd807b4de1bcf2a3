"""TimescaleDB: detection, the fallback (nothing changed), and the generated SQL.

The extension is not installed on the test machine: what is checked against PostgreSQL is
the detection, the refusal, that the plan's SQL parses (TimescaleDB's functions are then
*undefined*, not a syntax error), that the primary-key step works, and that the autocommit
steps really run outside a transaction block.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from tests.conftest import create_server_database, require_backend
from tradeledger import TimescaleUnavailableError, close_db, init_db
from tradeledger.cli import app
from tradeledger.exceptions import InvalidValueError
from tradeledger.services import timescale as ts


@pytest.fixture
def pg() -> Iterator[tuple[str, Engine]]:
    require_backend("postgresql")
    url, drop = create_server_database("postgresql")
    try:
        yield url, init_db(url)
    finally:
        close_db()
        drop()


def schema_state(engine: Engine) -> dict[str, object]:
    insp = inspect(engine)
    with engine.connect() as conn:
        ext = conn.execute(text("SELECT extname FROM pg_extension ORDER BY 1")).scalars().all()
    return {t: (insp.get_pk_constraint(t)["constrained_columns"],
                sorted(str(i["name"]) for i in insp.get_indexes(t)))
            for t in ("tradeledger_journal", "wallet_history")} | {"ext": ext}


def test_plan_sql() -> None:
    steps = ts.plan("bot_a", install_extension=True, chunk_interval=timedelta(days=1),
                    compress_after=timedelta(days=14))
    sqls = [s.sql for s in steps]
    assert sqls[0] == "CREATE EXTENSION IF NOT EXISTS timescaledb"
    # journal: primary key first (in a transaction), then the hypertable calls (autocommit)
    assert sqls[1] == ('ALTER TABLE "bot_a"."tradeledger_journal" DROP CONSTRAINT '
                       '"tradeledger_journal_pkey", ADD CONSTRAINT "tradeledger_journal_pkey" '
                       'PRIMARY KEY (id, "created_at")')
    assert sqls[2] == ("SELECT create_hypertable('\"bot_a\".\"tradeledger_journal\"', "
                       "'created_at', chunk_time_interval => INTERVAL '86400 seconds', "
                       "migrate_data => true, if_not_exists => true)")
    assert sqls[3] == ('ALTER TABLE "bot_a"."tradeledger_journal" SET (timescaledb.compress, '
                       "timescaledb.compress_orderby = 'created_at DESC, id DESC', "
                       "timescaledb.compress_segmentby = 'entity')")
    assert sqls[4] == ("SELECT add_compression_policy('\"bot_a\".\"tradeledger_journal\"', "
                       "INTERVAL '1209600 seconds', if_not_exists => true)")
    assert "wallet_history" in sqls[5] and '(id, "timestamp")' in sqls[5]
    assert "'timestamp'" in sqls[6] and "compress_segmentby = 'currency'" in sqls[7]
    assert [s.autocommit for s in steps] == [True, False, True, True, True,
                                             False, True, True, True]
    # already done: only what is missing is planned (the policy call is idempotent)
    again = ts.plan("public", primary_keys={"tradeledger_journal": ("id", "created_at"),
                                            "wallet_history": ("id", "timestamp")},
                    hypertables=("tradeledger_journal", "wallet_history"),
                    compressed=("tradeledger_journal", "wallet_history"))
    assert [s.sql.split("(")[0] for s in again] == ["SELECT add_compression_policy"] * 2
    with pytest.raises(InvalidValueError, match="chunk_interval"):
        ts.plan("public", chunk_interval=timedelta(0))
    with pytest.raises(InvalidValueError, match="compress_after"):
        ts.plan("public", compress_after=7)  # type: ignore[arg-type]


def test_sqlite_is_refused_clearly(tmp_path: Path) -> None:
    engine = init_db(f"sqlite:///{tmp_path / 'x.sqlite'}")
    st = ts.detect(engine)
    assert not st.available and "PostgreSQL" in st.reason
    with pytest.raises(TimescaleUnavailableError, match="Nothing was changed"):
        ts.enable(engine)


def test_postgres_without_timescale_changes_nothing(pg: tuple[str, Engine]) -> None:
    url, engine = pg
    st = ts.detect(engine)
    assert (st.available, st.installed, st.dialect) == (False, False, "postgresql")
    assert "pg_available_extensions" in st.reason
    before = schema_state(engine)
    with pytest.raises(TimescaleUnavailableError, match=r"not available.*Nothing was changed"):
        ts.enable(engine)
    with pytest.raises(TimescaleUnavailableError):
        ts.enable(engine, dry_run=True)
    runner = CliRunner()
    res = runner.invoke(app, ["timescale", "enable", "--db", url])
    assert res.exit_code == 1
    flat = " ".join(res.output.split())  # rich wraps at the terminal width
    assert "not available" in flat and "Nothing was changed" in flat
    res = runner.invoke(app, ["timescale", "status", "--db", url])
    assert res.exit_code == 0 and "not available" in res.output
    assert schema_state(engine) == before


def test_plan_sql_is_valid_postgresql(pg: tuple[str, Engine]) -> None:
    """Each statement parses; the primary-key steps run; TimescaleDB's calls are undefined."""
    _, engine = pg
    steps = ts.plan("public")
    for step in steps:
        with engine.connect() as conn:
            try:
                conn.execute(text(step.sql))
                outcome = "ok"
            except DBAPIError as exc:
                outcome = getattr(exc.orig, "sqlstate", "?")
            conn.rollback()
        assert outcome != "42601", f"syntax error in {step.sql}"
        if step.sql.startswith("ALTER TABLE") and "PRIMARY KEY" in step.sql:
            assert outcome == "ok", step.sql
        elif "create_hypertable" in step.sql or "add_compression_policy" in step.sql:
            assert outcome == "42883", step.sql  # undefined_function: only the extension lacks


def test_enable_runs_autocommit_steps_outside_a_transaction(
        pg: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch) -> None:
    """With TimescaleDB simulated as present, ``enable`` executes the plan in order; VACUUM
    stands in for the calls that refuse to run inside a transaction block."""
    _, engine = pg
    monkeypatch.setattr(ts, "detect", lambda e: ts.TimescaleStatus(
        "postgresql", True, True, "2.17.0"))
    pk_step = ts.plan("public")[0]
    fake = [pk_step, ts.Step("VACUUM tradeledger_journal", True, "stands in")]
    monkeypatch.setattr(ts, "plan", lambda *a, **k: fake)
    result = ts.enable(engine)
    assert result.steps == fake
    assert inspect(engine).get_pk_constraint("tradeledger_journal")["constrained_columns"] == [
        "id", "created_at"]
    dry = ts.enable(engine, dry_run=True)
    assert dry.dry_run and dry.to_dict()["steps"][1]["autocommit"] is True
