"""Security campaign: passwords never shown, owner-only files, hostile text, single-writer guard.

1. **Passwords**: URLs carrying a password go through every error path (unreachable host,
   refused port, unknown database, wrong password on MariaDB, unknown driver, unsupported
   dialect, malformed port, a connection killed under a live engine, the ``tradeledger``
   command line); every log record (all loggers, SQLAlchemy pool included), every exception
   (message, repr, chained causes, traceback) and the command's output are scanned for it.
2. **Files**: a new SQLite database, its ``-wal`` and ``-shm`` files and the guard lock file are
   created owner-only (no group/other bits) even under ``umask 022``.
3. **Hostile text**: quotes, percent signs, backslashes, SQL text, unicode (4-byte emoji) and
   1 000-character values as pair names, tags, reasons, keys and values through ``Trade``,
   ``Order.parse_from_ccxt_object``, ``PairLocks.lock_pair``, ``KeyValueStore.store_value`` and
   ``set_custom_data``: each is stored verbatim, refused with a clear error naming the field,
   or cut to its column length where that is the documented rule (free-text tags); an
   identifier (pair, order id, key) that is silently changed is a violation.
4. **Guard**: ``init_db(..., exclusive=True)`` refuses a second live instance (another
   process) with ``InstanceLockedError`` and is reclaimed after the holder is SIGKILLed.

Usage: ``python -m reliability.security --size 10`` (size = repetitions of the guard cycle).
"""

from __future__ import annotations

import argparse
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from reliability.common import (
    PG_ADMIN_URL,
    SECRET_PASSWORD,
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

HOSTILE = {
    "quotes": "it's a \"quoted\" `pair`",
    "percent": "100% _off_ %s %% %(x)s",
    "backslash": "back\\slash\\n\\x00",
    "sql": "'; DROP TABLE trades; --",
    "unicode": "BTC/USDT🚀日本語ñ",
    "long_ascii": "A" * 1000,
    "long_unicode": "é🚀" * 500,
}
IDENTIFIERS = {"pair", "ft_pair", "order_id", "key", "cd_key", "lock pair"}


# ----------------------------------------------------------------------------- passwords
def password_paths(fig: Figures, scanner: LogScanner, backends: list[str]) -> None:
    from tradeledger.db import close_db, get_engine, init_db

    pw = SECRET_PASSWORD
    pg_user = PG_ADMIN_URL.split("://", 1)[1].split("@", 1)[0].split(":")[0]
    urls = {
        "pg_refused_port": f"postgresql://{pg_user}:{pw}@127.0.0.1:1/x",
        "pg_unknown_host": f"postgresql://{pg_user}:{pw}@no-such-host.invalid/x",
        "pg_unknown_db": f"postgresql://{pg_user}:{pw}@127.0.0.1:5432/tl_no_such_db",
        "mysql_unknown_driver": f"mysql+nosuchdriver://u:{pw}@127.0.0.1/x",
        "unsupported_dialect": f"oracle://u:{pw}@127.0.0.1/x",
        "bad_port": f"postgresql://u:{pw}@127.0.0.1:notaport/x",
        "mysql_refused_port": f"mysql://root:{pw}@127.0.0.1:1/x",
    }
    if "mariadb" in backends:
        urls["mysql_wrong_password"] = f"mysql://root:{pw}@127.0.0.1:3306/mysql"
    paths = 0
    for name, url in urls.items():
        try:
            init_db(url)
            fig.violation(f"password path {name}: init_db accepted {name}")
        except Exception as exc:
            scanner.check_exception(exc)
            fig.add("password_paths_errors", 1)
        finally:
            close_db()
        paths += 1
    # a live engine whose connection is killed: pool errors and retries are logged
    if "postgresql" in backends:
        from tradeledger.models import Trade

        with workdir("sec-pg") as wd:
            db = new_database("postgresql", wd)
            try:
                init_db(db.url)
                eng = get_engine()
                fig.check(pw not in str(eng.url) and pw not in repr(eng),
                          "engine str/repr shows the password")
                pid = Trade.session.execute(text("SELECT pg_backend_pid()")).scalar()
                admin = db.admin_engine()
                with admin.connect() as conn:
                    conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                admin.dispose()
                try:
                    Trade.session.execute(text("SELECT 1"))
                except Exception as exc:
                    scanner.check_exception(exc)
                Trade.session.rollback()
                Trade.session.execute(text("SELECT 1"))  # reconnects
                paths += 1
            finally:
                close_db()
                db.drop()
    # the command line with an unreachable server
    for name in ("pg_refused_port", "pg_unknown_db"):
        res = subprocess.run([sys.executable, "-c", _CLI, "status", "--db", urls[name]],
                             capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
        fig.check(pw not in res.stdout + res.stderr, f"CLI status ({name}) printed the password")
        fig.check(res.returncode != 0, f"CLI status ({name}) exit 0 on an unreachable database")
        paths += 1
    fig.set("password_error_paths", paths)


# ----------------------------------------------------------------------------- files
def file_modes(fig: Figures, wd: Path) -> None:
    from tradeledger.db import close_db, get_engine, init_db
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.models import Trade

    old = os.umask(0o022)
    try:
        path = wd / f"modes-{uuid.uuid4().hex[:6]}.sqlite"
        init_db(f"sqlite:///{path}", exclusive=True, bot_id="sec")
        Trade.session.add(Trade(pair="M/USDT", exchange="x", open_rate=1.0, amount=1.0,
                                stake_amount=1.0, open_date=dt_now()))
        Trade.commit()
        modes = {}
        for p in sorted(wd.iterdir()):
            if p.name.startswith(path.name):
                modes[p.name.replace(path.name, "<db>")] = oct(stat.S_IMODE(p.stat().st_mode))
        fig.set("sqlite_file_modes", modes)
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{path}{suffix}")
            if fig.check(p.exists(), f"{p.name} was not created"):
                fig.check(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0,
                          f"{p.name} is readable by others: {oct(p.stat().st_mode)}")
        guard_files = [p for p in wd.iterdir() if p.name.startswith(path.name + ".sec")]
        for p in guard_files:
            fig.check(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0,
                      f"guard lock {p.name} is readable by others")
        with get_engine().connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        os.umask(old)
        close_db()


# ----------------------------------------------------------------------------- hostile text
def hostile_text(backend: str, fig: Figures, wd: Path) -> None:
    from tradeledger.db import close_db, init_db
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.exceptions import TradeLedgerError
    from tradeledger.models import Order, Trade
    from tradeledger.models.keyvalue import KeyValueStore
    from tradeledger.services.pairlocks import PairLocks

    db = new_database(backend, wd)
    outcomes: Counter[str] = Counter()
    try:
        init_db(db.url)
        PairLocks.timeframe = "5m"

        def probe(entry: str, field: str, value: str, length: int | None,
                  write: Callable[[str], Any], read: Callable[[Any], Any]) -> None:
            try:
                handle = write(value)
            except (TradeLedgerError, ValueError) as exc:
                for scoped in (Trade.session,):
                    scoped.rollback()
                msg = str(exc)
                if field.split()[-1] in msg or "character" in msg or "long" in msg:
                    outcomes["refused_clearly"] += 1
                else:
                    outcomes["refused_unclear"] += 1
                    fig.violation(f"{backend} {entry}.{field}: refused without naming the "
                                  f"field: {msg[:120]}")
                return
            except Exception as exc:
                Trade.session.rollback()
                outcomes["error_undocumented"] += 1
                fig.violation(f"{backend} {entry}.{field}={value[:30]!r}: "
                              f"{type(exc).__name__}: {str(exc)[:150]}")
                return
            Trade.session.remove()
            got = read(handle)
            if got == value:
                outcomes["verbatim"] += 1
            elif length is not None and got == value[:length]:
                if field in IDENTIFIERS:
                    outcomes["identifier_silently_cut"] += 1
                    fig.violation(f"{backend} {entry}.{field}: a {len(value)}-character "
                                  f"identifier was silently cut to {length} characters")
                else:
                    outcomes["cut_to_column_documented"] += 1
            else:
                outcomes["changed"] += 1
                fig.violation(f"{backend} {entry}.{field}: stored {str(got)[:40]!r} "
                              f"for {value[:40]!r}")

        def new_trade(**kw: Any) -> int:
            base = {"pair": "H/USDT", "exchange": "x", "open_rate": 1.0, "amount": 1.0,
                    "stake_amount": 1.0, "open_date": dt_now()}
            base.update(kw)
            t = Trade(**base)
            Trade.session.add(t)
            Trade.commit()
            return t.id

        def trade_attr(attr: str) -> Callable[[Any], Any]:
            return lambda tid: getattr(Trade.session.get(Trade, tid), attr)

        for n, value in enumerate(HOSTILE.values(), start=1):
            for field, length in (("pair", 25), ("enter_tag", 255), ("exit_reason", 255),
                                  ("strategy", 100)):
                probe("Trade", field, value, length,
                      lambda v, f=field: new_trade(**{f: v}), trade_attr(field))

            def order_write(v: str, n: int = n) -> int:
                tid = new_trade()
                trade = Trade.session.get(Trade, tid)
                o = Order.parse_from_ccxt_object(
                    {"id": v, "symbol": "H/USDT", "status": "open", "side": "buy",
                     "type": "limit", "amount": 1.0, "price": 1.0, "filled": 0.0,
                     "remaining": 1.0}, "H/USDT", "buy")
                trade.orders.append(o)  # type: ignore[union-attr]
                Trade.commit()
                return o.id

            probe("Order.parse_from_ccxt_object", "order_id", value, 255, order_write,
                  lambda oid: Trade.session.get(Order, oid).order_id)  # type: ignore[union-attr]

            def tag_write(v: str) -> int:
                tid = new_trade()
                trade = Trade.session.get(Trade, tid)
                o = Order.parse_from_ccxt_object(
                    {"id": uuid.uuid4().hex, "symbol": "H/USDT", "status": "open",
                     "side": "buy", "type": "limit", "amount": 1.0, "price": 1.0}, "H/USDT",
                    "buy")
                o.ft_order_tag = v
                trade.orders.append(o)  # type: ignore[union-attr]
                Trade.commit()
                return o.id

            probe("Order", "ft_order_tag", value, 255, tag_write,
                  lambda oid: Trade.session.get(Order, oid).ft_order_tag)  # type: ignore[union-attr]

            def lock_write(v: str) -> int:
                return PairLocks.lock_pair(v, dt_now(), "r", now=dt_now()).id

            probe("PairLocks.lock_pair", "lock pair", value, 25, lock_write,
                  lambda lid: _lock_field(lid, "pair"))

            def reason_write(v: str) -> int:
                return PairLocks.lock_pair("R/USDT", dt_now(), v, now=dt_now()).id

            probe("PairLocks.lock_pair", "reason", value, 255, reason_write,
                  lambda lid: _lock_field(lid, "reason"))
            key = f"k{n}"
            probe("KeyValueStore.store_value", "value", value, None,
                  lambda v, key=key: KeyValueStore.store_value(key, v) or key,
                  KeyValueStore.get_value)
            probe("KeyValueStore.store_value", "key", value, 50,
                  lambda v: KeyValueStore.store_value(v, 1) or v,
                  lambda k: k if KeyValueStore.get_value(k) == 1 else "<not found>")

            def cd_write(v: str, as_key: bool) -> tuple[int, str]:
                tid = new_trade()
                trade = Trade.session.get(Trade, tid)
                assert trade is not None
                if as_key:
                    trade.set_custom_data(v, 1)
                else:
                    trade.set_custom_data("hostile", v)
                return tid, v

            def cd_read(handle: tuple[int, str], as_key: bool) -> Any:
                tid, v = handle
                trade = Trade.session.get(Trade, tid)
                assert trade is not None
                if as_key:
                    return v if trade.get_custom_data(v) == 1 else "<not found>"
                return trade.get_custom_data("hostile")

            probe("set_custom_data", "cd_key", value, 255, lambda v: cd_write(v, True),
                  lambda h: cd_read(h, True))
            probe("set_custom_data", "value", value, None, lambda v: cd_write(v, False),
                  lambda h: cd_read(h, False))
        fig.set(f"{backend}.hostile_text_outcomes", dict(outcomes))
    finally:
        close_db()
        db.drop()


def _lock_field(lid: int, name: str) -> Any:
    from tradeledger.models import PairLock

    lock = PairLock.session.get(PairLock, lid)
    return getattr(lock, name)


# ----------------------------------------------------------------------------- guard
HOLDER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from tradeledger.db import init_db
    init_db({url!r}, exclusive=True, bot_id="sec-bot")
    print("HELD", flush=True)
    time.sleep(300)
    """
)


def guard_cycles(backend: str, n: int, fig: Figures, wd: Path, scanner: LogScanner) -> None:
    from tradeledger.db import close_db, init_db
    from tradeledger.exceptions import InstanceLockedError

    db = new_database(backend, wd)
    refused = reclaimed = 0
    try:
        init_db(db.url)
        close_db()
        for _ in range(n):
            proc = subprocess.Popen([sys.executable, "-c",
                                     HOLDER.format(root=str(ROOT), url=db.url)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if not fig.check(line.startswith("HELD"), f"{backend} guard holder failed"):
                    continue
                try:
                    init_db(db.url, exclusive=True, bot_id="sec-bot")
                    fig.violation(f"{backend}: a second live instance was accepted")
                except InstanceLockedError as exc:
                    scanner.check_exception(exc)
                    fig.check("another live instance" in str(exc),
                              f"{backend}: unclear guard message: {exc}")
                    refused += 1
                finally:
                    close_db()
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                deadline = time.monotonic() + 10  # the server notices the dead connection
                while True:
                    try:
                        init_db(db.url, exclusive=True, bot_id="sec-bot")
                        reclaimed += 1
                        break
                    except InstanceLockedError:
                        if time.monotonic() > deadline:
                            fig.violation(f"{backend}: guard not reclaimed after a crash")
                            break
                        time.sleep(0.1)
                    finally:
                        close_db()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
        fig.set(f"{backend}.guard_second_instance_refused", refused)
        fig.set(f"{backend}.guard_reclaimed_after_sigkill", reclaimed)
    finally:
        db.drop()


def main(args: argparse.Namespace) -> Figures:
    fig = Figures("security")
    scanner = LogScanner()
    backends = parse_backends(args.backends)
    with scanner.installed(), workdir("security") as wd:
        password_paths(fig, scanner, backends)
        file_modes(fig, wd)
        for backend in backends:
            hostile_text(backend, fig, wd)
            guard_cycles(backend, args.size, fig, wd, scanner)
    fig.set("password_leaks", len(scanner.leaks))
    scanner.report_to(fig)
    return fig


def _parser() -> argparse.ArgumentParser:
    p = parser("security", "guard cycles per backend (full run: 100)", 2)
    add_backends_arg(p)
    return p


if __name__ == "__main__":
    run_main(main, _parser())
