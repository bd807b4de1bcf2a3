"""SQL generation of the analytics service: date buckets per dialect and TimescaleDB.

TimescaleDB cannot be installed here, so its path is checked twice: the SQL compiled for
PostgreSQL with ``timescale=True`` uses ``time_bucket`` (in SELECT and GROUP BY), and on the
real PostgreSQL server a stand-in ``time_bucket(interval, timestamp)`` SQL function with
TimescaleDB's documented semantics (buckets aligned on the origin Monday 2000-01-03) is
created in the test database, so that both paths run and must give identical results.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import column, insert, select, text
from sqlalchemy.dialects import mysql, postgresql, sqlite

import tradeledger
from tests.conftest import make_backend_url
from tradeledger.models import Trade
from tradeledger.services.analytics import AnalyticsService, TradeFilter
from tradeledger.services.analytics._sql import (
    bucket_expr,
    detect_timescale,
    duration_seconds_expr,
    to_date,
)
from tradeledger.services.analytics.context import QueryContext
from tradeledger.services.analytics.periods import daily_rows
from tradeledger.services.analytics.stats import trade_stats

TIME_BUCKET_STANDIN = """
CREATE FUNCTION time_bucket(bucket_width interval, ts timestamp) RETURNS timestamp
LANGUAGE sql IMMUTABLE AS $$
  SELECT timestamp '2000-01-03 00:00:00'
         + floor(extract(epoch FROM ts - timestamp '2000-01-03 00:00:00')
                 / extract(epoch FROM bucket_width)) * bucket_width
$$
"""


def sql(expr: Any, dialect: Any) -> str:
    return str(expr.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def test_bucket_sql_per_dialect() -> None:
    col = column("close_date")
    pg = postgresql.dialect()
    assert sql(bucket_expr(col, "day", "postgresql"), pg) == \
        "CAST(date_trunc('day', close_date) AS DATE)"
    assert sql(bucket_expr(col, "day", "postgresql", timescale=True), pg) == \
        "CAST(time_bucket(INTERVAL '1 day', close_date) AS DATE)"
    assert sql(bucket_expr(col, "week", "postgresql", timescale=True), pg) == \
        "CAST(time_bucket(INTERVAL '1 week', close_date) AS DATE)"
    # months are calendar months: date_trunc on both paths
    assert "date_trunc('month'" in sql(bucket_expr(col, "month", "postgresql", timescale=True), pg)
    assert sql(bucket_expr(col, "week", "sqlite"), sqlite.dialect()) == \
        "date(close_date, 'weekday 0', '-6 days')"
    assert sql(bucket_expr(col, "month", "mysql"), mysql.dialect()) == \
        "subdate(date(close_date), dayofmonth(close_date) - 1)"
    assert "julianday" in sql(duration_seconds_expr(col, col, "sqlite"), sqlite.dialect())
    assert "EXTRACT(epoch" in sql(duration_seconds_expr(col, col, "postgresql"), pg)
    assert "timestampdiff(MICROSECOND" in sql(duration_seconds_expr(col, col, "mysql"),
                                              mysql.dialect())


def test_timescale_statement_groups_by_time_bucket() -> None:
    """Days come from an hourly GROUP BY: ``time_bucket('1 hour')`` with TimescaleDB."""
    captured: list[Any] = []

    class Capture:
        def execute(self, stmt: Any) -> list[Any]:
            captured.append(stmt)
            return []

    ctx = QueryContext(bind=Capture(), dialect="postgresql", timescale=True)
    assert daily_rows(ctx, TradeFilter(pairs="BTC/USDT"), "day") == []
    compiled = str(captured[0].compile(dialect=postgresql.dialect()))
    select_part, group_part = compiled.split("GROUP BY")
    assert "time_bucket(INTERVAL '1 hour', trades.close_date)" in select_part
    assert "time_bucket(INTERVAL '1 hour', trades.close_date)" in group_part
    ctx2 = QueryContext(bind=Capture(), dialect="postgresql", timescale=False)
    daily_rows(ctx2, TradeFilter(), "week")
    plain = str(captured[1].compile(dialect=postgresql.dialect()))
    assert "time_bucket" not in plain and "date_trunc('hour', trades.close_date)" in plain


def test_indexes_match_the_query_expressions(tmp_path: Path) -> None:
    """The planner uses the tl_ indexes for the hourly GROUP BY and the drawdown (SQLite)."""
    from tradeledger.services.analytics.indexes import (
        create_analytics_indexes,
        drop_analytics_indexes,
    )
    from tradeledger.services.analytics.periods import hourly_rows

    engine = tradeledger.init_db(f"sqlite:///{tmp_path / 'ix.sqlite'}")
    assert create_analytics_indexes(engine) == create_analytics_indexes(engine)  # idempotent
    captured: list[Any] = []

    class Capture:
        def execute(self, stmt: Any) -> list[Any]:
            captured.append(stmt)
            return []

    hourly_rows(QueryContext(bind=Capture(), dialect="sqlite"), TradeFilter(), detail=True)
    sql_text = str(captured[0].compile(dialect=sqlite.dialect(),
                                       compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = " ".join(str(r) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql_text)))
    assert "tl_ix_trades_closed_hour" in plan
    assert set(drop_analytics_indexes(engine)) == {
        "tl_ix_trades_closed_hour", "tl_ix_trades_closed_seq", "tl_ix_trades_closed_duration",
        "tl_ix_trades_closed_ratio"}
    tradeledger.close_db()


def _stats_statements(dialect: Any, name: str) -> list[str]:
    """The SQL of ``trade_stats`` (unfiltered) as text with literal values."""
    captured: list[Any] = []

    class Capture:
        def execute(self, stmt: Any) -> Any:
            captured.append(stmt)

            class Row:
                n = 3
                n_duration = 3
                wins = losses = total = gross_profit = gross_loss = avg_ratio = None
                avg_duration = None

            class Res:
                def one(self) -> Any:
                    return Row()

                def __iter__(self) -> Any:  # the per-block aggregate: n = 3, 3 durations
                    return iter([(3, None, None, None, None, None, None, 0, None, 3)])

                def scalars(self) -> list[Any]:
                    return [1.0]

                def first(self) -> None:
                    return None

            return Res()

    trade_stats(QueryContext(bind=Capture(), dialect=name), TradeFilter())
    return [str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            for stmt in captured]


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql", "mariadb"])
def test_trade_stats_indexes_match_the_query_expressions(backend: str, tmp_path: Path) -> None:
    """The median duration and best / worst trade are index walks, not sorts of every trade."""
    from tradeledger.services.analytics._sql import normalise_dialect
    from tradeledger.services.analytics.indexes import create_analytics_indexes

    url, drop = make_backend_url(backend, tmp_path)
    try:
        engine = tradeledger.init_db(url)
        created = create_analytics_indexes(engine)
        name = normalise_dialect(engine.dialect.name)
        median, best, worst = _stats_statements(engine.dialect, name)[1:]
        assert "ORDER BY" in median and "close_profit DESC" in best
        expected = {"sqlite": ["tl_ix_trades_closed_duration", "tl_ix_trades_closed_ratio"],
                    "postgresql": ["tl_ix_trades_closed_duration", "tl_ix_trades_closed_ratio"],
                    "mysql": ["tl_ix_trades_closed_ratio"]}[name]
        assert set(expected) <= set(created)
        with engine.connect() as conn:
            if name == "postgresql":  # an empty table: make the planner show what it could use
                conn.execute(text("SET enable_seqscan = off"))
                conn.execute(text("SET enable_sort = off"))
            prefix = "EXPLAIN QUERY PLAN " if name == "sqlite" else "EXPLAIN "
            plans = [" ".join(str(r) for r in conn.execute(text(prefix + q)))
                     for q in (median, best, worst)]
        if "tl_ix_trades_closed_duration" in expected:
            assert "tl_ix_trades_closed_duration" in plans[0], plans[0]
            assert "TEMP B-TREE" not in plans[0] and "Sort" not in plans[0], plans[0]
        assert "tl_ix_trades_closed_ratio" in plans[1], plans[1]
        assert "tl_ix_trades_closed_ratio" in plans[2], plans[2]
        tradeledger.close_db()
    finally:
        drop()


def test_to_date_normalises_backend_values() -> None:
    assert to_date("2024-03-04") == to_date(datetime(2024, 3, 4, 5)) == \
        datetime(2024, 3, 4).date()


def _trades(n: int = 400) -> list[dict[str, Any]]:
    rng = random.Random(3)
    base = datetime(2023, 12, 20, tzinfo=UTC)
    out = []
    for i in range(1, n + 1):
        opened = base + timedelta(seconds=rng.randrange(0, 70 * 86400))
        # closes often land within a minute of midnight, where bucket slips would show
        closed = (opened + timedelta(days=rng.randrange(0, 3))).replace(
            hour=rng.choice([0, 23, 12]), minute=rng.choice([0, 59, 30]),
            second=rng.choice([0, 59]))
        closed = max(closed, opened)
        out.append({"id": i, "exchange": "binance", "pair": "BTC/USDT", "is_open": False,
                    "open_rate": 100.0, "amount": 1.0, "stake_amount": 100.0,
                    "fee_open": 0.0, "fee_close": 0.0, "open_date": opened,
                    "close_date": closed, "close_profit_abs": round(rng.uniform(-5, 5), 6),
                    "close_profit": 0.01, "is_short": False, "is_stop_loss_trailing": False,
                    "interest_rate": 0.0, "record_version": 2, "leverage": 1.0})
    return out


def test_timescale_path_gives_identical_results_on_postgresql(tmp_path: Path) -> None:
    url, drop = make_backend_url("postgresql", tmp_path)
    try:
        engine = tradeledger.init_db(url)
        assert detect_timescale(engine) is False  # the extension is not installed here
        with engine.begin() as conn:
            conn.execute(text(TIME_BUCKET_STANDIN))
            conn.execute(insert(Trade.__table__), _trades())
        plain = AnalyticsService(engine, timescale=False)
        tsdb = AnalyticsService(engine, timescale=True)
        assert tsdb.context.timescale and not plain.context.timescale
        with engine.connect() as conn:  # the stand-in is really used by the timescale path
            got = conn.execute(select(bucket_expr(
                text("timestamp '2024-01-07 23:59:59'"), "week", "postgresql", timescale=True
            ))).scalar()
        assert str(got) == "2024-01-01"
        for granularity in ("day", "week", "month"):
            a = plain.profit_by_period(granularity).to_dict()  # type: ignore[arg-type]
            b = tsdb.profit_by_period(granularity).to_dict()  # type: ignore[arg-type]
            assert a == b and len(a["rows"]) >= 3
        assert plain.risk(1000).to_dict() == tsdb.risk(1000).to_dict()
        assert plain.equity_curve(1000).to_dict() == tsdb.equity_curve(1000).to_dict()
        # and both agree with SQLite on the same trades
        lite = AnalyticsService.from_trades(tradeledger.LocalTrade(**t) for t in _trades())
        ours = lite.profit_by_period("week").to_dict()
        assert [r["period_start"] for r in ours["rows"]] == \
            [r["period_start"] for r in plain.profit_by_period("week").to_dict()["rows"]]
    finally:
        drop()


def test_detect_timescale_is_false_off_postgresql() -> None:
    lite = AnalyticsService.from_trades([])
    assert lite.context.timescale is False
    assert detect_timescale(object()) is False
