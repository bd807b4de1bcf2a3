"""Declarative base, the one type map, the naming convention and the UTC datetime type."""

from __future__ import annotations

import numbers
from datetime import datetime
from decimal import Decimal
from math import isfinite
from typing import Any, ClassVar

from sqlalchemy import (
    DOUBLE,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Enum,
    Float,
    Integer,
    MetaData,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapper, scoped_session
from sqlalchemy.orm import Session as _Session
from sqlalchemy.sql.elements import ClauseElement
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
            from sqlalchemy.dialects import mysql  # loaded with that dialect anyway

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
#: (The generic ``DOUBLE`` renders ``DOUBLE`` there; ``import tradeledger`` then loads no
#: dialect module it does not use.)
FloatType = Float().with_variant(DOUBLE(asdecimal=False), "mysql", "mariadb")


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


#: Free-text columns: a longer value is cut to the column length (freqtrade cuts
#: ``enter_tag`` and ``exit_reason``; here every free-text column, on every backend alike).
#: Every other bounded string (pair, exchange, order id, keys ...) is an identifier: a longer
#: value is refused, because cutting it would silently turn it into another identifier.
CUT_COLUMNS: frozenset[str] = frozenset(
    {
        "enter_tag",
        "exit_reason",
        "exit_order_status",
        "strategy",
        "ft_order_tag",
        "ft_cancel_reason",
        "reason",
        "status",
        "order_type",
    }
)


def _column_guard(class_name: str, key: str, col: Any) -> Any:
    """Return a ``set`` listener that checks (and for free text cuts) values of one column."""
    from tradeledger.exceptions import InvalidValueError

    ctype = col.type
    where = f"{class_name}.{key}"
    not_null_text = False

    if isinstance(ctype, Enum):
        enum_class = ctype.enum_class
        allowed: set[Any] = set(ctype.enums)
        if enum_class is not None:
            allowed |= {m.value for m in enum_class}

        def check(value: Any) -> Any:
            if value is None or (enum_class is not None and isinstance(value, enum_class)):
                return value
            if isinstance(value, str) and value in allowed:
                return value
            raise InvalidValueError(
                f"{where} must be one of {sorted(allowed)}, got {value!r:.60}")
    elif isinstance(ctype, String):
        length = getattr(ctype, "length", None)
        cut = key in CUT_COLUMNS
        not_null_text = not col.nullable and not col.primary_key

        def check(value: Any) -> Any:
            if value is None:
                if not_null_text:
                    raise InvalidValueError(f"{where} is required (got None)")
                return value
            if not isinstance(value, str):
                raise InvalidValueError(
                    f"{where} must be a string, got {type(value).__name__}: {value!r:.60}"
                )
            if length and len(value) > length:
                if cut:
                    return value[:length]
                raise InvalidValueError(
                    f"{where} is {len(value)} characters long; the column holds {length}: "
                    f"{value[:40]!r}..."
                )
            return value
    elif isinstance(ctype, Boolean):

        def check(value: Any) -> Any:
            if (
                value is None
                or isinstance(value, bool)
                or (isinstance(value, numbers.Integral) and value in (0, 1))
            ):
                return value
            raise InvalidValueError(
                f"{where} must be a bool, got {type(value).__name__}: {value!r:.60}"
            )
    elif isinstance(ctype, Float):
        # NaN is stored as NULL by SQLite (a NOT NULL column then fails at commit), as NaN by
        # PostgreSQL and refused by MariaDB's driver; an infinity breaks the exact (Decimal)
        # accounting: both refused here, the same on every backend
        def check(value: Any) -> Any:
            if value is None:
                return value
            if type(value) is float:
                if not isfinite(value):
                    raise InvalidValueError(f"{where} must be a finite number, got {value}")
                return value
            if isinstance(value, numbers.Real | Decimal):
                try:
                    finite = isfinite(value)
                except OverflowError:  # an int too large for a double
                    finite = False
                if not finite:
                    raise InvalidValueError(
                        f"{where} must be a finite number, got {value!r:.60}")
                return value
            raise InvalidValueError(
                f"{where} must be a number, got {type(value).__name__}: {value!r:.60}"
            )
    elif isinstance(ctype, Integer):
        # the column's range on PostgreSQL/MariaDB (INTEGER is 32-bit there), on every backend
        bits = 64 if isinstance(ctype, BigInteger) else 32
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

        def check(value: Any) -> Any:
            if value is None:
                return value
            if isinstance(value, numbers.Integral):
                if not low <= value <= high:
                    raise InvalidValueError(
                        f"{where} is out of the {bits}-bit integer range: {value!r:.60}")
                return value
            raise InvalidValueError(
                f"{where} must be an integer, got {type(value).__name__}: {value!r:.60}"
            )
    elif isinstance(ctype, UTCDateTime):

        def check(value: Any) -> Any:
            if value is None or isinstance(value, datetime):
                return value
            raise InvalidValueError(
                f"{where} must be a datetime, got {type(value).__name__}: {value!r:.60}"
            )
    else:
        return None

    # Non-text NOT NULL columns are checked on trades only: order fields are filled in steps
    # from CCXT data (freqtrade-compatible parsing may leave ft_price unset until commit).
    required = (class_name == "Trade" and not col.nullable and not col.primary_key
                and not col.foreign_keys)

    def _set(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
        if isinstance(value, ClauseElement):  # a SQL expression, e.g. func.now()
            return value
        if value is None and required:
            raise InvalidValueError(f"{where} is required (got None)")
        return check(value)

    return _set


@event.listens_for(ModelBase, "mapper_configured", propagate=True)
def _install_column_guards(mapper: Mapper[Any], class_: type[Any]) -> None:
    """Check every value assigned to a mapped column as it is set, on every backend alike.

    A value of the wrong type, or an identifier longer than its column, raises
    :class:`~tradeledger.exceptions.InvalidValueError` naming the attribute, before anything
    reaches the database; over-long free text is cut (see :data:`CUT_COLUMNS`).
    """
    if getattr(class_, "__truncate_strings__", True) is False:
        return
    for prop in mapper.column_attrs:
        if prop.key not in class_.__dict__ and mapper.inherits is not None:
            continue
        listener = _column_guard(class_.__name__, prop.key, prop.columns[0])
        if listener is not None:
            event.listen(getattr(class_, prop.key), "set", listener, retval=True)
