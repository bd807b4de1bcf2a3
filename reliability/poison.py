"""Poison rows and version skew: one bad row must not brick start-up; a newer schema is refused.

Per backend (SQLite file, PostgreSQL, MariaDB), ``--size`` rounds; each round builds a
database with healthy trades (an open one with a filled entry and an open exit order, a
closed one, locks), then plants, the way a hand edit or another tool would:

* a trade with NULL in a required column (``open_rate``; the NOT NULL constraint is dropped
  first, as an old or hand-edited schema would have it);
* two orders with the same ``(ft_pair, order_id)`` (the unique constraint dropped first);
* an orphan order (its trade id does not exist; foreign keys off for that insert);
* an open trade on a pair the exchange no longer lists (``BadSymbol``).

Then: ``init_db`` succeeds, the recovery report builds, open trades load, the healthy open
trade still takes its fill and closes, a lock can be set, reconciliation marks the delisted
pair ``pair_unavailable`` instead of failing, and ``tradeledger check --json`` (exit 10)
reports the NULL, the duplicate and the orphan.

Version skew: a database stamped with an unknown newer revision is refused by ``init_db``
(``migrate="auto"`` and ``"check"``) with :class:`SchemaTooNewError` naming both revisions, and
the database is byte-for-byte (SQLite) / row-for-row (servers) unchanged.

Usage: ``python -m reliability.poison --size 20``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text

from reliability.common import (
    SECRET_PASSWORD,
    Database,
    Figures,
    LogScanner,
    add_backends_arg,
    new_database,
    parse_backends,
    parser,
    run_main,
    workdir,
)

ROOT = Path(__file__).resolve().parents[1]
_CLI = "import sys; sys.argv[0] = 'tradeledger'; from tradeledger.cli import main; main()"


def _relax_constraints(db: Database, eng: Engine) -> None:
    """Drop NOT NULL on trades.open_rate and the orders unique constraint (a hand edit)."""
    if db.backend == "postgresql":
        with eng.begin() as conn:
            conn.execute(text("ALTER TABLE trades ALTER COLUMN open_rate DROP NOT NULL"))
            conn.execute(text("ALTER TABLE orders DROP CONSTRAINT _order_pair_order_id"))
    elif db.backend == "mariadb":
        with eng.begin() as conn:
            conn.execute(text("ALTER TABLE trades MODIFY open_rate DOUBLE NULL"))
            conn.execute(text("ALTER TABLE orders DROP INDEX _order_pair_order_id"))
    else:
        with eng.connect() as conn:
            ddl = {r[0]: r[1] for r in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE name IN ('trades', 'orders')")}
            new_trades = ddl["trades"].replace("open_rate FLOAT NOT NULL", "open_rate FLOAT")
            new_orders = ddl["orders"]
            new_orders = re.sub(r"CONSTRAINT _order_pair_order_id UNIQUE \(ft_pair, order_id\),"
                                r"\s*", "", new_orders)
            if new_trades == ddl["trades"] or new_orders == ddl["orders"]:
                raise RuntimeError(f"unexpected SQLite DDL: {ddl}")
            conn.exec_driver_sql("PRAGMA writable_schema = ON")
            conn.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE name = 'trades'",
                                 (new_trades,))
            conn.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE name = 'orders'",
                                 (new_orders,))
            # the unique constraint's automatic index goes with it
            conn.exec_driver_sql("DELETE FROM sqlite_master WHERE type = 'index' AND "
                                 "tbl_name = 'orders' AND name LIKE 'sqlite_autoindex_orders%'")
            conn.exec_driver_sql("PRAGMA writable_schema = OFF")
            conn.commit()
        eng.dispose()
        with eng.connect() as conn:  # rebuild after the schema edit
            conn.exec_driver_sql("VACUUM")


def _plant(db: Database, eng: Engine, now: Any) -> dict[str, Any]:
    q = '"' if db.backend != "mariadb" else "`"
    planted: dict[str, Any] = {}
    with eng.begin() as conn:
        if db.backend == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        elif db.backend == "mariadb":
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        else:
            conn.execute(text("SET session_replication_role = replica"))
        ins_trade = text(
            "INSERT INTO trades (exchange, pair, is_open, fee_open, fee_close, open_rate, "
            "stake_amount, amount, open_date, is_stop_loss_trailing, is_short, interest_rate, "
            "record_version, leverage, strategy) VALUES ('fake', :pair, :is_open, 0.001, "
            "0.001, :rate, 10, 1, :od, false, false, 0, 2, 1.0, 'poison') "
            + ("RETURNING id" if db.backend != "mariadb" else ""))

        def trade(pair: str, rate: float | None) -> int:
            res = conn.execute(ins_trade, {"pair": pair, "is_open": True, "rate": rate,
                                           "od": now.replace(tzinfo=None)})
            if db.backend == "mariadb":
                return int(conn.execute(text("SELECT LAST_INSERT_ID()")).scalar_one())
            return int(res.scalar_one())

        ins_order = text(
            "INSERT INTO orders (ft_trade_id, ft_order_side, ft_pair, ft_is_open, ft_amount, "
            "ft_price, order_id, status, symbol, order_type, side, price, amount, filled, "
            "remaining, order_date) VALUES (:tid, 'buy', :pair, :open, 1, 10, :oid, :st, :pair, "
            "'limit', 'buy', 10, 1, :filled, :rem, :od)")
        planted["null_trade"] = trade("NULL/USDT", None)
        dup_tid = trade("DUP/USDT", 10.0)
        planted["dup_trade"] = dup_tid
        for _ in range(2):
            conn.execute(ins_order, {"tid": dup_tid, "pair": "DUP/USDT", "oid": "dup-1",
                                     "open": False, "st": "closed", "filled": 1.0, "rem": 0.0,
                                     "od": now.replace(tzinfo=None)})
        conn.execute(ins_order, {"tid": 987654, "pair": "ORPH/USDT", "oid": "orphan-1",
                                 "open": True, "st": "open", "filled": 0.0, "rem": 1.0,
                                 "od": now.replace(tzinfo=None)})
        gone = trade("GONE/USDT", 10.0)
        conn.execute(ins_order, {"tid": gone, "pair": "GONE/USDT", "oid": "gone-1",
                                 "open": False, "st": "closed", "filled": 1.0, "rem": 0.0,
                                 "od": now.replace(tzinfo=None)})
        planted["gone_trade"] = gone
        _ = q
    return planted


def _round(backend: str, rng: random.Random, fig: Figures, wd: Path, k: int) -> None:
    from tests.fake_exchange import BadSymbol, FakeExchange

    from tradeledger.db import close_db, init_db
    from tradeledger.domain.timeutil import dt_from_ts
    from tradeledger.models import Trade
    from tradeledger.services.intents import (
        apply_exchange_update,
        attach_exchange_response,
        record_intent,
    )
    from tradeledger.services.pairlocks import PairLocks
    from tradeledger.services.reconcile import ReasonCode, reconcile
    from tradeledger.services.recovery import build_recovery_report

    label = f"{backend} round {k}"
    db = new_database(backend, wd)
    ex = FakeExchange()
    try:
        init_db(db.url)
        PairLocks.timeframe = "5m"
        now = dt_from_ts(ex.now_ms)

        def open_trade(pair: str) -> Trade:
            t = Trade(pair=pair, exchange="fake", open_rate=20.0, amount=0.0, stake_amount=20.0,
                      fee_open=0.001, fee_close=0.001, open_date=now, strategy="healthy")
            Trade.session.add(t)
            Trade.commit()
            intent = record_intent(pair=pair, side="buy", amount=1.0, price=20.0,
                                   trade_id=t.id, order_type="limit")
            answer = ex.create_order(pair, "limit", "buy", 1.0, 20.0,
                                     {"clientOrderId": intent.client_order_id})
            attach_exchange_response(intent.client_order_id, answer)
            apply_exchange_update(t, ex.fill(answer["id"]))
            return t

        healthy = open_trade("OK/USDT")
        closed = open_trade("OK2/USDT")
        answer = ex.create_order("OK2/USDT", "limit", "sell", 1.0, 21.0)
        apply_exchange_update(closed, ex.fill(answer["id"]), side="sell")
        healthy_id = healthy.id
        PairLocks.lock_pair("OK2/USDT", now + timedelta(minutes=30), "healthy", now=now)
        close_db()

        admin = db.admin_engine()
        try:
            _relax_constraints(db, admin)
            planted = _plant(db, admin, now)
        finally:
            admin.dispose()
        ex.delisted.add("GONE/USDT")

        # ---- start-up with the poison in place
        try:
            init_db(db.url)
        except Exception as exc:
            fig.violation(f"{label}: start-up failed: {type(exc).__name__}: {exc}")
            return
        report = build_recovery_report()
        open_ids = {t.id for t in report.open_trades}
        fig.check(healthy_id in open_ids, f"{label}: healthy trade missing from recovery")
        opened = Trade.get_open_trades()
        fig.check(healthy_id in {t.id for t in opened}, f"{label}: open trades do not load")
        # the healthy trade keeps working: exit order placed, filled, trade closed
        t = Trade.session.get(Trade, healthy_id)
        assert t is not None
        answer = ex.create_order("OK/USDT", "limit", "sell", 1.0, 22.0)
        apply_exchange_update(t, ex.fill(answer["id"]), side="sell")
        Trade.session.expire_all()
        t = Trade.session.get(Trade, healthy_id)
        fig.check(t is not None and not t.is_open, f"{label}: healthy trade did not close")
        lock = PairLocks.lock_pair("OK/USDT", now + timedelta(minutes=10), "after", now=now)
        fig.check(PairLocks.is_pair_locked("OK/USDT", now=now), f"{label}: lock not in force")
        fig.check(lock.id is not None, f"{label}: lock not stored")
        orders: list[dict[str, Any]] = []
        unavailable = []
        for pair in ("OK/USDT", "GONE/USDT"):
            try:
                orders += ex.fetch_orders(pair)
            except BadSymbol:
                unavailable.append(pair)
        rec = reconcile(orders, pairs=["OK/USDT"], unavailable_pairs=unavailable,
                        since=now - timedelta(days=1))
        reasons = {d.reason for d in rec.differences}
        fig.check(ReasonCode.PAIR_UNAVAILABLE in reasons,
                  f"{label}: delisted pair not reported by reconcile ({reasons})")
        close_db()

        # ---- tradeledger check
        res = subprocess.run([sys.executable, "-c", _CLI, "check", "--db", db.url, "--json"],
                             capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
        fig.check(SECRET_PASSWORD not in res.stdout + res.stderr,
                  f"{label}: tradeledger check printed the password")
        if res.returncode not in (0, 10):
            fig.violation(f"{label}: check failed rc={res.returncode}: {res.stderr[-500:]}")
        else:
            findings = json.loads(res.stdout)["findings"]
            codes = {(f["code"], f["table"]) for f in findings}
            fig.check(res.returncode == 10, f"{label}: check exit {res.returncode} (want 10)")
            fig.check(("null_required", "trades") in codes, f"{label}: NULL not reported")
            fig.check(("duplicate_order", "orders") in codes,
                      f"{label}: duplicate not reported")
            fig.check(("orphan_order", "orders") in codes, f"{label}: orphan not reported")
            fig.check(any(f.get("row_id") == planted["null_trade"] for f in findings),
                      f"{label}: NULL finding names the wrong row")
            fig.add(f"{backend}.check_findings", len(findings))
        fig.add(f"{backend}.rounds_ok", 1)
    finally:
        db.drop()


def _snapshot(db: Database) -> str:
    """A digest of the whole database: file bytes (SQLite) or schema + every row (servers)."""
    if db.backend == "sqlite":
        assert db.path is not None
        h = hashlib.sha256(db.path.read_bytes())
        for suffix in ("-wal", "-journal"):
            p = Path(f"{db.path}{suffix}")
            if p.exists():
                h.update(p.read_bytes())
        h.update(",".join(sorted(p.name for p in db.path.parent.iterdir()
                                 if p.name.startswith(db.path.name) and
                                 not p.name.endswith(("-shm", "-wal", ".lock")))).encode())
        return h.hexdigest()
    eng = db.admin_engine()
    h = hashlib.sha256()
    try:
        insp = inspect(eng)
        with eng.connect() as conn:
            for table in sorted(insp.get_table_names()):
                h.update(repr((table, [(c["name"], str(c["type"]), c["nullable"])
                                       for c in insp.get_columns(table)])).encode())
                q = '"' if db.backend == "postgresql" else "`"
                rows = conn.execute(text(f"SELECT * FROM {q}{table}{q}")).all()
                h.update(repr(sorted(map(repr, rows))).encode())
    finally:
        eng.dispose()
    return h.hexdigest()


def version_skew(backend: str, fig: Figures, wd: Path) -> None:
    from tradeledger.db import close_db, get_engine, init_db
    from tradeledger.exceptions import SchemaTooNewError

    db = new_database(backend, wd)
    try:
        init_db(db.url)
        with get_engine().begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'zz_9999_future'"))
        if backend == "sqlite":
            with get_engine().connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        close_db()
        before = _snapshot(db)
        for mode in ("auto", "check"):
            try:
                init_db(db.url, migrate=mode)  # type: ignore[arg-type]
                fig.violation(f"{backend}: newer schema accepted (migrate={mode})")
            except SchemaTooNewError as exc:
                fig.check("zz_9999_future" in str(exc),
                          f"{backend}: refusal does not name the database revision: {exc}")
            except Exception as exc:
                fig.violation(f"{backend}: newer schema: {type(exc).__name__}: {exc}")
            close_db()
        after = _snapshot(db)
        fig.check(before == after, f"{backend}: the refused database was changed")
        fig.set(f"{backend}.newer_schema_refused_unchanged", before == after)
    finally:
        db.drop()


def main(args: argparse.Namespace) -> Figures:
    fig = Figures("poison")
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    scanner = LogScanner()
    with scanner.installed(), workdir("poison") as wd:
        for backend in parse_backends(args.backends):
            for k in range(args.size):
                _round(backend, rng, fig, wd, k)
            version_skew(backend, fig, wd)
    scanner.report_to(fig)
    return fig


def _parser() -> argparse.ArgumentParser:
    p = parser("poison", "rounds per backend (full run: 20)", 1)
    add_backends_arg(p)
    return p


if __name__ == "__main__":
    run_main(main, _parser())
