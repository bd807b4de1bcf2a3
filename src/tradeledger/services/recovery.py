"""Crash recovery: everything the bot must ask the exchange about before trading again.

:func:`build_recovery_report` reads (never writes) the database and returns one
:class:`RecoveryReport`: open trades with their open orders, all open orders (also those of
closed trades, which should not exist), pending order intents (sent or about to be sent when
the process stopped), stop-loss orders still open, and orders whose last update is older than a
threshold. It tolerates odd rows (missing dates, orphan orders) instead of failing, so one bad
row does not stop a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradeledger.domain.timeutil import dt_now, to_aware_utc
from tradeledger.models.order import Order
from tradeledger.models.order_intent import INTENT_PENDING, OrderIntent
from tradeledger.models.trade import Trade

__all__ = [
    "IntentInfo",
    "OrderInfo",
    "RecoveryReport",
    "TradeInfo",
    "build_recovery_report",
]

DEFAULT_STALE_AFTER = timedelta(minutes=5)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else to_aware_utc(value)


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """An order as the recovery report shows it."""

    id: int
    trade_id: int | None
    order_id: str
    pair: str
    ft_order_side: str
    status: str | None
    order_type: str | None
    amount: float | None
    filled: float | None
    price: float | None
    stop_price: float | None
    ft_is_open: bool
    order_date: datetime | None
    order_update_date: datetime | None
    #: Seconds since the last update (``order_update_date``, else ``order_date``); None if unknown.
    seconds_since_update: float | None

    @property
    def is_stoploss(self) -> bool:
        """A stop-loss order (``ft_order_side == "stoploss"``)."""
        return self.ft_order_side == "stoploss"


@dataclass(frozen=True, slots=True)
class TradeInfo:
    """An open trade and its open orders."""

    id: int
    pair: str
    is_short: bool
    amount: float | None
    open_rate: float | None
    stop_loss: float | None
    open_date: datetime | None
    open_orders: tuple[OrderInfo, ...]


@dataclass(frozen=True, slots=True)
class IntentInfo:
    """A pending order intent (the exchange's answer was never stored)."""

    client_order_id: str
    trade_id: int | None
    pair: str
    side: str
    order_type: str | None
    amount: float
    price: float | None
    created_at: datetime
    seconds_pending: float


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """Everything to check with the exchange before trading again."""

    generated_at: datetime
    stale_after: timedelta
    open_trades: tuple[TradeInfo, ...]
    open_orders: tuple[OrderInfo, ...]
    pending_intents: tuple[IntentInfo, ...]
    stoploss_orders: tuple[OrderInfo, ...]
    stale_orders: tuple[OrderInfo, ...]
    #: Open orders whose trade is closed or missing (should be cancelled or closed).
    orphan_open_orders: tuple[OrderInfo, ...] = field(default=())

    @property
    def needs_exchange_check(self) -> bool:
        """Whether anything must be checked with the exchange."""
        return bool(self.open_orders or self.pending_intents or self.orphan_open_orders)

    @property
    def pairs_to_check(self) -> tuple[str, ...]:
        """Pairs of open trades, open orders and pending intents (sorted, unique)."""
        pairs = {t.pair for t in self.open_trades}
        pairs.update(o.pair for o in self.open_orders)
        pairs.update(i.pair for i in self.pending_intents)
        return tuple(sorted(pairs))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO text, durations in seconds)."""

        def conv(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, timedelta):
                return value.total_seconds()
            if isinstance(value, dict):
                return {k: conv(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [conv(v) for v in value]
            return value

        result: dict[str, Any] = conv(asdict(self))
        result["needs_exchange_check"] = self.needs_exchange_check
        result["pairs_to_check"] = list(self.pairs_to_check)
        return result


_ORDER_COLUMNS = (
    Order.id,
    Order.ft_trade_id,
    Order.order_id,
    Order.ft_pair,
    Order.ft_order_side,
    Order.status,
    Order.order_type,
    Order.amount,
    Order.ft_amount,
    Order.filled,
    Order.price,
    Order.ft_price,
    Order.stop_price,
    Order.ft_is_open,
    Order.order_date,
    Order.order_update_date,
)


def _order_info(o: Any, now: datetime) -> OrderInfo:
    last = _aware(o.order_update_date) or _aware(o.order_date)
    return OrderInfo(
        id=o.id,
        trade_id=o.ft_trade_id,
        order_id=o.order_id,
        pair=o.ft_pair,
        ft_order_side=o.ft_order_side,
        status=o.status,
        order_type=o.order_type,
        amount=o.amount if o.amount is not None else o.ft_amount,
        filled=o.filled,
        price=o.price if o.price is not None else o.ft_price,
        stop_price=o.stop_price,
        ft_is_open=bool(o.ft_is_open),
        order_date=_aware(o.order_date),
        order_update_date=_aware(o.order_update_date),
        seconds_since_update=None if last is None else (now - last).total_seconds(),
    )


def build_recovery_report(
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    now: datetime | None = None,
    session: Session | None = None,
) -> RecoveryReport:
    """Build the recovery report from the database (read-only).

    Args:
        stale_after: an open order not updated for longer than this is listed as stale
            (also an order with no date at all).
        now: the reference instant (default: now, UTC).
        session: the session to read with (default: the models' scoped session).
    """
    now = to_aware_utc(now) if now is not None else dt_now()
    sess: Any = session if session is not None else Order.session
    open_trade_rows = sess.execute(
        select(
            Trade.id,
            Trade.pair,
            Trade.is_short,
            Trade.amount,
            Trade.open_rate,
            Trade.stop_loss,
            Trade.open_date,
        )
        .where(Trade.is_open.is_(True))
        .order_by(Trade.id)
    ).all()
    # plain column rows: no ORM entities (and no relationship loads) for a read-only report
    open_orders = sess.execute(
        select(*_ORDER_COLUMNS).where(Order.ft_is_open.is_(True)).order_by(Order.id)
    ).all()
    infos = [_order_info(o, now) for o in open_orders]
    by_trade: dict[int | None, list[OrderInfo]] = {}
    for info in infos:
        by_trade.setdefault(info.trade_id, []).append(info)
    open_ids = {row.id for row in open_trade_rows}
    trades = tuple(
        TradeInfo(
            id=row.id,
            pair=row.pair,
            is_short=bool(row.is_short),
            amount=row.amount,
            open_rate=row.open_rate,
            stop_loss=row.stop_loss,
            open_date=_aware(row.open_date),
            open_orders=tuple(by_trade.get(row.id, ())),
        )
        for row in open_trade_rows
    )
    limit = stale_after.total_seconds()
    stale = tuple(
        i for i in infos if i.seconds_since_update is None or i.seconds_since_update > limit
    )
    intents: Iterable[OrderIntent] = sess.scalars(
        select(OrderIntent).where(OrderIntent.status == INTENT_PENDING).order_by(OrderIntent.id)
    ).all()
    intent_infos = tuple(
        IntentInfo(
            client_order_id=i.client_order_id,
            trade_id=i.ft_trade_id,
            pair=i.pair,
            side=i.side,
            order_type=i.order_type,
            amount=i.amount,
            price=i.price,
            created_at=to_aware_utc(i.created_at),
            seconds_pending=(now - to_aware_utc(i.created_at)).total_seconds(),
        )
        for i in intents
    )
    return RecoveryReport(
        generated_at=now,
        stale_after=stale_after,
        open_trades=trades,
        open_orders=tuple(infos),
        pending_intents=intent_infos,
        stoploss_orders=tuple(i for i in infos if i.is_stoploss),
        stale_orders=stale,
        orphan_open_orders=tuple(i for i in infos if i.trade_id not in open_ids),
    )
