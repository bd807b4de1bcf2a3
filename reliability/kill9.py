"""kill -9 campaign: SIGKILL a bot at random instants, reopen, check nothing acknowledged is lost.

A forked child runs full trade lifecycles (trade, order intent, send, partial fills, DCA, partial
exit, close, pair lock, custom data) against a fake exchange and writes one line to a pipe
*after* every commit returns (the acknowledgement), plus a ``pre`` line just before each
commit and a ``ckpt`` line before each explicit WAL checkpoint (SQLite). The parent kills the
child with SIGKILL at a random delay, right after the n-th ``pre`` line (during a commit) or
right after a ``ckpt`` line (during a checkpoint), then reopens the database with
``init_db`` and checks:

* SQLite: ``PRAGMA integrity_check`` is ``ok`` and ``foreign_key_check`` is empty;
* every acknowledged commit is present (trades, closes, orders with their filled amount,
  intents, locks, custom data);
* no half-written trade: each trade's amount equals the sum of its booked fills (entries minus
  exits), each closed trade has a close date and rate, each acknowledged intent has its order;
* each order's ``filled`` is the acknowledged value or the one in flight when killed, and
  ``filled + remaining == amount``;
* locks intact (same pair, end and reason, still active), the recovery report builds.

Usage: ``python -m reliability.kill9 --size 1000 --backends sqlite,postgresql,mariadb``
(size = kills per backend).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from reliability.common import (
    Database,
    Figures,
    LogScanner,
    add_backends_arg,
    new_database,
    parse_backends,
    parser,
    run_main,
    workdir,
)

PAIRS = [f"K{i}/USDT" for i in range(12)]


# ----------------------------------------------------------------------------- child
def _child(url: str, wfd: int, seed: int, backend: str) -> None:
    out = os.fdopen(wfd, "w", buffering=1)

    def send(kind: str, **kw: Any) -> None:
        out.write(json.dumps({"k": kind, **kw}) + "\n")
        out.flush()

    from tests.fake_exchange import FakeExchange

    from tradeledger.db import get_engine, init_db
    from tradeledger.domain.timeutil import dt_from_ts
    from tradeledger.models import Trade
    from tradeledger.services.intents import (
        apply_exchange_update,
        attach_exchange_response,
        record_intent,
        resolve_intent,
    )
    from tradeledger.services.pairlocks import PairLocks
    from tradeledger.services.recovery import build_recovery_report

    rng = random.Random(seed)
    send("start")
    init_db(url)
    send("ready")
    report = build_recovery_report()
    for intent in report.pending_intents:
        # this bot's exchange memory died with the previous process: the order was never sent
        send("pre", what="resolve", cid=intent.client_order_id)
        resolve_intent(intent.client_order_id, None)
        send("resolved", cid=intent.client_order_id)
    PairLocks.timeframe = "5m"
    ex = FakeExchange()
    ex.next_id = seed % 1_000_000 * 1000 + 10_000_000  # unique order ids per child
    cycle = 0
    while True:
        cycle += 1
        pair = PAIRS[rng.randrange(len(PAIRS))]
        price = round(rng.uniform(10, 100), 4)
        send("pre", what="trade")
        trade = Trade(pair=pair, exchange="fake", open_rate=price, amount=0.0,
                      amount_requested=2.0, stake_amount=2.0 * price, fee_open=0.001,
                      fee_close=0.001, leverage=1.0, is_open=True, open_date=dt_from_ts(ex.now_ms),
                      stake_currency="USDT", base_currency=pair.split("/")[0], strategy="kill9")
        Trade.session.add(trade)
        Trade.commit()
        send("trade", tid=trade.id, pair=pair)

        def order(side: str, amount: float, px: float, parts: int,
                  trade: Any = trade, pair: str = pair) -> None:
            send("pre", what="intent")
            intent = record_intent(pair=pair, side=side, amount=amount, price=px,
                                   trade_id=trade.id, order_type="limit")
            send("intent", cid=intent.client_order_id)
            answer = ex.create_order(pair, "limit", side, amount, px,
                                     {"clientOrderId": intent.client_order_id})
            send("pre", what="order")
            attach_exchange_response(intent.client_order_id, answer)
            send("order", tid=trade.id, pair=pair, oid=answer["id"],
                 cid=intent.client_order_id, amount=amount)
            left = amount
            for i in range(parts):
                qty = left if i == parts - 1 else round(amount / parts, 8)
                left = round(left - qty, 12)
                ex.tick(rng.uniform(1, 30))
                update = ex.fill(answer["id"], qty if i < parts - 1 else None, px)
                send("pre", what="fill", pair=pair, oid=answer["id"], filled=update["filled"])
                apply_exchange_update(trade, update)
                send("fill", pair=pair, oid=answer["id"], filled=update["filled"])

        order("buy", 1.0, price, rng.randint(1, 3))
        value = rng.randint(0, 10**6)
        send("pre", what="cd", tid=trade.id, value=value)
        trade.set_custom_data("kill9", value)
        send("cd", tid=trade.id, value=value)
        order("buy", 1.0, round(price * 0.95, 4), rng.randint(1, 2))  # DCA
        order("sell", 0.5, round(price * 1.02, 4), rng.randint(1, 2))  # partial exit
        order("sell", 1.5, round(price * 1.03, 4), rng.randint(1, 3))  # close
        if not Trade.session.get(Trade, trade.id).is_open:  # type: ignore[union-attr]
            send("closed", tid=trade.id)
        until = dt_from_ts(ex.now_ms) + timedelta(minutes=rng.randint(5, 600))
        send("pre", what="lock")
        lock = PairLocks.lock_pair(pair, until, reason=f"kill9-{trade.id}",
                                   now=dt_from_ts(ex.now_ms))
        send("lock", lid=lock.id, pair=pair, end=lock.lock_end_time_utc.isoformat(),
             reason=lock.reason)
        Trade.session.remove()
        if backend == "sqlite":
            send("ckpt")
            with get_engine().connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
            send("ckpt_done")


def _run_child(url: str, wfd: int, seed: int, backend: str) -> None:
    code = 0
    try:
        _child(url, wfd, seed, backend)
    except BaseException:
        with contextlib.suppress(OSError):
            os.write(wfd, (json.dumps({"k": "error", "tb": traceback.format_exc()[-3000:]})
                           + "\n").encode())
        code = 3
    finally:
        os._exit(code)


# ----------------------------------------------------------------------------- parent model
@dataclass
class Model:
    """What the child acknowledged (cumulated over every kill)."""

    trades: dict[int, str] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    intents: set[str] = field(default_factory=set)
    orders: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locks: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    cdata: dict[int, int] = field(default_factory=dict)
    cd_inflight: dict[int, set[int]] = field(default_factory=dict)
    resolved: set[str] = field(default_factory=set)
    acks: int = 0

    def apply(self, msg: dict[str, Any]) -> None:
        k = msg["k"]
        if k in ("trade", "intent", "order", "fill", "cd", "closed", "lock", "resolved"):
            self.acks += 1
        if k == "trade":
            self.trades[msg["tid"]] = msg["pair"]
        elif k == "closed":
            self.closed.add(msg["tid"])
        elif k == "intent":
            self.intents.add(msg["cid"])
        elif k == "order":
            self.orders[(msg["pair"], msg["oid"])] = {
                "tid": msg["tid"], "cid": msg["cid"], "filled": 0.0, "inflight": {0.0},
                "amount": msg["amount"]}
        elif k == "pre" and msg.get("what") == "fill":
            o = self.orders.get((msg["pair"], msg["oid"]))
            if o is not None:
                o["inflight"].add(msg["filled"])
        elif k == "fill":
            o = self.orders[(msg["pair"], msg["oid"])]
            o["filled"] = msg["filled"]
            o["inflight"] = {msg["filled"]}
        elif k == "pre" and msg.get("what") == "cd":
            self.cd_inflight.setdefault(msg["tid"], set()).add(msg["value"])
        elif k == "cd":
            self.cdata[msg["tid"]] = msg["value"]
            self.cd_inflight[msg["tid"]] = set()
        elif k == "lock":
            self.locks[msg["lid"]] = (msg["pair"], msg["end"], msg["reason"])
        elif k == "resolved":
            self.resolved.add(msg["cid"])


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def verify(db: Database, model: Model, fig: Figures, label: str) -> None:
    """Reopen the database (``init_db``) and check every invariant; record violations."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from tradeledger.db import close_db, get_engine, init_db
    from tradeledger.models import Order, PairLock, Trade
    from tradeledger.models.custom_data import _CustomData
    from tradeledger.models.order_intent import OrderIntent
    from tradeledger.services.recovery import build_recovery_report

    v = fig.violation
    try:
        init_db(db.url)
    except Exception as exc:
        v(f"{label}: reopen failed: {type(exc).__name__}: {exc}")
        return
    try:
        engine = get_engine()
        with engine.connect() as conn:
            if db.backend == "sqlite":
                res = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
                fig.check(res == ["ok"], f"{label}: integrity_check {res[:3]}")
                fk = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                fig.check(not fk, f"{label}: foreign_key_check {fk[:3]}")
        report = build_recovery_report()
        fig.add("pending_intents_at_restart", len(report.pending_intents))
        with Session(engine) as s:
            trades = {t.id: t for t in s.scalars(select(Trade)).all()}
            orders = s.scalars(select(Order)).all()
            intents = {i.client_order_id: i for i in s.scalars(select(OrderIntent)).all()}
            locks = {lk.id: lk for lk in s.scalars(select(PairLock)).all()}
            cds = {c.ft_trade_id: c for c in s.scalars(
                select(_CustomData).where(_CustomData.cd_key == "kill9")).all()}
            by_key = {(o.ft_pair, o.order_id): o for o in orders}
            fig.check(len(by_key) == len(orders), f"{label}: duplicate (ft_pair, order_id)")
            for tid, pair in model.trades.items():
                t = trades.get(tid)
                if not fig.check(t is not None, f"{label}: acknowledged trade {tid} missing"):
                    continue
                assert t is not None
                fig.check(t.pair == pair, f"{label}: trade {tid} pair {t.pair} != {pair}")
                if tid in model.closed:
                    fig.check(not t.is_open, f"{label}: acknowledged close of {tid} lost")
            for cid in model.intents:
                fig.check(cid in intents, f"{label}: acknowledged intent {cid} missing")
            for (pair, oid), exp in model.orders.items():
                o = by_key.get((pair, oid))
                if not fig.check(o is not None, f"{label}: acknowledged order {pair}/{oid} lost"):
                    continue
                assert o is not None
                fig.check(o.ft_trade_id == exp["tid"], f"{label}: order {oid} on wrong trade")
                filled = o.filled or 0.0
                fig.check(any(_close(filled, f) for f in exp["inflight"] | {exp["filled"]})
                          and filled >= exp["filled"] - 1e-9,
                          f"{label}: order {oid} filled {filled}, acknowledged {exp['filled']}, "
                          f"in flight {sorted(exp['inflight'])}")
                intent = intents.get(exp["cid"])
                fig.check(intent is not None and intent.status == "acknowledged"
                          and intent.exchange_order_id == oid,
                          f"{label}: intent of order {oid} not acknowledged")
            for o in orders:  # sum of fills vs filled/remaining/amount; no half-written order
                if o.amount is not None and o.remaining is not None and o.filled is not None:
                    fig.check(_close(o.filled + o.remaining, o.amount),
                              f"{label}: order {o.order_id} filled+remaining != amount")
                fig.check(o.ft_trade_id in trades, f"{label}: orphan order {o.order_id}")
            for i in intents.values():  # an acknowledged intent always has its order
                if i.status == "acknowledged":
                    fig.check((i.pair, i.exchange_order_id) in by_key,
                              f"{label}: intent {i.client_order_id} acknowledged without order")
            per_trade: dict[int, list[Any]] = {}
            for o in orders:
                per_trade.setdefault(o.ft_trade_id, []).append(o)
            for tid, t in trades.items():
                booked = 0.0
                for o in per_trade.get(tid, []):
                    if not o.ft_is_open and o.filled:
                        booked += o.filled if o.ft_order_side == "buy" else -o.filled
                if t.is_open:
                    fig.check(_close(t.amount, booked) or (booked == 0 and t.amount == 0),
                              f"{label}: half-written trade {tid}: amount {t.amount} "
                              f"!= booked fills {booked}")
                else:
                    fig.check(abs(booked) < 1e-9 and t.close_date is not None
                              and t.close_rate is not None,
                              f"{label}: closed trade {tid} inconsistent (booked {booked})")
            for lid, (pair, end, reason) in model.locks.items():
                lk = locks.get(lid)
                if not fig.check(lk is not None, f"{label}: acknowledged lock {lid} lost"):
                    continue
                assert lk is not None
                fig.check(lk.pair == pair and lk.lock_end_time_utc.isoformat() == end
                          and lk.reason == reason and lk.active,
                          f"{label}: lock {lid} changed")
            for tid, value in model.cdata.items():
                c = cds.get(tid)
                allowed = {value} | model.cd_inflight.get(tid, set())
                fig.check(c is not None and int(c.cd_value) in allowed,
                          f"{label}: custom data of trade {tid} lost or wrong")
            for cid in model.resolved:
                fig.check(cid in intents and intents[cid].status == "not_found",
                          f"{label}: resolved intent {cid} not stored")
            fig.set("rows_trades", len(trades))
            fig.set("rows_orders", len(orders))
    except Exception as exc:
        v(f"{label}: verification crashed: {type(exc).__name__}: {exc}\n"
          f"{traceback.format_exc()[-1500:]}")
    finally:
        close_db()


# ----------------------------------------------------------------------------- parent loop
def _read_lines(fd: int, buf: bytearray) -> list[dict[str, Any]]:
    out = []
    while b"\n" in buf:
        line, _, rest = bytes(buf).partition(b"\n")
        buf[:] = rest
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def campaign_backend(backend: str, kills: int, rng: random.Random, fig: Figures,
                     wd: Path, max_seconds: float | None = None) -> None:
    from tradeledger.db import close_db, init_db

    db = new_database(backend, wd)
    prefix = f"{backend}"
    try:
        init_db(db.url)  # schema created once; children only open it
        close_db()
        model = Model()
        landed_commit = landed_ckpt = 0
        modes = {"random": 0, "commit": 0, "checkpoint": 0}
        budget_end = None if max_seconds is None else time.monotonic() + max_seconds
        done = 0
        for k in range(kills):
            if budget_end is not None and time.monotonic() > budget_end:
                break
            done += 1
            r = rng.random()
            mode = "random" if r < 0.4 else ("commit" if r < 0.75 or backend != "sqlite"
                                             else "checkpoint")
            modes[mode] += 1
            target_pre = rng.randint(1, 60)
            target_ckpt = rng.randint(1, 2)
            delay = rng.uniform(0.0, 0.8)
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child
                os.close(rfd)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _run_child(db.url, wfd, rng.randrange(1, 2**31), backend)
            os.close(wfd)
            started = time.monotonic()
            buf = bytearray()
            pres = ckpts = 0
            killed = False
            eof = False
            msgs: list[dict[str, Any]] = []
            while not killed and not eof:
                timeout = max(0.0, started + delay - time.monotonic()) if mode == "random" \
                    else max(0.0, started + 20 - time.monotonic())
                ready, _, _ = select.select([rfd], [], [], timeout)
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                    break
                chunk = os.read(rfd, 65536)
                if not chunk:
                    eof = True
                    break
                buf.extend(chunk)
                for msg in _read_lines(rfd, buf):
                    msgs.append(msg)
                    if msg["k"] == "pre":
                        pres += 1
                        if mode == "commit" and pres >= target_pre:
                            os.kill(pid, signal.SIGKILL)
                            killed = True
                    elif msg["k"] == "ckpt":
                        ckpts += 1
                        if mode == "checkpoint" and ckpts >= target_ckpt:
                            os.kill(pid, signal.SIGKILL)
                            killed = True
                    if killed:
                        break
            if not killed:
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            while True:  # drain what the child acknowledged before dying
                chunk = os.read(rfd, 65536)
                if not chunk:
                    break
                buf.extend(chunk)
            os.close(rfd)
            msgs.extend(_read_lines(rfd, buf))
            for msg in msgs:
                if msg["k"] == "error":
                    fig.violation(f"{prefix} kill {k}: child failed:\n{msg['tb']}")
                model.apply(msg)
            if msgs:
                last = msgs[-1]["k"]
                if last == "pre":
                    landed_commit += 1
                elif last == "ckpt":
                    landed_ckpt += 1
            fig.check(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
                      f"{prefix} kill {k}: child ended with status {status}")
            verify(db, model, fig, f"{prefix} kill {k} ({mode})")
            if (k + 1) % 50 == 0:
                print(f"   [{backend}] {k + 1}/{kills} kills, {model.acks} acks, "
                      f"{len(fig.violations)} violations", file=sys.stderr, flush=True)
        fig.set(f"{prefix}.kills", done)
        if done < kills:
            fig.set(f"{prefix}.kills_planned", f"{kills} (time budget of {max_seconds:.0f} s "
                    "reached first)")
        fig.set(f"{prefix}.kill_modes", modes)
        fig.set(f"{prefix}.kills_landed_during_commit", landed_commit)
        fig.set(f"{prefix}.kills_landed_during_checkpoint", landed_ckpt)
        fig.set(f"{prefix}.acknowledged_commits_checked", model.acks)
        fig.set(f"{prefix}.trades", len(model.trades))
        fig.set(f"{prefix}.closed_trades", len(model.closed))
        fig.set(f"{prefix}.orders", len(model.orders))
        fig.set(f"{prefix}.locks", len(model.locks))
        fig.set(f"{prefix}.pending_intents_listed_at_reopen",
                fig.values.pop("pending_intents_at_restart", 0))
        for key in ("rows_trades", "rows_orders"):
            fig.values.pop(key, None)
    finally:
        db.drop()


def main(args: argparse.Namespace) -> Figures:
    fig = Figures("kill9")
    seed = args.seed if args.seed is not None else int(time.time())
    fig.set("seed", seed)
    rng = random.Random(seed)
    scanner = LogScanner()
    with scanner.installed(), workdir("kill9") as wd:
        for backend in parse_backends(args.backends):
            campaign_backend(backend, args.size, rng, fig, wd, args.max_seconds)
    scanner.report_to(fig, "password in log")
    return fig


def _parser() -> argparse.ArgumentParser:
    p = parser("kill9", "kills per backend (full run: 1000)", 20)
    add_backends_arg(p)
    p.add_argument("--max-seconds", type=float, default=None,
                   help="time budget per backend; the kills done are reported")
    return p


if __name__ == "__main__":
    run_main(main, _parser())
