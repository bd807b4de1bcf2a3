"""Key-value store and per-trade custom data, in database and in-memory mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from sqlalchemy import select, text

from tradeledger import (
    CustomDataWrapper,
    InvalidValueError,
    KeyValueStore,
    Trade,
    init_db,
    set_startup_time,
)
from tradeledger.models import _CustomData


def make_trade(**kw: Any) -> Trade:
    base: dict[str, Any] = dict(pair="BTC/USDT", exchange="binance", open_rate=100.0,
                                amount=1.0, stake_amount=100.0, fee_open=0.001,
                                fee_close=0.001, open_date=datetime(2024, 1, 1, tzinfo=UTC))
    base.update(kw)
    t = Trade(**base)
    Trade.session.add(t)
    Trade.commit()
    return t


@pytest.fixture(params=["db", "memory"])
def kv_mode(request: pytest.FixtureRequest, backend: str) -> str:
    init_db(backend)
    if request.param == "memory":
        KeyValueStore.use_db = False
        CustomDataWrapper.use_db = False
    return str(request.param)


def test_kv_roundtrip_every_type(kv_mode: str) -> None:
    now = datetime(2024, 5, 5, 5, 5, 5, 123456, tzinfo=UTC)
    values: dict[str, Any] = {"s": "hello", "f": 1.5, "i": 7, "b": True, "d": now}
    for k, v in values.items():
        KeyValueStore.store_value(k, v)
    for k, v in values.items():
        got = KeyValueStore.get_value(k)
        assert got == v and type(got) is type(v), k
    assert KeyValueStore.get_string_value("s") == "hello"
    assert KeyValueStore.get_float_value("f") == 1.5
    assert KeyValueStore.get_int_value("i") == 7
    assert KeyValueStore.get_int_value("b") is None  # a bool is not an int here
    assert KeyValueStore.get_bool_value("b") is True
    assert KeyValueStore.get_datetime_value("d") == now
    assert KeyValueStore.get_string_value("f") is None
    assert KeyValueStore.get_value("missing") is None


def test_kv_datetime_in_other_zone_is_converted(kv_mode: str) -> None:
    aware = datetime(2024, 5, 5, 5, 5, 5, tzinfo=timezone(timedelta(hours=2)))
    KeyValueStore.store_value("d", aware)
    got = KeyValueStore.get_datetime_value("d")
    assert got == aware and got is not None and got.tzinfo == UTC and got.hour == 3


def test_kv_type_change_clears_other_columns(kv_mode: str) -> None:
    KeyValueStore.store_value("k", 5)
    KeyValueStore.store_value("k", "five")
    assert KeyValueStore.get_value("k") == "five"
    assert KeyValueStore.get_int_value("k") is None
    if kv_mode == "db":
        from tradeledger.models import _KeyValueStoreModel as M

        rows = M.session.scalars(select(M).where(M.key == "k")).all()
        assert len(rows) == 1 and rows[0].int_value is None and rows[0].string_value == "five"


def test_kv_delete_idempotent_and_errors(kv_mode: str) -> None:
    KeyValueStore.store_value("x", 1)
    KeyValueStore.delete_value("x")
    KeyValueStore.delete_value("x")
    assert KeyValueStore.get_value("x") is None
    with pytest.raises(InvalidValueError, match="Unknown value type"):
        KeyValueStore.store_value("x", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="1 to 50"):
        KeyValueStore.store_value("k" * 51, 1)
    assert KeyValueStore.get_value("x") is None


def test_set_startup_time(backend: str) -> None:
    init_db(backend)
    make_trade(open_date=datetime(2023, 3, 3, tzinfo=UTC))
    with time_machine.travel(datetime(2024, 6, 1, tzinfo=UTC), tick=False):
        set_startup_time()
    assert KeyValueStore.get_value("bot_start_time") == datetime(2023, 3, 3, tzinfo=UTC)
    assert KeyValueStore.get_value("startup_time") == datetime(2024, 6, 1, tzinfo=UTC)


VALUES: list[Any] = ["text", 3, 2.5, True, False, {"a": [1, 2]}, [1, "x"], None, ""]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v) for v in VALUES])
def test_custom_data_roundtrip(kv_mode: str, value: Any) -> None:
    if kv_mode == "db":
        trade = make_trade()
        tid = trade.id
    else:
        tid = 1
    CustomDataWrapper.set_custom_data(tid, "note", value)
    entries = CustomDataWrapper.get_custom_data(trade_id=tid, key="note")
    assert len(entries) == 1
    assert entries[0].value == value and type(entries[0].value) is type(value)


def test_custom_data_type_change_and_case_insensitive_keys(kv_mode: str) -> None:
    tid = make_trade().id if kv_mode == "db" else 1
    CustomDataWrapper.set_custom_data(tid, "Counter", 1)
    CustomDataWrapper.set_custom_data(tid, "counter", "one")  # same key, new type
    entries = CustomDataWrapper.get_custom_data(trade_id=tid, key="COUNTER")
    assert len(entries) == 1
    assert entries[0].value == "one" and entries[0].cd_type == "str"
    assert entries[0].updated_at is not None


def test_custom_data_keys_are_not_wildcards(kv_mode: str) -> None:
    tid = make_trade().id if kv_mode == "db" else 1
    CustomDataWrapper.set_custom_data(tid, "a_b", 1)
    assert CustomDataWrapper.get_custom_data(trade_id=tid, key="a%") == []
    assert CustomDataWrapper.get_custom_data(trade_id=tid, key="a_") == []
    CustomDataWrapper.set_custom_data(tid, "a%", 2)  # must not overwrite a_b
    values = {e.cd_key: e.value for e in CustomDataWrapper.get_custom_data(trade_id=tid)}
    assert values == {"a_b": 1, "a%": 2}


def test_custom_data_unserialisable_value_refused(kv_mode: str) -> None:
    tid = make_trade().id if kv_mode == "db" else 1
    with pytest.raises(InvalidValueError, match="JSON"):
        CustomDataWrapper.set_custom_data(tid, "obj", object())
    assert CustomDataWrapper.get_custom_data(trade_id=tid) == []


def test_custom_data_delete(kv_mode: str) -> None:
    tid = make_trade().id if kv_mode == "db" else 1
    for k in ("a", "b", "c"):
        CustomDataWrapper.set_custom_data(tid, k, k)
    CustomDataWrapper.delete_custom_data(tid, "B")
    assert sorted(e.cd_key for e in CustomDataWrapper.get_custom_data(trade_id=tid)) == ["a", "c"]
    CustomDataWrapper.delete_custom_data(tid)
    assert CustomDataWrapper.get_custom_data(trade_id=tid) == []


def test_trade_custom_data_helpers(kv_mode: str) -> None:
    if kv_mode == "db":
        trade = make_trade()
    else:
        from tradeledger import LocalTrade

        trade = LocalTrade(id=7, pair="BTC/USDT", exchange="binance", open_rate=1.0, amount=1.0,
                           stake_amount=1.0, open_date=datetime(2024, 1, 1, tzinfo=UTC))
    trade.set_custom_data("k", {"x": 1})
    assert trade.get_custom_data("k") == {"x": 1}
    assert trade.get_custom_data("missing", default=5) == 5
    entry = trade.get_custom_data_entry("K")
    assert entry is not None and entry.cd_key == "k"
    assert [e.cd_key for e in trade.get_all_custom_data()] == ["k"]
    trade.delete_custom_data("k")
    assert trade.get_custom_data("k") is None


def test_custom_data_write_does_not_commit_pending_trade_changes(backend: str) -> None:
    """The documented rule: custom data commits in its own session, never the trade's."""
    init_db(backend)
    trade = make_trade()
    trade.exit_reason = "pending-change"
    trade.set_custom_data("note", "hello")
    Trade.rollback()
    assert Trade.session.get(Trade, trade.id).exit_reason is None  # type: ignore[union-attr]
    assert trade.get_custom_data("note") == "hello"


def test_deleting_trade_deletes_its_custom_data(backend: str) -> None:
    init_db(backend)
    trade = make_trade()
    trade.set_custom_data("note", "x")
    tid = trade.id
    trade.delete()
    n = _CustomData.session.execute(
        text("SELECT count(*) FROM trade_custom_data WHERE ft_trade_id = :t"), {"t": tid}
    ).scalar()
    assert n == 0


def test_custom_data_non_ascii_keys_match_case_insensitively(kv_mode: str) -> None:
    tid = make_trade().id if kv_mode == "db" else 1
    CustomDataWrapper.set_custom_data(tid, "Ärger", 1)
    CustomDataWrapper.set_custom_data(tid, "ärger", 2)  # same key: update, no duplicate
    entries = CustomDataWrapper.get_custom_data(trade_id=tid, key="ÄRGER")
    assert [(e.cd_key, e.value) for e in entries] == [("Ärger", 2)]


def test_kv_int_outside_column_range_refused(kv_mode: str) -> None:
    with pytest.raises(InvalidValueError, match="32-bit"):
        KeyValueStore.store_value("big", 2**70)
    assert KeyValueStore.get_value("big") is None
