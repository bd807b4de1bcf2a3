"""Per-trade custom data: value encoding and the ``CustomDataWrapper`` facade.

The facade keeps freqtrade's API. In backtesting (``use_db = False``) entries live in an
in-memory index keyed by trade id; in live mode the calls go to a database backend that the
mapping layer registers (``tradeledger.models.custom_data``), so this module imports no ORM.

Deliberate deviations from freqtrade 2026.9:

* updating a key with a value of another type updates its type too (freqtrade keeps the old
  ``cd_type``, which can make the key unreadable);
* keys match case-insensitively but literally: ``%`` and ``_`` are not wildcards
  (freqtrade uses ``ILIKE``, so ``get_custom_data("a%")`` returned the entry ``a_b``);
* a value that cannot be serialised raises :class:`~tradeledger.exceptions.InvalidValueError`
  instead of being dropped with a warning;
* ``trade_id=None`` stays ``NULL`` (freqtrade writes ``0``, which breaks the foreign key on
  databases that enforce it).

Transaction rule: in live mode custom data is written through its own scoped session and
committed there, so ``set_custom_data`` never commits pending changes of ``Trade.session``
(as in freqtrade). Commit the trade first if the custom data must not outlive a rollback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from tradeledger.domain.timeutil import dt_now
from tradeledger.exceptions import InvalidValueError

__all__ = [
    "CustomDataBackend",
    "CustomDataEntry",
    "CustomDataWrapper",
    "decode_custom_value",
    "encode_custom_value",
]

UNSERIALIZED_TYPES: tuple[str, ...] = ("bool", "float", "int", "str")


def encode_custom_value(value: Any) -> tuple[str, str]:
    """Return ``(cd_type, cd_value)`` for ``value`` as freqtrade stores it."""
    cd_type = type(value).__name__
    if cd_type in UNSERIALIZED_TYPES:
        return cd_type, str(value)
    try:
        return cd_type, json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(
            f"custom data value of type {cd_type} cannot be stored as JSON: {exc}"
        ) from exc


def decode_custom_value(cd_type: str, cd_value: str) -> Any:
    """Decode a stored custom-data value."""
    if cd_type == "str":
        return cd_value
    if cd_type == "bool":
        return cd_value.lower() == "true"
    if cd_type == "int":
        return int(cd_value)
    if cd_type == "float":
        return float(cd_value)
    return json.loads(cd_value)


@dataclass(eq=False)
class CustomDataEntry:
    """An in-memory custom-data entry (same attributes as the ``trade_custom_data`` row)."""

    ft_trade_id: int | None
    cd_key: str
    cd_type: str
    cd_value: str
    created_at: datetime = field(default_factory=dt_now)
    updated_at: datetime | None = None
    id: int | None = None

    @property
    def value(self) -> Any:
        """The decoded value."""
        return decode_custom_value(self.cd_type, self.cd_value)


class CustomDataBackend(Protocol):
    """What the database layer provides to the facade."""

    def set(self, trade_id: int | None, key: str, cd_type: str, cd_value: str) -> None:
        """Insert or update one entry and commit."""

    def get(self, trade_id: int | None, key: str | None) -> list[Any]:
        """Return entries of a trade (all, or the one matching ``key``)."""

    def delete(self, trade_id: int | None, key: str | None) -> None:
        """Delete entries of a trade (all, or ``key``) and commit."""


class CustomDataWrapper:
    """freqtrade's custom-data facade: database in live mode, in-memory in backtesting."""

    use_db: ClassVar[bool] = True
    custom_data: ClassVar[list[CustomDataEntry]] = []
    unserialized_types: ClassVar[list[str]] = list(UNSERIALIZED_TYPES)
    _index: ClassVar[dict[tuple[int | None, str], CustomDataEntry]] = {}
    _db_backend: ClassVar[CustomDataBackend | None] = None

    @staticmethod
    def _backend() -> CustomDataBackend:
        backend = CustomDataWrapper._db_backend
        if backend is None:
            raise InvalidValueError("custom data needs init_db() first (or backtesting mode)")
        return backend

    @staticmethod
    def reset_custom_data() -> None:
        """Forget all in-memory entries (backtesting only, as in freqtrade)."""
        if not CustomDataWrapper.use_db:
            CustomDataWrapper.custom_data = []
            CustomDataWrapper._index = {}

    @staticmethod
    def _check_key(key: Any) -> str:
        if not isinstance(key, str) or not key:
            raise InvalidValueError(f"custom data key must be a non-empty string, got {key!r}")
        if len(key) > 255:
            raise InvalidValueError(f"custom data key longer than 255 characters: {key[:40]!r}...")
        return key

    @staticmethod
    def set_custom_data(trade_id: int | None, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` for a trade (insert or update)."""
        CustomDataWrapper._check_key(key)
        cd_type, cd_value = encode_custom_value(value)
        if CustomDataWrapper.use_db:
            CustomDataWrapper._backend().set(trade_id, key, cd_type, cd_value)
            return
        idx = (trade_id, key.casefold())
        entry = CustomDataWrapper._index.get(idx)
        if entry is None:
            entry = CustomDataEntry(ft_trade_id=trade_id, cd_key=key, cd_type=cd_type,
                                    cd_value=cd_value, id=len(CustomDataWrapper.custom_data) + 1)
            CustomDataWrapper.custom_data.append(entry)
            CustomDataWrapper._index[idx] = entry
        else:
            entry.cd_type = cd_type
            entry.cd_value = cd_value
            entry.updated_at = dt_now()

    @staticmethod
    def get_custom_data(*, trade_id: int | None, key: str | None = None) -> list[Any]:
        """Return the entries of a trade (all, or the one whose key matches ``key``)."""
        if CustomDataWrapper.use_db:
            return CustomDataWrapper._backend().get(trade_id, key)
        if key is not None:
            entry = CustomDataWrapper._index.get((trade_id, key.casefold()))
            return [] if entry is None else [entry]
        return [e for e in CustomDataWrapper.custom_data if e.ft_trade_id == trade_id]

    @staticmethod
    def delete_custom_data(trade_id: int | None, key: str | None = None) -> None:
        """Delete the entries of a trade (all, or ``key``)."""
        if CustomDataWrapper.use_db:
            CustomDataWrapper._backend().delete(trade_id, key)
            return
        doomed = [
            e for e in CustomDataWrapper.custom_data
            if e.ft_trade_id == trade_id and (key is None or e.cd_key.casefold() == key.casefold())
        ]
        for e in doomed:
            CustomDataWrapper.custom_data.remove(e)
            CustomDataWrapper._index.pop((trade_id, e.cd_key.casefold()), None)
