"""Faults campaign: commits that fail; the bot retries only what is safe and reports the rest.

A bot runs trade lifecycles (open trade, order intent, exchange answer, partial fills, exit,
lock, custom data), each library call wrapped in
:func:`tradeledger.services.retry.run_in_transaction`, while faults are injected into the
engine at random:

* ``transient``: an ``OperationalError`` the server would raise for a conflict (SQLite
  ``database is locked``, PostgreSQL serialization failure, MariaDB deadlock) before a write;
* ``fatal``: a ``disk I/O error`` / internal error before a write (never retried, reported);
* ``kill``: the session's connection is killed by the server (``pg_terminate_backend`` /
  MariaDB ``KILL``) before a write or right before ``COMMIT``;
* ``lost_ack``: the ``COMMIT`` reaches the server, then the connection "breaks" (servers);
* ``disk_full`` (SQLite): the database lives on a 2 MiB tmpfs (or under ``RLIMIT_FSIZE`` when
  mounting is not allowed); the bot writes until the disk is full, then space is freed and the
  same engine carries on.

Checks: every unit is either acknowledged or reported (never swallowed); every acknowledged
unit is stored; no trade, order or fill is duplicated (one trade per unit marker, each order's
``filled`` equals the exchange's, each trade's amount equals its booked fills); a unit that
failed before its commit left nothing behind; SQLite ``integrity_check`` is ok; no log record
shows the password.

Usage: ``python -m reliability.faults --size 2000`` (size = lifecycles per backend).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import resource
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text

from reliability.common import (
    Figures,
    LogScanner,
    add_backends_arg,
    new_database,
    parse_backends,
    parser,
    run_main,
    workdir,
)

_WRITES = ("INSERT", "UPDATE", "DELETE")


class Injector:
    """Random faults in the engine of the current ``init_db``."""

    def __init__(self, engine: Engine, backend: str, rng: random.Random, p_stmt: float,
                 p_commit: float) -> None:
        self.engine = engine
        self.backend = backend
        self.rng = rng
        self.p_stmt = p_stmt
        self.p_commit = p_commit
        self.enabled = True
        self.counts: Counter[str] = Counter()
        self.admin = (create_engine(engine.url, isolation_level="AUTOCOMMIT")
                      if backend != "sqlite" else None)
        self._orig_commit = engine.dialect.do_commit
        event.listen(engine, "before_cursor_execute", self._before_execute)
        event.listen(engine, "commit", self._before_commit)
        engine.dialect.do_commit = self._do_commit  # type: ignore[method-assign]

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before_execute)
        event.remove(self.engine, "commit", self._before_commit)
        self.engine.dialect.do_commit = self._orig_commit  # type: ignore[method-assign]
        if self.admin is not None:
            self.admin.dispose()

    # -- fault kinds ----------------------------------------------------------------------
    def _transient(self) -> BaseException:
        if self.backend == "postgresql":
            import psycopg

            return psycopg.errors.SerializationFailure("could not serialize access (injected)")
        if self.backend == "mariadb":
            import pymysql

            return pymysql.err.OperationalError(1213, "Deadlock found (injected)")
        return sqlite3.OperationalError("database is locked (injected)")

    def _fatal(self) -> BaseException:
        if self.backend == "postgresql":
            import psycopg

            return psycopg.errors.InternalError_("could not write block (injected)")
        if self.backend == "mariadb":
            import pymysql

            return pymysql.err.InternalError(1030, "Got error 28 from storage engine (injected)")
        return sqlite3.OperationalError("disk I/O error (injected)")

    def _kill_backend(self, dbapi_conn: Any) -> None:
        assert self.admin is not None
        with self.admin.connect() as conn:
            if self.backend == "postgresql":
                pid = dbapi_conn.info.backend_pid
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            else:
                conn.exec_driver_sql(f"KILL CONNECTION {int(dbapi_conn.thread_id())}")
        time.sleep(0.002)

    # -- hooks ----------------------------------------------------------------------------
    def _before_execute(self, conn: Any, cursor: Any, statement: str, params: Any,
                        context: Any, executemany: bool) -> None:
        if not self.enabled or not statement.lstrip()[:6].upper().startswith(_WRITES):
            return
        if self.rng.random() >= self.p_stmt:
            return
        kinds = ["transient", "transient", "fatal"] + (["kill"] if self.admin else [])
        kind = self.rng.choice(kinds)
        self.counts[f"injected_{kind}_before_write"] += 1
        if kind == "kill":
            self._kill_backend(conn.connection.dbapi_connection)
            return  # the statement itself now fails on the dead connection
        raise self._transient() if kind == "transient" else self._fatal()

    def _before_commit(self, conn: Any) -> None:
        if self.enabled and self.admin is not None and self.rng.random() < self.p_commit:
            self.counts["injected_kill_before_commit"] += 1
            self._kill_backend(conn.connection.dbapi_connection)

    def _do_commit(self, dbapi_conn: Any) -> None:
        self._orig_commit(dbapi_conn)
        if self.enabled and self.admin is not None and self.rng.random() < self.p_commit:
            self.counts["injected_lost_ack"] += 1
            if self.backend == "postgresql":
                import psycopg

                raise psycopg.OperationalError("server closed the connection unexpectedly "
                                               "(injected after COMMIT)")
            import pymysql

            raise pymysql.err.OperationalError(2013, "Lost connection (injected after COMMIT)")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.enabled = False
        try:
            yield
        finally:
            self.enabled = True


class Bot:
    """Runs units through ``run_in_transaction`` and books what happened to each."""

    def __init__(self, fig: Figures, prefix: str, scanner: LogScanner) -> None:
        self.fig = fig
        self.prefix = prefix
        self.scanner = scanner
        self.outcomes: Counter[str] = Counter()
        self.units = 0

    def run(self, label: str, fn: Callable[[], Any], *, idempotent: bool,
            stored: Callable[[], bool] | None = None) -> tuple[bool, Any]:
        """Run a unit; returns ``(acknowledged, result)``; failures are counted, not hidden."""
        from tradeledger.exceptions import CommitOutcomeUnknownError
        from tradeledger.services.retry import run_in_transaction

        self.units += 1
        retried: list[int] = []
        try:
            result = run_in_transaction(fn, retries=6, backoff=0.001, idempotent=idempotent,
                                        name=label, on_retry=lambda n, e: retried.append(n))
        except CommitOutcomeUnknownError as exc:
            self.scanner.check_exception(exc)
            self.outcomes["reported_commit_outcome_unknown"] += 1
            # what a bot does: look before doing it again
            if stored is not None and stored():
                self.outcomes["unknown_outcome_was_stored"] += 1
                self.outcomes["acknowledged"] += 1
                return True, None
            self.outcomes["unknown_outcome_not_stored"] += 1
            return False, exc
        except Exception as exc:
            self.scanner.check_exception(exc)
            self.outcomes[f"reported_failed_{type(exc).__name__}"] += 1
            return False, exc
        self.outcomes["acknowledged"] += 1
        if retried:
            self.outcomes["acknowledged_after_retry"] += 1
        return True, result


def _lifecycles(bot: Bot, ex: Any, n: int, rng: random.Random, fig: Figures,
                prefix: str) -> dict[str, Any]:
    """Run ``n`` trade lifecycles; return what the bot believes was acknowledged."""
    from tradeledger.db import get_engine
    from tradeledger.domain.timeutil import dt_from_ts
    from tradeledger.models import Trade
    from tradeledger.services.intents import (
        apply_exchange_update,
        attach_exchange_response,
        get_intent,
        new_client_order_id,
        record_intent,
    )
    from tradeledger.services.pairlocks import PairLocks

    PairLocks.timeframe = "5m"
    acked_trades: dict[str, int] = {}
    failed_markers: list[str] = []
    lock_ids: list[int] = []

    def trade_by_marker(marker: str) -> int | None:
        with get_engine().connect() as conn:
            rows = conn.execute(select(Trade.id).where(Trade.enter_tag == marker)).all()
        return rows[0][0] if rows else None

    for i in range(n):
        marker = f"{prefix}-u{i}-{rng.randrange(10**9)}"
        pair = f"F{i % 7}/USDT"
        price = round(rng.uniform(5, 50), 4)

        def open_trade(marker: str = marker, pair: str = pair, price: float = price) -> int:
            t = Trade(pair=pair, exchange="fake", open_rate=price, amount=0.0,
                      stake_amount=price, fee_open=0.001, fee_close=0.001, leverage=1.0,
                      open_date=dt_from_ts(ex.now_ms), enter_tag=marker, strategy="faults")
            Trade.session.add(t)
            Trade.commit()
            return t.id

        ok, tid = bot.run("open_trade", open_trade, idempotent=False,
                          stored=lambda m=marker: trade_by_marker(m) is not None)
        if ok and tid is None:
            tid = trade_by_marker(marker)
        if not ok:
            failed_markers.append(marker)
            continue
        acked_trades[marker] = tid

        for side, amount in (("buy", 1.0), ("sell", 1.0)):
            cid = new_client_order_id()

            def intent(cid: str = cid, side: str = side, amount: float = amount,
                       tid: int = tid, pair: str = pair, price: float = price) -> None:
                record_intent(pair=pair, side=side, amount=amount, price=price,
                              trade_id=tid, order_type="limit", client_order_id=cid)

            def intent_stored(cid: str = cid) -> bool:
                try:
                    get_intent(cid)
                    return True
                except LookupError:
                    return False

            ok, _ = bot.run("record_intent", intent, idempotent=False, stored=intent_stored)
            if not ok:
                break
            answer = ex.create_order(pair, "limit", side, amount, price, {"clientOrderId": cid})
            ok, _ = bot.run("attach", lambda cid=cid, a=answer: attach_exchange_response(cid, a),
                            idempotent=True)
            if not ok:
                break
            filled_ok = True
            for part in (0.4, None):
                update = ex.fill(answer["id"], part, price)

                def fill(tid: int = tid, update: dict[str, Any] = update) -> None:
                    trade = Trade.session.get(Trade, tid)
                    assert trade is not None
                    apply_exchange_update(trade, update)

                filled_ok = bot.run("apply_fill", fill, idempotent=True)[0] and filled_ok
            if not filled_ok:
                break  # the bot re-syncs this order in its next loop (see _resync)

        def lock(pair: str = pair, tid: int = tid) -> int:
            now = dt_from_ts(ex.now_ms)
            return PairLocks.lock_pair(pair, now + timedelta(minutes=30), f"faults-{tid}",
                                       now=now).id

        ok, lid = bot.run("lock", lock, idempotent=True)
        if ok and lid is not None:
            lock_ids.append(lid)

        def cdata(tid: int = tid) -> None:
            trade = Trade.session.get(Trade, tid)
            assert trade is not None
            trade.set_custom_data("faults", tid)

        bot.run("custom_data", cdata, idempotent=True)
        ex.tick(60)
    return {"trades": acked_trades, "failed": failed_markers, "locks": lock_ids}


def _resync(ex: Any, fig: Figures, prefix: str) -> None:
    """The bot's next loop (faults over): resolve pending intents, re-apply order snapshots."""
    from tradeledger.models import Order, Trade
    from tradeledger.services.intents import apply_exchange_update, pending_intents, resolve_intent

    resolved = 0
    for intent in pending_intents():
        resolve_intent(intent.client_order_id,
                       ex.fetch_order_by_client_id(intent.client_order_id))
        resolved += 1
    reapplied = 0
    for order in Order.get_open_orders():
        trade = Trade.session.get(Trade, order.ft_trade_id)
        assert trade is not None
        apply_exchange_update(trade, ex.fetch_order(order.order_id))
        reapplied += 1
    Trade.session.remove()
    fig.set(f"{prefix}.resync_pending_intents_resolved", resolved)
    fig.set(f"{prefix}.resync_orders_reapplied", reapplied)


def _verify(db_backend: str, engine: Engine, ex: Any, acked: dict[str, Any], fig: Figures,
            prefix: str) -> None:
    from sqlalchemy.orm import Session

    from tradeledger.models import Order, PairLock, Trade

    with Session(engine) as s:
        trades = s.scalars(select(Trade)).all()
        by_marker = Counter(t.enter_tag for t in trades)
        dups = [m for m, c in by_marker.items() if c > 1]
        fig.check(not dups, f"{prefix}: duplicated trades {dups[:5]}")
        for marker in acked["trades"]:
            fig.check(by_marker.get(marker) == 1, f"{prefix}: acknowledged trade {marker} lost")
        for marker in acked["failed"]:
            fig.check(marker not in by_marker,
                      f"{prefix}: failed unit {marker} left a trade behind")
        orders = s.scalars(select(Order)).all()
        for o in orders:
            exo = ex.orders.get(o.order_id)
            if not fig.check(exo is not None, f"{prefix}: order {o.order_id} unknown to exchange"):
                continue
            # after the re-sync every fill is booked exactly once
            fig.check(o.filled == exo["filled"],
                      f"{prefix}: order {o.order_id} filled {o.filled} != exchange {exo['filled']}")
        per_trade: dict[int, float] = {}
        for o in orders:
            if not o.ft_is_open and o.filled:
                per_trade[o.ft_trade_id] = per_trade.get(o.ft_trade_id, 0.0) + (
                    o.filled if o.ft_order_side == "buy" else -o.filled)
        for t in trades:
            booked = per_trade.get(t.id, 0.0)
            if t.is_open:
                fig.check(math.isclose(t.amount, booked, abs_tol=1e-9),
                          f"{prefix}: trade {t.id} amount {t.amount} != booked fills {booked}")
            else:
                fig.check(abs(booked) < 1e-9, f"{prefix}: closed trade {t.id} booked {booked}")
        locks = {lk.id for lk in s.scalars(select(PairLock)).all()}
        for lid in acked["locks"]:
            fig.check(lid in locks, f"{prefix}: acknowledged lock {lid} lost")
        fig.set(f"{prefix}.orders_filled_as_exchange",
                sum(1 for o in orders if ex.orders.get(o.order_id, {}).get("filled") == o.filled))
        fig.set(f"{prefix}.orders", len(orders))
    if db_backend == "sqlite":
        with engine.connect() as conn:
            res = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
            fig.check(res == ["ok"], f"{prefix}: integrity_check {res}")


def injected_faults(backend: str, n: int, rng: random.Random, fig: Figures, wd: Path,
                    scanner: LogScanner) -> None:
    from tests.fake_exchange import FakeExchange

    from tradeledger.db import get_engine, init_db

    db = new_database(backend, wd)
    prefix = backend
    try:
        init_db(db.url)
        engine = get_engine()
        inj = Injector(engine, backend, rng, p_stmt=0.08, p_commit=0.04)
        bot = Bot(fig, prefix, scanner)
        ex = FakeExchange()
        try:
            acked = _lifecycles(bot, ex, n, rng, fig, prefix)
        finally:
            inj.close()
        _resync(ex, fig, prefix)
        _verify(backend, engine, ex, acked, fig, prefix)
        reported = sum(v for k, v in bot.outcomes.items() if k.startswith("reported_failed"))
        unknown_not_stored = bot.outcomes["unknown_outcome_not_stored"]
        fig.check(bot.outcomes["acknowledged"] + reported + unknown_not_stored == bot.units,
                  f"{prefix}: units {bot.units} != acknowledged + reported")
        fig.set(f"{prefix}.lifecycles", n)
        fig.set(f"{prefix}.units", bot.units)
        fig.set(f"{prefix}.outcomes", dict(bot.outcomes))
        fig.set(f"{prefix}.faults_injected", dict(inj.counts))
    finally:
        db.drop()


# ----------------------------------------------------------------------------- disk full
def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                          str(path)], capture_output=True, check=False)
    return res.returncode == 0


def disk_full(n: int, rng: random.Random, fig: Figures, wd: Path, scanner: LogScanner) -> None:
    """SQLite on a full disk: the failing unit is reported, the database stays sound."""
    from tradeledger.db import close_db, get_engine, init_db
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.models import Trade

    mnt = wd / "tmpfs"
    mounted = os.environ.get("TL_RELIABILITY_NO_MOUNT") != "1" and _mount_tmpfs(mnt, "2m")
    method = "tmpfs 2 MiB" if mounted else "RLIMIT_FSIZE"
    fig.set("disk_full.method", method)
    ballast = mnt / "ballast.bin"
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        if not mounted:
            mnt.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{mnt / 'full.sqlite'}"
        init_db(url)
        bot = Bot(fig, "disk_full", scanner)
        acked: list[str] = []
        failed: list[str] = []
        full_errors = 0
        rounds = 0

        def fill_disk() -> None:
            if mounted:
                st = os.statvfs(mnt)
                ballast.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - 40_000))
            else:
                size = sum(p.stat().st_size for p in mnt.iterdir())
                resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40_000, old_limit[1]))

        def free_disk() -> None:
            if mounted:
                ballast.unlink(missing_ok=True)
            else:
                resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)

        fill_disk()
        since_free = -1
        for i in range(n):
            marker = f"df-{i}-{rng.randrange(10**9)}"

            def unit(marker: str = marker) -> None:
                for k in range(20):
                    Trade.session.add(Trade(pair="DF/USDT", exchange="fake", open_rate=1.0,
                                            amount=1.0, stake_amount=1.0, open_date=dt_now(),
                                            enter_tag=f"{marker}-{k}" + "x" * 200,
                                            exit_reason="y" * 250, strategy="z" * 100))
                Trade.commit()

            ok, res = bot.run("disk_full_unit", unit, idempotent=False)
            tags5 = [f"{marker}-{k}" + "x" * 200 for k in range(20)]
            if ok:
                acked.extend(tags5)
                if since_free >= 0:
                    since_free += 1
                    if since_free >= 3:  # recovered on the same engine: fill the disk again
                        fill_disk()
                        since_free = -1
                continue
            failed.extend(tags5)
            text_err = str(res).lower()
            if "full" in text_err or "too large" in text_err or "disk i/o" in text_err:
                full_errors += 1
            rounds += 1
            free_disk()  # the operator frees space; the same engine carries on
            since_free = 0
        free_disk()
        fig.check(full_errors >= 1, "disk_full: the disk never filled up (no error reported)")
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        engine = get_engine()
        with engine.connect() as conn:
            res = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
            fig.check(res == ["ok"], f"disk_full: integrity_check {res}")
            tags = Counter(r[0] for r in conn.execute(select(Trade.enter_tag)).all())
        for m in acked:
            fig.check(tags.get(m) == 1, "disk_full: acknowledged trade lost or duplicated")
        for m in failed:
            fig.check(m not in tags, "disk_full: a failed unit left a row behind")
        fig.set("disk_full.units", n)
        fig.set("disk_full.acknowledged", len(acked))
        fig.set("disk_full.reported_disk_full", full_errors)
        fig.set("disk_full.recovered_after_freeing_space", rounds)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
        close_db()
        if mounted:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def main(args: argparse.Namespace) -> Figures:
    fig = Figures("faults")
    seed = args.seed if args.seed is not None else int(time.time())
    fig.set("seed", seed)
    rng = random.Random(seed)
    scanner = LogScanner()
    with scanner.installed(), workdir("faults") as wd:
        for backend in parse_backends(args.backends):
            injected_faults(backend, args.size, rng, fig, wd, scanner)
        if "sqlite" in parse_backends(args.backends):
            disk_full(max(20, args.size // 4), rng, fig, wd, scanner)
    scanner.report_to(fig)
    return fig


def _parser() -> argparse.ArgumentParser:
    p = parser("faults", "trade lifecycles per backend (full run: 2000)", 30)
    add_backends_arg(p)
    return p


if __name__ == "__main__":
    run_main(main, _parser())
