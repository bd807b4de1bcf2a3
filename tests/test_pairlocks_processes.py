"""Two real bot processes share one database (a SQLite file, PostgreSQL): each one's locks and
unlocks are honoured by the other's very next check.

The processes are started with ``multiprocessing`` (spawn). Each runs commands from a queue
and answers on another, so every check below happens strictly after the other process's
write returned (which is what "seen by the next check" means across processes).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

TIMEOUT = 60


def _bot(url: str, commands: Any, results: Any) -> None:
    """A bot process: open the database, then run lock commands until told to stop."""
    from tradeledger.db import init_db
    from tradeledger.services.pairlocks import PairLocks

    init_db(url)
    PairLocks.use_db = True
    PairLocks.timeframe = "5m"
    while True:
        cmd, *args = commands.get(timeout=TIMEOUT)
        try:
            if cmd == "stop":
                results.put(("ok", None))
                return
            now = datetime.now(UTC)
            if cmd == "lock":
                pair, side, reason = args
                lock = PairLocks.lock_pair(pair, now + timedelta(hours=1), reason, side=side)
                value: Any = lock.id
            elif cmd == "check":
                pair, side = args
                # a bot checks many times per loop; repeat so any per-session state is warm
                answers = {PairLocks.is_pair_locked(pair, side=side) for _ in range(20)}
                assert len(answers) == 1, answers
                value = answers.pop()
            elif cmd == "global":
                (side,) = args
                value = PairLocks.is_global_lock(side=side)
            elif cmd == "unlock":
                pair, side = args
                PairLocks.unlock_pair(pair, side=side)
                value = None
            elif cmd == "unlock_reason":
                (reason,) = args
                PairLocks.unlock_reason(reason)
                value = None
            else:
                raise ValueError(f"unknown command {cmd!r}")
            results.put(("ok", value))
        except Exception as exc:
            results.put(("error", f"{type(exc).__name__}: {exc}"))


class Bot:
    """Handle on a bot process."""

    def __init__(self, ctx: Any, url: str, name: str) -> None:
        self.commands = ctx.Queue()
        self.results = ctx.Queue()
        self.process = ctx.Process(
            target=_bot, args=(url, self.commands, self.results), name=name, daemon=True
        )
        self.process.start()

    def __call__(self, *cmd: Any) -> Any:
        self.commands.put(cmd)
        try:
            status, value = self.results.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"{self.process.name} did not answer {cmd} within {TIMEOUT}s")
        assert status == "ok", value
        return value

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self("stop")
            except BaseException:
                pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


@pytest.fixture
def bots(process_backend: str) -> Iterator[tuple[Bot, Bot]]:
    from tradeledger.db import close_db, init_db

    init_db(process_backend)  # create the schema once, before the bots start
    close_db()
    ctx = mp.get_context("spawn")
    a, b = Bot(ctx, process_backend, "bot-a"), Bot(ctx, process_backend, "bot-b")
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_locks_are_shared_between_bot_processes(bots: tuple[Bot, Bot]) -> None:
    a, b = bots
    # both bots have used their sessions before the other one writes
    assert b("check", "ETH/USDT", "*") is False
    assert a("check", "ETH/USDT", "*") is False

    a("lock", "ETH/USDT", "*", "cooldown")
    assert b("check", "ETH/USDT", "*") is True
    assert b("check", "ETH/USDT", "long") is True

    # a long-only global lock: B's long checks of any pair see it, short ones do not
    assert b("check", "BTC/USDT", "long") is False
    a("lock", "*", "long", "max_drawdown")
    assert b("check", "BTC/USDT", "long") is True
    assert b("check", "BTC/USDT", "short") is False
    assert b("global", "long") is True

    # unlocks are seen by the next check, too
    a("unlock", "ETH/USDT", "*")
    assert b("check", "ETH/USDT", "*") is False
    a("unlock", "*", "long")
    assert b("check", "BTC/USDT", "long") is False
    assert b("global", "long") is False

    # and the other way round, including unlock_reason
    b("lock", "XRP/USDT", "short", "stoploss_guard")
    assert a("check", "XRP/USDT", "short") is True
    assert a("check", "XRP/USDT", "*") is False
    a("unlock_reason", "stoploss_guard")
    assert b("check", "XRP/USDT", "short") is False


def test_alternating_locks_and_checks(bots: tuple[Bot, Bot]) -> None:
    """Many rounds: every write of one bot is seen by the other's next check."""
    a, b = bots
    for round_no in range(15):
        writer, reader = (a, b) if round_no % 2 == 0 else (b, a)
        pair = f"P{round_no % 3}/USDT"
        writer("lock", pair, "*", f"round {round_no}")
        assert reader("check", pair, "*") is True, round_no
        writer("unlock", pair, "*")
        assert reader("check", pair, "*") is False, round_no
