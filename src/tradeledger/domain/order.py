"""``LocalOrder``: an exchange order built from CCXT dictionaries (plain Python, no ORM).

The ORM class :class:`tradeledger.models.order.Order` (table ``orders``) inherits every method
here; backtesting and tests can use ``LocalOrder`` alone. The behaviour is freqtrade 2026.9's
``Order`` (facts sheet §2.3, §5.11) with these deliberate additions:

* **Validation before mutation.** Every CCXT dictionary is checked completely before a single
  attribute changes (:func:`validate_ccxt_order`): a non-dict, a missing/``None`` id, numbers
  given as strings, booleans, NaN/infinite/negative amounts, prices or timestamps, unknown
  statuses and a ``filled`` larger than ``amount`` raise :class:`InvalidOrderError` (field and
  value attached). A bad update therefore leaves the order (and the database row) unchanged.
* **Monotonic updates** (``LocalOrder.monotonic_updates``, default ``True``). An update whose
  ``filled`` is lower than the stored ``filled``, or that reports ``open`` for an order already in
  a final state (closed/canceled/expired/rejected), is *stale* (an older snapshot delivered late)
  and is ignored: nothing changes. freqtrade applies such snapshots and re-opens closed orders;
  the golden vectors contain four such random updates. Set ``monotonic_updates = False`` (class or
  instance) or pass ``monotonic=False`` for freqtrade's exact behaviour.
* :meth:`LocalOrder.update_from_ccxt_object` returns an :class:`UpdateOutcome` (freqtrade returns
  ``None``) telling whether the order changed, whether the update was stale and how much new
  fill it carried, so callers book each fill exactly once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeGuard

from tradeledger.domain.enums import DATETIME_PRINT_FORMAT, NON_OPEN_EXCHANGE_STATES
from tradeledger.domain.money import dec, div18, dmul, to_float
from tradeledger.domain.timeutil import dt_from_ts, dt_now, dt_ts, to_aware_utc
from tradeledger.exceptions import (
    DependencyException,
    InvalidOrderError,
    MissingOrderIdError,
    OrderMismatchError,
)

__all__ = [
    "KNOWN_ORDER_STATUSES",
    "ORDER_FIELDS",
    "ORDER_SIDES",
    "LocalOrder",
    "UpdateOutcome",
    "fee_from_ccxt",
    "validate_ccxt_order",
]

logger = logging.getLogger(__name__)

#: Every column of the ``orders`` table, in table order.
ORDER_FIELDS: tuple[str, ...] = (
    "id",
    "ft_trade_id",
    "ft_order_side",
    "ft_pair",
    "ft_is_open",
    "ft_amount",
    "ft_price",
    "ft_cancel_reason",
    "order_id",
    "status",
    "symbol",
    "order_type",
    "side",
    "price",
    "average",
    "amount",
    "filled",
    "remaining",
    "cost",
    "stop_price",
    "order_date",
    "order_filled_date",
    "order_update_date",
    "funding_fee",
    "ft_fee_base",
    "ft_order_tag",
)

#: CCXT statuses accepted in an order dictionary (``None`` = unknown, keep the stored one).
KNOWN_ORDER_STATUSES: frozenset[str] = frozenset(("open", *NON_OPEN_EXCHANGE_STATES))
#: Values of ``ft_order_side``.
ORDER_SIDES: frozenset[str] = frozenset(("buy", "sell", "stoploss"))

#: CCXT key → order attribute, for the values an update copies when present and not None.
_CCXT_MAP: tuple[tuple[str, str], ...] = (
    ("status", "status"),
    ("symbol", "symbol"),
    ("type", "order_type"),
    ("side", "side"),
    ("price", "price"),
    ("amount", "amount"),
    ("filled", "filled"),
    ("average", "average"),
    ("remaining", "remaining"),
    ("cost", "cost"),
    ("stopPrice", "stop_price"),
)
_NUMERIC_KEYS = ("price", "amount", "filled", "average", "remaining", "cost", "stopPrice")
_TEXT_KEYS = ("status", "symbol", "type", "side")
_TIMESTAMP_KEYS = ("timestamp", "lastTradeTimestamp")
#: Attributes compared to decide whether an update changed the order.
_STATE_FIELDS = (
    *(attr for _, attr in _CCXT_MAP),
    "ft_is_open",
    "order_date",
    "order_filled_date",
)
_FILL_TOLERANCE_REL = 1e-9
_FILL_TOLERANCE_ABS = 1e-12


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    """What :meth:`LocalOrder.update_from_ccxt_object` did.

    Attributes:
        changed: some order field other than ``order_update_date`` changed.
        stale: the update was older than the stored state and was ignored.
        filled_before: ``filled`` before the update (``None`` = unknown).
        filled_after: ``filled`` after the update.
        closed_now: the order left the open state with this update.
    """

    changed: bool
    stale: bool
    filled_before: float | None
    filled_after: float | None
    closed_now: bool

    @property
    def fill_delta(self) -> float:
        """Newly reported fill quantity (0.0 when nothing new was filled)."""
        before = self.filled_before or 0.0
        after = self.filled_after or 0.0
        return max(after - before, 0.0)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_number(field: str, value: Any, *, what: str = "CCXT order") -> float:
    """Return ``value`` as a float or raise :class:`InvalidOrderError`."""
    if not _is_number(value):
        if isinstance(value, str):
            raise InvalidOrderError(
                f"{what}: {field} must be a number, not the string {value!r}",
                field=field,
                value=value,
            )
        raise InvalidOrderError(
            f"{what}: {field} must be a number, got {type(value).__name__} {value!r}",
            field=field,
            value=value,
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidOrderError(
            f"{what}: {field} must be finite, got {value!r}", field=field, value=value
        )
    if number < 0:
        raise InvalidOrderError(
            f"{what}: {field} must not be negative, got {value!r}", field=field, value=value
        )
    return number


def _order_id_text(order: Mapping[str, Any]) -> str:
    """Return ``str(order["id"])`` after checking it exists and is a usable id."""
    if "id" not in order:
        raise MissingOrderIdError("CCXT order has no 'id'", field="id", value=None)
    raw = order["id"]
    if raw is None:
        raise MissingOrderIdError("CCXT order id is None", field="id", value=None)
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise InvalidOrderError(
            f"CCXT order id must be a str or int, got {type(raw).__name__} {raw!r}",
            field="id",
            value=raw,
        )
    text = str(raw)
    if not text.strip():
        raise MissingOrderIdError(f"CCXT order id is empty: {raw!r}", field="id", value=raw)
    return text


def validate_ccxt_order(
    order: Any, *, stored_amount: float | None = None, stored_filled: float | None = None
) -> str:
    """Check a CCXT order dictionary completely; return its id as text.

    Args:
        order: the CCXT order structure.
        stored_amount: the amount already known for the order, used for the
            ``filled <= amount`` check when ``order`` carries no amount.
        stored_filled: the filled amount already known, used when ``order`` carries none.

    Raises:
        InvalidOrderError: any field is unusable (``field``/``value`` name it).
        MissingOrderIdError: ``id`` is missing, ``None`` or empty (also a ``KeyError``).
    """
    if not isinstance(order, Mapping):
        raise InvalidOrderError(
            f"CCXT order must be a dict, got {type(order).__name__} {order!r:.80}",
            field="order",
            value=order,
        )
    order_id = _order_id_text(order)
    numbers: dict[str, float] = {}
    for key in _NUMERIC_KEYS:
        value = order.get(key)
        if value is not None:
            numbers[key] = _check_number(key, value)
    for key in _TEXT_KEYS:
        value = order.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidOrderError(
                f"CCXT order: {key} must be a string, got {type(value).__name__} {value!r}",
                field=key,
                value=value,
            )
    status = order.get("status")
    if status is not None and status not in KNOWN_ORDER_STATUSES:
        raise InvalidOrderError(
            f"CCXT order: unknown status {status!r} (expected one of "
            f"{sorted(KNOWN_ORDER_STATUSES)})",
            field="status",
            value=status,
        )
    for key in _TIMESTAMP_KEYS:
        value = order.get(key)
        if value is None:
            continue
        _check_number(key, value)
        try:
            dt_from_ts(value)
        except (OverflowError, ValueError, OSError) as exc:
            raise InvalidOrderError(
                f"CCXT order: {key} {value!r} is not a valid timestamp", field=key, value=value
            ) from exc
    filled = numbers.get("filled", stored_filled)
    amount = numbers.get("amount", stored_amount)
    if filled is not None and amount is not None:
        limit = amount + max(_FILL_TOLERANCE_ABS, _FILL_TOLERANCE_REL * amount)
        if filled > limit:
            field = "filled" if "filled" in numbers else "amount"
            raise InvalidOrderError(
                f"CCXT order: filled {filled!r} is larger than amount {amount!r}",
                field=field,
                value=order.get(field),
            )
    return order_id


def fee_from_ccxt(order: Mapping[str, Any]) -> tuple[float, str | None, float | None] | None:
    """Return ``(cost, currency, rate)`` of a CCXT order's fee (``fee`` or first of ``fees``).

    ``None`` when the order carries no usable fee (missing, or cost not a number >= 0).
    """
    fee = order.get("fee")
    if not isinstance(fee, Mapping):
        fees = order.get("fees")
        first = fees[0] if isinstance(fees, list) and fees else None
        fee = first if isinstance(first, Mapping) else None
    if fee is None:
        return None
    cost = fee.get("cost")
    if not _is_number(cost) or not math.isfinite(cost) or cost < 0:
        return None
    currency = fee.get("currency")
    rate = fee.get("rate")
    return (
        float(cost),
        currency if isinstance(currency, str) else None,
        float(rate) if _is_number(rate) and math.isfinite(rate) else None,
    )


def _utc_or_keep(value: Any) -> Any:
    """An aware UTC datetime for a datetime (naive = UTC); any other value unchanged."""
    if value is None or (type(value) is datetime and value.tzinfo is UTC):
        return value
    if isinstance(value, datetime):
        return to_aware_utc(value)
    return value


def _single_filled_entry(trade: Any) -> bool:
    """``trade.nr_of_successful_entries == 1`` without building the list of filled entries."""
    side = trade.entry_side
    count = 0
    for o in trade.orders:
        if (
            o.ft_order_side == side
            and o.ft_is_open is False
            and o.filled
            and o.status in NON_OPEN_EXCHANGE_STATES
        ):
            count += 1
            if count > 1:
                return False
    return count == 1


def _fmt_date(value: datetime | None) -> str | None:
    return None if value is None else to_aware_utc(value).strftime(DATETIME_PRINT_FORMAT)


class LocalOrder:
    """An exchange order (one row of ``orders``) with freqtrade's ``Order`` behaviour.

    ``LocalOrder(**columns)`` accepts exactly the column names of ``orders``; any other keyword
    raises ``TypeError``. Datetimes are aware UTC (naive input is taken as UTC).
    """

    # Fields live in slots (a backtest keeps every order): ``__init__`` sets every one of
    # them. ``__dict__`` stays for other attributes (a per-instance ``monotonic_updates``).
    # The ORM subclass ``Order`` maps the same names; its instrumented attributes shadow these
    # slots and keep their values in the instance ``__dict__``.
    __slots__ = (*ORDER_FIELDS, "_trade_bt", "_trade_live", "__dict__")

    #: Ignore stale CCXT updates (see the module docstring); ``False`` = freqtrade behaviour.
    monotonic_updates: ClassVar[bool] = True

    id: int | None
    ft_trade_id: int | None
    ft_order_side: str
    ft_pair: str
    ft_is_open: bool
    ft_amount: float | None
    ft_price: float | None
    ft_cancel_reason: str | None
    order_id: str
    status: str | None
    symbol: str | None
    order_type: str | None
    side: str | None
    price: float | None
    average: float | None
    amount: float | None
    filled: float | None
    remaining: float | None
    cost: float | None
    stop_price: float | None
    order_date: datetime | None
    order_filled_date: datetime | None
    order_update_date: datetime | None
    funding_fee: float | None
    ft_fee_base: float | None
    ft_order_tag: str | None

    _trade_bt: Any
    _trade_live: Any

    def __init__(
        self,
        *,
        id: int | None = None,
        ft_trade_id: int | None = None,
        ft_order_side: str = "",
        ft_pair: str = "",
        ft_is_open: bool = True,
        ft_amount: float | None = None,
        ft_price: float | None = None,
        ft_cancel_reason: str | None = None,
        order_id: str = "",
        status: str | None = None,
        symbol: str | None = None,
        order_type: str | None = None,
        side: str | None = None,
        price: float | None = None,
        average: float | None = None,
        amount: float | None = None,
        filled: float | None = None,
        remaining: float | None = None,
        cost: float | None = None,
        stop_price: float | None = None,
        order_date: datetime | None = None,
        order_filled_date: datetime | None = None,
        order_update_date: datetime | None = None,
        funding_fee: float | None = None,
        ft_fee_base: float | None = None,
        ft_order_tag: str | None = None,
        **unknown: Any,
    ) -> None:
        """Create an order from column values (keywords only; omitted columns get defaults).

        Raises:
            TypeError: a keyword is not a column of ``orders``.
        """
        if unknown:
            name = next(iter(unknown))
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
        # Explicit stores (no setattr loop): this constructor runs twice per backtest trade.
        self.id = id
        self.ft_trade_id = ft_trade_id
        self.ft_order_side = ft_order_side
        self.ft_pair = ft_pair
        self.ft_is_open = ft_is_open
        self.ft_amount = ft_amount
        self.ft_price = ft_price
        self.ft_cancel_reason = ft_cancel_reason
        self.order_id = order_id
        self.status = status
        self.symbol = symbol
        self.order_type = order_type
        self.side = side
        self.price = price
        self.average = average
        self.amount = amount
        self.filled = filled
        self.remaining = remaining
        self.cost = cost
        self.stop_price = stop_price
        # aware UTC (the usual input) is kept as it is without a call
        self.order_date = (
            order_date
            if order_date is None or (type(order_date) is datetime and order_date.tzinfo is UTC)
            else _utc_or_keep(order_date)
        )
        self.order_filled_date = (
            order_filled_date
            if order_filled_date is None
            or (type(order_filled_date) is datetime and order_filled_date.tzinfo is UTC)
            else _utc_or_keep(order_filled_date)
        )
        self.order_update_date = (
            order_update_date
            if order_update_date is None
            or (type(order_update_date) is datetime and order_update_date.tzinfo is UTC)
            else _utc_or_keep(order_update_date)
        )
        self.funding_fee = funding_fee
        self.ft_fee_base = ft_fee_base
        self.ft_order_tag = ft_order_tag
        self._trade_bt = None
        self._trade_live = None

    # ------------------------------------------------------------------ relations
    @property
    def trade(self) -> Any:
        """The trade this order belongs to (backtesting link first, then the DB relation)."""
        return self._trade_bt or self._trade_live

    # ------------------------------------------------------------------ dates
    @property
    def order_date_utc(self) -> datetime:
        """``order_date`` as an aware UTC datetime.

        Raises:
            InvalidOrderError: the order has no ``order_date`` yet.
        """
        if self.order_date is None:
            raise InvalidOrderError(
                f"order {self.order_id!r} has no order_date", field="order_date", value=None
            )
        return to_aware_utc(self.order_date)

    @property
    def order_filled_utc(self) -> datetime | None:
        """``order_filled_date`` as an aware UTC datetime, or ``None``."""
        return None if self.order_filled_date is None else to_aware_utc(self.order_filled_date)

    # ------------------------------------------------------------------ safe values
    @property
    def safe_amount(self) -> float:
        """The exchange amount, else the amount freqtrade requested."""
        return self.amount or self.ft_amount  # type: ignore[return-value]

    @property
    def safe_placement_price(self) -> float:
        """The price the order was placed at: ``price``, ``stop_price``, ``ft_price``."""
        return self.price or self.stop_price or self.ft_price  # type: ignore[return-value]

    @property
    def safe_price(self) -> float:
        """The best known execution price: ``average``, ``price``, ``stop_price``, ``ft_price``."""
        return (
            self.average or self.price or self.stop_price or self.ft_price  # type: ignore[return-value]
        )

    @property
    def safe_filled(self) -> float:
        """``filled``, or 0.0 when unknown."""
        return self.filled if self.filled is not None else 0.0

    @property
    def safe_cost(self) -> float:
        """``cost``, or 0.0 when unknown."""
        return self.cost or 0.0

    @property
    def safe_remaining(self) -> float:
        """``remaining``, else ``safe_amount - filled``."""
        if self.remaining is not None:
            return self.remaining
        return self.safe_amount - (self.filled or 0.0)

    @property
    def safe_fee_base(self) -> float:
        """Fee paid in the base currency, or 0.0."""
        return self.ft_fee_base or 0.0

    @property
    def safe_amount_after_fee(self) -> float:
        """Filled amount minus the fee paid in base currency."""
        return self.safe_filled - self.safe_fee_base

    # ------------------------------------------------------------------ stake
    def _stake_for(self, quantity: float | None, name: str) -> float:
        price = self.safe_price
        if price is None:
            raise InvalidOrderError(
                f"{name} of order {self.order_id!r} needs a price (price, average, stop_price "
                "and ft_price are all unset)",
                field="safe_price",
                value=None,
            )
        if quantity is None:
            raise InvalidOrderError(
                f"{name} of order {self.order_id!r} needs an amount",
                field="safe_amount",
                value=None,
            )
        trade = self.trade
        if trade is None:
            raise DependencyException(
                f"{name} of order {self.order_id!r} needs the order's trade (for its leverage)"
            )
        leverage = trade.leverage if trade.leverage is not None else 1.0
        return to_float(div18(dmul(dec(quantity), dec(price)), dec(leverage)))

    @property
    def stake_amount(self) -> float:
        """``safe_amount · safe_price / trade.leverage`` (exact decimal, 18-place quotient)."""
        return self._stake_for(self.safe_amount, "stake_amount")

    @property
    def stake_amount_filled(self) -> float:
        """``safe_filled · safe_price / trade.leverage`` (exact decimal, 18-place quotient)."""
        return self._stake_for(self.safe_filled, "stake_amount_filled")

    # ------------------------------------------------------------------ text forms
    def __repr__(self) -> str:
        date = _fmt_date(self.order_date)
        return (
            f"Order(id={self.id}, trade={self.ft_trade_id}, order_id={self.order_id}, "
            f"side={self.side or self.ft_order_side}, filled={self.safe_filled}, "
            f"price={self.safe_price}, amount={self.amount}, status={self.status}, "
            f"date={date})"
        )

    def to_ccxt_object(self, stopPriceName: str = "stopPrice") -> dict[str, Any]:  # noqa: N803
        """Return the order as a CCXT order dictionary (as freqtrade's dry-run orders look)."""
        order_date = self.order_date_utc
        result: dict[str, Any] = {
            "id": self.order_id,
            "symbol": self.ft_pair,
            "price": self.price,
            "average": self.average,
            "amount": self.amount,
            "cost": self.cost,
            "type": self.order_type,
            "side": self.ft_order_side,
            "filled": self.filled,
            "remaining": self.remaining,
            "datetime": order_date.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "timestamp": dt_ts(order_date),
            "status": self.status,
            "fee": None,
            "info": {},
        }
        if self.ft_order_side == "stoploss":
            result[stopPriceName] = self.stop_price
            result["ft_order_type"] = "stoploss"
        return result

    def to_json(self, entry_side: str, minified: bool = False) -> dict[str, Any]:
        """Return the order as the JSON dictionary freqtrade's API serves."""
        filled_utc = self.order_filled_utc
        result: dict[str, Any] = {
            "amount": self.safe_amount,
            "safe_price": self.safe_price,
            "ft_order_side": self.ft_order_side,
            "order_filled_timestamp": None if filled_utc is None else dt_ts(filled_utc),
            "ft_is_entry": self.ft_order_side == entry_side,
            "ft_order_tag": self.ft_order_tag,
            "cost": self.cost if self.cost else 0,
        }
        if not minified:
            order_date = None if self.order_date is None else to_aware_utc(self.order_date)
            result.update(
                {
                    "pair": self.ft_pair,
                    "order_id": self.order_id,
                    "status": self.status,
                    "average": round(self.average, 8) if self.average else 0,
                    "filled": self.filled,
                    "is_open": self.ft_is_open,
                    "order_date": _fmt_date(order_date),
                    "order_timestamp": None if order_date is None else dt_ts(order_date),
                    "order_filled_date": _fmt_date(filled_utc),
                    "order_type": self.order_type,
                    "price": self.price,
                    "remaining": self.remaining,
                    "ft_fee_base": self.ft_fee_base,
                    "funding_fee": self.funding_fee,
                }
            )
        return result

    # ------------------------------------------------------------------ CCXT updates
    def _state(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _STATE_FIELDS)

    def is_stale_update(self, order: Mapping[str, Any]) -> bool:
        """Tell whether a (validated) CCXT update is older than the stored state.

        Stale means: its ``filled`` is below the stored ``filled``, or it reports ``open`` for an
        order already in a final state.
        """
        new_filled = order.get("filled")
        if new_filled is not None and self.filled is not None:
            tolerance = max(_FILL_TOLERANCE_ABS, _FILL_TOLERANCE_REL * abs(self.filled))
            if float(new_filled) < self.filled - tolerance:
                return True
        return order.get("status") == "open" and self.status in NON_OPEN_EXCHANGE_STATES

    def update_from_ccxt_object(
        self, order: Mapping[str, Any], *, monotonic: bool | None = None
    ) -> UpdateOutcome:
        """Update the order from a CCXT order dictionary.

        Values present and not ``None`` replace the stored ones; ``timestamp`` sets
        ``order_date`` (else it defaults to now); a final status closes the order
        (``ft_is_open=False``) and, on the first final update with a fill, sets
        ``order_filled_date`` from ``lastTradeTimestamp`` (else now). ``order_update_date``
        is set to now on every accepted update (the last time the exchange reported).

        Args:
            order: the CCXT order structure.
            monotonic: ignore stale updates (default: ``self.monotonic_updates``).

        Returns:
            What changed (see :class:`UpdateOutcome`).

        Raises:
            OrderMismatchError: the dictionary belongs to another order id
                (a ``DependencyException``, as in freqtrade).
            InvalidOrderError: the dictionary is malformed; the order is unchanged.
        """
        order_id = validate_ccxt_order(order, stored_amount=self.amount, stored_filled=self.filled)
        if self.order_id != order_id:
            raise OrderMismatchError(
                f"Order-id's don't match: this order is {self.order_id!r}, "
                f"the update is for {order_id!r}"
            )
        if monotonic is None:
            monotonic = self.monotonic_updates
        was_open = bool(self.ft_is_open)
        filled_before = self.filled
        if monotonic and self.is_stale_update(order):
            logger.info("Ignoring stale update for order %s: %r", self.order_id, dict(order))
            return UpdateOutcome(False, True, filled_before, filled_before, False)
        before = self._state()
        for key, attr in _CCXT_MAP:
            value = order.get(key)
            if value is not None:
                if key in _NUMERIC_KEYS:
                    value = float(value)
                setattr(self, attr, value)
        timestamp = order.get("timestamp")
        if timestamp:
            self.order_date = dt_from_ts(timestamp)
        elif not self.order_date:
            self.order_date = dt_now()
        self.ft_is_open = True
        if self.status in NON_OPEN_EXCHANGE_STATES:
            self.ft_is_open = False
            if (order.get("filled") or 0.0) > 0 and not self.order_filled_date:
                last_trade = order.get("lastTradeTimestamp")
                self.order_filled_date = dt_from_ts(
                    last_trade if last_trade is not None else dt_ts()
                )
        self.order_update_date = dt_now()
        changed = self._state() != before
        return UpdateOutcome(
            changed, False, filled_before, self.filled, was_open and not self.ft_is_open
        )

    @classmethod
    def parse_from_ccxt_object(
        cls,
        order: Mapping[str, Any],
        pair: str,
        side: str,
        amount: float | None = None,
        price: float | None = None,
    ) -> Self:
        """Create an order from a CCXT order dictionary.

        Args:
            order: the CCXT order structure (must carry ``id``).
            pair: the pair freqtrade traded (``ft_pair``).
            side: ``"buy"``, ``"sell"`` or ``"stoploss"`` (``ft_order_side``).
            amount: requested amount (default: the order's ``amount``, else 0.0).
            price: requested price (default: the order's ``price``).

        Raises:
            MissingOrderIdError: no usable ``id`` (also a ``KeyError``, as in freqtrade).
            InvalidOrderError: malformed input.
        """
        order_id = validate_ccxt_order(order)
        if side not in ORDER_SIDES:
            raise InvalidOrderError(
                f"order side must be one of {sorted(ORDER_SIDES)}, got {side!r}",
                field="side",
                value=side,
            )
        if not isinstance(pair, str) or not pair:
            raise InvalidOrderError(
                f"pair must be a non-empty string, got {pair!r}", field="pair", value=pair
            )
        if amount is not None:
            _check_number("amount", amount, what="parse_from_ccxt_object")
        if price is not None:
            _check_number("price", price, what="parse_from_ccxt_object")
        obj = cls(
            order_id=order_id,
            ft_order_side=side,
            ft_pair=pair,
            ft_amount=amount or order.get("amount") or 0.0,
            ft_price=price or order.get("price"),
        )
        obj.update_from_ccxt_object(order)
        return obj

    @classmethod
    def _commit(cls) -> None:
        """Persist pending changes (no-op for plain orders; the ORM class commits)."""

    @classmethod
    def update_orders(cls, orders: Iterable[LocalOrder], order: Any) -> None:
        """Apply a CCXT update to the matching order of ``orders`` and commit.

        A non-dict or an update matching no order is logged and ignored (freqtrade's
        contract); a malformed update for a known order raises :class:`InvalidOrderError`.
        """
        if not isinstance(order, Mapping):
            logger.warning("%s is not a valid response object.", order)
            return
        wanted = order.get("id")
        wanted_text = None if wanted is None else str(wanted)
        match = next((o for o in orders if o.order_id == wanted_text), None)
        if match is None:
            logger.warning("Did not find order for %s.", order)
            return
        match.update_from_ccxt_object(order)
        cls._commit()

    # ------------------------------------------------------------------ backtesting
    def close_bt_order(self, close_date: datetime, trade: Any) -> None:
        """Fill the order completely at ``close_date`` (backtesting) and update ``trade``."""
        self.order_filled_date = (
            close_date
            if type(close_date) is datetime and close_date.tzinfo is UTC
            else _utc_or_keep(close_date)
        )
        self.filled = self.amount
        self.remaining = 0
        self.status = "closed"
        self.ft_is_open = False
        self.funding_fee = trade.funding_fee_running
        trade.funding_fee_running = 0.0
        if self.ft_order_side == trade.entry_side and self.price:
            trade.open_rate = self.price
            trade.recalc_trade_from_orders()
            orders = trade.orders
            # this order alone (just closed, an entry): counted iff filled
            if (len(orders) == 1 and orders[0] is self and self.filled) or _single_filled_entry(
                trade
            ):
                trade.initial_stop_loss_pct = None
                trade.is_stop_loss_trailing = False
            trade.adjust_stop_loss(trade.open_rate, trade.stop_loss_pct)
            trade._recalc_settled()  # a repeated recalc_trade_from_orders() is then free
