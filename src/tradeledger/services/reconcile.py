"""Reconciliation: compare the database with what the exchange reports, explain, then fix.

:func:`reconcile` takes the exchange's CCXT order dictionaries for some pairs (and optionally
its positions) and returns a :class:`ReconcileReport`: one :class:`Difference` per problem,
each with a :class:`ReasonCode` and a proposed :class:`FixAction`. Nothing is written.

:func:`apply_reconciliation` applies a report (dry run by default). In one transaction it
updates orders from the exchange's state, closes ghost orders, adopts exchange orders that
belong to a pending intent or that closed a position by hand, records missing fees, then
books every newly filled order on its trade (``trade.update_trade``, which recalculates the
trade) and writes one :class:`~tradeledger.models.order_intent.ReconcileLogEntry` per
difference with the state before and after. It never invents a fill: filled amounts only ever
come from an exchange dictionary. Differences that cannot be fixed automatically (an
external order, a pair the exchange cannot be asked about, ...) are *acknowledged*: logged
with a fingerprint of the state, and not reported again while that state stays the same.
Reconciling again after applying therefore reports nothing.

Reason codes and fixes:

=======================  ===========================================  =========================
reason                   meaning                                      fix
=======================  ===========================================  =========================
missed_fill              the exchange filled more than recorded       apply_exchange_state
ghost_order              open here; closed there, or unknown there    apply_exchange_state /
                         (only orders placed inside the window)       close_ghost (no fill)
status_mismatch          final statuses differ, or open on the        apply_exchange_state /
                         exchange but final here (never reopened)     acknowledge
amount_mismatch          amount differs (or exchange filled less)     apply_exchange_state /
                                                                      acknowledge
price_mismatch           price / average differs                      apply_exchange_state
missing_fee              a filled order's fee is not on the trade     apply_fee
unknown_exchange_order   an exchange order not in the database       adopt_order (pending
                                                                      intent, or a manual
                                                                      close) / acknowledge
orphan_open_order        open order of a trade that is (or will be)   acknowledge (cancel it
                         closed                                       on the exchange)
position_mismatch        the exchange position differs from the       acknowledge
                         trades' amount
pair_unavailable         open trade on a pair the exchange cannot     acknowledge
                         be asked about (delisted)
invalid_exchange_order   an exchange dictionary failed validation     acknowledge
=======================  ===========================================  =========================
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select

from tradeledger.domain.enums import NON_OPEN_EXCHANGE_STATES, ExitType
from tradeledger.domain.order import (
    ORDER_FIELDS,
    LocalOrder,
    fee_from_ccxt,
    validate_ccxt_order,
)
from tradeledger.domain.timeutil import dt_now, to_aware_utc
from tradeledger.exceptions import InvalidOrderError
from tradeledger.models.order import Order
from tradeledger.models.order_intent import (
    INTENT_ACKNOWLEDGED,
    OrderIntent,
    ReconcileLogEntry,
)
from tradeledger.models.trade import Trade

__all__ = [
    "AppliedChange",
    "ApplyResult",
    "Difference",
    "FixAction",
    "ReasonCode",
    "ReconcileReport",
    "apply_reconciliation",
    "reconcile",
]

logger = logging.getLogger(__name__)

_ORDER_COLUMNS = ORDER_FIELDS
_TRADE_FIELDS = (
    "id",
    "pair",
    "is_open",
    "amount",
    "open_rate",
    "stake_amount",
    "close_rate",
    "close_date",
    "close_profit",
    "close_profit_abs",
    "realized_profit",
    "exit_reason",
    "fee_open_cost",
    "fee_open_currency",
    "fee_close_cost",
    "fee_close_currency",
)


class ReasonCode(StrEnum):
    """Why the database and the exchange differ."""

    MISSED_FILL = "missed_fill"
    GHOST_ORDER = "ghost_order"
    STATUS_MISMATCH = "status_mismatch"
    AMOUNT_MISMATCH = "amount_mismatch"
    PRICE_MISMATCH = "price_mismatch"
    MISSING_FEE = "missing_fee"
    UNKNOWN_EXCHANGE_ORDER = "unknown_exchange_order"
    ORPHAN_OPEN_ORDER = "orphan_open_order"
    POSITION_MISMATCH = "position_mismatch"
    PAIR_UNAVAILABLE = "pair_unavailable"
    INVALID_EXCHANGE_ORDER = "invalid_exchange_order"


class FixAction(StrEnum):
    """What :func:`apply_reconciliation` does about a difference."""

    APPLY_EXCHANGE_STATE = "apply_exchange_state"
    CLOSE_GHOST = "close_ghost"
    ADOPT_ORDER = "adopt_order"
    APPLY_FEE = "apply_fee"
    ACKNOWLEDGE = "acknowledge"


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference between the database and the exchange."""

    reason: ReasonCode
    fix: FixAction
    detail: str
    proposed: str
    key: str
    fingerprint: str
    pair: str | None = None
    order_id: str | None = None
    trade_id: int | None = None
    db_order_pk: int | None = None
    db_state: Mapping[str, Any] | None = None
    exchange_order: Mapping[str, Any] | None = None
    #: ``ft_order_side`` for an adopted order.
    side: str | None = None
    client_order_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "reason": self.reason.value,
            "fix": self.fix.value,
            "detail": self.detail,
            "proposed": self.proposed,
            "key": self.key,
            "pair": self.pair,
            "order_id": self.order_id,
            "trade_id": self.trade_id,
            "db_state": _jsonable(self.db_state),
            "exchange_order": _jsonable(self.exchange_order),
        }


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """Every difference found by :func:`reconcile`."""

    generated_at: datetime
    pairs: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    differences: tuple[Difference, ...]
    #: Differences left out because they were acknowledged before with the same state.
    suppressed: int = 0

    @property
    def is_clean(self) -> bool:
        """Nothing to report."""
        return not self.differences

    def by_reason(self) -> dict[ReasonCode, list[Difference]]:
        """The differences grouped by reason code."""
        result: dict[ReasonCode, list[Difference]] = {}
        for diff in self.differences:
            result.setdefault(diff.reason, []).append(diff)
        return result

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "generated_at": self.generated_at.isoformat(),
            "pairs": list(self.pairs),
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "suppressed": self.suppressed,
            "differences": [d.to_dict() for d in self.differences],
        }


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """What applying one difference changed (or would change, in a dry run)."""

    reason: ReasonCode
    fix: FixAction
    pair: str | None
    order_id: str | None
    trade_id: int | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """Result of :func:`apply_reconciliation`."""

    run_id: str
    dry_run: bool
    changes: tuple[AppliedChange, ...]
    trades_recalculated: tuple[int, ...] = field(default=())


# ------------------------------------------------------------------------------ helpers
def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_aware_utc(value).isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _fingerprint(*parts: Any) -> str:
    text = json.dumps(_jsonable(list(parts)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= max(1e-12, rel * max(abs(a), abs(b)))


def _order_state(o: Any) -> dict[str, Any]:
    return {c: getattr(o, c, None) for c in _ORDER_COLUMNS}


def _trade_state(t: Any) -> dict[str, Any]:
    return {c: getattr(t, c, None) for c in _TRADE_FIELDS}


def _ex_subset(ex: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "clientOrderId",
        "symbol",
        "status",
        "side",
        "type",
        "price",
        "average",
        "amount",
        "filled",
        "remaining",
        "cost",
        "stopPrice",
        "fee",
    )
    return {k: ex.get(k) for k in keys if k in ex}


def _is_final(status: str | None) -> bool:
    return status in NON_OPEN_EXCHANGE_STATES


def _rank(ex: Mapping[str, Any]) -> tuple[float, int]:
    return (float(ex.get("filled") or 0.0), 1 if _is_final(ex.get("status")) else 0)


def _in_window(when: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if when is None:
        return False
    when = to_aware_utc(when)
    return (since is None or when >= since) and (until is None or when <= until)


def _simulate(state: Mapping[str, Any], ex: Mapping[str, Any]) -> dict[str, Any]:
    """The order state after applying ``ex`` (on a detached plain copy)."""
    copy = LocalOrder(**{k: v for k, v in state.items()})
    copy.update_from_ccxt_object(ex)
    return _order_state(copy)


def _signed_fill(o: Mapping[str, Any], entry_side: str) -> float:
    filled = float(o.get("filled") or 0.0)
    if o.get("ft_order_side") == entry_side:
        return filled - float(o.get("ft_fee_base") or 0.0)
    return -filled


# ------------------------------------------------------------------------------ reconcile
def reconcile(
    exchange_orders: Iterable[Mapping[str, Any]],
    *,
    pairs: Iterable[str],
    since: datetime | None = None,
    until: datetime | None = None,
    positions: Mapping[str, float] | None = None,
    balances: Mapping[str, float] | None = None,
    unavailable_pairs: Iterable[str] = (),
    now: datetime | None = None,
) -> ReconcileReport:
    """Compare the database with the exchange's orders for ``pairs``; write nothing.

    Args:
        exchange_orders: CCXT order dictionaries the exchange returned for ``pairs`` (open and
            closed orders placed in the window; duplicates and several snapshots of one order
            are fine: the most advanced one counts).
        pairs: the pairs the exchange was asked about. Orders of other pairs are ignored.
        since: start of the window the exchange's list covers (aware or naive UTC); only
            database orders placed inside the window can be declared unknown to the exchange.
        until: end of the window (default: open-ended).
        positions: optional net position per pair as the exchange reports it (long positive,
            short negative; for spot the base amount the bot's trades hold).
        balances: optional total balance per currency (spot). A base currency holding less
            than the open spot trades on it hold is reported; when a pair has no position
            entry, the balance also lets a manual sell be recognised as a trade's exit (only
            when it explains the balance exactly, i.e. the account holds nothing else).
        unavailable_pairs: pairs the exchange could not be asked about (e.g. delisted).
        now: the report time (default: now).
    """
    pair_set = set(pairs)
    unavailable = set(unavailable_pairs) - pair_set
    since_u = None if since is None else to_aware_utc(since)
    until_u = None if until is None else to_aware_utc(until)
    session = Order.session
    diffs: list[Difference] = []

    # -- the exchange's view, validated and merged per (pair, id)
    index: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in exchange_orders:
        try:
            oid = validate_ccxt_order(raw)
            symbol = raw.get("symbol")
            if not isinstance(symbol, str) or not symbol:
                raise InvalidOrderError("CCXT order has no symbol", field="symbol", value=symbol)
        except InvalidOrderError as exc:
            sym = raw.get("symbol") if isinstance(raw, Mapping) else None
            if sym is not None and sym not in pair_set:
                continue
            fp = _fingerprint(repr(raw))
            diffs.append(
                Difference(
                    reason=ReasonCode.INVALID_EXCHANGE_ORDER,
                    fix=FixAction.ACKNOWLEDGE,
                    detail=f"exchange order rejected: {exc}",
                    key=f"invalid_exchange_order:{fp}",
                    proposed="check the exchange response; nothing is changed",
                    fingerprint=fp,
                    pair=sym if isinstance(sym, str) else None,
                    exchange_order=dict(raw) if isinstance(raw, Mapping) else None,
                    client_order_id=raw.get("clientOrderId") if isinstance(raw, Mapping) else None,
                )
            )
            continue
        if symbol not in pair_set:
            continue
        key = (symbol, oid)
        if key not in index or _rank(raw) > _rank(index[key]):
            index[key] = raw

    # -- the database's view
    scope = pair_set | unavailable
    window: list[Any] = [Order.ft_is_open.is_(True)]
    if since_u is not None:
        cond = Order.order_date >= since_u
        if until_u is not None:
            cond = cond & (Order.order_date <= until_u)
        window.append(cond)
    else:
        window = []
    stmt = select(Order).where(Order.ft_pair.in_(scope)) if scope else None
    db_orders: list[Order] = []
    if stmt is not None:
        if window:
            stmt = stmt.where(or_(*window))
        db_orders = list(session.scalars(stmt.order_by(Order.id)).all())
    open_trades: list[Trade] = (
        list(
            session.scalars(
                select(Trade)
                .where(Trade.is_open.is_(True), Trade.pair.in_(scope))
                .order_by(Trade.id)
            ).all()
        )
        if scope
        else []
    )
    trades_by_id: dict[int, Trade] = {t.id: t for t in open_trades}

    # projected order states per trade (for positions and orphans)
    projected: dict[int, dict[str, dict[str, Any]]] = {}

    def project(o: Any, state: dict[str, Any]) -> None:
        if o.ft_trade_id is not None:
            projected.setdefault(o.ft_trade_id, {})[f"{o.ft_pair}:{o.order_id}"] = state

    for t in open_trades:
        for o in t.orders:
            project(o, _order_state(o))

    for o in db_orders:
        if o.ft_pair not in pair_set:
            continue
        state = _order_state(o)
        base: dict[str, Any] = {
            "pair": o.ft_pair,
            "order_id": o.order_id,
            "trade_id": o.ft_trade_id,
            "db_order_pk": o.id,
            "db_state": state,
        }
        ex = index.pop((o.ft_pair, o.order_id), None)
        if ex is None:
            if o.ft_is_open and _in_window(o.order_date, since_u, until_u):
                diffs.append(
                    Difference(
                        reason=ReasonCode.GHOST_ORDER,
                        fix=FixAction.CLOSE_GHOST,
                        detail="open in the database, unknown to the exchange",
                        proposed="mark the order closed as canceled (filled amount unchanged)",
                        key=f"ghost_order:{o.ft_pair}:{o.order_id}",
                        fingerprint=_fingerprint(state),
                        **base,
                    )
                )
                project(o, dict(state, ft_is_open=False))
            continue
        diffs.extend(_compare(o, state, ex, base))
        if not (_is_final(o.status) and ex.get("status") == "open"):
            project(o, _simulate(state, ex) if _needs_apply(o, ex) else state)
        fee_diff = _missing_fee(o, ex, base)
        if fee_diff is not None:
            diffs.append(fee_diff)

    # -- exchange orders the database does not know
    intents: dict[str, OrderIntent] = {}
    cids = [str(ex["clientOrderId"]) for ex in index.values() if ex.get("clientOrderId")]
    if cids:
        for intent in session.scalars(
            select(OrderIntent).where(OrderIntent.client_order_id.in_(cids))
        ).all():
            intents[intent.client_order_id] = intent
    for (pair, oid), ex in sorted(index.items()):
        hint = _position_hint(pair, open_trades, positions, balances)
        diffs.append(_unknown(pair, oid, ex, intents, open_trades, hint, projected))

    # -- pairs the exchange could not be asked about
    for t in open_trades:
        if t.pair in unavailable:
            diffs.append(
                Difference(
                    reason=ReasonCode.PAIR_UNAVAILABLE,
                    fix=FixAction.ACKNOWLEDGE,
                    detail=f"trade {t.id} is open on {t.pair}, which the exchange cannot be asked "
                    "about (delisted?); its orders were not checked",
                    proposed="close the trade by hand once the exchange settles the position",
                    key=f"pair_unavailable:trade:{t.id}",
                    fingerprint=_fingerprint(t.pair, t.amount, len(t.orders)),
                    pair=t.pair,
                    trade_id=t.id,
                )
            )

    # -- positions and orphan open orders (on the projected state)
    net_by_pair: dict[str, float] = {}
    nets: dict[int, float] = {}
    closing: set[int] = set()
    for t in open_trades:
        if t.pair not in pair_set:
            continue
        states = projected.get(t.id, {}).values()
        net = sum(
            _signed_fill(s, t.entry_side)
            for s in states
            if not s.get("ft_is_open") or s.get("filled")
        )
        had_entries = any(
            s.get("ft_order_side") == t.entry_side and (s.get("filled") or 0) > 0 for s in states
        )
        if had_entries and abs(net) <= max(1e-12, 1e-9 * (t.amount or 0.0)):
            closing.add(t.id)
        nets[t.id] = net
        net_by_pair[t.pair] = net_by_pair.get(t.pair, 0.0) + (-net if t.is_short else net)
    if positions is not None:
        for pair in sorted(pair_set):
            if pair not in positions:
                continue
            ours, theirs = net_by_pair.get(pair, 0.0), float(positions[pair])
            if not _close(ours, theirs, rel=1e-6) and abs(ours - theirs) > 1e-9:
                diffs.append(
                    Difference(
                        reason=ReasonCode.POSITION_MISMATCH,
                        fix=FixAction.ACKNOWLEDGE,
                        detail=f"exchange position {theirs!r}, open trades (after the fixes "
                        f"above) {ours!r}",
                        proposed="investigate: the position changed outside the bot",
                        key=f"position_mismatch:{pair}",
                        fingerprint=_fingerprint(ours, theirs),
                        pair=pair,
                    )
                )
    if balances is not None:
        need: dict[str, float] = {}
        for t in open_trades:
            if t.pair in pair_set and _is_spot(t) and not t.is_short:
                net = nets.get(t.id, 0.0)
                need[_base_of(t)] = need.get(_base_of(t), 0.0) + max(net, 0.0)
        for currency in sorted(need):
            if currency not in balances:
                continue
            have, want = float(balances[currency]), need[currency]
            if have < want and not _close(have, want, rel=1e-6) and want - have > 1e-9:
                diffs.append(
                    Difference(
                        reason=ReasonCode.POSITION_MISMATCH,
                        fix=FixAction.ACKNOWLEDGE,
                        detail=f"exchange balance of {currency} is {have!r}, open spot trades "
                        f"(after the fixes above) hold {want!r}",
                        proposed="investigate: the balance was reduced outside the bot "
                        "(manual sale, withdrawal, fee paid in the base currency)",
                        key=f"position_mismatch:balance:{currency}",
                        fingerprint=_fingerprint(have, want),
                    )
                )
    ghost_keys = {(d.pair, d.order_id) for d in diffs if d.reason == ReasonCode.GHOST_ORDER}
    for o in db_orders:
        if o.ft_pair not in pair_set or not o.ft_is_open or (o.ft_pair, o.order_id) in ghost_keys:
            continue
        if o.ft_trade_id in trades_by_id and o.ft_trade_id not in closing:
            continue
        pstate = projected.get(o.ft_trade_id or -1, {}).get(f"{o.ft_pair}:{o.order_id}")
        if pstate is not None and not pstate.get("ft_is_open"):
            continue  # a fix above closes it
        diffs.append(
            Difference(
                reason=ReasonCode.ORPHAN_OPEN_ORDER,
                fix=FixAction.ACKNOWLEDGE,
                detail=f"order is open but its trade {o.ft_trade_id} is closed or closes with "
                "these fixes",
                proposed="cancel the order on the exchange",
                key=f"orphan_open_order:{o.ft_pair}:{o.order_id}",
                fingerprint=_fingerprint(
                    o.order_id,
                    (pstate or {}).get("filled", o.filled),
                    (pstate or {}).get("status", o.status),
                ),
                pair=o.ft_pair,
                order_id=o.order_id,
                trade_id=o.ft_trade_id,
                db_order_pk=o.id,
                db_state=_order_state(o),
            )
        )

    # -- drop what was acknowledged before with the same state
    suppressed = 0
    ack_keys = {d.key for d in diffs if d.fix == FixAction.ACKNOWLEDGE}
    if ack_keys:
        acked = {
            (row.diff_key, row.fingerprint)
            for row in session.execute(
                select(ReconcileLogEntry.diff_key, ReconcileLogEntry.fingerprint).where(
                    ReconcileLogEntry.fix == FixAction.ACKNOWLEDGE.value,
                    ReconcileLogEntry.diff_key.in_(ack_keys),
                )
            ).all()
        }
        kept = []
        for d in diffs:
            if d.fix == FixAction.ACKNOWLEDGE and (d.key, d.fingerprint) in acked:
                suppressed += 1
            else:
                kept.append(d)
        diffs = kept
    return ReconcileReport(
        generated_at=to_aware_utc(now) if now is not None else dt_now(),
        pairs=tuple(sorted(pair_set)),
        since=since_u,
        until=until_u,
        differences=tuple(diffs),
        suppressed=suppressed,
    )


def _needs_apply(o: Any, ex: Mapping[str, Any]) -> bool:
    copy = _simulate(_order_state(o), ex)
    mine = _order_state(o)
    return any(copy[k] != mine[k] for k in mine if k != "order_update_date")


def _compare(
    o: Any, state: dict[str, Any], ex: Mapping[str, Any], base: dict[str, Any]
) -> list[Difference]:
    ex_status = ex.get("status")
    ex_filled = ex.get("filled")
    db_filled = o.filled or 0.0
    problems: list[str] = []
    reason: ReasonCode | None = None
    fix = FixAction.APPLY_EXCHANGE_STATE
    if (
        ex_filled is not None
        and float(ex_filled) > db_filled
        and not _close(float(ex_filled), db_filled)
    ):
        reason = ReasonCode.MISSED_FILL
        problems.append(f"filled {db_filled!r} here, {ex_filled!r} on the exchange")
    elif (
        ex_filled is not None
        and float(ex_filled) < db_filled
        and not _close(float(ex_filled), db_filled)
    ):
        reason = ReasonCode.AMOUNT_MISMATCH
        fix = FixAction.ACKNOWLEDGE
        problems.append(
            f"exchange reports less filled ({ex_filled!r}) than recorded "
            f"({db_filled!r}); fills are never rolled back"
        )
    if o.ft_is_open and _is_final(ex_status):
        reason = reason or ReasonCode.GHOST_ORDER
        problems.append(f"open here, {ex_status!r} on the exchange")
    elif _is_final(o.status) and ex_status == "open":
        reason = reason or ReasonCode.STATUS_MISMATCH
        fix = FixAction.ACKNOWLEDGE
        problems.append(f"{o.status!r} here but open on the exchange; not reopened")
    elif (
        ex_status is not None
        and ex_status != o.status
        and not ({ex_status, o.status} <= {"canceled", "cancelled"})
    ):
        reason = reason or ReasonCode.STATUS_MISMATCH
        problems.append(f"status {o.status!r} here, {ex_status!r} on the exchange")
    ex_amount = ex.get("amount")
    if ex_amount is not None and o.amount is not None and not _close(float(ex_amount), o.amount):
        reason = reason or ReasonCode.AMOUNT_MISMATCH
        problems.append(f"amount {o.amount!r} here, {ex_amount!r} on the exchange")
    for key, attr in (("average", "average"), ("price", "price")):
        value = ex.get(key)
        mine = getattr(o, attr)
        if value is not None and (mine is None or not _close(float(value), mine)):
            reason = reason or ReasonCode.PRICE_MISMATCH
            problems.append(f"{attr} {mine!r} here, {value!r} on the exchange")
    if reason is None:
        return []
    if fix == FixAction.APPLY_EXCHANGE_STATE and not _needs_apply(o, ex):
        fix = FixAction.ACKNOWLEDGE
    proposed = {
        FixAction.APPLY_EXCHANGE_STATE: "update the order from the exchange and recalculate "
        "the trade",
        FixAction.ACKNOWLEDGE: "no automatic fix (the order is never rolled back or reopened);"
        " acknowledge",
    }[fix]
    return [
        Difference(
            reason=reason,
            fix=fix,
            detail="; ".join(problems),
            proposed=proposed,
            key=f"{reason.value}:{o.ft_pair}:{o.order_id}",
            fingerprint=_fingerprint(
                state if fix == FixAction.ACKNOWLEDGE else None, _ex_subset(ex)
            ),
            exchange_order=dict(ex),
            **base,
        )
    ]


def _missing_fee(o: Any, ex: Mapping[str, Any], base: dict[str, Any]) -> Difference | None:
    trade = o.trade
    if trade is None or not _is_final(ex.get("status")) or not (ex.get("filled") or 0) > 0:
        return None
    fee = fee_from_ccxt(ex)
    if fee is None:
        return None
    side = trade.exit_side if o.ft_order_side == "stoploss" else o.ft_order_side
    if trade.fee_updated(side):
        return None
    return Difference(
        reason=ReasonCode.MISSING_FEE,
        fix=FixAction.APPLY_FEE,
        detail=f"fee {fee[0]!r} {fee[1]} of a filled {side} order is not recorded on trade "
        f"{trade.id}",
        proposed="record the fee on the trade (update_fee)",
        key=f"missing_fee:{o.ft_pair}:{o.order_id}",
        fingerprint=_fingerprint(fee, side),
        exchange_order=dict(ex),
        side=side,
        **base,
    )


def _is_spot(trade: Any) -> bool:
    mode = getattr(trade, "trading_mode", None)
    return mode is None or str(getattr(mode, "value", mode)).lower() == "spot"


def _base_of(trade: Any) -> str:
    return str(trade.base_currency or trade.pair.split("/")[0])


def _position_hint(
    pair: str,
    open_trades: list[Trade],
    positions: Mapping[str, float] | None,
    balances: Mapping[str, float] | None,
) -> float | None:
    """The exchange's holding for ``pair`` (position, else the base balance of one spot trade)."""
    if positions is not None and pair in positions:
        return float(positions[pair])
    if balances is None:
        return None
    trades = [t for t in open_trades if t.pair == pair]
    if len(trades) != 1 or not _is_spot(trades[0]) or trades[0].is_short:
        return None
    base = _base_of(trades[0])
    if base not in balances or sum(1 for t in open_trades if _base_of(t) == base) != 1:
        return None
    return float(balances[base])


def _unknown(
    pair: str,
    oid: str,
    ex: Mapping[str, Any],
    intents: Mapping[str, OrderIntent],
    open_trades: list[Trade],
    position: float | None,
    projected: dict[int, dict[str, dict[str, Any]]],
) -> Difference:
    cid = ex.get("clientOrderId")
    intent = intents.get(str(cid)) if cid else None
    common: dict[str, Any] = {
        "pair": pair,
        "order_id": oid,
        "exchange_order": dict(ex),
        "client_order_id": str(cid) if cid else None,
    }
    if (
        intent is not None
        and intent.ft_trade_id is not None
        and intent.pair == pair
        and (intent.status != INTENT_ACKNOWLEDGED or intent.exchange_order_id == oid)
    ):
        state = {
            "ft_order_side": intent.side,
            "filled": ex.get("filled") or 0.0,
            "ft_is_open": not _is_final(ex.get("status")),
            "ft_fee_base": None,
        }
        projected.setdefault(intent.ft_trade_id, {})[f"{pair}:{oid}"] = state
        return Difference(
            reason=ReasonCode.UNKNOWN_EXCHANGE_ORDER,
            fix=FixAction.ADOPT_ORDER,
            detail=f"exchange order of pending intent {cid!r} (trade {intent.ft_trade_id}) "
            "was never stored",
            proposed="store the order on the intent's trade and mark the intent acknowledged",
            key=f"unknown_exchange_order:{pair}:{oid}",
            fingerprint=_fingerprint(_ex_subset(ex)),
            trade_id=intent.ft_trade_id,
            side=intent.side,
            **common,
        )
    candidates = [t for t in open_trades if t.pair == pair]
    filled = float(ex.get("filled") or 0.0)
    if position is not None and len(candidates) == 1 and _is_final(ex.get("status")) and filled > 0:
        trade = candidates[0]
        states = projected.get(trade.id, {}).values()
        entries_final = not any(
            s.get("ft_order_side") == trade.entry_side and s.get("ft_is_open") for s in states
        )
        if ex.get("side") == trade.exit_side and entries_final:
            held = sum(
                _signed_fill(s, trade.entry_side) for s in projected.get(trade.id, {}).values()
            )
            after = held - filled
            theirs = abs(position)
            if after >= -1e-9 * max(held, 1.0) and _close(max(after, 0.0), theirs, rel=1e-6):
                projected.setdefault(trade.id, {})[f"{pair}:{oid}"] = {
                    "ft_order_side": trade.exit_side,
                    "filled": filled,
                    "ft_is_open": False,
                    "ft_fee_base": None,
                }
                return Difference(
                    reason=ReasonCode.UNKNOWN_EXCHANGE_ORDER,
                    fix=FixAction.ADOPT_ORDER,
                    detail=f"filled {ex.get('side')} order not placed by the bot; the exchange"
                    f" position ({position!r}) shows it reduced trade {trade.id}",
                    proposed="record it as an exit of the trade (closed by hand on the "
                    "exchange) and recalculate the trade",
                    key=f"unknown_exchange_order:{pair}:{oid}",
                    fingerprint=_fingerprint(_ex_subset(ex)),
                    trade_id=trade.id,
                    side=trade.exit_side,
                    **common,
                )
    return Difference(
        reason=ReasonCode.UNKNOWN_EXCHANGE_ORDER,
        fix=FixAction.ACKNOWLEDGE,
        detail="order on the exchange account that the bot did not place",
        proposed="no automatic fix (external order); acknowledge",
        key=f"unknown_exchange_order:{pair}:{oid}",
        fingerprint=_fingerprint(_ex_subset(ex)),
        **common,
    )


# ------------------------------------------------------------------------------ apply
@contextmanager
def _commit_deferred(session: Any) -> Iterator[None]:
    """Turn the ``commit()`` calls of ``update_trade`` into flushes (one transaction)."""
    real = session()
    setattr(real, "commit", real.flush)  # noqa: B010 - instance attribute shadows the method
    try:
        yield
    finally:
        delattr(real, "commit")


def apply_reconciliation(
    report: ReconcileReport, *, dry_run: bool = True, now: datetime | None = None
) -> ApplyResult:
    """Apply the fixes of ``report`` (dry run by default) in one transaction.

    Returns:
        What changed (or, in a dry run, what would change) per difference.
    """
    run_id = uuid.uuid4().hex
    when = to_aware_utc(now) if now is not None else dt_now()
    if dry_run:
        return ApplyResult(run_id, True, tuple(_preview(d) for d in report.differences))
    session = Order.session
    changes: list[AppliedChange] = []
    to_book: list[tuple[Any, Order]] = []
    from tradeledger.services.journal import journal_actor

    with journal_actor("reconcile"):  # the audit journal records these changes as such
        try:
            with _commit_deferred(session):
                order_first = sorted(
                    report.differences,
                    key=lambda d: (d.fix == FixAction.ACKNOWLEDGE, d.fix == FixAction.APPLY_FEE),
                )
                for d in order_first:
                    before, after = _apply_one(session, d, when, to_book)
                    changes.append(
                        AppliedChange(
                            d.reason, d.fix, d.pair, d.order_id, d.trade_id, before, after
                        )
                    )
                    session.add(
                        ReconcileLogEntry(
                            run_id=run_id,
                            created_at=when,
                            reason=d.reason.value,
                            fix=d.fix.value,
                            diff_key=d.key[:255],
                            fingerprint=d.fingerprint,
                            pair=d.pair,
                            order_id=d.order_id,
                            ft_trade_id=d.trade_id,
                            detail=d.detail,
                            before=json.dumps(_jsonable(before)),
                            after=json.dumps(_jsonable(after)),
                        )
                    )
                session.flush()
                recalculated: list[int] = []
                per_trade: dict[int, tuple[Any, list[Order]]] = {}
                for trade, order in sorted(to_book, key=lambda item: item[1].id or 0):
                    per_trade.setdefault(id(trade), (trade, []))[1].append(order)
                for trade, orders in per_trade.values():
                    if len(orders) == 1:
                        trade.update_trade(orders[0])
                    else:
                        _book_many(trade, orders)
                    if trade.id not in recalculated:
                        recalculated.append(trade.id)
                session.flush()
            session.commit()
        except BaseException:
            session.rollback()
            raise
    logger.info("Reconciliation %s applied %d changes", run_id, len(changes))
    return ApplyResult(run_id, False, tuple(changes), tuple(recalculated))


def _book_many(trade: Any, orders: list[Order]) -> None:
    """Book several orders of one trade at once.

    ``update_trade`` per order would count an exit twice: the first entry's recalculation
    already includes every filled order of the trade, and the exit's own close check then
    sees the remaining amount equal to its size. Instead: recalculate once, and close only
    when the filled orders leave no position.
    """
    entry_side = trade.entry_side
    net = 0.0
    last_exit: Order | None = None
    for o in trade.orders:
        if o.ft_is_open or not o.filled or o.status not in NON_OPEN_EXCHANGE_STATES:
            continue
        if o.ft_order_side == entry_side:
            net += o.safe_amount_after_fee
        else:
            net -= o.safe_amount_after_fee
            last_exit = o
    for o in orders:  # the funding hand-over and exit reasons that update_trade would do
        if o.ft_order_side != "stoploss" and o.funding_fee is None:
            o.funding_fee = trade.funding_fee_running or 0.0
            trade.funding_fee_running = 0.0
        if o.ft_order_side == "stoploss" and not o.ft_is_open:
            trade.close_rate_requested = trade.stop_loss
            trade.exit_reason = "stoploss_on_exchange"
    trade.recalc_trade_from_orders()
    if last_exit is not None and (net <= 0 or math.isclose(net, 0.0, abs_tol=1e-12)):
        trade.close(last_exit.safe_price)
    trade._commit()


def _preview(d: Difference) -> AppliedChange:
    after: Mapping[str, Any] | None = None
    if d.fix == FixAction.APPLY_EXCHANGE_STATE and d.db_state is not None and d.exchange_order:
        after = _simulate(d.db_state, d.exchange_order)
    elif d.fix == FixAction.CLOSE_GHOST and d.db_state is not None:
        after = dict(
            d.db_state,
            ft_is_open=False,
            status="canceled"
            if d.db_state.get("status") in (None, "open")
            else d.db_state.get("status"),
        )
    elif d.fix == FixAction.ADOPT_ORDER and d.exchange_order is not None:
        after = _ex_subset(d.exchange_order)
    return AppliedChange(d.reason, d.fix, d.pair, d.order_id, d.trade_id, d.db_state, after)


def _should_book(order: Order, was_open: bool, filled_before: float | None) -> bool:
    if order.ft_is_open or order.status == "open":
        return False
    return was_open or (order.filled or 0.0) > (filled_before or 0.0)


def _apply_one(
    session: Any, d: Difference, when: datetime, to_book: list[tuple[Any, Order]]
) -> tuple[Any, Any]:
    if d.fix == FixAction.APPLY_EXCHANGE_STATE:
        o = session.get(Order, d.db_order_pk)
        before = _order_state(o)
        was_open, filled_before = bool(o.ft_is_open), o.filled
        assert d.exchange_order is not None
        o.update_from_ccxt_object(d.exchange_order)
        if _should_book(o, was_open, filled_before) and o.trade is not None:
            to_book.append((o.trade, o))
        return before, _order_state(o)
    if d.fix == FixAction.CLOSE_GHOST:
        o = session.get(Order, d.db_order_pk)
        before = _order_state(o)
        if o.ft_is_open:
            o.ft_is_open = False
            if o.status in (None, "open"):
                o.status = "canceled"
            o.ft_cancel_reason = "reconcile: order unknown on the exchange"
            o.order_update_date = when
            if (o.filled or 0.0) > 0 and o.trade is not None:
                to_book.append((o.trade, o))
        return before, _order_state(o)
    if d.fix == FixAction.ADOPT_ORDER:
        assert d.exchange_order is not None and d.pair is not None and d.side is not None
        trade = session.get(Trade, d.trade_id)
        before = _trade_state(trade)
        if Order.order_by_id(str(d.order_id), pair=d.pair) is not None:
            return before, before  # adopted already (the report was applied before)
        order = Order.parse_from_ccxt_object(d.exchange_order, d.pair, d.side)
        trade.orders.append(order)
        if d.client_order_id:
            intent = session.scalars(
                select(OrderIntent).where(OrderIntent.client_order_id == d.client_order_id)
            ).one_or_none()
            if intent is not None:
                intent.status = INTENT_ACKNOWLEDGED
                intent.exchange_order_id = d.order_id
                intent.exchange_status = order.status
                intent.updated_at = when
                order.ft_order_tag = intent.ft_order_tag
        fee = fee_from_ccxt(d.exchange_order)
        fee_side = trade.exit_side if d.side == "stoploss" else d.side
        if fee is not None and not order.ft_is_open and not trade.fee_updated(fee_side):
            trade.update_fee(fee[0], fee[1], fee[2], fee_side)
        if d.side == trade.exit_side and not trade.exit_reason:
            trade.exit_reason = ExitType.SOLD_ON_EXCHANGE.value
        session.flush()
        if not order.ft_is_open:
            to_book.append((trade, order))
        return before, _order_state(order)
    if d.fix == FixAction.APPLY_FEE:
        o = session.get(Order, d.db_order_pk)
        trade = o.trade
        before = _trade_state(trade)
        assert d.exchange_order is not None and d.side is not None
        fee = fee_from_ccxt(d.exchange_order)
        if fee is not None:
            trade.update_fee(fee[0], fee[1], fee[2], d.side)
        return before, _trade_state(trade)
    return d.db_state, None
