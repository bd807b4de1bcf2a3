"""The Core fast path ``persist_trade`` stores exactly what the ORM stores (every backend).

Each trade below is written three ways into one database: through the ORM
(``Trade.session.add``/``commit``, the reference), through ``persist_trade`` from a
``LocalTrade`` with ``LocalOrder`` objects, and through ``persist_trade`` from an unsaved ORM
``Trade``. Every column of every trade and order row is then compared (read back raw and via
``Trade.get_trades()``), as are the journal's insert entries, and ``journal.verify()`` must
pass. Bad input raises the models' errors naming the field and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from tradeledger import LocalOrder, LocalTrade, Order, Trade, TradingMode, init_db
from tradeledger import db as tl_db
from tradeledger.domain.order import ORDER_FIELDS
from tradeledger.domain.trade import TRADE_FIELDS
from tradeledger.exceptions import InvalidValueError
from tradeledger.models import JournalEntry
from tradeledger.services import journal as J
from tradeledger.services.persist import persist_trade, persist_trades

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
TRADE_COLS = [c for c in TRADE_FIELDS if c != "id"]
ORDER_COLS = [c for c in ORDER_FIELDS if c not in ("id", "ft_trade_id")]
PREFIXES = ("orm-", "loc-", "ormfast-")


def _order(tag: str, pair: str, k: int, side: str, rate: float, amount: float, when: datetime,
           **extra: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "ft_order_side": side, "ft_pair": pair, "ft_is_open": False, "ft_amount": amount,
        "ft_price": rate, "order_id": f"{tag}{k}", "status": "closed", "symbol": pair,
        "order_type": "limit", "side": side, "price": rate, "average": rate, "amount": amount,
        "filled": amount, "remaining": 0.0, "cost": rate * amount, "order_date": when,
        "order_filled_date": when, "order_update_date": when}
    kw.update(extra)
    return kw


def build_local(i: int, tag: str) -> LocalTrade:
    """A varied set of trades: closed long, open short futures, margin, no orders, odd text."""
    pair = ["BTC/USDT", "ETH/USDT:USDT", "ADA/BTC", "XRP/USDT"][i % 4]
    rate = 100.0 + i * 1.37
    amount = round(50.0 / rate, 6)
    when = T0 + timedelta(hours=i)
    kind = i % 4
    kw: dict[str, Any] = {
        "pair": pair, "base_currency": pair.split("/")[0], "stake_currency": "USDT",
        "exchange": "binance", "strategy": "Strat", "timeframe": 5, "open_rate": rate,
        "open_rate_requested": rate, "open_date": when, "amount": amount,
        "amount_requested": amount, "stake_amount": 50.0, "fee_open": 0.001,
        "fee_close": 0.001, "enter_tag": "tag-" + "é" * (300 if i == 3 else 3),
        "stop_loss": rate * 0.9, "stop_loss_pct": -0.1, "initial_stop_loss": rate * 0.9,
        "initial_stop_loss_pct": -0.1, "max_rate": None, "min_rate": rate * 0.99,
    }
    if kind == 1:  # short futures, leverage, liquidation, aware non-UTC date
        kw.update(is_short=True, leverage=3.0, trading_mode=TradingMode.FUTURES,
                  liquidation_price=rate * 1.3, funding_fees=0.0,
                  open_date=when.astimezone(timezone(timedelta(hours=5))),
                  amount_precision=0.001, price_precision=0.01, precision_mode=4,
                  contract_size=1.0)
    elif kind == 2:  # margin with interest, naive date
        kw.update(trading_mode="margin", interest_rate=0.0005, leverage=2.0,
                  open_date=when.replace(tzinfo=None), fee_open_currency="BTC")
    trade = LocalTrade(**kw)
    if kind != 3:
        entry, exit_ = ("sell", "buy") if kw.get("is_short") else ("buy", "sell")
        trade.orders.append(LocalOrder(**_order(tag, pair, 0, entry, rate, amount, when)))
        if kind == 0:
            close = rate * 1.05
            trade.orders.append(LocalOrder(**_order(
                tag, pair, 1, exit_, close, amount, when + timedelta(minutes=30),
                ft_fee_base=None, ft_order_tag="exit-" + "x" * 300)))
            trade.recalc_trade_from_orders()
            trade.exit_reason = "roi"
            trade.close(close)
        else:  # an open stop-loss order as well
            trade.orders.append(LocalOrder(**_order(
                tag, pair, 1, "stoploss", rate * 0.9, amount, when, ft_is_open=True,
                status="open", filled=0.0, remaining=amount, average=None,
                order_type="stop_loss_limit", stop_price=rate * 0.9,
                order_filled_date=None)))
            trade.recalc_trade_from_orders()
    for k, order in enumerate(trade.orders):
        order.order_id = f"{tag}{i}-{k}"
    return trade


def to_orm(lt: LocalTrade) -> Trade:
    """An unsaved ORM Trade with exactly the LocalTrade's field values (and orders)."""
    trade = Trade(pair=lt.pair, exchange=lt.exchange, open_rate=lt.open_rate,
                  amount=lt.amount, stake_amount=lt.stake_amount,
                  interest_rate=lt.interest_rate, trading_mode=lt.trading_mode)
    for name in TRADE_COLS:
        try:
            value = getattr(lt, name)
        except AttributeError:  # never set (open_date): the ORM keeps its default
            continue
        setattr(trade, name, value)
    for lo in lt.orders:
        order = Order(**{name: getattr(lo, name) for name in ORDER_COLS})
        trade.orders.append(order)
    return trade


def _strip(order_id: str) -> str:
    for prefix in PREFIXES:
        if order_id.startswith(prefix):
            return order_id[len(prefix):]
    return order_id


def journal_inserts() -> dict[tuple[str, int], dict[str, Any]]:
    out = {}
    for rec in J.entries():
        assert rec.op == "insert"
        assert rec.after is not None
        out[(rec.entity, rec.entity_id)] = rec.after
    return out


def _comparable(after: dict[str, Any]) -> dict[str, Any]:
    return {k: (_strip(v) if k == "order_id" else v) for k, v in after.items()
            if k not in ("id", "ft_trade_id")}


def test_fast_path_stores_what_the_orm_stores(backend: str) -> None:
    init_db(backend, bot_id="bot-7")
    n = 8
    ids: dict[str, list[int]] = {p: [] for p in PREFIXES}
    for i in range(n):
        ref = to_orm(build_local(i, "orm-"))
        Trade.session.add(ref)
        Trade.commit()
        ids["orm-"].append(ref.id)
        local = build_local(i, "loc-")
        new_id = persist_trade(local)
        assert local.id == new_id
        assert all(o.ft_trade_id == new_id and o.id for o in local.orders)
        ids["loc-"].append(new_id)
        ids["ormfast-"].append(persist_trade(to_orm(build_local(i, "ormfast-"))))
    # the trade without orders carries no tag: tell them apart by their order of writing
    Trade.session.remove()
    ttable, otable = Trade.__table__, Order.__table__
    session = Trade.session
    rows: dict[str, list[Any]] = {}
    for prefix, tids in ids.items():
        rows[prefix] = []
        for tid in tids:
            trow = dict(session.execute(select(ttable).where(ttable.c.id == tid))
                        .mappings().one())
            orows = [dict(o) for o in session.execute(
                select(otable).where(otable.c.ft_trade_id == tid).order_by(otable.c.id))
                .mappings()]
            rows[prefix].append((trow, orows))
    for prefix in ("loc-", "ormfast-"):
        for (ref_t, ref_o), (got_t, got_o) in zip(rows["orm-"], rows[prefix], strict=True):
            assert {k: v for k, v in got_t.items() if k != "id"} == \
                {k: v for k, v in ref_t.items() if k != "id"}
            assert len(got_o) == len(ref_o)
            for a, b in zip(ref_o, got_o, strict=True):
                assert b["ft_trade_id"] == got_t["id"]
                assert {k: (_strip(v) if k == "order_id" else v) for k, v in b.items()
                        if k not in ("id", "ft_trade_id")} == \
                    {k: (_strip(v) if k == "order_id" else v) for k, v in a.items()
                     if k not in ("id", "ft_trade_id")}

    # read back through the ORM: every mapped attribute equal
    loaded = {t.id: t for t in Trade.get_trades().all()}
    for prefix in ("loc-", "ormfast-"):
        for ref_id, got_id in zip(ids["orm-"], ids[prefix], strict=True):
            ref, got = loaded[ref_id], loaded[got_id]
            for name in TRADE_COLS:
                assert getattr(got, name) == getattr(ref, name), name
            assert [_strip(o.order_id) for o in got.orders] == \
                [_strip(o.order_id) for o in ref.orders]
            for a, b in zip(ref.orders, got.orders, strict=True):
                for name in ORDER_COLS:
                    if name != "order_id":
                        assert getattr(b, name) == getattr(a, name), name
            assert got.calc_profit_ratio(123.0) == ref.calc_profit_ratio(123.0)

    # journal: same insert entries (ids aside), one transaction per trade, verify passes
    report = J.verify()
    assert report.ok, report.differences[:5]
    assert report.checked == {"trade": 3 * n, "order": sum(len(o) for _, o in rows["orm-"]) * 3}
    inserts = journal_inserts()
    for prefix in ("loc-", "ormfast-"):
        for (ref_t, ref_o), (got_t, got_o) in zip(rows["orm-"], rows[prefix], strict=True):
            ref_after = inserts[("trade", ref_t["id"])]
            got_after = inserts[("trade", got_t["id"])]
            assert got_after["id"] == got_t["id"]
            assert _comparable(got_after) == _comparable(ref_after)
            for a, b in zip(ref_o, got_o, strict=True):
                got_oafter = inserts[("order", b["id"])]
                assert got_oafter["id"] == b["id"] and got_oafter["ft_trade_id"] == got_t["id"]
                assert _comparable(got_oafter) == _comparable(inserts[("order", a["id"])])
    for tid in ids["loc-"]:
        history = J.trade_history(tid)
        assert len({r.tx_id for r in history}) == 1
        assert {r.bot_id for r in history} == {"bot-7"} and {r.actor for r in history} == {"bot"}


def test_many_trades_in_one_transaction_and_journal_off(backend: str) -> None:
    init_db(backend, journal=False)
    trades = [build_local(i, "loc-") for i in range(5)]
    ids = persist_trades(trades)
    assert ids == [t.id for t in trades] and len(set(ids)) == 5
    assert persist_trades([]) == []
    Trade.session.remove()
    assert Trade.session.scalar(select(func.count()).select_from(Trade)) == 5
    assert Trade.session.scalar(select(func.count()).select_from(JournalEntry)) == 0


def test_defaults_fill_none_like_the_orm(backend: str) -> None:
    init_db(backend)
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    lt = LocalTrade(pair="BTC/USDT", exchange="binance", open_rate=10.0, amount=1.0,
                    stake_amount=10.0, leverage=None, stop_loss=None, realized_profit=None)
    with pytest.raises(AttributeError):  # open_date never set: the column default (now)
        lt.open_date
    lt.orders.append(LocalOrder(ft_order_side="buy", ft_pair="BTC/USDT", ft_amount=1.0,
                                ft_price=10.0, order_id="d-1", ft_is_open=None,
                                order_date=None))
    ref = to_orm(lt)
    ref.orders[0].order_id = "d-2"
    Trade.session.add(ref)
    Trade.commit()
    ref_id = ref.id
    tid = persist_trade(lt)
    after = datetime.now(UTC) + timedelta(seconds=1)
    Trade.session.remove()
    got = Trade.session.get(Trade, tid)
    want = Trade.session.get(Trade, ref_id)
    assert got is not None and want is not None
    for t in (got, want):
        assert before <= t.open_date <= after
        assert t.leverage == 1.0 and t.stop_loss == 0.0 and t.realized_profit == 0.0
        assert t.orders[0].ft_is_open is True
        assert t.orders[0].order_date is not None
        assert before <= t.orders[0].order_date <= after
    assert J.verify().ok


BAD: list[tuple[str, Callable[[LocalTrade], None], str]] = [
    ("pair too long", lambda t: setattr(t, "pair", "X" * 26 + "/USDT"), r"Trade\.pair is 31"),
    ("exchange None", lambda t: setattr(t, "exchange", None), r"Trade\.exchange is required"),
    ("open_rate text", lambda t: setattr(t, "open_rate", "1.5"),
     r"Trade\.open_rate must be a number"),
    ("is_open None", lambda t: setattr(t, "is_open", None), r"Trade\.is_open is required"),
    ("bad enum", lambda t: setattr(t, "trading_mode", "options"),
     r"Trade\.trading_mode must be one of"),
    ("timeframe float", lambda t: setattr(t, "timeframe", 5.5),
     r"Trade\.timeframe must be an integer"),
    ("close_date text", lambda t: setattr(t, "close_date", "2024-01-01"),
     r"Trade\.close_date must be a datetime"),
    ("ft_amount None", lambda t: setattr(t.orders[1], "ft_amount", None),
     r"Order\.ft_amount is required"),
    ("ft_is_open text", lambda t: setattr(t.orders[1], "ft_is_open", "yes"),
     r"Order\.ft_is_open must be a bool"),
    ("order id too long", lambda t: setattr(t.orders[1], "order_id", "9" * 256),
     r"Order\.order_id is 256"),
    ("order_id None", lambda t: setattr(t.orders[0], "order_id", None),
     r"Order\.order_id is required"),
    ("duplicate order id", lambda t: setattr(t.orders[1], "order_id", t.orders[0].order_id),
     r"order_id .* appears twice"),
]


def _counts() -> tuple[int, int, int]:
    Trade.session.remove()
    s = Trade.session
    return (int(s.scalar(select(func.count()).select_from(Trade)) or 0),
            int(s.scalar(select(func.count()).select_from(Order)) or 0),
            int(s.scalar(select(func.count()).select_from(JournalEntry)) or 0))


def test_bad_input_names_the_field_and_writes_nothing(backend: str) -> None:
    init_db(backend)
    persist_trade(build_local(0, "ok-"))
    start = _counts()
    assert start == (1, 2, 3)
    for label, spoil, message in BAD:
        good = build_local(1, f"g{label[:3]}-")
        bad = build_local(0, f"b{label[:3]}-")
        spoil(bad)
        with pytest.raises(InvalidValueError, match=message):
            persist_trades([good, bad])
        assert good.id == 0  # nothing was written, not even the valid first trade
        assert _counts() == start, label
    with pytest.raises(TypeError, match="LocalTrade or Trade"):
        persist_trade({"pair": "BTC/USDT"})
    bad = build_local(0, "t-")
    bad.orders.append({"order_id": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"orders\[2\]"):
        persist_trade(bad)
    assert _counts() == start


def test_the_orm_refuses_the_same_values() -> None:
    """The errors above are the models' own: the ORM raises them too (same type, same text)."""
    init_db("sqlite://")
    for label, spoil, message in BAD:
        if label in ("ft_amount None", "duplicate order id"):
            continue  # the ORM fails later, at the flush (IntegrityError)
        local = build_local(0, "o-")
        trade = to_orm(local)
        with pytest.raises(InvalidValueError, match=message):
            spoil(trade)


def test_database_refusal_writes_nothing(backend: str) -> None:
    init_db(backend)
    first = build_local(0, "dup-")
    persist_trade(first)
    start = _counts()
    again = build_local(0, "dup-")  # same (ft_pair, order_id) as stored orders
    with pytest.raises(IntegrityError):
        persist_trade(again)
    assert _counts() == start
    assert persist_trade(build_local(0, "after-")) > first.id  # the pool still works
    assert J.verify().ok


def test_stored_trade_or_session_member_is_refused(backend: str) -> None:
    init_db(backend)
    trade = to_orm(build_local(0, "s-"))
    Trade.session.add(trade)
    with pytest.raises(InvalidValueError, match="already in a session"):
        persist_trade(trade)
    Trade.commit()
    with pytest.raises(InvalidValueError, match="already in a session"):
        persist_trade(trade)
    assert _counts()[0] == 1


def test_in_a_session_transaction(backend: str) -> None:
    init_db(backend)
    session = Trade.session
    other = to_orm(build_local(1, "x-"))
    session.add(other)
    session.flush()
    tid = persist_trade(build_local(0, "in-"), session=session)
    session.rollback()
    assert _counts() == (0, 0, 0)
    session = Trade.session
    other = to_orm(build_local(1, "y-"))
    session.add(other)
    session.flush()
    tid = persist_trade(build_local(0, "in2-"), session=Trade.session)
    Trade.commit()
    assert _counts() == (2, 4, 6)
    txs = {r.tx_id for r in J.entries()}
    assert len(txs) == 1  # the ORM's rows and the fast path's rows: one transaction
    assert J.verify().ok
    assert Trade.session.get(Trade, tid) is not None


def test_schema_confined_bot(backend_name: str, backend: str) -> None:
    if backend_name != "postgresql":
        pytest.skip("schemas per bot are PostgreSQL")
    for pgbouncer in (False, True):
        schema = "bot_pb" if pgbouncer else "bot_plain"
        init_db(backend, schema=schema, pgbouncer=pgbouncer)
        tid = persist_trade(build_local(0, f"{schema}-"))
        Trade.session.remove()
        assert [t.id for t in Trade.get_trades().all()] == [tid]
        count = Trade.session.execute(text(f"SELECT count(*) FROM {schema}.trades")).scalar()
        assert count == 1
        assert J.verify().ok


# ---------------------------------------------------------------------------------------------
# db.py: no ping round trip per checkout, stale connections still replaced


def _count_pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    engine = tl_db.get_engine()
    calls: list[int] = []
    original = engine.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        calls.append(1)
        return original(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return calls


def test_no_ping_between_close_checkouts(backend: str, backend_name: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if backend_name.startswith("sqlite"):
        pytest.skip("server databases only")
    init_db(backend)
    pings = _count_pings(monkeypatch)
    monkeypatch.setattr(tl_db, "PING_AFTER_IDLE_S", 60.0)  # a slow machine: no false ping
    for i in range(5):
        Trade.session.add(to_orm(build_local(i, "p-")))
        Trade.commit()
        persist_trade(build_local(i, "q-"))
    assert pings == []
    monkeypatch.setattr(tl_db, "PING_AFTER_IDLE_S", 0.05)
    time.sleep(0.1)
    persist_trade(build_local(9, "r-"))
    assert pings == [1]  # idle long enough: pinged once


def _kill_pooled_connection(backend_name: str) -> None:
    """Terminate the server side of the (one) idle pooled connection."""
    engine = tl_db.get_engine()
    with engine.connect() as conn:
        if backend_name == "postgresql":
            ident = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        else:
            ident = conn.execute(text("SELECT CONNECTION_ID()")).scalar()
    admin = tl_db.create_db_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        with admin.connect() as conn:
            if backend_name == "postgresql":
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": ident})
            else:
                conn.exec_driver_sql(f"KILL CONNECTION {int(ident)}")
            conn.commit()
    finally:
        admin.dispose()
    time.sleep(0.05)


@pytest.mark.parametrize("writer", ["orm", "fast"])
def test_stale_idle_connection_is_replaced(backend: str, backend_name: str, writer: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if backend_name.startswith("sqlite"):
        pytest.skip("server databases only")
    init_db(backend, pool_size=1)
    monkeypatch.setattr(tl_db, "PING_AFTER_IDLE_S", 0.05)
    Trade.session.remove()
    _kill_pooled_connection(backend_name)
    time.sleep(0.1)  # idle past the threshold: the checkout pings, finds it dead, reconnects
    if writer == "orm":
        Trade.session.add(to_orm(build_local(0, "st-")))
        Trade.commit()
    else:
        persist_trade(build_local(0, "st-"))
    assert _counts()[:2] == (1, 2)


def test_shared_memory_connection_with_open_transaction_is_left_alone() -> None:
    """``sqlite://`` shares one connection: a flushed, uncommitted ORM change of the caller
    is neither committed nor rolled back by ``persist_trade`` (refused; pass session=)."""
    init_db("sqlite://")
    mine = to_orm(build_local(0, "m-"))
    Trade.session.add(mine)
    Trade.session.flush()
    with pytest.raises(InvalidValueError, match="session="):
        persist_trade(build_local(1, "n-"))
    Trade.commit()
    assert _counts() == (1, 2, 3)
    persist_trade(build_local(1, "n-"))
    assert _counts() == (2, 4, 6)


def test_connection_lost_under_run_in_transaction(backend: str, backend_name: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead connection (not caught by the idle ping) while the work is sent.

    PostgreSQL: the one statement IS the commit, so its outcome is unknown and
    ``run_in_transaction`` must not retry blindly (``CommitOutcomeUnknownError``). MariaDB:
    the failure hits the first INSERT, before COMMIT, so the unit is safely retried. Either
    way nothing is stored twice and the pool reconnects.
    """
    from tradeledger.exceptions import CommitOutcomeUnknownError
    from tradeledger.services.retry import run_in_transaction

    if backend_name.startswith("sqlite"):
        pytest.skip("server databases only")
    init_db(backend, pool_size=1)
    monkeypatch.setattr(tl_db, "PING_AFTER_IDLE_S", 60.0)  # no ping: the statement finds it
    Trade.session.remove()
    _kill_pooled_connection(backend_name)
    calls: list[int] = []

    def unit() -> int:
        calls.append(1)
        return persist_trade(build_local(len(calls), "lost-"))

    if backend_name == "postgresql":
        with pytest.raises(CommitOutcomeUnknownError):
            run_in_transaction(unit, sleep=lambda s: None)
        assert calls == [1] and _counts()[0] == 0  # it never reached the server
    else:
        run_in_transaction(unit, sleep=lambda s: None)
        assert calls == [1, 1] and _counts()[:2] == (1, 2)
    assert persist_trade(build_local(7, "again-")) > 0  # the pool reconnected
