"""Optional ``tl_`` indexes that make the analytics fast on large databases.

They are defined here, in one place, so that a migration (Alembic revision) can create them
with :func:`create_analytics_indexes` and drop them with :func:`drop_analytics_indexes`;
both are idempotent. freqtrade ignores extra indexes, so a database carrying them still
opens in freqtrade.

* ``tl_ix_trades_closed_hour``: the hourly ``GROUP BY`` of the closed trades (profit per
  day/week/month, equity curve, risk ratios, the drawdown's bounds) read from the index
  alone, and the trades of a few chosen hours found without a scan.
  SQLite: expression index ``(is_open, strftime('%Y-%m-%d %H:00:00', close_date),
  close_profit_abs, stake_amount, close_date)``; PostgreSQL: partial expression index on
  ``date_trunc('hour', close_date) INCLUDE (close_date, id, close_profit_abs, stake_amount)
  WHERE is_open = false``. The base column is in the index too, else PostgreSQL and SQLite
  read the table for every row; the expression also gives PostgreSQL statistics on the
  number of hours. MariaDB has no expression indexes: not created there.
* ``tl_ix_trades_closed_seq``: closed trades in ``(close_date, id)`` order with their
  profit and open date, for the drawdown's window functions (no sort, no table access).
* ``tl_ix_trades_closed_duration``: closed trades ordered by their duration in seconds (the
  expression of :func:`~tradeledger.services.analytics._sql.duration_seconds_expr`) with
  both profits and both dates: the trade statistics' aggregate reads the index alone and
  their median duration is an index walk instead of a sort of every closed trade (SQLite,
  PostgreSQL).
* ``tl_ix_trades_closed_ratio``: closed trades by ``(close_profit, id)``: the best and worst
  trade are one index probe each (every backend).

The expressions must stay identical to those of
:func:`~tradeledger.services.analytics._sql.hour_expr` and
:func:`~tradeledger.services.analytics._sql.duration_seconds_expr`
(``tests/test_analytics_sql.py`` checks that the planner uses them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from tradeledger.services.analytics._sql import normalise_dialect

__all__ = ["ANALYTICS_INDEXES", "create_analytics_indexes", "drop_analytics_indexes"]

#: ``{dialect: {index name: CREATE statement}}``.
ANALYTICS_INDEXES: dict[str, dict[str, str]] = {
    "sqlite": {
        "tl_ix_trades_closed_hour": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_hour ON trades "
            "(is_open, strftime('%Y-%m-%d %H:00:00', close_date), close_profit_abs, stake_amount, "
            "close_date)"
        ),
        "tl_ix_trades_closed_seq": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_seq ON trades "
            "(is_open, close_date, id, close_profit_abs, open_date)"
        ),
        "tl_ix_trades_closed_duration": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_duration ON trades "
            "(is_open, CAST(round((julianday(close_date) - julianday(open_date)) * 86400.0, 3) "
            "AS FLOAT), close_profit_abs, close_profit, open_date, close_date)"
        ),
        "tl_ix_trades_closed_ratio": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_ratio ON trades "
            "(is_open, close_profit, id)"
        ),
    },
    "postgresql": {
        "tl_ix_trades_closed_hour": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_hour ON trades "
            "((date_trunc('hour', close_date))) "
            "INCLUDE (close_date, id, close_profit_abs, stake_amount) WHERE is_open = false"
        ),
        "tl_ix_trades_closed_seq": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_seq ON trades (close_date, id) "
            "INCLUDE (close_profit_abs, open_date) WHERE is_open = false"
        ),
        "tl_ix_trades_closed_duration": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_duration ON trades "
            "((CAST(round(EXTRACT(epoch FROM close_date - open_date), 3) AS FLOAT))) "
            "INCLUDE (close_profit_abs, close_profit, open_date, close_date) "
            "WHERE is_open = false"
        ),
        "tl_ix_trades_closed_ratio": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_ratio ON trades "
            "(close_profit, id) WHERE is_open = false"
        ),
    },
    "mysql": {
        "tl_ix_trades_closed_seq": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_seq ON trades "
            "(is_open, close_date, id, close_profit_abs, open_date)"
        ),
        "tl_ix_trades_closed_ratio": (
            "CREATE INDEX IF NOT EXISTS tl_ix_trades_closed_ratio ON trades "
            "(is_open, close_profit, id)"
        ),
    },
}


def _run(bind: Engine | Connection, statements: list[str]) -> None:
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            for stmt in statements:
                conn.execute(text(stmt))
    else:
        for stmt in statements:
            bind.execute(text(stmt))


def create_analytics_indexes(bind: Engine | Connection | Any) -> list[str]:
    """Create the ``tl_`` analytics indexes of ``bind``'s dialect (if missing); their names."""
    indexes = ANALYTICS_INDEXES[normalise_dialect(bind.dialect.name)]
    _run(bind, list(indexes.values()))
    return list(indexes)


def drop_analytics_indexes(bind: Engine | Connection | Any) -> list[str]:
    """Drop the ``tl_`` analytics indexes (if present); their names."""
    dialect = normalise_dialect(bind.dialect.name)
    names = list(ANALYTICS_INDEXES[dialect])
    if dialect == "mysql":
        stmts = [f"DROP INDEX IF EXISTS {name} ON trades" for name in names]
    else:
        stmts = [f"DROP INDEX IF EXISTS {name}" for name in names]
    _run(bind, stmts)
    return names
