"""Order intents: record an order durably *before* it is sent, resolve it with the answer.

The gap between "the exchange accepted the order" and "the database committed it" loses
orders when the process dies in between (freqtrade#7184). The protocol here closes it::

    intent = record_intent(pair="BTC/USDT", side="buy", amount=0.1, price=100.0,
                           trade_id=trade.id)            # committed on its own
    answer = exchange.create_order(..., params={"clientOrderId": intent.client_order_id})
    order = attach_exchange_response(intent.client_order_id, answer)   # order row + intent

If the process dies after the exchange call, the intent is still ``pending`` at restart
(:func:`pending_intents`, also in the recovery report); the bot asks the exchange for the client
order id and calls :func:`resolve_intent` with what it found (or ``None``: never placed).

:func:`record_intent`, :func:`mark_intent_failed` and :func:`resolve_intent` (not found) each
commit in their own session, independent of the caller's pending changes. On a SQLite file do
not call them while the same thread holds an uncommitted write (they would wait for that lock).
On in-memory SQLite (``sqlite://``, one shared connection) there is no independent transaction:
the intent's commit also commits whatever the caller had already flushed.
:func:`attach_exchange_response` and :func:`apply_exchange_update` run in the models' scoped
session, because they change the trade too; they commit (or roll back) before returning.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradeledger.db import get_engine
from tradeledger.domain.order import (
    ORDER_SIDES,
    UpdateOutcome,
    fee_from_ccxt,
    validate_ccxt_order,
)
from tradeledger.domain.timeutil import dt_now, to_aware_utc
from tradeledger.exceptions import (
    DependencyException,
    InvalidOrderError,
    OrderMismatchError,
    UnknownIntentError,
)
from tradeledger.models.order import Order
from tradeledger.models.order_intent import (
    INTENT_ACKNOWLEDGED,
    INTENT_FAILED,
    INTENT_NOT_FOUND,
    INTENT_PENDING,
    OrderIntent,
)
from tradeledger.models.trade import Trade

__all__ = [
    "apply_exchange_update",
    "attach_exchange_response",
    "get_intent",
    "mark_intent_failed",
    "new_client_order_id",
    "pending_intents",
    "record_intent",
    "resolve_intent",
]

logger = logging.getLogger(__name__)

_CLIENT_ID_MAX = 64


def new_client_order_id(prefix: str = "tl") -> str:
    """Return a fresh client order id (``prefix`` + 30 hex digits; 32 chars by default).

    Most exchanges accept up to 32-36 characters of ``[A-Za-z0-9_-]``.
    """
    return f"{prefix}{uuid.uuid4().hex[:30]}"


def _own_session() -> Session:
    return Session(get_engine(), expire_on_commit=False, autoflush=False)


def _positive(field: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidOrderError(
            f"intent {field} must be a number, got {value!r}", field=field, value=value
        )
    if not math.isfinite(value) or value <= 0:
        raise InvalidOrderError(
            f"intent {field} must be finite and > 0, got {value!r}", field=field, value=value
        )
    return float(value)


def record_intent(
    *,
    pair: str,
    side: str,
    amount: float,
    price: float | None = None,
    trade_id: int | None = None,
    order_type: str | None = None,
    client_order_id: str | None = None,
    tag: str | None = None,
) -> OrderIntent:
    """Record an order about to be sent, with status ``pending``, and commit it.

    Args:
        pair: the pair (``ft_pair`` of the future order).
        side: ``"buy"``, ``"sell"`` or ``"stoploss"`` (``ft_order_side``).
        amount: requested amount (> 0).
        price: requested price (``None`` for market orders).
        trade_id: the trade the order belongs to.
        order_type: e.g. ``"limit"``, ``"market"``.
        client_order_id: id to send to the exchange; default :func:`new_client_order_id`.
        tag: order tag (``ft_order_tag``).

    Returns:
        The committed intent (detached; its attributes stay readable).

    Raises:
        InvalidOrderError: bad input (nothing is written).
        sqlalchemy.exc.IntegrityError: ``client_order_id`` is already used.
    """
    if side not in ORDER_SIDES:
        raise InvalidOrderError(
            f"intent side must be one of {sorted(ORDER_SIDES)}, got {side!r}",
            field="side",
            value=side,
        )
    if not isinstance(pair, str) or not pair:
        raise InvalidOrderError(
            f"intent pair must be a non-empty string, got {pair!r}", field="pair", value=pair
        )
    amount_f = _positive("amount", amount)
    price_f = _positive("price", price, allow_none=True)
    cid = client_order_id if client_order_id is not None else new_client_order_id()
    if not isinstance(cid, str) or not cid or len(cid) > _CLIENT_ID_MAX:
        raise InvalidOrderError(
            f"client_order_id must be a non-empty string of at most {_CLIENT_ID_MAX} characters,"
            f" got {cid!r}",
            field="client_order_id",
            value=cid,
        )
    intent = OrderIntent(
        client_order_id=cid,
        ft_trade_id=trade_id,
        pair=pair,
        side=side,
        order_type=order_type,
        amount=amount_f,
        price=price_f,
        ft_order_tag=tag,
        status=INTENT_PENDING,
        created_at=dt_now(),
    )
    with _own_session() as session, session.begin():
        session.add(intent)
    logger.info("Recorded order intent %s", intent)
    return intent


def get_intent(client_order_id: str) -> OrderIntent:
    """Return the intent with this client order id (fresh from the database).

    Raises:
        UnknownIntentError: no such intent.
    """
    with _own_session() as session:
        intent = session.scalars(
            select(OrderIntent).where(OrderIntent.client_order_id == client_order_id)
        ).one_or_none()
    if intent is None:
        raise UnknownIntentError(f"no order intent with client_order_id {client_order_id!r}")
    return intent


def pending_intents(
    *, older_than: timedelta | None = None, now: datetime | None = None
) -> list[OrderIntent]:
    """Intents still ``pending`` (optionally only those created more than ``older_than`` ago)."""
    stmt = select(OrderIntent).where(OrderIntent.status == INTENT_PENDING)
    if older_than is not None:
        limit = to_aware_utc(now) if now is not None else dt_now()
        stmt = stmt.where(OrderIntent.created_at <= limit - older_than)
    with _own_session() as session:
        return list(session.scalars(stmt.order_by(OrderIntent.id)).all())


def _set_intent_status(client_order_id: str, status: str, error: str | None) -> OrderIntent:
    with _own_session() as session, session.begin():
        intent = session.scalars(
            select(OrderIntent).where(OrderIntent.client_order_id == client_order_id)
        ).one_or_none()
        if intent is None:
            raise UnknownIntentError(f"no order intent with client_order_id {client_order_id!r}")
        if intent.status == INTENT_ACKNOWLEDGED:
            raise DependencyException(
                f"order intent {client_order_id!r} is already acknowledged "
                f"(exchange order {intent.exchange_order_id!r}); it cannot become {status!r}"
            )
        intent.status = status
        intent.error = None if error is None else error[:255]
        intent.updated_at = dt_now()
    return intent


def mark_intent_failed(client_order_id: str, error: str) -> OrderIntent:
    """The exchange refused the order: mark the intent ``failed`` (own transaction).

    Raises:
        UnknownIntentError: no such intent.
        DependencyException: the intent is already acknowledged.
    """
    return _set_intent_status(client_order_id, INTENT_FAILED, error)


def _book(trade: Any, order: Order, new: bool, outcome: UpdateOutcome | None) -> bool:
    """Tell whether ``trade.update_trade(order)`` must run (each fill is booked once)."""
    if order.status == "open" or order.ft_is_open:
        return False
    if new:
        return True
    assert outcome is not None
    return outcome.changed and not outcome.stale and (outcome.closed_now or outcome.fill_delta > 0)


def _upsert_order(
    trade: Any,
    ccxt_order: Mapping[str, Any],
    *,
    pair: str,
    side: str,
    amount: float | None,
    price: float | None,
    tag: str | None,
) -> tuple[Order, bool, UpdateOutcome | None]:
    order_id = validate_ccxt_order(ccxt_order)
    existing = Order.order_by_id(order_id, pair=pair)
    if existing is not None:
        if existing.ft_trade_id not in (None, trade.id):
            raise DependencyException(
                f"order {order_id!r} on {pair} belongs to trade {existing.ft_trade_id}, "
                f"not to trade {trade.id}"
            )
        outcome = existing.update_from_ccxt_object(ccxt_order)
        return existing, False, outcome
    order = Order.parse_from_ccxt_object(ccxt_order, pair, side, amount, price)
    if tag is not None:
        order.ft_order_tag = tag
    trade.orders.append(order)
    return order, True, None


def _record_fee(trade: Any, order: Order, ccxt_order: Mapping[str, Any]) -> None:
    """Record the order's fee on the trade once per side (as freqtrade's bot does)."""
    fee = fee_from_ccxt(ccxt_order)
    if fee is None:
        return
    side = trade.exit_side if order.ft_order_side == "stoploss" else order.ft_order_side
    if not trade.fee_updated(side):
        trade.update_fee(fee[0], fee[1], fee[2], side)


def _finish(
    trade: Any,
    order: Order,
    new: bool,
    outcome: UpdateOutcome | None,
    apply_fill: bool,
    ccxt_order: Mapping[str, Any],
) -> None:
    session = Order.session
    try:
        if apply_fill and _book(trade, order, new, outcome):
            _record_fee(trade, order, ccxt_order)
            trade.update_trade(order)  # commits
        session.commit()
    except BaseException:
        session.rollback()
        raise


def attach_exchange_response(
    client_order_id: str,
    ccxt_order: Mapping[str, Any],
    *,
    trade: Trade | None = None,
    apply_fill: bool = True,
) -> Order:
    """Store the exchange's answer to an intent: the order row plus the acknowledged intent.

    Creates the ``Order`` on the intent's trade (or updates it if it already exists, e.g. when
    the answer is delivered twice), marks the intent ``acknowledged`` with the exchange id and
    state, and, if the order is already filled/closed and ``apply_fill``, books it on the trade
    with ``trade.update_trade`` — once, however often the answer is delivered. Everything is
    committed together in the scoped session; on error it is rolled back.

    Raises:
        InvalidOrderError: the answer is malformed (e.g. id ``None``); the intent stays pending
            and nothing is written.
        UnknownIntentError: no such intent.
        OrderMismatchError: the intent is already acknowledged with another exchange id.
        DependencyException: the intent has no trade and none was given.
    """
    order_id = validate_ccxt_order(ccxt_order)
    session = Order.session
    try:
        intent = session.scalars(
            select(OrderIntent).where(OrderIntent.client_order_id == client_order_id)
        ).one_or_none()
        if intent is None:
            raise UnknownIntentError(f"no order intent with client_order_id {client_order_id!r}")
        if intent.status == INTENT_ACKNOWLEDGED and intent.exchange_order_id != order_id:
            raise OrderMismatchError(
                f"order intent {client_order_id!r} is acknowledged as exchange order "
                f"{intent.exchange_order_id!r}, not {order_id!r}"
            )
        if trade is None:
            if intent.ft_trade_id is None:
                raise DependencyException(
                    f"order intent {client_order_id!r} has no trade; pass trade="
                )
            trade = session.get(Trade, intent.ft_trade_id)
            if trade is None:
                raise DependencyException(
                    f"trade {intent.ft_trade_id} of order intent {client_order_id!r} not found"
                )
        order, new, outcome = _upsert_order(
            trade,
            ccxt_order,
            pair=intent.pair,
            side=intent.side,
            amount=intent.amount,
            price=intent.price,
            tag=intent.ft_order_tag,
        )
        intent.status = INTENT_ACKNOWLEDGED
        intent.exchange_order_id = order_id
        intent.exchange_status = order.status
        intent.error = None
        intent.updated_at = dt_now()
        session.flush()
    except BaseException:
        session.rollback()
        raise
    _finish(trade, order, new, outcome, apply_fill, ccxt_order)
    return order


def apply_exchange_update(
    trade: Trade,
    ccxt_order: Mapping[str, Any],
    *,
    side: str | None = None,
    apply_fill: bool = True,
) -> tuple[Order, UpdateOutcome | None]:
    """Apply a CCXT order (websocket, REST poll or backfill) to ``trade`` and commit.

    The order is found by ``(trade.pair, id)``; an unknown id creates it (``side`` is then
    required). Updates are monotonic and idempotent: a repeated or older snapshot changes
    nothing, and a fill is booked on the trade (``update_trade``) only when it is new.

    Returns:
        The order and the update outcome (``None`` when the order was created).

    Raises:
        InvalidOrderError: malformed input; nothing is written.
    """
    validate_ccxt_order(ccxt_order)
    session = Order.session
    try:
        existing = Order.order_by_id(str(ccxt_order["id"]), pair=trade.pair)
        if existing is None and side is None:
            raise InvalidOrderError(
                f"order {ccxt_order['id']!r} is unknown on {trade.pair}; give its side",
                field="side",
                value=None,
            )
        order, new, outcome = _upsert_order(
            trade,
            ccxt_order,
            pair=trade.pair,
            side=side or existing.ft_order_side,  # type: ignore[union-attr]
            amount=None,
            price=None,
            tag=None,
        )
        session.flush()
    except BaseException:
        session.rollback()
        raise
    _finish(trade, order, new, outcome, apply_fill, ccxt_order)
    return order, outcome


def resolve_intent(
    client_order_id: str,
    exchange_order: Mapping[str, Any] | None,
    *,
    trade: Trade | None = None,
) -> OrderIntent:
    """Resolve a pending intent at restart with what the exchange knows about it.

    Args:
        client_order_id: the intent.
        exchange_order: the exchange's order for that client order id, or ``None`` when the
            exchange does not know it (the order was never placed).
        trade: the trade (default: the intent's).

    Returns:
        The intent, now ``acknowledged`` or ``not_found``.
    """
    if exchange_order is None:
        return _set_intent_status(
            client_order_id, INTENT_NOT_FOUND, "exchange does not know this client order id"
        )
    attach_exchange_response(client_order_id, exchange_order, trade=trade)
    return get_intent(client_order_id)


def intents_for_trade(trade_id: int) -> Sequence[OrderIntent]:
    """Every intent of a trade, oldest first."""
    with _own_session() as session:
        return session.scalars(
            select(OrderIntent).where(OrderIntent.ft_trade_id == trade_id).order_by(OrderIntent.id)
        ).all()
