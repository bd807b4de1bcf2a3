"""Fuzz campaign: hypothesis drives the public entry points with random input.

Entry points and the exceptions they document (anything else is a violation):

=============================  ==============================================================
``init_db(url)``               ``TradeLedgerError`` subclasses (InvalidDatabaseURL,
                               MissingDriverError, DatabaseUnavailableError, SchemaError...);
                               the password of the URL never appears in the error, and the
                               database bound before stays bound and unchanged
``Trade(**kwargs)`` + commit   ``TypeError`` (unknown keyword), ``TradeLedgerError`` /
                               ``ValueError`` (bad value, naming it)
``Order.update_from_ccxt_...`` ``InvalidOrderError``, ``OrderMismatchError``
``PairLocks.lock_pair``        ``InvalidLockError`` (a ``ValueError``), ``TypeError`` for a
                               non-date ``until``/``now``
``KeyValueStore.store_value``  ``InvalidValueError``
``Trade.set_custom_data``      ``InvalidValueError``
=============================  ==============================================================

After every failing call the database must be unchanged: same row count and highest id in
every table, the target row (order, key, custom data) identical, and the session usable.

Usage: ``python -m reliability.fuzz --size 10000`` (size = examples per entry point; the CI
profile uses fewer). Runs on a SQLite file.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from reliability.common import Figures, LogScanner, parser, run_main, workdir

PASSWORD = "fz-Secret-9f3"

settings.register_profile("reliability-ci", max_examples=60, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("reliability-full", max_examples=10_000, deadline=None,
                          database=None, suppress_health_check=list(HealthCheck))

_weird_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "'", '"', "%", "%%", "_", "\\", "BTC/USDT", "*", "long", "short",
                     "é🚀", "a" * 300, "\x00", "NaN", "-1", "1e309"]),
)
_anything = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), _weird_text,
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.one_of(st.none(), st.just(UTC))),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2),
    st.builds(object),
)


def _tables_state() -> dict[str, tuple[int, Any]]:
    from tradeledger.db import get_engine
    from tradeledger.models import ModelBase

    out = {}
    with get_engine().connect() as conn:
        for table in ModelBase.metadata.sorted_tables:
            if "id" in table.c:
                row = conn.execute(select(func.count(), func.max(table.c.id))
                                   .select_from(table)).one()
                out[table.name] = (row[0], row[1])
    return out


class Runner:
    def __init__(self, fig: Figures, scanner: LogScanner) -> None:
        self.fig = fig
        self.scanner = scanner
        self.stats: Counter[str] = Counter()

    def call(self, target: str, fn: Callable[[], Any], allowed: tuple[type[BaseException], ...],
             row: Callable[[], Any] | None = None) -> None:
        from tradeledger.models import Trade

        before = _tables_state()
        row_before = row() if row is not None else None
        try:
            fn()
            self.stats[f"{target}.accepted"] += 1
            return
        except allowed as exc:
            self.stats[f"{target}.refused:{type(exc).__name__}"] += 1
            self.scanner.check_exception(exc)
        except Exception as exc:
            self.stats[f"{target}.UNDOCUMENTED:{type(exc).__name__}"] += 1
            self.scanner.check_exception(exc)
            self.fig.violation(f"{target}: undocumented {type(exc).__name__}: "
                               f"{str(exc)[:200]}\n{traceback.format_exc()[-600:]}")
        Trade.session.rollback()
        try:
            from tradeledger.models.custom_data import _CustomData

            _CustomData.session.rollback()
        except Exception:
            pass
        after = _tables_state()
        if after != before:
            self.fig.violation(f"{target}: database changed by a failing call: "
                               f"{before} -> {after}")
        if row is not None:
            Trade.session.expire_all()
            row_after = row()
            if row_after != row_before:
                self.fig.violation(f"{target}: target row changed by a failing call: "
                                   f"{row_before} -> {row_after}")


def fuzz_all(size: int, fig: Figures, scanner: LogScanner, wd: Path) -> None:
    from tradeledger.db import get_engine, init_db
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.exceptions import (
        InvalidLockError,
        InvalidOrderError,
        InvalidValueError,
        OrderMismatchError,
        TradeLedgerError,
    )
    from tradeledger.models import Order, Trade
    from tradeledger.models.keyvalue import KeyValueStore
    from tradeledger.services.pairlocks import PairLocks

    main_url = f"sqlite:///{wd / 'fuzz.sqlite'}"
    init_db(main_url)
    main_engine = get_engine()
    PairLocks.timeframe = "5m"
    runner = Runner(fig, scanner)
    prof = settings(max_examples=size, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
    os.chdir(wd)  # relative SQLite paths land in the work directory

    # -- init_db ------------------------------------------------------------------------------
    schemes = st.sampled_from(["sqlite", "sqlite+pysqlite", "postgresql", "postgres",
                               "postgresql+psycopg", "postgresql+nosuch", "mysql", "mariadb",
                               "mysql+pymysql", "oracle", "mssql", "", "sqlite3", "http"])
    hosts = st.sampled_from(["127.0.0.1", "", "127.0.0.1:1", "127.0.0.1:5432", "127.0.0.1:3306",
                             "[::1]:1", "127.0.0.1:notaport", "127.0.0.1:99999", "@", ":"])
    # hypothesis also draws string constants found in the source, so a generated text can be
    # PASSWORD itself; outside the password field it is just a name, not a leak to look for
    no_pw = st.text(max_size=20).filter(lambda d: PASSWORD not in d)
    url_text = st.one_of(
        st.text(max_size=60).filter(lambda t: PASSWORD not in t),
        # database names that never exist: the fuzzer must not open a real database
        st.builds(lambda s, u, h, d: f"{s}://{u}:{PASSWORD}@{h}/tl_fuzz_absent_{d}", schemes,
                  st.sampled_from(["postgres", "root", "u", "", "a b", "%"]), hosts, no_pw),
        st.builds(lambda s, p: f"{s}:///{p}", schemes,
                  st.sampled_from(["", "x.sqlite", "no/such/dir/x.sqlite", ":memory:",
                                   "file:x?mode=ro", "%00", "é.sqlite"])),
    )

    @prof
    @given(url_text)
    def t_init_db(url: str) -> None:
        def fn() -> None:
            old = signal.signal(signal.SIGALRM, _on_alarm)
            signal.alarm(20)  # a connection attempt must not hang
            try:
                init_db(url)
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, old)
            init_db(main_url)  # rebind the campaign database
            raise _Accepted()

        try:
            runner.call("init_db", fn, (TradeLedgerError, _Accepted))
        finally:
            if get_engine().url != main_engine.url:
                init_db(main_url)

    # -- Trade constructor --------------------------------------------------------------------
    columns = ["pair", "exchange", "open_rate", "amount", "stake_amount", "fee_open",
               "fee_close", "open_date", "close_date", "is_open", "leverage", "is_short",
               "trading_mode", "interest_rate", "enter_tag", "stop_loss", "funding_fees",
               "amount_precision", "precision_mode", "contract_size", "no_such_column"]
    base = {"pair": "F/USDT", "exchange": "x", "open_rate": 1.0, "amount": 1.0,
            "stake_amount": 1.0}

    @prof
    @given(st.dictionaries(st.sampled_from(columns), _anything, max_size=6))
    def t_trade(kwargs: dict[str, Any]) -> None:
        def fn() -> None:
            t = Trade(**{**base, **kwargs})
            Trade.session.add(t)
            Trade.commit()

        runner.call("Trade", fn, (TypeError, ValueError, TradeLedgerError))

    # -- Order.update_from_ccxt_object ---------------------------------------------------------
    trade = Trade(pair="O/USDT", exchange="x", open_rate=1.0, amount=1.0, stake_amount=1.0)
    Trade.session.add(trade)
    Trade.commit()
    order = Order.parse_from_ccxt_object(
        {"id": "fz-1", "symbol": "O/USDT", "status": "open", "side": "buy", "type": "limit",
         "amount": 10.0, "price": 1.0, "filled": 0.0, "remaining": 10.0}, "O/USDT", "buy")
    trade.orders.append(order)
    Trade.commit()
    order_pk = order.id

    def order_row() -> Any:
        with main_engine.connect() as conn:
            return tuple(conn.execute(text("SELECT * FROM orders WHERE id = :i"),
                                      {"i": order_pk}).one())

    ccxt = st.fixed_dictionaries(
        {"id": st.one_of(st.just("fz-1"), _anything)},
        optional={k: _anything for k in ("status", "filled", "amount", "remaining", "price",
                                         "average", "cost", "timestamp", "lastTradeTimestamp",
                                         "side", "type", "symbol", "stopPrice", "fee")})

    @prof
    @given(ccxt)
    def t_order(data: dict[str, Any]) -> None:
        def fn() -> None:
            o = Trade.session.get(Order, order_pk)
            assert o is not None
            o.update_from_ccxt_object(data)
            Trade.commit()

        runner.call("Order.update_from_ccxt_object", fn,
                    (InvalidOrderError, OrderMismatchError), row=order_row)

    # -- PairLocks.lock_pair ------------------------------------------------------------------
    dates = st.one_of(st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(9000, 1, 1),
                                   timezones=st.one_of(st.none(), st.just(UTC))), _anything)

    @prof
    @given(_anything, dates, _anything, st.one_of(st.none(), dates),
           st.one_of(st.sampled_from(["long", "short", "*", None]), _anything))
    def t_lock(pair: Any, until: Any, reason: Any, now: Any, side: Any) -> None:
        runner.call("PairLocks.lock_pair",
                    lambda: PairLocks.lock_pair(pair, until, reason, now=now, side=side),
                    (InvalidLockError, TypeError))

    # -- KeyValueStore.store_value ------------------------------------------------------------
    @prof
    @given(st.one_of(_weird_text, _anything), _anything)
    def t_kv(key: Any, value: Any) -> None:
        def row() -> Any:
            if not isinstance(key, str):
                return None
            with main_engine.connect() as conn:
                return conn.execute(text('SELECT * FROM "KeyValueStore" WHERE key = :k'),
                                    {"k": key}).all()

        runner.call("KeyValueStore.store_value", lambda: KeyValueStore.store_value(key, value),
                    (InvalidValueError,), row=row)

    # -- set_custom_data ----------------------------------------------------------------------
    cd_trade_id = trade.id

    @prof
    @given(st.one_of(_weird_text, _anything), _anything)
    def t_cd(key: Any, value: Any) -> None:
        def row() -> Any:
            with main_engine.connect() as conn:
                return conn.execute(text("SELECT * FROM trade_custom_data WHERE "
                                         "ft_trade_id = :t ORDER BY id"),
                                    {"t": cd_trade_id}).all()

        def fn() -> None:
            t = Trade.session.get(Trade, cd_trade_id)
            assert t is not None
            t.set_custom_data(key, value)

        runner.call("set_custom_data", fn, (InvalidValueError,), row=row)

    for name, test in (("init_db", t_init_db), ("Trade", t_trade), ("Order", t_order),
                       ("lock_pair", t_lock), ("store_value", t_kv),
                       ("set_custom_data", t_cd)):
        t0 = time.perf_counter()
        try:
            test()
        except Exception as exc:
            fig.violation(f"{name}: hypothesis stopped: {type(exc).__name__}: {str(exc)[:300]}")
        fig.set(f"{name}.seconds", round(time.perf_counter() - t0, 1))
    fig.set("examples_per_entry_point", size)
    fig.set("outcomes", {k: v for k, v in sorted(runner.stats.items())})
    _ = (dt_now, timedelta, math)


class _Hung(Exception):
    """init_db did not return within 20 s."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Hung("init_db did not return within 20 s (no connect timeout?)")


class _Accepted(Exception):
    """init_db accepted the URL (then the campaign database was bound again)."""


def main(args: argparse.Namespace) -> Figures:
    from tradeledger.db import close_db

    fig = Figures("fuzz")
    scanner = LogScanner(secrets=(PASSWORD,))
    cwd = os.getcwd()
    with scanner.installed(), workdir("fuzz") as wd:
        try:
            fuzz_all(args.size, fig, scanner, wd)
        finally:
            os.chdir(cwd)
            close_db()
    scanner.report_to(fig)
    return fig


def _parser() -> argparse.ArgumentParser:
    return parser("fuzz", "examples per entry point (full run: 10000)", 60)


if __name__ == "__main__":
    run_main(main, _parser())
