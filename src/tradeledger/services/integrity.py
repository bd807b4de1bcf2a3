"""Integrity checks of a database: storage-level checks plus the library's invariants.

:func:`check_database` reads (never writes) a database through a plain engine, so it also
works on a database that ``init_db`` would refuse or would have to migrate (an old freqtrade
file, a damaged copy). Each problem becomes one :class:`Finding`:

==========================  ======================================================================
code                        meaning
==========================  ======================================================================
sqlite_integrity            ``PRAGMA integrity_check`` did not answer ``ok`` (SQLite only)
foreign_key                 ``PRAGMA foreign_key_check`` found a dangling reference (SQLite only)
orphan_order                an order whose ``ft_trade_id`` names no existing trade
duplicate_order             two orders with the same ``(ft_pair, order_id)``
null_required               NULL in a column the schema declares NOT NULL
amount_mismatch             an open trade's ``amount`` differs from its filled entries minus
                            its filled exits (only trades with at least one filled order)
future_date                 a trade, order or lock date later than now (+ a tolerance)
closed_without_close_data   a closed trade without ``close_date``, ``close_rate`` or
                            ``close_profit_abs``
close_before_open           ``close_date`` earlier than ``open_date``
==========================  ======================================================================

Tables or columns missing from an older schema are skipped (and listed in ``skipped``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

__all__ = ["CHECKS", "Finding", "IntegrityReport", "check_database"]

CHECKS = (
    "sqlite_integrity",
    "foreign_key",
    "orphan_order",
    "duplicate_order",
    "null_required",
    "amount_mismatch",
    "future_date",
    "closed_without_close_data",
    "close_before_open",
)

#: Relative tolerance of the amount comparison (contract-precision rounding, float sums).
AMOUNT_REL_TOL = 1e-6
AMOUNT_ABS_TOL = 1e-9
#: Dates up to this far in the future are accepted (clock skew between hosts).
FUTURE_TOLERANCE = timedelta(minutes=5)

_DATE_COLUMNS = {
    "trades": ("open_date", "close_date"),
    "orders": ("order_date", "order_filled_date", "order_update_date"),
    "pairlocks": ("lock_time",),
}
#: Columns the freqtrade 2026.9 schema declares NOT NULL (primary keys left out).
_REQUIRED = {
    "trades": ("exchange", "pair", "is_open", "fee_open", "fee_close", "open_rate",
               "stake_amount", "amount", "open_date", "is_stop_loss_trailing", "is_short",
               "interest_rate", "record_version"),
    "orders": ("ft_trade_id", "ft_order_side", "ft_pair", "ft_is_open", "ft_amount",
               "ft_price", "order_id"),
    "pairlocks": ("pair", "side", "lock_time", "lock_end_time", "active"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found by :func:`check_database`."""

    code: str
    table: str
    row_id: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"code": self.code, "table": self.table, "row_id": self.row_id,
                "message": self.message}


@dataclass
class IntegrityReport:
    """Every finding, the row counts checked and the checks that could not run."""

    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing was found."""
        return not self.findings

    def by_code(self) -> dict[str, list[Finding]]:
        """The findings grouped by code."""
        out: dict[str, list[Finding]] = defaultdict(list)
        for f in self.findings:
            out[f.code].append(f)
        return dict(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": self.ok, "counts": self.counts, "skipped": self.skipped,
                "findings": [f.to_dict() for f in self.findings]}


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=AMOUNT_REL_TOL, abs_tol=AMOUNT_ABS_TOL)


class _Checker:
    def __init__(self, engine: Engine, now: datetime, tolerance: timedelta) -> None:
        self.engine = engine
        self.now = now
        self.limit = now + tolerance
        self.report = IntegrityReport()
        insp = sa.inspect(engine)
        self.md = sa.MetaData()
        self.tables: dict[str, sa.Table] = {}
        for name in ("trades", "orders", "pairlocks"):
            if insp.has_table(name):
                table = sa.Table(name, self.md, autoload_with=engine)
                for col in table.columns:
                    # raw driver values: a damaged file may declare odd types
                    col.type = sa.types.NullType()
                self.tables[name] = table
            else:
                self.report.skipped.append(f"table {name} (missing)")

    def add(self, code: str, table: str, row_id: Any, message: str) -> None:
        rid = None if row_id is None else int(row_id)
        self.report.findings.append(Finding(code, table, rid, message))

    def cols(self, table: str, names: Iterable[str]) -> list[str]:
        t = self.tables[table]
        present = [n for n in names if n in t.c]
        for n in names:
            if n not in t.c:
                self.report.skipped.append(f"column {table}.{n} (missing)")
        return present

    def run(self, conn: sa.Connection) -> IntegrityReport:
        for name, t in self.tables.items():
            self.report.counts[name] = int(conn.scalar(sa.select(sa.func.count()).select_from(t))
                                           or 0)
        if self.engine.dialect.name == "sqlite":
            self.sqlite(conn)
        if "orders" in self.tables:
            self.orphans(conn)
            self.duplicates(conn)
        self.nulls(conn)
        if "trades" in self.tables:
            self.amounts(conn)
            self.closed(conn)
        self.dates(conn)
        return self.report

    def sqlite(self, conn: sa.Connection) -> None:
        rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").fetchall()]
        if rows != ["ok"]:
            for text in rows[:50]:
                self.add("sqlite_integrity", "*", None, str(text))
        for row in conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()[:200]:
            self.add("foreign_key", str(row[0]), row[1],
                     f"row {row[1]} of {row[0]} references a missing row of {row[2]}")

    def orphans(self, conn: sa.Connection) -> None:
        o = self.tables["orders"]
        if "trades" not in self.tables:
            return
        t = self.tables["trades"]
        stmt = (sa.select(o.c.id, o.c.ft_trade_id, o.c.order_id, o.c.ft_pair)
                .select_from(o.outerjoin(t, o.c.ft_trade_id == t.c.id))
                .where(t.c.id.is_(None)).order_by(o.c.id))
        for row in conn.execute(stmt):
            self.add("orphan_order", "orders", row.id,
                     f"order {row.order_id!r} ({row.ft_pair}) belongs to trade "
                     f"{row.ft_trade_id}, which does not exist")

    def duplicates(self, conn: sa.Connection) -> None:
        o = self.tables["orders"]
        stmt = (sa.select(o.c.ft_pair, o.c.order_id, sa.func.count().label("n"),
                          sa.func.min(o.c.id).label("first"))
                .group_by(o.c.ft_pair, o.c.order_id).having(sa.func.count() > 1))
        for row in conn.execute(stmt):
            self.add("duplicate_order", "orders", row.first,
                     f"order id {row.order_id!r} on {row.ft_pair} is stored {row.n} times")

    def nulls(self, conn: sa.Connection) -> None:
        for table, names in _REQUIRED.items():
            if table not in self.tables:
                continue
            t = self.tables[table]
            for name in self.cols(table, names):
                stmt = sa.select(t.c.id).where(t.c[name].is_(None)).order_by(t.c.id).limit(100)
                for (rid,) in conn.execute(stmt):
                    self.add("null_required", table, rid,
                             f"{table}.{name} is NULL in row {rid} (the column is required)")

    def amounts(self, conn: sa.Connection) -> None:
        if "orders" not in self.tables:
            return
        t, o = self.tables["trades"], self.tables["orders"]
        tcols = self.cols("trades", ("is_short", "amount", "pair"))
        ocols = self.cols("orders", ("ft_order_side", "ft_is_open", "filled", "ft_fee_base"))
        if len(tcols) < 3 or len(ocols) < 3:
            return
        open_trades = {r.id: r for r in conn.execute(
            sa.select(t.c.id, t.c.pair, t.c.amount, t.c.is_short)
            .where(t.c.is_open == sa.true()))}
        if not open_trades:
            return
        fee_base = o.c.ft_fee_base if "ft_fee_base" in o.c else sa.literal(None)
        stmt = (sa.select(o.c.ft_trade_id, o.c.ft_order_side, o.c.filled,
                          fee_base.label("fee_base"))
                .where(o.c.ft_trade_id.in_(list(open_trades)), o.c.ft_is_open == sa.false(),
                       o.c.filled > 0))
        held: dict[int, float] = defaultdict(float)
        seen: set[int] = set()
        for row in conn.execute(stmt):
            trade = open_trades[row.ft_trade_id]
            entry = "sell" if trade.is_short else "buy"
            filled = float(row.filled or 0.0)
            if row.ft_order_side == entry:
                held[row.ft_trade_id] += filled - float(row.fee_base or 0.0)
            else:
                held[row.ft_trade_id] -= filled
            seen.add(row.ft_trade_id)
        for tid in sorted(seen):
            trade = open_trades[tid]
            amount = float(trade.amount or 0.0)
            if not _close(amount, held[tid]):
                self.add("amount_mismatch", "trades", tid,
                         f"open trade {tid} ({trade.pair}) has amount {amount!r}, its filled "
                         f"orders give {held[tid]!r}")

    def closed(self, conn: sa.Connection) -> None:
        t = self.tables["trades"]
        need = self.cols("trades", ("close_date", "close_rate", "close_profit_abs"))
        stmt = sa.select(t.c.id, t.c.pair, t.c.open_date, *[t.c[n] for n in need]).where(
            t.c.is_open == sa.false()).order_by(t.c.id)
        for row in conn.execute(stmt):
            missing = [n for n in need if getattr(row, n) is None]
            if missing:
                self.add("closed_without_close_data", "trades", row.id,
                         f"closed trade {row.id} ({row.pair}) has no {', '.join(missing)}")
            opened = _aware(row.open_date)
            closed = _aware(getattr(row, "close_date", None))
            if opened is not None and closed is not None and closed < opened:
                self.add("close_before_open", "trades", row.id,
                         f"trade {row.id} closed at {closed:%Y-%m-%d %H:%M:%S} before it "
                         f"opened at {opened:%Y-%m-%d %H:%M:%S}")

    def dates(self, conn: sa.Connection) -> None:
        for table, names in _DATE_COLUMNS.items():
            if table not in self.tables:
                continue
            t = self.tables[table]
            present = self.cols(table, names)
            if not present:
                continue
            stmt = sa.select(t.c.id, *[t.c[n] for n in present]).order_by(t.c.id)
            for row in conn.execute(stmt):
                for name in present:
                    value = _aware(getattr(row, name))
                    if value is not None and value > self.limit:
                        self.add("future_date", table, row.id,
                                 f"{table}.{name} of row {row.id} is in the future: "
                                 f"{value:%Y-%m-%d %H:%M:%S} (now {self.now:%Y-%m-%d %H:%M:%S})")


def check_database(engine: Engine, *, now: datetime | None = None,
                   tolerance: timedelta = FUTURE_TOLERANCE) -> IntegrityReport:
    """Run every check on the database behind ``engine`` (read-only).

    Args:
        engine: any SQLAlchemy engine (SQLite, PostgreSQL, MariaDB/MySQL).
        now: the reference for ``future_date`` (default: now, UTC).
        tolerance: how far in the future a date may lie (clock skew).

    Returns:
        The report; ``report.ok`` is True when nothing was found.
    """
    reference = _aware(now) if now is not None else datetime.now(UTC)
    assert reference is not None
    checker = _Checker(engine, reference, tolerance)
    with engine.connect() as conn:
        return checker.run(conn)
