"""``LocalTrade``: the trade accounting of freqtrade 2026.9 in plain Python.

``LocalTrade`` is the backtesting trade and the base class of the ORM ``Trade``
(``tradeledger.models.trade``), which maps the same attributes onto the ``trades`` table and
inherits every computation from here. Formulas follow the facts sheet (§2.4, §5) and the
golden vectors recorded from freqtrade 2026.9.

Numbers: open and close values, fees, sums of fills, the average entry price and the realized
profit are computed in exact decimal arithmetic (:mod:`tradeledger.domain.money`, a private
context; the global decimal context is never touched) and rounded once to ``float``. Where
freqtrade divides in decimal (average entry price, interest hours), the quotient is truncated
to 18 decimal places as freqtrade's ``FtPrecise`` does, so results agree digit for digit.
Ratios and the stop-loss price are computed in ``float`` exactly as freqtrade does.

Backtesting stores (class state, shared by every ``LocalTrade``): ``bt_trades`` (closed),
``bt_trades_open``, ``bt_trades_open_pp`` (open trades by pair; a pair whose trades all closed
keeps an empty entry), ``bt_open_open_trade_count`` and ``bt_total_profit``. The stores are
insertion-ordered and keyed by object identity, so adding and removing a trade costs O(1); a
close-date index answers the protections' ``get_trades_proxy(is_open=False, close_date=...)``
without scanning every closed trade; the closed-profit sum is kept running. (An ``open_date``
filter without a ``close_date`` filter still walks the selected closed trades of the pair.)
The two totals read as class attributes but live outside the class (a class attribute
assignment per trade would invalidate the type and slow every attribute access of every
trade); values assigned to them by other code are taken over.

Closed backtest trades keep their orders folded (``_fold_orders``): when a backtest trade
closes, the orders of the trade closed before it, if nothing else holds them or their list,
are kept as one tuple of their field values, and the first read of ``trade.orders`` builds
them again, once, with the very same field values. Until then the trade's class is the
internal ``_FoldedLocalTrade`` (a ``LocalTrade`` like ``_PlainLocalTrade``; pickles and
copies are those of the plain trade).

Reproduced freqtrade behaviour worth knowing (the golden vectors depend on it):

* Exit amounts are floats while the position is summed exactly, so an exit of ``trade.amount``
  after a partial exit can leave a decimal residual ("dust", e.g. ``2e-19``). The trade still
  closes (``math.isclose``), but ``recalc_trade_from_orders`` then takes its "still open"
  branch: ``amount`` becomes the dust, ``open_rate`` the dust's average, and
  ``close_profit_abs`` stays the last exit's profit instead of the total (``realized_profit``
  and ``close_profit`` are still totals). freqtrade's kucoin test shows the same.
* Stop-loss rounding with ``DECIMAL_PLACES`` is float arithmetic (see
  :func:`~tradeledger.domain.precision.price_to_precision`).

Deviations from freqtrade 2026.9 (deliberate):

* ``LocalTrade(**kwargs)`` raises ``TypeError("'foo' is an invalid keyword argument for
  LocalTrade")`` for an unknown keyword (freqtrade stores typos as attributes).
* ``LocalTrade(orders=[...])`` keeps the given orders (freqtrade silently drops them) and sets
  their backtesting back-reference ``_trade_bt``.
* ``exit_reason`` and ``enter_tag`` longer than 255 characters are cut on ``LocalTrade`` too
  (freqtrade cuts them only on the ORM ``Trade``).
* Naive ``open_date`` / ``close_date`` given to the constructor are taken as UTC and aware
  ones are converted to UTC.
* ``update_trade`` needs no database: it calls the hook :meth:`LocalTrade._commit`, a no-op
  here, which ``Trade`` overrides to commit its session (freqtrade calls ``Trade.commit()``,
  which fails with ``AttributeError`` before ``init_db()``).
* Bad inputs raise documented exceptions that still derive from the class freqtrade raised:
  a ``None`` rate/amount/price in a value computation →
  :class:`~tradeledger.exceptions.InvalidValueError` (a ``ValueError``; freqtrade: ccxt's
  ``invalid literal for int()``), an unknown ``ft_order_side`` →
  :class:`~tradeledger.exceptions.InvalidOrderError` (a ``ValueError``), ``None`` prices in
  ``adjust_stop_loss`` / ``adjust_min_max_rates`` → ``TypeError`` naming the argument,
  margin without ``interest_rate`` → :class:`~tradeledger.exceptions.MarginConfigError`,
  unknown exchange for interest → :class:`~tradeledger.exceptions.UnsupportedExchangeError`
  (both ``OperationalException``).
* ``get_trades_proxy`` always returns a new list (freqtrade returns its live list object when
  no filter applies), and ``bt_trades`` / ``bt_trades_open`` / ``bt_trades_open_pp[pair]`` are
  list-like :class:`TradeStore` objects instead of lists.
* ``bt_total_profit`` and ``get_total_closed_profit()`` are exact decimal sums rounded once
  (freqtrade adds floats); ``get_total_closed_profit()`` in backtesting is a running sum, so a
  ``close_profit_abs`` changed after ``close_bt_trade`` is not reflected.
* ``calculate_interest()`` returns a :class:`decimal.Decimal` (freqtrade: ccxt ``Precise``);
  ``float()`` and ``str()`` give the same values.
* ``from_json`` does not leave a junk ``__FROM_JSON`` attribute on the trade.
"""

from __future__ import annotations

import bisect
import json
import math
import operator
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN as _TRUNCATE
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Self, SupportsIndex, cast, overload

from tradeledger.domain.enums import (
    CANCELED_EXCHANGE_STATES,
    CUSTOM_TAG_MAX_LENGTH,
    DATETIME_PRINT_FORMAT,
    MATH_CLOSE_PREC,
    NON_OPEN_EXCHANGE_STATES,
    ROUND_DOWN,
    ROUND_UP,
    ExitType,
    TradingMode,
)
from tradeledger.domain.interest import interest
from tradeledger.domain.money import (
    _CTX_DOWN,
    _FLOAT_CACHE,
    _Q18,
    CTX,
    ONE,
    ZERO,
    dadd,
    dec,
    div18,
    dmul,
    dsub,
)
from tradeledger.domain.order import ORDER_FIELDS
from tradeledger.domain.order import LocalOrder as _LocalOrder
from tradeledger.domain.precision import amount_to_contract_precision, price_to_precision
from tradeledger.domain.timeutil import dt_now, dt_ts_none, to_aware_utc, to_naive_utc
from tradeledger.exceptions import (
    InvalidOrderError,
    InvalidValueError,
    MarginConfigError,
    UnsupportedTradingModeError,
)

if TYPE_CHECKING:
    from tradeledger.domain.order import LocalOrder

__all__ = ["TRADE_FIELDS", "LocalTrade", "ProfitStruct", "TradeStore"]

#: Every persisted field of a trade (the columns of the ``trades`` table).
TRADE_FIELDS: tuple[str, ...] = (
    "id",
    "exchange",
    "pair",
    "base_currency",
    "stake_currency",
    "is_open",
    "fee_open",
    "fee_open_cost",
    "fee_open_currency",
    "fee_close",
    "fee_close_cost",
    "fee_close_currency",
    "open_rate",
    "open_rate_requested",
    "open_trade_value",
    "close_rate",
    "close_rate_requested",
    "realized_profit",
    "close_profit",
    "close_profit_abs",
    "stake_amount",
    "max_stake_amount",
    "amount",
    "amount_requested",
    "open_date",
    "close_date",
    "stop_loss",
    "stop_loss_pct",
    "initial_stop_loss",
    "initial_stop_loss_pct",
    "is_stop_loss_trailing",
    "max_rate",
    "min_rate",
    "exit_reason",
    "exit_order_status",
    "strategy",
    "enter_tag",
    "timeframe",
    "trading_mode",
    "amount_precision",
    "price_precision",
    "precision_mode",
    "precision_mode_price",
    "contract_size",
    "leverage",
    "is_short",
    "liquidation_price",
    "interest_rate",
    "funding_fees",
    "funding_fee_running",
    "record_version",
)
_KNOWN_KWARGS: frozenset[str] = frozenset((*TRADE_FIELDS, "orders"))
_FROM_JSON_KW = "__FROM_JSON"
_INF = math.inf
_MARGIN = TradingMode.MARGIN
#: Memo of open values (amount, open_rate, fee_open, is_short) -> float; cleared when full.
_OPEN_VALUE_MEMO: dict[tuple[float, float, float, bool], float] = {}
_OPEN_VALUE_MEMO_MAX = 4096
#: Memo of stop prices before rounding (price, stoploss, leverage, is_short) -> float.
_STOP_MEMO: dict[tuple[float, float, float, bool], float] = {}
#: Fast paths proven identical to the general code (tests switch them off to compare).
_FAST_PATHS = True
#: The trade whose last recalculation saw no exit fill (else None); see ``_recalc_settled``.
_RECALC_NO_EXIT: LocalTrade | None = None
#: (trade, key) of a settled state, a fixed point of ``recalc_trade_from_orders``.
_RECALC_FIXED: tuple[LocalTrade, list[Any] | tuple[Any, ...]] | None = None
#: Every trade field ``recalc_trade_from_orders`` (entries only) reads or writes.
_RECALC_TRADE_FIELDS = operator.attrgetter(
    "is_short", "leverage", "fee_open", "amount_precision", "precision_mode", "contract_size",
    "price_precision", "precision_mode_price", "stop_loss_pct", "stop_loss",
    "initial_stop_loss", "initial_stop_loss_pct", "is_stop_loss_trailing", "open_rate",
    "amount", "stake_amount", "max_stake_amount", "fee_open_cost", "open_trade_value",
    "funding_fees",
)
#: Every order field it reads.
_RECALC_ORDER_FIELDS = operator.attrgetter(
    "ft_is_open", "filled", "funding_fee", "ft_fee_base", "average", "price", "stop_price",
    "ft_price", "ft_order_side",
)


def _recalc_key(trade: LocalTrade, orders: list[Any]) -> list[Any]:
    """The objects ``recalc_trade_from_orders`` reads and writes (compared by identity)."""
    key: list[Any] = [orders, *orders]
    key.extend(_RECALC_TRADE_FIELDS(trade))
    for o in orders:
        key.extend(_RECALC_ORDER_FIELDS(o))
    return key


def _same_objects(a: list[Any], b: list[Any]) -> bool:
    """``a`` and ``b`` hold the very same objects (identity, so 0.0 is not -0.0)."""
    return len(a) == len(b) and all(map(operator.is_, a, b))


def _recalc_key1(trade: Any, orders: list[Any], o: Any) -> tuple[Any, ...]:
    """``_recalc_key`` of a trade with the one order ``o``, as a tuple, read field by field.

    The same objects in the same order as ``(orders, o, *_RECALC_TRADE_FIELDS(trade),
    *_RECALC_ORDER_FIELDS(o))`` (tested); read one by one because specialised attribute
    reads are about twice as fast as ``attrgetter``'s, which makes arming the repeat skip for
    a single entry cheaper than the recalculation it skips.
    """
    t = trade
    return (
        orders, o, t.is_short, t.leverage, t.fee_open, t.amount_precision, t.precision_mode,
        t.contract_size, t.price_precision, t.precision_mode_price, t.stop_loss_pct,
        t.stop_loss, t.initial_stop_loss, t.initial_stop_loss_pct, t.is_stop_loss_trailing,
        t.open_rate, t.amount, t.stake_amount, t.max_stake_amount, t.fee_open_cost,
        t.open_trade_value, t.funding_fees, o.ft_is_open, o.filled, o.funding_fee,
        o.ft_fee_base, o.average, o.price, o.stop_price, o.ft_price, o.ft_order_side,
    )


def _recalc_same1(key: tuple[Any, ...], trade: Any, orders: list[Any], o: Any) -> bool:
    """``key`` (from ``_recalc_key1``) holds the very same objects as the trade now has."""
    t = trade
    return (
        key[0] is orders and key[1] is o and key[2] is t.is_short and key[3] is t.leverage
        and key[4] is t.fee_open and key[5] is t.amount_precision
        and key[6] is t.precision_mode and key[7] is t.contract_size
        and key[8] is t.price_precision and key[9] is t.precision_mode_price
        and key[10] is t.stop_loss_pct and key[11] is t.stop_loss
        and key[12] is t.initial_stop_loss and key[13] is t.initial_stop_loss_pct
        and key[14] is t.is_stop_loss_trailing and key[15] is t.open_rate
        and key[16] is t.amount and key[17] is t.stake_amount
        and key[18] is t.max_stake_amount and key[19] is t.fee_open_cost
        and key[20] is t.open_trade_value and key[21] is t.funding_fees
        and key[22] is o.ft_is_open and key[23] is o.filled and key[24] is o.funding_fee
        and key[25] is o.ft_fee_base and key[26] is o.average and key[27] is o.price
        and key[28] is o.stop_price and key[29] is o.ft_price and key[30] is o.ft_order_side
    )


@dataclass
class ProfitStruct:
    """Result of :meth:`LocalTrade.calculate_profit`."""

    profit_abs: float
    profit_ratio: float
    total_profit: float
    total_profit_ratio: float


def _round_value(value: float, decimals: int) -> str:
    """``f"{value:.{decimals}f}"`` without trailing zeros (freqtrade's ``round_value``)."""
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _num(name: str, value: Any) -> Decimal:
    """Exact decimal of a required numeric input; ``None`` → ``InvalidValueError`` naming it."""
    if type(value) is float:
        cached = _FLOAT_CACHE.get(value)
        return cached if cached is not None else dec(value)
    if value is None:
        raise InvalidValueError(f"{name} must be a number, got None")
    try:
        return dec(value)
    except TypeError as exc:
        raise InvalidValueError(f"{name} must be a number, got {value!r}") from exc


def _cut(value: str | None) -> str | None:
    if isinstance(value, str) and len(value) > CUSTOM_TAG_MAX_LENGTH:
        return value[:CUSTOM_TAG_MAX_LENGTH]
    return value


def _fmt_dt(value: datetime | None) -> str | None:
    return None if value is None else value.strftime(DATETIME_PRINT_FORMAT)


class TradeStore:
    """An insertion-ordered, list-like set of trades with O(1) append and remove.

    Supports ``len``, iteration, ``in``, indexing and ``==`` with a list, like the lists
    freqtrade keeps; ``remove`` raises ``ValueError`` for a trade not in the store. Trades are
    keyed by identity (``LocalTrade`` does not define ``__eq__``/``__hash__``).
    """

    __slots__ = ("_items",)

    def __init__(self, trades: Iterable[LocalTrade] = ()) -> None:
        self._items: dict[LocalTrade, None] = dict.fromkeys(trades)

    def append(self, trade: LocalTrade) -> None:
        """Add ``trade`` (at the end; a trade already present keeps its position)."""
        self._items[trade] = None

    def remove(self, trade: LocalTrade) -> None:
        """Remove ``trade``; ``ValueError`` if it is not in the store."""
        try:
            del self._items[trade]
        except KeyError:
            raise ValueError(f"{trade!r} is not in this trade store") from None

    def discard(self, trade: LocalTrade) -> None:
        """Remove ``trade`` if present."""
        self._items.pop(trade, None)

    def clear(self) -> None:
        """Remove every trade."""
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[LocalTrade]:
        return iter(list(self._items))

    def __contains__(self, trade: object) -> bool:
        try:
            return trade in self._items
        except TypeError:  # unhashable: certainly not a trade of this store
            return False

    @overload
    def __getitem__(self, index: int) -> LocalTrade: ...

    @overload
    def __getitem__(self, index: slice) -> list[LocalTrade]: ...

    def __getitem__(self, index: int | slice) -> LocalTrade | list[LocalTrade]:
        if isinstance(index, int) and index == -1 and self._items:
            return next(reversed(self._items))
        return list(self._items)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TradeStore):
            return list(self._items) == list(other._items)
        if isinstance(other, list | tuple):
            return list(self._items) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: Iterable[LocalTrade]) -> list[LocalTrade]:
        return [*self._items, *other]

    def __repr__(self) -> str:
        return f"TradeStore({list(self._items)!r})"


class _ClosedDateIndex:
    """Closed trades sorted by close date (for ``close_date > x`` queries).

    Trades are added in closing order. While every close date is >= the previous one (the
    backtesting case) the trades are simply appended and list order is closing order; the
    first out-of-order date switches on explicit closing sequence numbers.
    """

    __slots__ = ("_count", "_dates", "_seqs", "_trades")

    def __init__(self) -> None:
        self._dates: list[datetime] = []
        self._trades: list[LocalTrade] = []
        self._seqs: list[int] | None = None  # None: list order is closing order
        self._count = 0

    def add(self, trade: LocalTrade) -> None:
        close_date = trade.close_date
        if close_date is None:
            return
        self.add_at(trade, close_date if close_date.tzinfo is UTC else to_aware_utc(close_date))

    def add_at(self, trade: LocalTrade, when: datetime) -> None:
        """Add ``trade`` closed at ``when`` (aware UTC)."""
        dates = self._dates
        seq = self._count
        self._count = seq + 1
        if not dates or when >= dates[-1]:
            dates.append(when)
            self._trades.append(trade)
            if self._seqs is not None:
                self._seqs.append(seq)
            return
        if self._seqs is None:
            self._seqs = list(range(len(dates)))
        pos = bisect.bisect_right(dates, when)  # after equal dates: closing order among ties
        dates.insert(pos, when)
        self._trades.insert(pos, trade)
        self._seqs.insert(pos, seq)

    def after(self, when: datetime) -> list[LocalTrade]:
        """Trades closed strictly after ``when``, in closing order."""
        pos = bisect.bisect_right(self._dates, to_aware_utc(when))
        trades = self._trades[pos:]
        if self._seqs is None or len(trades) < 2:
            return trades
        pairs = sorted(zip(self._seqs[pos:], trades, strict=True), key=lambda st: st[0])
        return [t for _, t in pairs]

    def clear(self) -> None:
        self._dates.clear()
        self._trades.clear()
        self._seqs = None
        self._count = 0


class _BtTotals:
    """The backtesting totals that change with every trade (one module-level instance).

    They are not class attributes of ``LocalTrade``: assigning a class attribute invalidates
    the type (and every subclass), which throws away CPython's specialised attribute access
    on every trade (measured: about twice the time per recalculation). ``LocalTrade`` shows
    them through :class:`_BtTotal` descriptors instead.
    """

    __slots__ = ("closed_profit_dec", "open_count", "total_profit", "total_profit_dec")

    open_count: int
    total_profit: float | None  # None: float(total_profit_dec), computed when read
    total_profit_dec: Decimal
    closed_profit_dec: Decimal

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Back to an empty backtest."""
        self.open_count = 0
        self.total_profit = 0
        self.total_profit_dec = ZERO
        self.closed_profit_dec = ZERO


_BT = _BtTotals()


class _BtTotal:
    """Read-only view of one :class:`_BtTotals` field as a ``LocalTrade`` class attribute.

    ``LocalTrade.bt_open_open_trade_count`` reads the current value. Assigning the class
    attribute (as freqtrade code may) replaces this descriptor; :func:`_bt_adopt` takes such
    a value over and puts the descriptor back before the next change.
    """

    __slots__ = ("field", "name")

    def __init__(self, name: str, field: str) -> None:
        self.name = name
        self.field = field

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        return getattr(_BT, self.field)


class _BtTotalProfit(_BtTotal):
    """``bt_total_profit``: the exact running sum, rounded to float when read."""

    __slots__ = ()

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        value = _BT.total_profit
        if value is None:
            value = _BT.total_profit = float(_BT.total_profit_dec)
        return value


_BT_OPEN_COUNT = _BtTotal("bt_open_open_trade_count", "open_count")
_BT_TOTAL_PROFIT = _BtTotalProfit("bt_total_profit", "total_profit")


def _bt_adopt() -> None:
    """Take over values assigned to ``LocalTrade.bt_*`` class attributes (rare)."""
    attrs = _LOCAL_TRADE_ATTRS
    if (
        attrs.get("bt_open_open_trade_count") is _BT_OPEN_COUNT
        and attrs.get("bt_total_profit") is _BT_TOTAL_PROFIT
    ):
        return  # both descriptors in place: nothing was assigned (twice per backtest trade)
    for desc in (_BT_OPEN_COUNT, _BT_TOTAL_PROFIT):
        value = attrs.get(desc.name, desc)
        if value is not desc:
            setattr(_BT, desc.field, value)
        if value is not desc or desc.name not in attrs:
            setattr(LocalTrade, desc.name, desc)


class LocalTrade:
    """A trade in plain Python (backtesting); the base class of the ORM ``Trade``."""

    # ---- class-level backtesting state -------------------------------------------------
    use_db: ClassVar[bool] = False
    bt_trades: ClassVar[TradeStore] = TradeStore()
    bt_trades_open: ClassVar[TradeStore] = TradeStore()
    bt_trades_open_pp: ClassVar[defaultdict[str, TradeStore]] = defaultdict(TradeStore)
    if TYPE_CHECKING:
        bt_open_open_trade_count: ClassVar[int]
        bt_total_profit: ClassVar[float]
    else:  # current values of _BT (see _BtTotals: no class attribute changes per trade)
        bt_open_open_trade_count = _BT_OPEN_COUNT
        bt_total_profit = _BT_TOTAL_PROFIT
    #: closed trades by pair in filing order (a list: a trade filed twice is listed twice,
    #: and readers keep its first place, as a TradeStore would)
    _bt_closed_pp: ClassVar[defaultdict[str, list[LocalTrade]]] = defaultdict(list)
    _bt_closed_by_date: ClassVar[_ClosedDateIndex] = _ClosedDateIndex()
    _bt_closed_by_date_pp: ClassVar[defaultdict[str, _ClosedDateIndex]] = defaultdict(
        _ClosedDateIndex
    )

    # ---- fields (backtesting defaults) ----------------------------------------------------
    id: int = 0
    orders: list[LocalOrder] = []  # replaced per instance in __init__
    exchange: str = ""
    pair: str = ""
    base_currency: str | None = ""
    stake_currency: str | None = ""
    is_open: bool = True
    fee_open: float = 0.0
    fee_open_cost: float | None = None
    fee_open_currency: str | None = ""
    fee_close: float | None = 0.0
    fee_close_cost: float | None = None
    fee_close_currency: str | None = ""
    open_rate: float = 0.0
    open_rate_requested: float | None = None
    open_trade_value: float | None = 0.0
    close_rate: float | None = None
    close_rate_requested: float | None = None
    close_profit: float | None = None
    close_profit_abs: float | None = None
    stake_amount: float = 0.0
    max_stake_amount: float | None = 0.0
    amount: float = 0.0
    amount_requested: float | None = None
    open_date: datetime
    close_date: datetime | None = None
    stop_loss: float | None = 0.0
    stop_loss_pct: float | None = 0.0
    initial_stop_loss: float | None = 0.0
    initial_stop_loss_pct: float | None = None
    is_stop_loss_trailing: bool = False
    max_rate: float | None = None
    min_rate: float | None = None
    _exit_reason: str | None = ""
    exit_order_status: str | None = ""
    strategy: str | None = ""
    _enter_tag: str | None = None
    timeframe: int | None = None
    trading_mode: TradingMode | None = TradingMode.SPOT
    amount_precision: float | None = None
    price_precision: float | None = None
    precision_mode: int | None = None
    precision_mode_price: int | None = None
    contract_size: float | None = None
    liquidation_price: float | None = None
    is_short: bool = False
    leverage: float | None = 1.0
    interest_rate: float = 0.0
    funding_fees: float | None = None
    funding_fee_running: float | None = None
    realized_profit: float | None = 0
    record_version: int = 2

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        """``LocalTrade(...)`` builds a compact (``__slots__``) instance; subclasses are unchanged.

        The instance is a :class:`_PlainLocalTrade`, an internal subclass that stores the fields
        in slots instead of a per-instance dict (a backtest keeps every closed trade), while the
        class-level defaults of ``LocalTrade`` stay what freqtrade's API shows.
        """
        if cls is LocalTrade:
            if args:  # (``_PlainLocalTrade.__init__`` takes its keywords positionally too)
                raise TypeError(
                    f"LocalTrade() takes keyword arguments only ({len(args)} positional given)"
                )
            return cast(Self, object.__new__(_PlainLocalTrade))
        return object.__new__(cls)

    def __init__(self, **kwargs: Any) -> None:
        """Create a trade from keyword arguments (the ``trades`` columns and ``orders``).

        Raises:
            TypeError: an unknown keyword (named in the message).
            MarginConfigError: ``trading_mode`` is MARGIN and ``interest_rate`` is None.
        """
        kwargs.pop(_FROM_JSON_KW, None)
        orders = kwargs.pop("orders", None)
        for key in kwargs:
            if key not in _KNOWN_KWARGS:
                raise TypeError(f"{key!r} is an invalid keyword argument for {type(self).__name__}")
        for key, value in kwargs.items():
            if key in ("open_date", "close_date") and isinstance(value, datetime):
                value = to_aware_utc(value)
            elif key == "trading_mode" and isinstance(value, str):
                value = TradingMode(value)
            setattr(self, key, value)
        self.orders = []
        for order in orders or ():
            order._trade_bt = self
            self.orders.append(order)
        self.recalc_open_trade_value()
        if self.trading_mode == TradingMode.MARGIN and self.interest_rate is None:
            raise MarginConfigError("margin trading requires param interest_rate on trades")

    def _commit(self) -> None:
        """Persist pending changes (no-op here; ``Trade`` commits its session)."""

    def __repr__(self) -> str:
        open_since = (
            self.open_date_utc.strftime(DATETIME_PRINT_FORMAT) if self.is_open else "closed"
        )
        return (
            f"Trade(id={self.id}, pair={self.pair}, amount={_round_value(self.amount, 8)}, "
            f"is_short={self.is_short or False}, "
            f"leverage={_round_value(self.leverage or 1.0, 8)}, "
            f"open_rate={_round_value(self.open_rate, 8)}, open_since={open_since})"
        )

    # ---- text fields cut to their column length (as Trade does on every backend) ------------
    @property
    def exit_reason(self) -> str | None:
        """Why the trade exited (cut to 255 characters)."""
        return self._exit_reason

    @exit_reason.setter
    def exit_reason(self, value: str | None) -> None:
        self._exit_reason = _cut(value)

    @property
    def enter_tag(self) -> str | None:
        """Tag of the entry signal (cut to 255 characters)."""
        return self._enter_tag

    @enter_tag.setter
    def enter_tag(self, value: str | None) -> None:
        self._enter_tag = _cut(value)

    # ---- simple properties ----------------------------------------------------------------
    @property
    def stoploss_or_liquidation(self) -> float | None:
        """The effective exit level: the stop or the liquidation price, whichever is hit first."""
        if self.liquidation_price:
            if self.is_short:
                return min(self.stop_loss, self.liquidation_price)  # type: ignore[type-var]
            return max(self.stop_loss, self.liquidation_price)  # type: ignore[type-var]
        return self.stop_loss

    @property
    def buy_tag(self) -> str | None:
        """Deprecated alias of ``enter_tag``."""
        return self.enter_tag

    @property
    def sell_reason(self) -> str | None:
        """Deprecated alias of ``exit_reason``."""
        return self.exit_reason

    @property
    def has_no_leverage(self) -> bool:
        """True for an unleveraged long."""
        return (self.leverage == 1.0 or self.leverage is None) and not self.is_short

    @property
    def borrowed(self) -> float:
        """Borrowed amount: quote currency for longs, base currency (``amount``) for shorts."""
        if self.has_no_leverage:
            return 0.0
        if not self.is_short:
            leverage = self.leverage or 1.0
            return (self.amount * self.open_rate) * ((leverage - 1) / leverage)
        return self.amount

    @property
    def _date_last_filled_utc(self) -> datetime | None:
        dates = [o.order_filled_utc for o in self.select_filled_orders() if o.order_filled_utc]
        return max(dates) if dates else None

    @property
    def date_last_filled_utc(self) -> datetime:
        """Date of the last fill, or the open date."""
        last = self._date_last_filled_utc
        if last:
            return max(self.open_date_utc, last)
        return self.open_date_utc

    @property
    def date_entry_fill_utc(self) -> datetime | None:
        """Date of the first filled entry order, or None."""
        dates = [
            o.order_filled_utc
            for o in self.select_filled_orders(self.entry_side)
            if o.order_filled_utc
        ]
        return min(dates) if dates else None

    @property
    def open_date_utc(self) -> datetime:
        """``open_date`` as aware UTC."""
        return to_aware_utc(self.open_date)

    @property
    def stoploss_last_update_utc(self) -> datetime | None:
        """Order date of the newest open stoploss order, or None."""
        dates = [o.order_date_utc for o in self.open_sl_orders if o.order_date is not None]
        return max(dates) if dates else None

    @property
    def close_date_utc(self) -> datetime | None:
        """``close_date`` as aware UTC, or None."""
        return to_aware_utc(self.close_date) if self.close_date else None

    @property
    def entry_side(self) -> str:
        """``"sell"`` for shorts, else ``"buy"``."""
        return "sell" if self.is_short else "buy"

    @property
    def exit_side(self) -> str:
        """``"buy"`` for shorts, else ``"sell"``."""
        return "buy" if self.is_short else "sell"

    @property
    def trade_direction(self) -> str:
        """``"short"`` or ``"long"``."""
        return "short" if self.is_short else "long"

    @property
    def safe_base_currency(self) -> str:
        """``base_currency``, else derived from ``pair``."""
        try:
            return self.base_currency or self.pair.split("/")[0]
        except IndexError:
            return ""

    @property
    def safe_quote_currency(self) -> str:
        """``stake_currency``, else derived from ``pair``."""
        try:
            return self.stake_currency or self.pair.split("/")[1].split(":")[0]
        except IndexError:
            return ""

    @property
    def open_orders(self) -> list[LocalOrder]:
        """Open orders, stoploss orders excluded."""
        return [o for o in self.orders if o.ft_is_open and o.ft_order_side != "stoploss"]

    @property
    def has_open_orders(self) -> bool:
        """True if an order other than a stoploss order is open."""
        return any(o.ft_is_open and o.ft_order_side != "stoploss" for o in self.orders)

    @property
    def has_open_position(self) -> bool:
        """True while ``amount > 0``."""
        return bool(self.amount and self.amount > 0)

    @property
    def open_sl_orders(self) -> list[LocalOrder]:
        """Open stoploss orders."""
        return [o for o in self.orders if o.ft_order_side == "stoploss" and o.ft_is_open]

    @property
    def has_open_sl_orders(self) -> bool:
        """True if a stoploss order is open."""
        return any(o.ft_order_side == "stoploss" and o.ft_is_open for o in self.orders)

    @property
    def sl_orders(self) -> list[LocalOrder]:
        """All stoploss orders."""
        return [o for o in self.orders if o.ft_order_side == "stoploss"]

    @property
    def open_orders_ids(self) -> list[str]:
        """``order_id`` of every open non-stoploss order."""
        return [o.order_id for o in self.open_orders]

    @property
    def fully_canceled_entry_order_count(self) -> int:
        """Entry orders cancelled without any fill."""
        side = self.entry_side
        return sum(
            1
            for o in self.orders
            if o.ft_order_side == side and o.status in CANCELED_EXCHANGE_STATES and o.filled == 0
        )

    @property
    def canceled_exit_order_count(self) -> int:
        """Exit orders that were cancelled."""
        side = self.exit_side
        return sum(
            1
            for o in self.orders
            if o.ft_order_side == side and o.status in CANCELED_EXCHANGE_STATES
        )

    def get_canceled_exit_order_count(self) -> int:
        """Same as :attr:`canceled_exit_order_count`."""
        return self.canceled_exit_order_count

    @property
    def nr_of_successful_entries(self) -> int:
        """Number of filled entry orders."""
        return len(self.select_filled_orders(self.entry_side))

    @property
    def nr_of_successful_exits(self) -> int:
        """Number of filled exit orders."""
        return len(self.select_filled_orders(self.exit_side))

    @property
    def nr_of_successful_buys(self) -> int:
        """Number of filled ``buy`` orders (not short-aware; deprecated)."""
        return len(self.select_filled_orders("buy"))

    @property
    def nr_of_successful_sells(self) -> int:
        """Number of filled ``sell`` orders (not short-aware; deprecated)."""
        return len(self.select_filled_orders("sell"))

    @property
    def safe_close_rate(self) -> float:
        """``close_rate``, else ``close_rate_requested``, else 0.0."""
        return self.close_rate or self.close_rate_requested or 0.0

    # ---- order selection --------------------------------------------------------------------
    def select_order_by_order_id(self, order_id: str) -> LocalOrder | None:
        """The first order with this exchange id, or None."""
        for o in self.orders:
            if o.order_id == order_id:
                return o
        return None

    def select_order(
        self, order_side: str | None = None, is_open: bool | None = None, only_filled: bool = False
    ) -> LocalOrder | None:
        """The latest order matching side / open state (``only_filled`` with ``is_open=False``)."""
        for o in reversed(self.orders):
            if order_side is not None and o.ft_order_side != order_side:
                continue
            if is_open is not None:
                if o.ft_is_open != is_open:
                    continue
                if (
                    is_open is False
                    and only_filled
                    and not (o.filled and o.status in NON_OPEN_EXCHANGE_STATES)
                ):
                    continue
            return o
        return None

    def select_filled_orders(self, order_side: str | None = None) -> list[LocalOrder]:
        """Closed orders with a fill, optionally of one side."""
        return [
            o
            for o in self.orders
            if (order_side is None or o.ft_order_side == order_side)
            and o.ft_is_open is False
            and o.filled
            and o.status in NON_OPEN_EXCHANGE_STATES
        ]

    def select_filled_or_open_orders(self) -> list[LocalOrder]:
        """Filled closed orders and open orders with a status."""
        return [
            o
            for o in self.orders
            if (
                o.ft_is_open is False
                and (o.filled or 0) > 0
                and o.status in NON_OPEN_EXCHANGE_STATES
            )
            or (o.ft_is_open is True and o.status is not None)
        ]

    # ---- fees and values ------------------------------------------------------------------
    def update_fee(
        self, fee_cost: float, fee_currency: str | None, fee_rate: float | None, side: str
    ) -> None:
        """Record the fee of the entry or exit side, once per side."""
        if self.entry_side == side and self.fee_open_currency is None:
            self.fee_open_cost = fee_cost
            self.fee_open_currency = fee_currency
            if fee_rate is not None:
                self.fee_open = fee_rate
                # Assume the close fee equals the open fee until the exit fee is known.
                self.fee_close = fee_rate
        elif self.exit_side == side and self.fee_close_currency is None:
            self.fee_close_cost = fee_cost
            self.fee_close_currency = fee_currency
            if fee_rate is not None:
                self.fee_close = fee_rate

    def fee_updated(self, side: str) -> bool:
        """True if the fee of this side was recorded."""
        if self.entry_side == side:
            return self.fee_open_currency is not None
        if self.exit_side == side:
            return self.fee_close_currency is not None
        return False

    def _open_value(self, amount: Decimal, open_rate: Decimal) -> Decimal:
        value = dmul(amount, open_rate)
        fees = dmul(value, _num("fee_open", self.fee_open))
        return dsub(value, fees) if self.is_short else dadd(value, fees)

    def _calc_open_trade_value(self, amount: float | Decimal, open_rate: float | Decimal) -> float:
        """Open value of ``amount`` at ``open_rate`` including the entry fee."""
        fee_open = self.fee_open
        if type(open_rate) is float and type(fee_open) is float:
            if type(amount) is float and amount and open_rate:
                # memo of a pure function (non-zero inputs: no sign-of-zero question)
                key = (amount, open_rate, fee_open, bool(self.is_short))
                value_f = _OPEN_VALUE_MEMO.get(key)
                if value_f is None:
                    value_f = self._open_value_exact(amount, open_rate)
                    if len(_OPEN_VALUE_MEMO) >= _OPEN_VALUE_MEMO_MAX:
                        _OPEN_VALUE_MEMO.clear()
                    _OPEN_VALUE_MEMO[key] = value_f
                return value_f
            if (
                amount == 0
                and type(amount) is int
                and 0 < open_rate < _INF
                and 0 <= fee_open < _INF
            ):
                return 0.0  # exact: 0 * rate ± 0 is +0 (a new trade before its entry fill)
        return self._open_value_exact(amount, open_rate)

    def _open_value_exact(self, amount: float | Decimal, open_rate: float | Decimal) -> float:
        amount_d = _num("amount", amount)
        value = CTX.multiply(amount_d, _num("open_rate", open_rate))
        fees = CTX.multiply(value, _num("fee_open", self.fee_open))
        return float(CTX.subtract(value, fees) if self.is_short else CTX.add(value, fees))

    def recalc_open_trade_value(self) -> None:
        """Recompute ``open_trade_value`` from ``amount``, ``open_rate`` and ``fee_open``."""
        self.open_trade_value = self._calc_open_trade_value(self.amount, self.open_rate)

    def calculate_interest(self) -> Decimal:
        """Margin interest owed so far (0 unless MARGIN with borrowing)."""
        if self.trading_mode != TradingMode.MARGIN or self.has_no_leverage:
            return ZERO
        open_date = to_naive_utc(self.open_date)
        now = to_naive_utc(self.close_date or dt_now())
        hours = div18(dec((now - open_date).total_seconds()), Decimal(3600))
        return interest(
            exchange_name=self.exchange,
            borrowed=dec(self.borrowed),
            rate=_num("interest_rate", self.interest_rate),
            hours=hours,
        )

    def _calc_base_close(
        self, amount: Decimal, rate: float | Decimal | None, fee: float | None
    ) -> Decimal:
        close_value = CTX.multiply(amount, _num("rate", rate))
        fees = CTX.multiply(close_value, dec(fee or 0.0))
        return CTX.add(close_value, fees) if self.is_short else CTX.subtract(close_value, fees)

    def calc_close_trade_value(self, rate: float | None, amount: float | None = None) -> float:
        """Value received when closing ``amount`` (default: the trade's) at ``rate``.

        Includes the exit fee, margin interest (MARGIN) and funding fees (FUTURES).

        Raises:
            InvalidValueError: ``rate`` is None while the trade has a ``close_rate``.
            UnsupportedTradingModeError: an unknown trading mode.
        """
        if rate is None and not self.close_rate:
            return 0.0
        amount_d = _num("amount", amount or self.amount)
        trading_mode = self.trading_mode or TradingMode.SPOT
        if trading_mode == TradingMode.SPOT:
            return float(self._calc_base_close(amount_d, rate, self.fee_close))
        if trading_mode == TradingMode.MARGIN:
            total_interest = self.calculate_interest()
            if self.is_short:
                return float(
                    self._calc_base_close(dadd(amount_d, total_interest), rate, self.fee_close)
                )
            return float(
                dsub(self._calc_base_close(amount_d, rate, self.fee_close), total_interest)
            )
        if trading_mode == TradingMode.FUTURES:
            # freqtrade adds the funding fees in float to the rounded close value; the golden
            # vectors depend on that rounding order (visible when the position is dust).
            funding_fees = self.funding_fees or 0.0
            base = float(self._calc_base_close(amount_d, rate, self.fee_close))
            if self.is_short:
                return base - funding_fees
            return base + funding_fees
        raise UnsupportedTradingModeError(
            f"{trading_mode} trading is not yet available using freqtrade"
        )

    def calculate_profit(
        self, rate: float | None, amount: float | None = None, open_rate: float | None = None
    ) -> ProfitStruct:
        """Profit of closing ``amount`` at ``rate`` (defaults: the open position).

        ``open_trade_value`` is used unless both ``amount`` and ``open_rate`` are given.
        """
        close_value = self.calc_close_trade_value(rate, amount)
        if amount is None or open_rate is None:
            open_value = self.open_trade_value or 0.0
        else:
            open_value = self._calc_open_trade_value(amount, open_rate)
        leverage = self.leverage or 1.0
        profit_abs = open_value - close_value if self.is_short else close_value - open_value
        try:
            if self.is_short:
                profit_ratio = (1 - (close_value / open_value)) * leverage
            else:
                profit_ratio = ((close_value / open_value) - 1) * leverage
            profit_ratio = round(profit_ratio, 8)
        except ZeroDivisionError:
            profit_ratio = 0.0
        total_profit_abs = profit_abs + (self.realized_profit or 0.0)
        if self.max_stake_amount:
            fee_open = self.fee_open or 0.0
            fee_factor = (1 - fee_open) if self.is_short else (1 + fee_open)
            max_stake = self.max_stake_amount * fee_factor
            total_profit_ratio = round(total_profit_abs / max_stake, 8)
        else:
            total_profit_ratio = 0.0
        return ProfitStruct(
            profit_abs=round(profit_abs, 8),
            profit_ratio=profit_ratio,
            total_profit=round(total_profit_abs, 8),
            total_profit_ratio=total_profit_ratio,
        )

    def calc_profit(
        self, rate: float | None, amount: float | None = None, open_rate: float | None = None
    ) -> float:
        """Absolute profit (stake currency) of closing at ``rate``."""
        return self.calculate_profit(rate, amount, open_rate).profit_abs

    def calc_profit_ratio(
        self, rate: float | None, amount: float | None = None, open_rate: float | None = None
    ) -> float:
        """Profit ratio of closing at ``rate`` (``open_trade_value`` unless a value is given)."""
        close_value = self.calc_close_trade_value(rate, amount)
        if amount is None and open_rate is None:
            open_value = self.open_trade_value or 0.0
        else:
            open_value = self._calc_open_trade_value(
                amount or self.amount, open_rate or self.open_rate
            )
        if open_value == 0.0:
            return 0.0
        leverage = self.leverage or 1.0
        if self.is_short:
            profit_ratio = (1 - (close_value / open_value)) * leverage
        else:
            profit_ratio = ((close_value / open_value) - 1) * leverage
        return round(profit_ratio, 8)

    def calc_close_rate_for_roi(self, target_roi: float) -> float:
        """Close rate at which :meth:`calc_profit_ratio` equals ``target_roi``.

        Raises:
            ZeroDivisionError: the trade has no amount.
        """
        open_value = self._calc_open_trade_value(self.amount, self.open_rate)
        beta = self.calc_close_trade_value(0.0)
        alpha = self.calc_close_trade_value(1.0) - beta
        ratio = target_roi / (self.leverage or 1.0)
        if self.is_short:
            return ((1 - ratio) * open_value - beta) / alpha
        return ((1 + ratio) * open_value - beta) / alpha

    # ---- funding ----------------------------------------------------------------------------
    def set_funding_fees(self, funding_fee: float | None) -> None:
        """Record funding accrued since the last filled order (None is ignored)."""
        if funding_fee is None:
            return
        self.funding_fee_running = funding_fee
        total = dec(funding_fee)
        for o in self.orders:
            if o.funding_fee:
                total = dadd(total, dec(o.funding_fee))
        self.funding_fees = float(total)

    # ---- order application ------------------------------------------------------------------
    def update_order(self, order: dict[str, Any]) -> None:
        """Apply a ccxt order dict to the matching order of this trade."""
        from tradeledger.domain.order import LocalOrder

        LocalOrder.update_orders(self.orders, order)

    def update_trade(self, order: LocalOrder, recalculating: bool = False) -> None:
        """Apply a filled (or cancelled, partially filled) order to the trade.

        Raises:
            InvalidOrderError: ``ft_order_side`` is not the entry side, exit side or stoploss.
        """
        if order.status == "open" or order.safe_price is None:
            return
        if order.ft_order_side != "stoploss" and order.funding_fee is None:
            order.funding_fee = (
                self.funding_fee_running if self.funding_fee_running is not None else 0.0
            )
            self.funding_fee_running = 0.0

        side = order.ft_order_side
        if side == self.entry_side:
            self.open_rate = order.safe_price
            self.amount = order.safe_amount_after_fee
            self.recalc_trade_from_orders()
        elif side == self.exit_side:
            pass
        elif side == "stoploss" and order.status not in ("open",):
            self.close_rate_requested = self.stop_loss
            self.exit_reason = ExitType.STOPLOSS_ON_EXCHANGE.value
        else:
            raise InvalidOrderError(
                f"Unknown order type: {order.order_type} (ft_order_side={side!r})",
                field="ft_order_side",
                value=side,
            )

        if side != self.entry_side:
            amount_tr = amount_to_contract_precision(
                self.amount, self.amount_precision, self.precision_mode, self.contract_size
            )
            order_amount = order.safe_amount_after_fee
            if math.isclose(order_amount, amount_tr, abs_tol=MATH_CLOSE_PREC) or (
                not recalculating and order_amount > amount_tr
            ):
                self.close(order.safe_price)
            else:
                self.recalc_trade_from_orders()
        self._commit()

    def close(self, rate: float, *, show_msg: bool = True) -> None:
        """Mark the trade closed at ``rate`` and compute its final profit."""
        self.close_rate = rate
        self.close_date = self.close_date or self._date_last_filled_utc or dt_now()
        self.is_open = False
        self.exit_order_status = "closed"
        self.recalc_trade_from_orders(is_closing=True)

    def recalc_trade_from_orders(self, *, is_closing: bool = False) -> None:
        """Recompute amount, average entry, stake, fees and realized profit from the orders.

        Entries average in (DCA); each exit is valued at the running average entry price;
        ``realized_profit`` is the sum of exit profits; orders that are open or unfilled are
        ignored, and ``ft_fee_base`` reduces a fill.
        """
        # Hot path of every backtest (three calls per trade): order properties are inlined
        # (safe_amount_after_fee, safe_price), float -> Decimal goes through the cache, the
        # SPOT exit value is computed inline, a call that would only repeat the previous
        # recalculation of this trade is skipped (see _recalc_settled), and float(Decimal)
        # (a conversion through text, about 1 µs) is skipped where its result is known
        # exactly: float(Decimal(repr(x))) == x for every float x (the first entry amount,
        # the first exit profit), an entry price of 0.1 <= p < 1e20 is its own 18-place
        # average, and a value converted before is reused while the Decimal is unchanged.
        # The lifecycle's own shapes (one entry; entry and exit of the same amount) go
        # through _recalc_simple, the same operations without the general bookkeeping.
        global _RECALC_NO_EXIT
        orders = self.orders
        if not is_closing:
            fixed = _RECALC_FIXED
            if fixed is not None and fixed[0] is self:
                key = fixed[1]
                if isinstance(key, tuple):  # a single entry
                    if len(orders) == 1 and _recalc_same1(key, self, orders, orders[0]):
                        return
                elif _same_objects(key, _recalc_key(self, orders)):
                    return
        fast = _FAST_PATHS
        if fast and 0 < len(orders) < 3 and self._recalc_simple(orders, is_closing):
            return
        is_short = self.is_short
        entry_side = "sell" if is_short else "buy"
        leverage = self.leverage or 1.0
        add, sub, mul = CTX.add, CTX.subtract, CTX.multiply
        cached = _FLOAT_CACHE.get
        fee_factor: Decimal | None = None  # 1 ± fee_open, computed at the first entry
        cur_amount = ZERO
        cur_stake = ZERO
        max_stake = ZERO
        total_stake = ZERO
        avg_price = ZERO
        avg_current = False  # avg_price == cur_stake / cur_amount (no exit since the entry)
        close_profit = 0.0
        close_profit_abs = ZERO
        last_profit_abs: float | None = None
        total_ff = ZERO
        cur_ff = ZERO
        spot_inline: bool | None = None  # exits valued inline (SPOT), decided at the first exit
        fee_close_d = ZERO
        # float values known without a conversion (None: unknown, convert when needed)
        pristine = True  # cur_amount and cur_stake are still the initial ZERO
        amount_known: float | None = None  # float(cur_amount)
        avg_known: float | None = 0.0  # float(avg_price)
        cpa_known: float | None = 0.0  # float(close_profit_abs)
        ts_known: float | None = 0.0  # float(total_stake)
        self.funding_fees = 0.0
        for o in orders:
            if o.ft_is_open:
                continue
            filled = o.filled
            if not filled:
                continue
            funding_fee = o.funding_fee
            if funding_fee:
                ff = dec(funding_fee)
                cur_ff = add(cur_ff, ff)
                total_ff = add(total_ff, ff)
            fee_base = o.ft_fee_base
            # safe_amount_after_fee; x - 0.0 is x for a float: keep that object (no new float)
            amount_f = (
                filled
                if not fee_base and type(filled) is float and fast
                else filled - (fee_base or 0.0)
            )
            price_f = o.average or o.price or o.stop_price or o.ft_price  # safe_price
            tmp_amount = (type(amount_f) is float and cached(amount_f)) or dec(amount_f)
            if o.ft_order_side != entry_side:  # exits (stoploss orders included)
                if tmp_amount > ZERO:
                    cur_amount = sub(cur_amount, tmp_amount)
                    cur_stake = sub(cur_stake, mul(avg_price, tmp_amount))
                    avg_current = False
                    pristine = False
                    amount_known = None
                self.funding_fees = float(cur_ff) if cur_ff else 0.0
                if spot_inline is None:
                    spot_inline = fast and (
                        (self.trading_mode or TradingMode.SPOT) == TradingMode.SPOT
                    )
                    if spot_inline:
                        fee_close_d = dec(self.fee_close or 0.0)
                avg_f = avg_known if avg_known is not None and fast else float(avg_price)
                if spot_inline and type(price_f) is float and amount_f:
                    # _exit_profit_abs(price_f, amount_f, avg_f) of a SPOT trade, inlined
                    close_value = mul(tmp_amount, cached(price_f) or dec(price_f))
                    fees = mul(close_value, fee_close_d)
                    close_f = float(add(close_value, fees) if is_short else sub(close_value, fees))
                    open_f = self._calc_open_trade_value(amount_f, avg_f)
                    last_profit_abs = round(open_f - close_f if is_short else close_f - open_f, 8)
                else:
                    last_profit_abs = self._exit_profit_abs(price_f, amount_f, avg_f)
                first_exit = close_profit_abs is ZERO
                close_profit_abs = add(close_profit_abs, dec(last_profit_abs))
                if first_exit and fast:
                    # ZERO + Decimal(repr(x)) is x, and +0 for either zero
                    cpa_known = last_profit_abs if last_profit_abs else 0.0
                else:
                    cpa_known = float(close_profit_abs)
                if total_stake > ZERO:
                    if ts_known is None:
                        ts_known = float(total_stake)
                    close_profit = cpa_known / ts_known * leverage
                cur_ff = ZERO
            else:
                # no price at all: dec(None) raises TypeError, as before
                price = (type(price_f) is float and cached(price_f)) or dec(price_f)  # type: ignore[arg-type]
                value = mul(tmp_amount, price)
                if tmp_amount > ZERO:
                    first = pristine and fast
                    cur_amount = add(cur_amount, tmp_amount)
                    cur_stake = add(cur_stake, value)
                    pristine = False
                    # ZERO + Decimal(repr(a)) is a (a > 0 here); else unknown
                    amount_known = amount_f if first and type(amount_f) is float else None
                    if cur_amount > ZERO:
                        avg_price = _CTX_DOWN.divide(cur_stake, cur_amount).quantize(
                            _Q18, rounding=_TRUNCATE, context=_CTX_DOWN
                        )  # div18, inlined
                        avg_current = True
                        # (a·p)/a is exactly p; p >= 0.1 has at most 17 decimals, so the
                        # 18-place truncation keeps it: the average is the price itself
                        avg_known = (
                            price_f
                            if first and type(price_f) is float and 0.1 <= price_f < 1e20
                            else None
                        )
                if fee_factor is None:
                    fee = _num("fee_open", self.fee_open)
                    fee_factor = sub(ONE, fee) if is_short else add(ONE, fee)
                total_stake = add(total_stake, mul(value, fee_factor))
                ts_known = None
                max_stake = add(max_stake, value)

        self.funding_fees = float(total_ff) if total_ff else 0.0
        max_stake_f = float(max_stake)
        if type(leverage) is not float or leverage != 1.0:  # x / 1.0 is x: skip the new float
            max_stake_f = max_stake_f / leverage
        previous = self.max_stake_amount
        if max_stake_f == previous and max_stake_f and type(previous) is float:
            max_stake_f = previous  # the same value (same bits when non-zero): keep the object
        self.max_stake_amount = max_stake_f
        if cpa_known is None or not fast:
            cpa_known = float(close_profit_abs)
        realized: float | None = None
        if close_profit and last_profit_abs is not None:
            realized = cpa_known
            if realized == last_profit_abs and realized:
                realized = last_profit_abs  # one exit: the same value, keep one float object
            self.close_profit = close_profit
            self.realized_profit = realized
            self.close_profit_abs = last_profit_abs

        if not cur_amount and fast:
            amount_f = 0.0  # a zero sum of positive amounts is +0
        elif amount_known is not None and fast:
            amount_f = amount_known
        else:
            amount_f = float(cur_amount)
        amount_tr = (
            amount_f
            if self.amount_precision is None or self.precision_mode is None
            else amount_to_contract_precision(
                amount_f, self.amount_precision, self.precision_mode, self.contract_size
            )
        )
        if amount_tr > 0.0:
            if avg_current:
                average_f = avg_known if avg_known is not None and fast else float(avg_price)
            else:
                average_f = float(div18(cur_stake, cur_amount))
            self.open_rate = price_to_precision(
                average_f, self.price_precision, self.precision_mode_price
            )
            self.amount = amount_tr
            if fast and cur_stake == max_stake:
                stake_f = max_stake_f  # the same value (and the same division)
            else:
                stake_f = float(cur_stake)
                if type(leverage) is not float or leverage != 1.0:
                    stake_f = stake_f / leverage
                if stake_f == max_stake_f and stake_f:
                    stake_f = max_stake_f  # the same value: keep one float object
            self.stake_amount = stake_f
            self.fee_open_cost = (self.fee_open or 0.0) * max_stake_f
            self.recalc_open_trade_value()
            if self.stop_loss_pct is not None and self.open_rate is not None:
                self.adjust_stop_loss(self.open_rate, self.stop_loss_pct)
        elif is_closing and total_stake > ZERO:
            if ts_known is None or not fast:
                ts_known = float(total_stake)
            ratio = cpa_known / ts_known * leverage
            # the same values as set above share one float object (kept per closed trade)
            self.close_profit = close_profit if ratio == close_profit else ratio
            self.close_profit_abs = realized if realized is not None else cpa_known
        _RECALC_NO_EXIT = (
            self
            if last_profit_abs is None and not is_closing and type(self) is _PlainLocalTrade
            else None
        )

    def _recalc_simple(self, orders: list[Any], is_closing: bool) -> bool:
        """:meth:`recalc_trade_from_orders` for the backtest lifecycle's two shapes, or False.

        The shapes: one filled entry; one filled entry and one filled exit of the same amount
        (the position is flat). Float amounts and prices, the entry price in [0.1, 1e20) (so
        it is its own 18-place average), no fee in base currency, no funding fee, a float
        ``fee_open``; the exit on a SPOT trade with a float ``fee_close`` (or None). Every
        value is computed by the same operations in the same order as the general code, and
        the fields are written in the same order (so an exception leaves the same state); what
        is skipped is bookkeeping whose result these shapes do not use (the running average,
        the remaining stake). Returns False, having changed nothing, for any other shape.
        """
        global _RECALC_NO_EXIT
        entry = orders[0]
        is_short = self.is_short
        filled = entry.filled
        price_f = entry.average or entry.price or entry.stop_price or entry.ft_price
        fee_open = self.fee_open
        if (
            entry.ft_is_open
            or type(filled) is not float
            or not filled > 0.0
            or entry.funding_fee
            or entry.ft_fee_base
            or entry.ft_order_side != ("sell" if is_short else "buy")
            or type(price_f) is not float
            or not 0.1 <= price_f < 1e20
            or type(fee_open) is not float
        ):
            return False
        exit_order = None
        if len(orders) == 2:
            exit_order = orders[1]
            fee_close = self.fee_close
            exit_price = (
                exit_order.average
                or exit_order.price
                or exit_order.stop_price
                or exit_order.ft_price
            )
            if (
                exit_order.ft_is_open
                or exit_order.filled != filled  # the same amount: the position is flat
                or type(exit_order.filled) is not float
                or exit_order.funding_fee
                or exit_order.ft_fee_base
                or exit_order.ft_order_side == entry.ft_order_side
                or type(exit_price) is not float
                or not (fee_close is None or type(fee_close) is float)
                or (self.trading_mode or TradingMode.SPOT) != TradingMode.SPOT
            ):
                return False
            amount_f = 0.0  # a zero sum of positive amounts is +0
        else:
            amount_f = filled
        try:
            amount_tr = (
                amount_f
                if self.amount_precision is None or self.precision_mode is None
                else amount_to_contract_precision(
                    amount_f, self.amount_precision, self.precision_mode, self.contract_size
                )
            )
        except Exception:  # noqa: BLE001 - the general code raises it, after its first writes
            return False
        if (amount_tr > 0.0) is (exit_order is not None):
            return False  # a flat position with an amount, or an entry without one

        cached = _FLOAT_CACHE.get
        mul = CTX.multiply
        leverage = self.leverage or 1.0
        self.funding_fees = 0.0
        tmp_amount = cached(filled) or dec(filled)
        value = mul(tmp_amount, cached(price_f) or dec(price_f))
        close_profit = 0.0
        last_profit_abs: float | None = None
        ts_known = 0.0
        if exit_order is not None:
            fee = _num("fee_open", fee_open)
            fee_factor = CTX.subtract(ONE, fee) if is_short else CTX.add(ONE, fee)
            total_stake = mul(value, fee_factor)
            fee_close_d = dec(self.fee_close or 0.0)
            close_value = mul(tmp_amount, cached(exit_price) or dec(exit_price))
            fees = mul(close_value, fee_close_d)
            close_f = float(
                CTX.add(close_value, fees) if is_short else CTX.subtract(close_value, fees)
            )
            open_f = self._calc_open_trade_value(filled, price_f)
            last_profit_abs = round(open_f - close_f if is_short else close_f - open_f, 8)
            cpa_known = last_profit_abs if last_profit_abs else 0.0
            if total_stake > ZERO:
                ts_known = float(total_stake)
                close_profit = cpa_known / ts_known * leverage
        max_stake_f = float(value)
        if type(leverage) is not float or leverage != 1.0:
            max_stake_f = max_stake_f / leverage
        previous = self.max_stake_amount
        if max_stake_f == previous and max_stake_f and type(previous) is float:
            max_stake_f = previous
        self.max_stake_amount = max_stake_f
        if exit_order is None:
            self.open_rate = price_to_precision(
                price_f, self.price_precision, self.precision_mode_price
            )
            self.amount = amount_tr
            self.stake_amount = max_stake_f
            self.fee_open_cost = (fee_open or 0.0) * max_stake_f
            self.recalc_open_trade_value()
            if self.stop_loss_pct is not None and self.open_rate is not None:
                self.adjust_stop_loss(self.open_rate, self.stop_loss_pct)
            # armed for the skip of a repeated call (_recalc_settled) as the general code
            # is: the one-entry key (_recalc_key1) is built and compared in about 0.8 µs,
            # against about 1.9 µs for this recalculation
            _RECALC_NO_EXIT = (
                self if not is_closing and type(self) is _PlainLocalTrade else None
            )
            return True
        realized: float | None = None
        if close_profit:
            realized = cpa_known
            if realized == last_profit_abs and realized:
                realized = last_profit_abs
            self.close_profit = close_profit
            self.realized_profit = realized
            self.close_profit_abs = last_profit_abs
        if is_closing and ts_known:
            ratio = cpa_known / ts_known * leverage
            self.close_profit = close_profit if ratio == close_profit else ratio
            self.close_profit_abs = realized if realized is not None else cpa_known
        _RECALC_NO_EXIT = None
        return True

    def _recalc_settled(self) -> None:
        """Note that the last recalculation of this trade (no exit filled) was settled.

        Called by ``close_bt_order`` after its final ``adjust_stop_loss``. The state is then
        a fixed point of :meth:`recalc_trade_from_orders`: with entries only, every value it
        writes depends on the orders and on fields it does not write (side, leverage, fees,
        precision), and a second ``adjust_stop_loss`` at the same rate and percentage moves
        nothing. So a following recalculation that finds every input and output still the
        very same objects (``_recalc_key``; ``_recalc_key1`` for a single order, read field
        by field) returns at once. Backtesting trades only (``LocalTrade(...)``); one trade is
        remembered (module state, no per-trade memory).
        """
        global _RECALC_FIXED
        if _RECALC_NO_EXIT is self and _FAST_PATHS:  # only ever a _PlainLocalTrade
            orders = self.orders
            _RECALC_FIXED = (
                self,
                _recalc_key1(self, orders, orders[0])
                if len(orders) == 1
                else _recalc_key(self, orders),
            )
        else:
            _RECALC_FIXED = None

    def _exit_profit_abs(self, rate: float | None, amount: float, open_rate: float) -> float:
        """``calculate_profit(rate, amount, open_rate).profit_abs`` without the ratios."""
        close_value = self.calc_close_trade_value(rate, amount)
        open_value = self._calc_open_trade_value(amount, open_rate)
        profit_abs = open_value - close_value if self.is_short else close_value - open_value
        return round(profit_abs, 8)

    # ---- stop loss, liquidation, min/max ----------------------------------------------------
    def _set_stop_loss(self, stop_loss: float, percent: float) -> None:
        if not self.stop_loss:
            self.initial_stop_loss = stop_loss
        self.stop_loss = stop_loss
        # -1 * abs(percent) is percent itself when negative: keep that object (no new float)
        self.stop_loss_pct = percent if percent < 0 else -1 * abs(percent)

    def adjust_stop_loss(
        self,
        current_price: float,
        stoploss: float | None,
        initial: bool = False,
        allow_refresh: bool = False,
    ) -> None:
        """Place or trail the stop loss ``|stoploss|/leverage`` away from ``current_price``.

        With ``initial`` only a trade without a stop gets one. Later calls only move the stop
        towards the price (flagging the trade as trailing) unless ``allow_refresh``.

        Raises:
            TypeError: ``current_price`` is None.
        """
        if stoploss is None or (initial and not (self.stop_loss is None or self.stop_loss == 0)):
            return
        if current_price is None:
            raise TypeError("adjust_stop_loss: current_price must be a number, got None")
        leverage = self.leverage or 1.0
        is_short = bool(self.is_short)
        # the same stop float for the same inputs (a backtest keeps one per trade)
        memo_key = (
            (current_price, stoploss, leverage, is_short)
            if type(current_price) is float
            and current_price  # +0.0 and -0.0 are one dict key but give different stops
            and type(stoploss) is float
            and type(leverage) is float
            and _FAST_PATHS
            else None
        )
        new_loss = _STOP_MEMO.get(memo_key) if memo_key is not None else None
        if new_loss is None:
            if is_short:
                new_loss = float(current_price * (1 + abs(stoploss / leverage)))
            else:
                new_loss = float(current_price * (1 - abs(stoploss / leverage)))
            if memo_key is not None:
                if len(_STOP_MEMO) >= _OPEN_VALUE_MEMO_MAX:
                    _STOP_MEMO.clear()
                _STOP_MEMO[memo_key] = new_loss
        rounding = ROUND_DOWN if is_short else ROUND_UP
        stop_loss_norm = price_to_precision(
            new_loss, self.price_precision, self.precision_mode_price, rounding_mode=rounding
        )
        if self.initial_stop_loss_pct is None:
            self._set_stop_loss(stop_loss_norm, stoploss)
            self.initial_stop_loss = price_to_precision(
                stop_loss_norm,
                self.price_precision,
                self.precision_mode_price,
                rounding_mode=rounding,
            )
            self.initial_stop_loss_pct = stoploss if stoploss < 0 else -1 * abs(stoploss)
            return
        current = self.stop_loss or 0.0
        higher_stop = stop_loss_norm > current
        lower_stop = stop_loss_norm < current
        if allow_refresh or (higher_stop and not self.is_short) or (lower_stop and self.is_short):
            if not allow_refresh:
                self.is_stop_loss_trailing = True
            self._set_stop_loss(stop_loss_norm, stoploss)

    def set_liquidation_price(self, liquidation_price: float | None) -> None:
        """Store the liquidation price rounded to the price precision (None is ignored)."""
        if liquidation_price is None:
            return
        self.liquidation_price = price_to_precision(
            liquidation_price, self.price_precision, self.precision_mode_price
        )

    def adjust_min_max_rates(self, current_price: float, current_price_low: float) -> None:
        """Track the highest and lowest rate seen while the trade is open.

        Raises:
            TypeError: a price is None.
        """
        if current_price is None or current_price_low is None:
            raise TypeError(
                "adjust_min_max_rates: current_price and current_price_low must be numbers, "
                f"got {current_price!r} and {current_price_low!r}"
            )
        self.max_rate = max(current_price, self.max_rate or self.open_rate)
        self.min_rate = min(current_price_low, self.min_rate or self.open_rate)

    # ---- serialisation ------------------------------------------------------------------------
    def to_json(self, minified: bool = False) -> dict[str, Any]:
        """The trade as a JSON-ready dict (freqtrade's key set and rounding)."""
        filled_or_open = self.select_filled_or_open_orders()
        orders_json = [o.to_json(self.entry_side, minified) for o in filled_or_open]
        open_date_utc = self.open_date_utc
        close_date_utc = self.close_date_utc
        entry_fill = self.date_entry_fill_utc
        sl_update = self.stoploss_last_update_utc
        duration_s: int | None = None
        duration_min: int | None = None
        if close_date_utc is not None:
            seconds = (close_date_utc - open_date_utc).total_seconds()
            duration_s = int(seconds)
            duration_min = int(seconds // 60)
        close_profit_pct = round(self.close_profit * 100, 2) if self.close_profit else None
        return {
            "trade_id": self.id,
            "pair": self.pair,
            "base_currency": self.safe_base_currency,
            "quote_currency": self.safe_quote_currency,
            "is_open": self.is_open,
            "exchange": self.exchange,
            "amount": round(self.amount, 8),
            "amount_requested": (
                round(self.amount_requested, 8) if self.amount_requested is not None else None
            ),
            "stake_amount": round(self.stake_amount, 8),
            "max_stake_amount": (
                round(self.max_stake_amount, 8) if self.max_stake_amount else None
            ),
            "strategy": self.strategy,
            "enter_tag": self.enter_tag,
            "timeframe": self.timeframe,
            "fee_open": self.fee_open,
            "fee_open_cost": self.fee_open_cost,
            "fee_open_currency": self.fee_open_currency,
            "fee_close": self.fee_close,
            "fee_close_cost": self.fee_close_cost,
            "fee_close_currency": self.fee_close_currency,
            "open_date": _fmt_dt(open_date_utc),
            "open_timestamp": dt_ts_none(open_date_utc),
            "open_fill_date": _fmt_dt(entry_fill),
            "open_fill_timestamp": dt_ts_none(entry_fill),
            "open_rate": self.open_rate,
            "open_rate_requested": self.open_rate_requested,
            "open_trade_value": (
                round(self.open_trade_value, 8) if self.open_trade_value is not None else None
            ),
            "close_date": _fmt_dt(close_date_utc),
            "close_timestamp": dt_ts_none(close_date_utc),
            "realized_profit": self.realized_profit or 0.0,
            "realized_profit_ratio": self.close_profit or None,
            "close_rate": self.close_rate,
            "close_rate_requested": self.close_rate_requested,
            "close_profit": self.close_profit,
            "close_profit_pct": close_profit_pct,
            "close_profit_abs": self.close_profit_abs,
            "trade_duration_s": duration_s,
            "trade_duration": duration_min,
            "profit_ratio": self.close_profit,
            "profit_pct": close_profit_pct,
            "profit_abs": self.close_profit_abs,
            "exit_reason": self.exit_reason,
            "exit_order_status": self.exit_order_status,
            "stop_loss_abs": self.stop_loss,
            "stop_loss_ratio": self.stop_loss_pct if self.stop_loss_pct else None,
            "stop_loss_pct": (self.stop_loss_pct * 100) if self.stop_loss_pct else None,
            "stoploss_last_update": _fmt_dt(sl_update),
            "stoploss_last_update_timestamp": dt_ts_none(sl_update),
            "initial_stop_loss_abs": self.initial_stop_loss,
            "initial_stop_loss_ratio": (
                self.initial_stop_loss_pct if self.initial_stop_loss_pct else None
            ),
            "initial_stop_loss_pct": (
                self.initial_stop_loss_pct * 100 if self.initial_stop_loss_pct else None
            ),
            "min_rate": self.min_rate,
            "max_rate": self.max_rate,
            "leverage": self.leverage,
            "interest_rate": self.interest_rate,
            "liquidation_price": self.liquidation_price,
            "is_short": self.is_short,
            "trading_mode": self.trading_mode,
            "funding_fees": self.funding_fees,
            "amount_precision": self.amount_precision,
            "price_precision": self.price_precision,
            "precision_mode": self.precision_mode,
            "precision_mode_price": self.precision_mode_price,
            "contract_size": self.contract_size,
            "nr_of_successful_entries": self.nr_of_successful_entries,
            "nr_of_successful_exits": self.nr_of_successful_exits,
            "has_open_orders": self.has_open_orders,
            "orders": orders_json,
        }

    @classmethod
    def _order_class(cls) -> type[LocalOrder]:
        """The order class ``from_json`` builds (``Order`` for the ORM ``Trade``)."""
        from tradeledger.domain.order import LocalOrder

        return LocalOrder

    @classmethod
    def from_json(cls, json_str: str) -> LocalTrade:
        """Build a trade (with its orders) from :meth:`to_json` output."""
        data = json.loads(json_str)
        open_ts = data.get("open_timestamp")
        close_ts = data.get("close_timestamp")
        trade = cls(
            **{_FROM_JSON_KW: True},
            id=data.get("trade_id"),
            pair=data["pair"],
            base_currency=data.get("base_currency"),
            stake_currency=data.get("quote_currency"),
            is_open=data.get("is_open", True),
            exchange=data.get("exchange", "import"),
            amount=data["amount"],
            amount_requested=data.get("amount_requested", data["amount"]),
            stake_amount=data["stake_amount"],
            max_stake_amount=data.get("max_stake_amount"),
            strategy=data.get("strategy"),
            enter_tag=data.get("enter_tag"),
            timeframe=data.get("timeframe"),
            fee_open=data.get("fee_open", 0.0),
            fee_open_cost=data.get("fee_open_cost"),
            fee_open_currency=data.get("fee_open_currency"),
            fee_close=data.get("fee_close", 0.0),
            fee_close_cost=data.get("fee_close_cost"),
            fee_close_currency=data.get("fee_close_currency"),
            open_date=datetime.fromtimestamp(open_ts // 1000, tz=UTC) if open_ts else dt_now(),
            open_rate=data["open_rate"],
            open_rate_requested=data.get("open_rate_requested", data["open_rate"]),
            open_trade_value=data.get("open_trade_value"),
            close_date=(datetime.fromtimestamp(close_ts // 1000, tz=UTC) if close_ts else None),
            realized_profit=data.get("realized_profit", 0.0),
            close_rate=data.get("close_rate"),
            close_rate_requested=data.get("close_rate_requested"),
            close_profit=data.get("close_profit", data.get("profit_ratio")),
            close_profit_abs=data.get("close_profit_abs", data.get("profit_abs")),
            exit_reason=data.get("exit_reason"),
            exit_order_status=data.get("exit_order_status"),
            stop_loss=data.get("stop_loss_abs"),
            stop_loss_pct=data.get("stop_loss_ratio"),
            initial_stop_loss=data.get("initial_stop_loss_abs"),
            initial_stop_loss_pct=data.get("initial_stop_loss_ratio"),
            min_rate=data.get("min_rate"),
            max_rate=data.get("max_rate"),
            leverage=data.get("leverage", 1.0),
            interest_rate=data.get("interest_rate", 0.0),
            liquidation_price=data.get("liquidation_price"),
            is_short=data.get("is_short", False),
            trading_mode=data.get("trading_mode") or TradingMode.SPOT,
            funding_fees=data.get("funding_fees"),
            amount_precision=data.get("amount_precision"),
            price_precision=data.get("price_precision"),
            precision_mode=data.get("precision_mode"),
            precision_mode_price=data.get("precision_mode_price", data.get("precision_mode")),
            contract_size=data.get("contract_size"),
        )
        if trade.precision_mode_price is None:
            trade.precision_mode_price = trade.precision_mode
        order_cls = cls._order_class()
        for order in data.get("orders") or []:
            amount = order.get("amount")
            price = order.get("price", order.get("safe_price"))
            order_date = order.get("order_date")
            filled_ts = order.get("order_filled_timestamp")
            new_order = order_cls(
                amount=amount,
                ft_amount=amount,
                ft_order_side=order["ft_order_side"],
                ft_pair=order.get("pair", trade.pair),
                ft_is_open=order.get("is_open", False),
                order_id=order.get("order_id") or uuid.uuid4().hex,
                status=order.get("status"),
                average=order.get("average", order.get("safe_price")),
                cost=order.get("cost"),
                filled=order.get("filled", amount),
                remaining=order.get("remaining", 0.0),
                order_date=(
                    datetime.strptime(order_date, DATETIME_PRINT_FORMAT).replace(tzinfo=UTC)
                    if order_date
                    else None
                ),
                order_filled_date=(
                    datetime.fromtimestamp(filled_ts // 1000, tz=UTC) if filled_ts else None
                ),
                order_type=order.get("order_type"),
                price=price,
                ft_price=price,
                funding_fee=order.get("funding_fee"),
                ft_order_tag=order.get("ft_order_tag"),
                ft_fee_base=order.get("ft_fee_base"),
            )
            trade.orders.append(new_order)
        return trade

    # ---- custom data ------------------------------------------------------------------------
    def set_custom_data(self, key: str, value: Any) -> None:
        """Store a custom value for this trade."""
        from tradeledger.domain.custom_data import CustomDataWrapper

        CustomDataWrapper.set_custom_data(trade_id=self.id, key=key, value=value)

    def get_custom_data(self, key: str, default: Any = None) -> Any:
        """The decoded custom value stored under ``key``, else ``default``."""
        entry = self.get_custom_data_entry(key)
        return entry.value if entry is not None else default

    def get_custom_data_entry(self, key: str) -> Any:
        """The custom-data entry stored under ``key``, or None."""
        from tradeledger.domain.custom_data import CustomDataWrapper

        entries = CustomDataWrapper.get_custom_data(trade_id=self.id, key=key)
        return entries[0] if entries else None

    def get_all_custom_data(self) -> list[Any]:
        """Every custom-data entry of this trade."""
        from tradeledger.domain.custom_data import CustomDataWrapper

        return CustomDataWrapper.get_custom_data(trade_id=self.id)

    def delete_custom_data(self, key: str | None = None) -> None:
        """Delete one custom value (or all of them when ``key`` is None)."""
        from tradeledger.domain.custom_data import CustomDataWrapper

        CustomDataWrapper.delete_custom_data(trade_id=self.id, key=key)

    # ---- backtesting stores -----------------------------------------------------------------
    @staticmethod
    def reset_trades() -> None:
        """Forget every backtesting trade and reset the counters."""
        global _FOLD_NEXT
        _FOLD_NEXT = None
        LocalTrade.bt_trades = TradeStore()
        LocalTrade.bt_trades_open = TradeStore()
        LocalTrade.bt_trades_open_pp = defaultdict(TradeStore)
        _bt_adopt()
        _BT.reset()
        LocalTrade._bt_closed_pp = defaultdict(list)
        LocalTrade._bt_closed_by_date = _ClosedDateIndex()
        LocalTrade._bt_closed_by_date_pp = defaultdict(_ClosedDateIndex)

    @staticmethod
    def _bt_add_closed(trade: LocalTrade) -> Decimal | None:
        """File a closed trade in the closed stores; returns its exact ``close_profit_abs``."""
        pair = trade.pair
        store = LocalTrade.bt_trades
        if type(store) is TradeStore:
            store._items[trade] = None  # append, inlined
        else:
            store.append(trade)
        LocalTrade._bt_closed_pp[pair].append(trade)
        close_date = trade.close_date
        if close_date is not None:
            when = close_date if close_date.tzinfo is UTC else to_aware_utc(close_date)
            LocalTrade._bt_closed_by_date.add_at(trade, when)
            LocalTrade._bt_closed_by_date_pp[pair].add_at(trade, when)
        profit = trade.close_profit_abs
        if not profit:
            return None
        profit_d = (type(profit) is float and _FLOAT_CACHE.get(profit)) or dec(profit)
        _BT.closed_profit_dec = CTX.add(_BT.closed_profit_dec, profit_d)
        return profit_d

    @staticmethod
    def _bt_remove_open(trade: LocalTrade) -> None:
        store = LocalTrade.bt_trades_open
        if type(store) is TradeStore and trade in store._items:
            del store._items[trade]  # remove, inlined
        else:
            store.remove(trade)
        LocalTrade.bt_trades_open_pp[trade.pair]._items.pop(trade, None)  # discard, inlined
        _bt_adopt()
        _BT.open_count -= 1

    @staticmethod
    def close_bt_trade(trade: LocalTrade) -> None:
        """Move an open backtesting trade to the closed store and add its profit.

        The trade closed before this one has its orders folded (``_fold_orders``).
        """
        global _FOLD_NEXT
        LocalTrade._bt_remove_open(trade)
        profit_d = LocalTrade._bt_add_closed(trade)
        if profit_d is not None:
            _BT.total_profit_dec = CTX.add(_BT.total_profit_dec, profit_d)
            _BT.total_profit = None  # rounded when read
        previous = _FOLD_NEXT
        if type(trade) is _PlainLocalTrade and _FOLD:
            _FOLD_NEXT = trade
            if previous is not None and previous is not trade:
                _fold_orders(previous)
        else:
            _FOLD_NEXT = None

    @staticmethod
    def add_bt_trade(trade: LocalTrade) -> None:
        """Register a backtesting trade (open or closed)."""
        if trade.is_open:
            store = LocalTrade.bt_trades_open
            if type(store) is TradeStore:
                store._items[trade] = None  # append, inlined
            else:
                store.append(trade)
            store = LocalTrade.bt_trades_open_pp[trade.pair]
            if type(store) is TradeStore:
                store._items[trade] = None
            else:
                store.append(trade)
            _bt_adopt()
            _BT.open_count += 1
        else:
            LocalTrade._bt_add_closed(trade)

    @staticmethod
    def remove_bt_trade(trade: LocalTrade) -> None:
        """Forget an open backtesting trade (e.g. its entry never filled)."""
        LocalTrade._bt_remove_open(trade)

    @staticmethod
    def get_trades_proxy(
        *,
        pair: str | None = None,
        is_open: bool | None = None,
        open_date: datetime | None = None,
        close_date: datetime | None = None,
    ) -> list[LocalTrade]:
        """Backtesting trades matching the filters (``open_date``/``close_date``: strictly after).

        The order is freqtrade's: closed trades (in closing order) before open trades.
        """
        selected: list[LocalTrade] = []
        if is_open is not True:
            if close_date is not None:
                index = (
                    LocalTrade._bt_closed_by_date_pp.get(pair)
                    if pair is not None
                    else LocalTrade._bt_closed_by_date
                )
                # in closing order (O(k log k) only after out-of-order close dates)
                closed = index.after(close_date) if index is not None else []
            elif pair is not None:
                filed = LocalTrade._bt_closed_pp.get(pair)
                closed = list(dict.fromkeys(filed)) if filed else []
            else:
                closed = list(LocalTrade.bt_trades)
            selected.extend(closed)
        if is_open is not False:
            if pair is not None:
                store = LocalTrade.bt_trades_open_pp.get(pair)
                selected.extend(store if store is not None else ())
            else:
                selected.extend(LocalTrade.bt_trades_open)
        if pair is not None:
            selected = [t for t in selected if t.pair == pair]
        if open_date is not None:
            since = to_aware_utc(open_date)
            selected = [t for t in selected if to_aware_utc(t.open_date) > since]
        if close_date is not None:
            until = to_aware_utc(close_date)
            selected = [
                t
                for t in selected
                if t.close_date is not None and to_aware_utc(t.close_date) > until
            ]
        return selected

    @classmethod
    def get_open_trades(cls) -> list[Any]:
        """Open trades (dispatches to the ORM when database use is on)."""
        return cls.get_trades_proxy(is_open=True)

    @staticmethod
    def get_open_trade_count() -> int:
        """Number of open backtesting trades."""
        _bt_adopt()
        return _BT.open_count

    @staticmethod
    def total_open_trades_stakes() -> float:
        """Sum of ``stake_amount`` of the open backtesting trades."""
        total = ZERO
        for trade in LocalTrade.bt_trades_open:
            if trade.stake_amount:
                total = dadd(total, dec(trade.stake_amount))
        return float(total)

    @staticmethod
    def get_total_closed_profit() -> float:
        """Sum of ``close_profit_abs`` of the closed backtesting trades."""
        return float(_BT.closed_profit_dec)

    @classmethod
    def stoploss_reinitialization(cls, desired_stoploss: float) -> None:
        """Re-anchor the stop of every open, non-trailing trade at ``desired_stoploss``."""
        for trade in cls.get_open_trades():
            if not trade.is_stop_loss_trailing and trade.initial_stop_loss_pct != desired_stoploss:
                trade.stop_loss = 0.0
                trade.initial_stop_loss_pct = None
                trade.adjust_stop_loss(trade.open_rate, desired_stoploss)


#: ``LocalTrade.__dict__`` (a live view of the class namespace), for ``_bt_adopt``.
_LOCAL_TRADE_ATTRS = LocalTrade.__dict__
_UNSET: Any = object()
#: Storage names of the fields (``exit_reason``/``enter_tag`` are properties over these).
_SLOTS: tuple[str, ...] = tuple(
    {"exit_reason": "_exit_reason", "enter_tag": "_enter_tag"}.get(name, name)
    for name in (*TRADE_FIELDS, "orders")
)


class _PlainLocalTrade(LocalTrade):
    """What ``LocalTrade(...)`` builds: the same class behaviour, fields kept in slots.

    Only :meth:`LocalTrade.__new__` creates it. ``__init__`` sets every slot (``open_date``
    only when given: it has no default, as in freqtrade). The class defines no
    ``__getattr__``: that hook would disable CPython's specialised attribute access for every
    field read of the accounting code (about 2.5x slower loads). Consequence: a field removed
    with ``del`` raises ``AttributeError`` until it is set again, where a dict-based instance
    would read the class default. Other attributes still go to the inherited ``__dict__``.
    """

    __slots__ = _SLOTS

    # One parameter per column, explicit stores for speed. Not keyword-only: CPython fills a
    # missing keyword-only parameter by a dict lookup, a positional one from a tuple (about
    # 0.4 µs per trade); ``LocalTrade.__new__`` refuses positional arguments.
    def __init__(
        self,
        id: int = 0,
        exchange: str = "",
        pair: str = "",
        base_currency: str | None = "",
        stake_currency: str | None = "",
        is_open: bool = True,
        fee_open: float = 0.0,
        fee_open_cost: float | None = None,
        fee_open_currency: str | None = "",
        fee_close: float | None = 0.0,
        fee_close_cost: float | None = None,
        fee_close_currency: str | None = "",
        open_rate: float = 0.0,
        open_rate_requested: float | None = None,
        open_trade_value: float | None = 0.0,
        close_rate: float | None = None,
        close_rate_requested: float | None = None,
        realized_profit: float | None = 0,
        close_profit: float | None = None,
        close_profit_abs: float | None = None,
        stake_amount: float = 0.0,
        max_stake_amount: float | None = 0.0,
        amount: float = 0.0,
        amount_requested: float | None = None,
        open_date: datetime = _UNSET,
        close_date: datetime | None = None,
        stop_loss: float | None = 0.0,
        stop_loss_pct: float | None = 0.0,
        initial_stop_loss: float | None = 0.0,
        initial_stop_loss_pct: float | None = None,
        is_stop_loss_trailing: bool = False,
        max_rate: float | None = None,
        min_rate: float | None = None,
        exit_reason: str | None = "",
        exit_order_status: str | None = "",
        strategy: str | None = "",
        enter_tag: str | None = None,
        timeframe: int | None = None,
        trading_mode: TradingMode | str | None = TradingMode.SPOT,
        amount_precision: float | None = None,
        price_precision: float | None = None,
        precision_mode: int | None = None,
        precision_mode_price: int | None = None,
        contract_size: float | None = None,
        leverage: float | None = 1.0,
        is_short: bool = False,
        liquidation_price: float | None = None,
        interest_rate: float = 0.0,
        funding_fees: float | None = None,
        funding_fee_running: float | None = None,
        record_version: int = 2,
        orders: Iterable[LocalOrder] | None = None,
        **extra: Any,
    ) -> None:
        # Same contract as LocalTrade.__init__ (kept in step with it), without a setattr loop.
        if extra:
            extra.pop(_FROM_JSON_KW, None)
            for key in extra:
                raise TypeError(f"{key!r} is an invalid keyword argument for LocalTrade")
        self.id = id
        self.exchange = exchange
        self.pair = pair
        self.base_currency = base_currency
        self.stake_currency = stake_currency
        self.is_open = is_open
        self.fee_open = fee_open
        self.fee_open_cost = fee_open_cost
        self.fee_open_currency = fee_open_currency
        self.fee_close = fee_close
        self.fee_close_cost = fee_close_cost
        self.fee_close_currency = fee_close_currency
        self.open_rate = open_rate
        self.open_rate_requested = open_rate_requested
        self.open_trade_value = open_trade_value
        self.close_rate = close_rate
        self.close_rate_requested = close_rate_requested
        self.realized_profit = realized_profit
        self.close_profit = close_profit
        self.close_profit_abs = close_profit_abs
        self.stake_amount = stake_amount
        self.max_stake_amount = max_stake_amount
        self.amount = amount
        self.amount_requested = amount_requested
        if open_date is not _UNSET:
            self.open_date = (
                open_date
                if type(open_date) is datetime and open_date.tzinfo is UTC
                else _utc_or_keep(open_date)
            )
        self.close_date = None if close_date is None else _utc_or_keep(close_date)
        self.stop_loss = stop_loss
        self.stop_loss_pct = stop_loss_pct
        self.initial_stop_loss = initial_stop_loss
        self.initial_stop_loss_pct = initial_stop_loss_pct
        self.is_stop_loss_trailing = is_stop_loss_trailing
        self.max_rate = max_rate
        self.min_rate = min_rate
        self._exit_reason = (
            exit_reason
            if exit_reason is None
            or (type(exit_reason) is str and len(exit_reason) <= CUSTOM_TAG_MAX_LENGTH)
            else _cut(exit_reason)
        )
        self.exit_order_status = exit_order_status
        self.strategy = strategy
        self._enter_tag = (
            enter_tag
            if enter_tag is None
            or (type(enter_tag) is str and len(enter_tag) <= CUSTOM_TAG_MAX_LENGTH)
            else _cut(enter_tag)
        )
        self.timeframe = timeframe
        self.trading_mode = (
            TradingMode(trading_mode)
            if type(trading_mode) is not TradingMode and isinstance(trading_mode, str)
            else trading_mode
        )
        self.amount_precision = amount_precision
        self.price_precision = price_precision
        self.precision_mode = precision_mode
        self.precision_mode_price = precision_mode_price
        self.contract_size = contract_size
        self.leverage = leverage
        self.is_short = is_short
        self.liquidation_price = liquidation_price
        self.interest_rate = interest_rate
        self.funding_fees = funding_fees
        self.funding_fee_running = funding_fee_running
        self.record_version = record_version
        own_orders: list[LocalOrder] = []
        self.orders = own_orders
        if orders:
            for order in orders:
                order._trade_bt = self
                own_orders.append(order)
        if (
            amount == 0
            and type(amount) is int
            and type(open_rate) is float
            and type(fee_open) is float
            and 0 < open_rate < _INF
            and 0 <= fee_open < _INF
        ):
            # what recalc_open_trade_value() gives a new backtest trade (amount=0): exact +0.0
            self.open_trade_value = 0.0
        else:
            self.recalc_open_trade_value()
        if self.trading_mode == _MARGIN and self.interest_rate is None:
            raise MarginConfigError("margin trading requires param interest_rate on trades")



# ---- folded orders of closed backtest trades -------------------------------------------------
# A backtest keeps every closed trade, and with it two ``LocalOrder`` objects and their list
# (about 660 bytes, and three of the four objects per trade the garbage collector traverses
# again and again). When a backtest trade closes, the trade closed before it is folded: if
# nothing but the trade holds its orders and their list, the orders become one tuple of their
# field values (about 220 bytes, an atomic tuple the collector stops tracking), and the trade
# becomes a ``_FoldedLocalTrade``, which builds the orders again, once, the first time
# ``orders`` is read (it is then a ``_PlainLocalTrade`` again). The rebuilt orders hold the very
# same field objects; only their identity differs from the old ones, which nothing held
# (reference counts checked), so nothing can compare them. (A backtest runs in one thread: a
# thread that reads the orders of the trade closed last while the backtest thread is closing
# the next one could keep the old orders.)
_getrefcount: Callable[[object], int] = getattr(sys, "getrefcount", lambda _obj: -1)


def _refs_when_held_once() -> int:
    """``_getrefcount(x)`` of an ``x`` held by one container and one local variable."""
    box: list[list[int]] = [[]]
    held = box[0]
    return _getrefcount(held)


#: What ``_getrefcount`` reports for an object held by its container alone while the folding
#: code looks at it through one local variable: 3 on CPython 3.11-3.13 (the container, the
#: variable, the argument).
_REFS_HELD = 3
#: Folding is on: CPython 3.11-3.13, where that count is exact, checked once here (a tracer
#: holding frame locals at import, or another interpreter, switches it off: never a fold of
#: an object held elsewhere). Tests switch it off too.
_FOLD = (
    sys.implementation.name == "cpython"
    and (3, 11) <= sys.version_info[:2] < (3, 14)
    and _refs_when_held_once() == _REFS_HELD
)
#: The backtest trade closed last, folded when the next one closes (when it closes, the
#: caller's variables usually still hold its orders).
_FOLD_NEXT: _PlainLocalTrade | None = None
_INT0 = 0  # the int zero ``close_bt_order`` writes as ``remaining`` (one object in CPython)
#: Codes of one folded order (bits; 0: all 26 fields stored). _F_FAST: a filled backtest
#: order (the relations ``_order_values`` checks; 14 fields stored); _F_DATE: its filled date
#: is its order date (13); _F_SHARED: its trade id, pair, status and order type are those of
#: the fast order before it (4 fewer).
_F_FAST = 1
_F_DATE = 2
_F_SHARED = 4
#: One tuple of codes per shape of folded orders (the first item of a folded tuple).
_FOLD_SHAPES: dict[tuple[int, ...], tuple[int, ...]] = {}
#: The shapes of two orders, by their codes.
_SHAPES2: tuple[tuple[tuple[int, ...], ...], ...] = tuple(
    tuple(_FOLD_SHAPES.setdefault((a, b), (a, b)) for b in range(8)) for a in range(8)
)
_ORDER_VALUES = operator.attrgetter(*ORDER_FIELDS)


def _order_values(o: Any, prev: tuple[Any, ...] | None) -> tuple[int, tuple[Any, ...]]:
    """(code, stored values) of an order being folded.

    ``prev``: the stored values of the fast order before it (None: none).
    """
    ft_pair = o.ft_pair
    ft_price = o.ft_price
    amount = o.amount
    order_date = o.order_date
    ft_order_side = o.ft_order_side
    if (
        o.ft_is_open is False
        and o.symbol is ft_pair
        and o.side is ft_order_side
        and o.price is ft_price
        and o.average is ft_price
        and o.filled is amount
        and o.order_update_date is order_date
        and o.remaining is _INT0
        and o.ft_amount is None
        and o.ft_cancel_reason is None
        and o.stop_price is None
        and o.ft_fee_base is None
    ):
        filled_date = o.order_filled_date
        ft_trade_id = o.ft_trade_id
        status = o.status
        order_type = o.order_type
        if (
            prev is not None
            and ft_trade_id is prev[1]
            and ft_pair is prev[3]
            and status is prev[6]
            and order_type is prev[7]
        ):
            if filled_date is order_date:
                return _F_FAST | _F_SHARED | _F_DATE, (
                    o.id, ft_order_side, ft_price, o.order_id, amount, o.cost, order_date,
                    o.funding_fee, o.ft_order_tag,
                )
            return _F_FAST | _F_SHARED, (
                o.id, ft_order_side, ft_price, o.order_id, amount, o.cost, order_date,
                filled_date, o.funding_fee, o.ft_order_tag,
            )
        if filled_date is order_date:
            return _F_FAST | _F_DATE, (
                o.id, ft_trade_id, ft_order_side, ft_pair, ft_price, o.order_id, status,
                order_type, amount, o.cost, order_date, o.funding_fee, o.ft_order_tag,
            )
        return _F_FAST, (
            o.id, ft_trade_id, ft_order_side, ft_pair, ft_price, o.order_id, status,
            order_type, amount, o.cost, order_date, filled_date, o.funding_fee,
            o.ft_order_tag,
        )
    return 0, _ORDER_VALUES(o)


def _fold_orders(trade: LocalTrade) -> bool:
    """Fold the orders of a closed backtest trade (see above); False: left as it was.

    Folded only when the trade is a plain ``LocalTrade(...)``, its ``orders`` a list held by
    nothing else, and every order a plain ``LocalOrder`` held by nothing but that list, linked
    to this trade (``_trade_bt``) and to no database trade, without attributes of its own.
    """
    if type(trade) is not _PlainLocalTrade:
        return False
    try:
        orders = trade.orders
        if type(orders) is not list or _getrefcount(orders) != _REFS_HELD:
            return False
        if len(orders) == 2:  # the lifecycle's entry and exit, without a loop
            first, second = orders
            if (
                type(first) is not _LocalOrder
                or type(second) is not _LocalOrder
                or first._trade_bt is not trade
                or second._trade_bt is not trade
                or first._trade_live is not None
                or second._trade_live is not None
                or _getrefcount(first) != _REFS_HELD
                or _getrefcount(second) != _REFS_HELD
                or first.__dict__  # (reading it makes an empty one: freed with the order)
                or second.__dict__
            ):
                return False
            code, stored = _order_values(first, None)
            code2, stored2 = _order_values(second, stored if code else None)
            del first, second, orders
            trade.orders = (_SHAPES2[code][code2], *stored, *stored2)
        else:
            return _fold_orders_any(trade, orders)
    except AttributeError:  # a field deleted with ``del``: left as it is
        return False
    _set_class(trade, _FoldedLocalTrade)
    return True


def _fold_orders_any(trade: LocalTrade, orders: list[Any]) -> bool:
    """``_fold_orders`` for any number of orders (``orders``: the trade's list)."""
    for o in orders:
        if (
            type(o) is not _LocalOrder
            or o._trade_bt is not trade
            or o._trade_live is not None
            or _getrefcount(o) != _REFS_HELD
        ):
            return False
    for o in orders:
        if o.__dict__:
            return False
    codes: list[int] = []
    values: list[Any] = []
    prev: tuple[Any, ...] | None = None
    for o in orders:
        code, stored = _order_values(o, prev)
        codes.append(code)
        values.extend(stored)
        if not code:
            prev = None
        elif not code & _F_SHARED:
            prev = stored
    key = tuple(codes)
    shape = _FOLD_SHAPES.get(key)
    if shape is None:
        shape = _FOLD_SHAPES.setdefault(key, key) if len(_FOLD_SHAPES) < 4096 else key
    _ORDERS_SLOT.__set__(trade, (shape, *values))
    _set_class(trade, _FoldedLocalTrade)
    return True


def _set_class(trade: LocalTrade, cls: type[LocalTrade]) -> None:
    """Make ``trade`` an instance of ``cls`` (a class with the same slots).

    CPython 3.11 gives the instance a dict for its other attributes when its class changes;
    an empty one is dropped again (64 bytes per kept trade; an attribute of its own set later
    makes a new one, as it would have before).
    """
    trade.__class__ = cls
    if not trade.__dict__:
        del trade.__dict__


def _unfold_orders(trade: _FoldedLocalTrade) -> list[LocalOrder]:
    """Build the orders of a folded trade again; the trade is a ``_PlainLocalTrade`` after."""
    data = _ORDERS_SLOT.__get__(trade)
    if type(data) is not tuple:  # set meanwhile (the property setter switches the class)
        return cast(list["LocalOrder"], data)
    shape = data[0]
    pos = 1
    orders: list[LocalOrder] = []
    prev: tuple[Any, ...] = ()
    new = object.__new__
    for code in shape:
        o = new(_LocalOrder)
        if not code:
            values = data[pos:pos + 26]
            pos += 26
            for name, value in zip(ORDER_FIELDS, values, strict=True):
                setattr(o, name, value)
        else:
            if code & _F_SHARED:
                o.id, ft_order_side, ft_price, o.order_id, amount, o.cost, order_date = data[
                    pos:pos + 7
                ]
                pos += 7
                o.ft_trade_id = prev[1]
                o.ft_pair = prev[3]
                o.status = prev[6]
                o.order_type = prev[7]
            else:
                stored = data[pos:pos + 11]
                pos += 11
                (o.id, o.ft_trade_id, ft_order_side, o.ft_pair, ft_price, o.order_id,
                 o.status, o.order_type, amount, o.cost, order_date) = stored
                prev = stored
            if code & _F_DATE:
                filled_date = order_date
            else:
                filled_date = data[pos]
                pos += 1
            o.funding_fee, o.ft_order_tag = data[pos:pos + 2]
            pos += 2
            o.ft_order_side = o.side = ft_order_side
            o.symbol = o.ft_pair
            o.ft_is_open = False
            o.ft_amount = None
            o.ft_price = o.price = o.average = ft_price
            o.ft_cancel_reason = None
            o.amount = o.filled = amount
            o.remaining = _INT0
            o.stop_price = None
            o.order_date = o.order_update_date = order_date
            o.order_filled_date = filled_date
            o.ft_fee_base = None
        o._trade_bt = trade
        o._trade_live = None
        orders.append(o)
    if _ORDERS_SLOT.__get__(trade) is data:
        _ORDERS_SLOT.__set__(trade, orders)
        _set_class(trade, _PlainLocalTrade)
        return orders
    return cast(list["LocalOrder"], _ORDERS_SLOT.__get__(trade))  # set meanwhile


_ORDERS_SLOT: Any = _PlainLocalTrade.__dict__["orders"]  # the slot's member descriptor


class _FoldedLocalTrade(_PlainLocalTrade):
    """A closed backtest trade whose orders are folded (see ``_fold_orders``).

    The same slots as ``_PlainLocalTrade`` (so the class of an instance can switch between
    the two); ``orders`` holds the folded tuple until it is read, written or deleted, which
    builds the orders (or drops the tuple) and makes the trade a ``_PlainLocalTrade`` again.
    Pickling and copying see the plain trade.
    """

    __slots__ = ()

    @property
    def orders(self) -> list[LocalOrder]:
        """The trade's orders (built again from the folded tuple at the first read)."""
        return _unfold_orders(self)

    @orders.setter
    def orders(self, value: list[LocalOrder]) -> None:
        _ORDERS_SLOT.__set__(self, value)
        _set_class(self, _PlainLocalTrade)

    @orders.deleter
    def orders(self) -> None:
        _ORDERS_SLOT.__delete__(self)
        _set_class(self, _PlainLocalTrade)

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        _unfold_orders(self)
        return self.__reduce_ex__(protocol)


def _utc_or_keep(value: Any) -> Any:
    """An aware UTC datetime for a datetime (naive = UTC); any other value unchanged."""
    if value is None or (type(value) is datetime and value.tzinfo is UTC):
        return value
    if isinstance(value, datetime):
        return to_aware_utc(value)
    return value
