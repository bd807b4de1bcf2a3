"""Declarative base, the one type map, the naming convention and the UTC datetime type."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Boolean, DateTime, Dialect, Float, MetaData, event
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapper, scoped_session
from sqlalchemy.orm import Session as _Session
from sqlalchemy.types import String, TypeDecorator, TypeEngine

from tradeledger.domain.timeutil import to_aware_utc, to_naive_utc

__all__ = ["NAMING_CONVENTION", "FloatType", "ModelBase", "SessionType", "UTCDateTime"]

SessionType = scoped_session[_Session]

#: Names of every constraint and index; they equal freqtrade's names on PostgreSQL
#: (``ix_trades_pair``, ``orders_ft_trade_id_fkey``, ``trades_pkey``), which is what lets
#: Alembic batch migrations on SQLite target them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (freqtrade's schema); returned as aware UTC.

    An aware value in another zone is converted to UTC before it is stored (freqtrade drops
    the zone and keeps the wall clock); a naive value is taken as UTC. On MySQL/MariaDB the
    column keeps microseconds (``DATETIME(6)``).
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Use ``DATETIME(6)`` on MySQL/MariaDB so microseconds survive."""
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to naive UTC for storage."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        return to_naive_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return aware UTC."""
        if value is None:
            return None
        if isinstance(value, str):  # SQLite rows written by hand / old migrations
            value = datetime.fromisoformat(value)
        return to_aware_utc(value)


#: ``Float`` on every backend, but a real double on MySQL/MariaDB (their ``FLOAT`` is
#: single precision, which would silently lose money digits).
FloatType = Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


class ModelBase(DeclarativeBase):
    """Base of every mapped class; ``Model.session`` exists after :func:`init_db`."""

    __allow_unmapped__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        float: FloatType,
        datetime: UTCDateTime(),
        bool: Boolean(),
    }
    session: ClassVar[SessionType]


def _truncate_listener(max_len: int) -> Any:
    def _set(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
        if isinstance(value, str) and len(value) > max_len:
            return value[:max_len]
        return value

    return _set


@event.listens_for(ModelBase, "mapper_configured", propagate=True)
def _install_truncation(mapper: Mapper[Any], class_: type[Any]) -> None:
    """Cut over-long text to its column length on every backend, the same way.

    freqtrade cuts only ``enter_tag`` and ``exit_reason``; an over-long ``ft_order_tag``
    then fails on PostgreSQL but not on SQLite. Here every bounded string column is cut.
    """
    for prop in mapper.column_attrs:
        if getattr(class_, "__truncate_strings__", True) is False:
            return
        col = prop.columns[0]
        length = getattr(col.type, "length", None)
        if isinstance(col.type, String) and length:
            event.listen(getattr(class_, prop.key), "set", _truncate_listener(length), retval=True)
