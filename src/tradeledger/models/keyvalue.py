"""The key-value store (table ``KeyValueStore``) and its static ``KeyValueStore`` API.

Deliberate deviations from freqtrade 2026.9: a ``bool`` is stored with ``value_type = "bool"``
(freqtrade stores it as int 1/0, so it reads back as an int); the typed columns of the
other types are cleared when a key changes type; in backtesting mode (``use_db = False``)
the store is an in-memory dict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import Double, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from tradeledger.domain.timeutil import dt_now, to_aware_utc
from tradeledger.exceptions import InvalidValueError
from tradeledger.models.base import ModelBase

__all__ = ["KeyStoreKeys", "KeyValueStore", "ValueTypes", "_KeyValueStoreModel"]

KeyStoreKeys = Literal[
    "bot_start_time",
    "startup_time",
    "binance_migration",
    "wallet_history_migration",
    "wallet_history_migration_date",
]
ValueTypes = str | datetime | float | int | bool


class _KeyValueStoreModel(ModelBase):
    """One key of the store."""

    __tablename__ = "KeyValueStore"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    value_type: Mapped[str] = mapped_column(String(20), nullable=False)
    string_value: Mapped[str | None] = mapped_column(String(255), nullable=True)
    datetime_value: Mapped[datetime | None] = mapped_column(nullable=True)
    float_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    int_value: Mapped[int | None] = mapped_column(Integer, nullable=True)


def _classify(value: Any) -> tuple[str, dict[str, Any]]:
    cols: dict[str, Any] = {"string_value": None, "datetime_value": None,
                            "float_value": None, "int_value": None}
    if isinstance(value, str):
        if len(value) > 255:
            raise InvalidValueError(f"string value longer than 255 characters: {value[:40]!r}...")
        cols["string_value"] = value
        return "str", cols
    if isinstance(value, datetime):
        cols["datetime_value"] = value
        return "datetime", cols
    if isinstance(value, bool):
        cols["int_value"] = int(value)
        return "bool", cols
    if isinstance(value, float):
        cols["float_value"] = value
        return "float", cols
    if isinstance(value, int):
        if not -(2**31) <= value < 2**31:
            raise InvalidValueError(
                f"integer value {value} is outside the 32-bit range of the int_value column"
            )
        cols["int_value"] = value
        return "int", cols
    raise InvalidValueError(f"Unknown value type {type(value).__name__} for key-value store")


def _decode(row: _KeyValueStoreModel) -> ValueTypes | None:
    vt = row.value_type
    if vt == "str":
        return row.string_value
    if vt == "datetime":
        return None if row.datetime_value is None else to_aware_utc(row.datetime_value)
    if vt == "float":
        return row.float_value
    if vt == "int":
        return row.int_value
    if vt == "bool":
        return None if row.int_value is None else bool(row.int_value)
    return None


class KeyValueStore:
    """Generic bot-wide key-value store (static API, as in freqtrade)."""

    use_db: ClassVar[bool] = True
    _memory: ClassVar[dict[str, ValueTypes]] = {}

    @staticmethod
    def _check_key(key: Any) -> str:
        if not isinstance(key, str) or not key or len(key) > 50:
            raise InvalidValueError(f"key must be a string of 1 to 50 characters, got {key!r}")
        return key

    @staticmethod
    def store_value(key: str, value: ValueTypes) -> None:
        """Store ``value`` under ``key`` (insert or replace) and commit."""
        KeyValueStore._check_key(key)
        value_type, cols = _classify(value)
        if not KeyValueStore.use_db:
            stored = to_aware_utc(value) if isinstance(value, datetime) else value
            KeyValueStore._memory[key] = stored
            return
        session = _KeyValueStoreModel.session
        try:
            row = session.scalars(
                select(_KeyValueStoreModel).where(_KeyValueStoreModel.key == key)
            ).first()
            if row is None:
                row = _KeyValueStoreModel(key=key, value_type=value_type)
                session.add(row)
            row.value_type = value_type
            for name, col_value in cols.items():
                setattr(row, name, col_value)
            session.commit()
        except BaseException:
            session.rollback()
            raise

    @staticmethod
    def _row(key: str) -> _KeyValueStoreModel | None:
        return _KeyValueStoreModel.session.scalars(
            select(_KeyValueStoreModel).where(_KeyValueStoreModel.key == key)
        ).first()

    @staticmethod
    def delete_value(key: str) -> None:
        """Delete ``key`` if present (idempotent) and commit."""
        if not KeyValueStore.use_db:
            KeyValueStore._memory.pop(key, None)
            return
        session = _KeyValueStoreModel.session
        row = KeyValueStore._row(key)
        if row is not None:
            session.delete(row)
            session.commit()

    @staticmethod
    def get_value(key: str) -> ValueTypes | None:
        """Return the stored value (datetimes aware UTC), or ``None``."""
        if not KeyValueStore.use_db:
            return KeyValueStore._memory.get(key)
        row = KeyValueStore._row(key)
        return None if row is None else _decode(row)

    @staticmethod
    def _typed(key: str, kind: type) -> Any:
        value = KeyValueStore.get_value(key)
        if kind is int and isinstance(value, bool):
            return None
        return value if isinstance(value, kind) else None

    @staticmethod
    def get_string_value(key: str) -> str | None:
        """Return the value if it is a string."""
        return KeyValueStore._typed(key, str)  # type: ignore[no-any-return]

    @staticmethod
    def get_datetime_value(key: str) -> datetime | None:
        """Return the value if it is a datetime (aware UTC)."""
        return KeyValueStore._typed(key, datetime)  # type: ignore[no-any-return]

    @staticmethod
    def get_float_value(key: str) -> float | None:
        """Return the value if it is a float."""
        return KeyValueStore._typed(key, float)  # type: ignore[no-any-return]

    @staticmethod
    def get_int_value(key: str) -> int | None:
        """Return the value if it is an int (not a bool)."""
        return KeyValueStore._typed(key, int)  # type: ignore[no-any-return]

    @staticmethod
    def get_bool_value(key: str) -> bool | None:
        """Return the value if it is a bool."""
        return KeyValueStore._typed(key, bool)  # type: ignore[no-any-return]


def set_startup_time() -> None:
    """Record ``startup_time`` = now and, once, ``bot_start_time`` = oldest trade or now."""
    from tradeledger.models.trade import Trade

    if KeyValueStore.get_value("bot_start_time") is None:
        first = None
        if KeyValueStore.use_db:
            first = Trade.session.scalars(
                select(Trade.open_date).order_by(Trade.open_date.asc()).limit(1)
            ).first()
        KeyValueStore.store_value("bot_start_time", first if first is not None else dt_now())
    KeyValueStore.store_value("startup_time", dt_now())
