"""The demo bot: a simple momentum strategy trading the simulated exchange.

Every decision is derived from the database (open trades and their orders) and the exchange's
price path, so a bot restarted after a crash carries on where the database says it stands.
Every order goes through an order intent (:mod:`tradeledger.services.intents`): the intent is
committed before the order is sent, the exchange's answer is attached afterwards.

Strategy (per 5-minute candle and pair):

* enter long when the close is above its 24-candle mean (short on futures markets when below),
  gated by a seeded coin flip so that not every signal trades; stake 1000 USDT, leverage per
  market; a stop-loss order rests on the exchange (5 % of the stake at risk);
* add to a losing position (DCA, up to 3 entries) at -2 %;
* take half off at +2.5 % (partial exit) and trail the stop from there;
* exit at +6 % (``roi``), on a trend reversal in profit (``exit_signal``) or after 12 hours
  (``force_exit``);
* funding every hour on futures;
* after a loss the pair is locked for an hour (side of the trade); three losses in a row lock
  every pair for two hours.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from tradeledger.demo.exchange import FUNDING_EVERY, STEP, PairSpec, SimExchange
from tradeledger.domain.enums import TradingMode
from tradeledger.models.order import Order
from tradeledger.models.trade import Trade
from tradeledger.services.intents import (
    apply_exchange_update,
    attach_exchange_response,
    record_intent,
)
from tradeledger.services.pairlocks import PairLocks

__all__ = ["DEMO_EXCHANGE", "DEMO_STRATEGY", "DemoBot"]

DEMO_EXCHANGE = "demo"
DEMO_STRATEGY = "DemoMomentum"
STAKE = 1000.0
STOPLOSS = -0.05
MAX_ENTRIES = 3
MAX_AGE_STEPS = 144


def _closed(trade: Trade) -> bool:
    """Whether the trade is closed now (after orders were applied to it)."""
    return not trade.is_open


class DemoBot:
    """One trading bot over a :class:`SimExchange`; the database must be initialised."""

    def __init__(self, exchange: SimExchange, *, crash_at: int | None = None,
                 emit: Callable[[str], None] | None = None) -> None:
        self.ex = exchange
        self.seed = exchange.seed
        # A session appended to a database with older demo sessions trades under its own
        # strategy name, so it never manages the trades of another session.
        label = exchange.id_prefix.rstrip("-")
        self.strategy = f"{DEMO_STRATEGY}-{label}" if label else DEMO_STRATEGY
        self.crash_at = crash_at
        self.emit = emit or (lambda _line: None)
        PairLocks.timeframe = "5m"

    # ------------------------------------------------------------------ helpers
    @property
    def now(self) -> datetime:
        """The simulated time."""
        return self.ex.now()

    def _rng(self, pair: str, what: str) -> random.Random:
        return random.Random(f"tradeledger-demo-bot:{self.seed}:{pair}:{self.ex.step}:{what}")

    def _send(self, trade: Trade, *, side: str, order_type: str, amount: float,
              price: float | None, tag: str | None = None,
              stop_price: float | None = None) -> Order:
        """Intent first, then the exchange, then the answer (the crash point lies between)."""
        cid = f"dm{self.seed}t{trade.id}o{len(trade.orders)}s{self.ex.step}"
        exchange_side = side if side != "stoploss" else trade.exit_side
        intent = record_intent(pair=trade.pair, side=side, amount=amount,
                               price=price if price is not None else stop_price,
                               trade_id=trade.id, order_type=order_type, client_order_id=cid,
                               tag=tag)
        params: dict[str, Any] = {"clientOrderId": intent.client_order_id}
        if stop_price is not None:
            params["stopPrice"] = stop_price
        answer = self.ex.create_order(trade.pair, order_type, exchange_side, amount, price,
                                      params)
        if self.crash_at is not None and self.ex.step >= self.crash_at:
            # The order is on the exchange; its answer is not in the database yet.
            self.emit(f"CRASHPOINT {cid}")
            time.sleep(3600)
        return attach_exchange_response(intent.client_order_id, answer, trade=trade)

    def _cancel(self, trade: Trade, order: Order) -> None:
        answer = self.ex.cancel_order(order.order_id, trade.pair)
        # A cancelled stop-loss is only recorded; a fill that raced the cancel is booked.
        apply_exchange_update(trade, answer, apply_fill=answer.get("filled", 0) > 0)

    @staticmethod
    def _open_orders(trade: Trade, side: str | None = None) -> list[Order]:
        return [o for o in trade.orders
                if o.ft_is_open and (side is None or o.ft_order_side == side)]

    # ------------------------------------------------------------------ one candle
    def run(self, until_step: int | None = None) -> None:
        """Trade every candle until ``until_step`` (default: the end of the session)."""
        end = self.ex.steps if until_step is None else until_step
        while self.ex.step < end:
            self.cycle()
            self.emit(f"STEP {self.ex.step + 1} {self.ex.steps}")
            if self.crash_at is not None and self.ex.step >= self.crash_at + 20:
                # no order was sent since the crash point: die between two candles instead
                self.emit("CRASHPOINT -")
                time.sleep(3600)
            self.ex.advance()

    def cycle(self) -> None:
        """Manage open trades, then look for entries, at the current candle."""
        session = Trade.session
        for trade in session.scalars(
            select(Trade).where(Trade.is_open.is_(True), Trade.exchange == DEMO_EXCHANGE,
                                Trade.strategy == self.strategy).order_by(Trade.id)
        ).all():
            self._manage(trade)
        open_pairs = {
            t.pair for t in session.scalars(
                select(Trade).where(Trade.is_open.is_(True), Trade.exchange == DEMO_EXCHANGE,
                                    Trade.strategy == self.strategy)
            ).all()
        }
        for spec in self.ex.pairs:
            if spec.pair not in open_pairs:
                self._maybe_enter(spec)
        session.commit()

    def _poll(self, trade: Trade) -> None:
        for order in self._open_orders(trade):
            answer = self.ex.fetch_order(order.order_id, trade.pair)
            if answer["status"] != order.status or answer["filled"] != order.filled:
                apply_exchange_update(trade, answer)

    def _after_close(self, trade: Trade) -> None:
        for order in self._open_orders(trade):
            self._cancel(trade, order)
        profit = trade.close_profit_abs or 0.0
        self.emit(f"EVENT closed trade {trade.id} {trade.pair} {trade.exit_reason} {profit:+.2f}")
        if profit >= 0:
            return
        reason = ("stoploss_guard" if trade.exit_reason == "stoploss_on_exchange"
                  else "cooldown_after_loss")
        PairLocks.lock_pair(trade.pair, self.now + timedelta(hours=1), reason, now=self.now,
                            side=trade.trade_direction)
        last = Trade.session.scalars(
            select(Trade).where(Trade.is_open.is_(False), Trade.exchange == DEMO_EXCHANGE,
                                Trade.strategy == self.strategy)
            .order_by(Trade.close_date.desc(), Trade.id.desc()).limit(3)
        ).all()
        if len(last) == 3 and all((t.close_profit_abs or 0.0) < 0 for t in last) and \
                not PairLocks.is_global_lock(now=self.now):
            PairLocks.lock_pair("*", self.now + timedelta(hours=2), "max_drawdown_protection",
                                now=self.now)
            self.emit("EVENT global lock after three losses")

    def _place_stop(self, trade: Trade) -> None:
        if trade.amount <= 0 or not trade.stop_loss:
            return
        self._send(trade, side="stoploss", order_type="stop_market", amount=trade.amount,
                   price=None, stop_price=round(trade.stop_loss, 8), tag="stoploss")

    def _manage(self, trade: Trade) -> None:
        if not trade.orders:
            # Created, but its first order never reached the exchange (crash): drop it.
            Trade.session.delete(trade)
            Trade.session.commit()
            return
        self._poll(trade)
        if not trade.is_open:
            self._after_close(trade)
            return
        if self._open_orders(trade, trade.entry_side) or self._open_orders(trade,
                                                                           trade.exit_side):
            return
        if trade.nr_of_successful_entries == 0:
            return
        price = self.ex.price(trade.pair)
        low, high = self.ex.candle(trade.pair)
        trade.adjust_min_max_rates(high, low)
        if trade.trading_mode == TradingMode.FUTURES and self.ex.step % FUNDING_EVERY == 0:
            rate = self.ex.funding_rate(trade.pair)
            fee = trade.amount * price * rate * (1.0 if trade.is_short else -1.0)
            trade.set_funding_fees((trade.funding_fee_running or 0.0) + fee)
        if Trade.session.dirty:
            Trade.session.commit()

        stops = self._open_orders(trade, "stoploss")
        profit = trade.calc_profit_ratio(price)
        age = (self.now - trade.open_date_utc) // STEP
        closes = self.ex.closes(trade.pair, 24)
        mean = sum(closes) / len(closes)
        against = price < mean * 0.997 if not trade.is_short else price > mean * 1.003
        reason = None
        if profit >= 0.06:
            reason = "roi"
        elif against and profit > 0.005:
            reason = "exit_signal"
        elif age >= MAX_AGE_STEPS:
            reason = "force_exit"
        if reason is not None:
            for stop in stops:
                self._cancel(trade, stop)
            if _closed(trade):  # the stop filled while it was being cancelled
                self._after_close(trade)
                return
            trade.exit_reason = reason
            Trade.session.commit()
            self._send(trade, side=trade.exit_side, order_type="market", amount=trade.amount,
                       price=None, tag=reason)
            if _closed(trade):
                self._after_close(trade)
            return
        exits_done = trade.nr_of_successful_exits
        if profit >= 0.025 and exits_done == 0:
            for stop in stops:
                self._cancel(trade, stop)
            self._send(trade, side=trade.exit_side, order_type="market",
                       amount=round(trade.amount / 2, 8), price=None, tag="partial_exit")
            trade.adjust_stop_loss(price, -0.03)
            Trade.session.commit()
            self._place_stop(trade)
            return
        if profit <= -0.02 and trade.nr_of_successful_entries < MAX_ENTRIES and exits_done == 0:
            last_entry = max((o.order_date_utc for o in trade.select_filled_orders(
                trade.entry_side)), default=trade.open_date_utc)
            if (self.now - last_entry) >= STEP * 6:
                # The stop covers the old amount: take it off, a new one follows the fill.
                for stop in stops:
                    self._cancel(trade, stop)
                if _closed(trade):
                    self._after_close(trade)
                    return
                amount = round(STAKE * 0.5 * (trade.leverage or 1.0) / price, 8)
                self._send(trade, side=trade.entry_side, order_type="limit", amount=amount,
                           price=price, tag="dca")
                return
        if exits_done and profit > 0.02:
            before = trade.stop_loss
            trade.adjust_stop_loss(price, -0.03)
            Trade.session.commit()
            if stops and before and abs((trade.stop_loss or 0) - before) / before > 0.01:
                for stop in stops:
                    self._cancel(trade, stop)
                stops = []
        if not stops:
            self._place_stop(trade)

    def _maybe_enter(self, spec: PairSpec) -> None:
        closes = self.ex.closes(spec.pair, 24)
        if len(closes) < 24:
            return
        price = closes[-1]
        mean = sum(closes) / len(closes)
        rng = self._rng(spec.pair, "entry")
        if rng.random() > 0.12:
            return
        if price > mean * 1.001:
            short = False
        elif price < mean * 0.999 and spec.futures:
            short = True
        else:
            return
        side = "short" if short else "long"
        if PairLocks.is_pair_locked(spec.pair, now=self.now, side=side):
            return
        amount = round(STAKE * spec.leverage / price, 8)
        trade = Trade(
            pair=spec.pair, exchange=DEMO_EXCHANGE, base_currency=spec.base,
            stake_currency=spec.quote, is_open=True, open_date=self.now, open_rate=price,
            open_rate_requested=price, amount=amount, amount_requested=amount,
            stake_amount=STAKE, fee_open=0.001, fee_close=0.001, strategy=self.strategy,
            enter_tag=f"momentum_{side}", timeframe=5, leverage=spec.leverage, is_short=short,
            trading_mode=TradingMode.FUTURES if spec.futures else TradingMode.SPOT,
            interest_rate=0.0,
        )
        trade.adjust_stop_loss(price, STOPLOSS, initial=True)
        if spec.futures:
            dist = 1.0 / spec.leverage - 0.005
            trade.set_liquidation_price(price * (1 + dist if short else 1 - dist))
        Trade.session.add(trade)
        Trade.session.commit()
        self.emit(f"EVENT opened trade {trade.id} {spec.pair} {side}")
        self._send(trade, side=trade.entry_side, order_type="limit", amount=amount,
                   price=price, tag=trade.enter_tag)
