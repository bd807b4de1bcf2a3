"""Scoped sessions under threads and asyncio tasks: nothing shared, nothing lost, no lock errors."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tradeledger import Trade, init_db, request_scope


def new_trade(pair: str, strategy: str) -> Trade:
    return Trade(pair=pair, exchange="binance", open_rate=100.0, amount=1.0, stake_amount=100.0,
                 fee_open=0.001, fee_close=0.001, strategy=strategy,
                 open_date=datetime(2024, 1, 1, tzinfo=UTC), is_open=True)


@pytest.fixture(params=["sqlite-file", "postgresql"])
def concurrent_url(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    from tests.conftest import make_backend_url

    url, drop = make_backend_url(request.param, tmp_path)
    yield url
    drop()


def test_threads_and_tasks_each_in_own_scope(concurrent_url: str) -> None:
    init_db(concurrent_url, pool_size=20)
    errors: list[BaseException] = []
    session_ids: list[int] = []
    lock = threading.Lock()

    def thread_worker(i: int) -> None:
        try:
            for j in range(5):
                with request_scope():
                    s = Trade.session()
                    with lock:
                        session_ids.append(id(s))
                    s.add(new_trade("BTC/USDT", f"thread-{i}"))
                    Trade.commit()
                    mine = Trade.session.scalars(
                        select(Trade).where(Trade.strategy == f"thread-{i}")).all()
                    assert len(mine) == j + 1
        except BaseException as exc:
            errors.append(exc)

    async def task_worker(i: int) -> None:
        async with request_scope():
            s = Trade.session()
            session_ids.append(id(s))
            s.add(new_trade("ETH/USDT", f"task-{i}"))
            await asyncio.sleep(0)
            assert Trade.session() is s
            Trade.commit()
            await asyncio.sleep(0)
            n = Trade.session.scalar(
                select(func.count()).select_from(Trade).where(Trade.strategy == f"task-{i}"))
            assert n == 1

    threads = [threading.Thread(target=thread_worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()

    async def run_tasks() -> None:
        await asyncio.gather(*(task_worker(i) for i in range(200)))

    asyncio.run(run_tasks())
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    with request_scope():
        total = Trade.session.scalar(select(func.count()).select_from(Trade))
    assert total == 16 * 5 + 200
    # 16 threads x 5 scopes + 200 tasks: every scope had its own session object while alive
    assert len(session_ids) == 16 * 5 + 200


def test_sqlite_one_writer_eight_readers_no_locked_errors(tmp_path: Any) -> None:
    init_db(f"sqlite:///{tmp_path / 'busy.sqlite'}")
    stop = time.monotonic() + 20
    errors: list[BaseException] = []
    written = [0]
    reads = [0]

    def writer() -> None:
        try:
            while time.monotonic() < stop:
                with request_scope():
                    Trade.session.add(new_trade("BTC/USDT", "writer"))
                    # read-then-write inside one unit of work
                    Trade.session.scalar(select(func.count()).select_from(Trade))
                    Trade.commit()
                    written[0] += 1
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            while time.monotonic() < stop:
                with request_scope():
                    Trade.session.scalars(select(Trade).limit(200)).all()
                    reads[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader)
                                                   for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    locked = [e for e in errors if isinstance(e, OperationalError) and "locked" in str(e)]
    assert not locked, locked[:1]
    assert not errors, errors[:3]
    with request_scope():
        assert Trade.session.scalar(select(func.count()).select_from(Trade)) == written[0]
    assert written[0] > 50 and reads[0] > 50
