"""(h) The process dies (SIGKILL) between sending an order and committing the answer.

A real child process opens the database, creates a trade, records the intent, sends the order
to the fake exchange (whose book is a JSON file shared with this process) and is then killed
with SIGKILL before it can store the exchange's answer. After a "restart" the recovery report
must list the pending intent, and resolving it with the exchange's order by client order id
must attach the order to the trade.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fake_exchange import FakeExchange
from tradeledger.db import close_db, init_db
from tradeledger.models import Order, Trade
from tradeledger.services.intents import get_intent, pending_intents, resolve_intent
from tradeledger.services.reconcile import FixAction, apply_reconciliation, reconcile
from tradeledger.services.recovery import build_recovery_report

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.fake_exchange import FakeExchange
    from tradeledger.db import init_db
    from tradeledger.domain.timeutil import dt_now
    from tradeledger.models import Trade
    from tradeledger.services.intents import record_intent

    init_db({url!r})
    trade = Trade(pair="BTC/USDT", exchange="fake", open_rate=100.0, amount=0.0,
                  stake_amount=100.0, fee_open=0.001, fee_close=0.001, leverage=1.0,
                  is_open=True, open_date=dt_now())
    Trade.session.add(trade)
    Trade.commit()
    intent = record_intent(pair="BTC/USDT", side="buy", amount=1.0, price=100.0,
                           trade_id=trade.id, order_type="limit")
    state = Path({state!r})
    ex = FakeExchange()
    ex.create_order("BTC/USDT", "limit", "buy", 1.0, 100.0,
                    {{"clientOrderId": intent.client_order_id}})
    ex.save(state)
    # the answer is in memory; the process is killed before it is committed
    Trade.session.add(Trade(pair="ETH/USDT", exchange="fake", open_rate=1.0, amount=0.0,
                            stake_amount=0.0,
                            fee_open=0.0, fee_close=0.0, open_date=dt_now()))
    Trade.session.flush()  # a write in flight, never committed
    print("SENT", intent.client_order_id, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("resolve_by", ["client_id", "reconcile"])
def test_h_sigkill_between_send_and_commit(process_backend: str, tmp_path: Path,
                                           resolve_by: str) -> None:
    url = process_backend
    init_db(url)  # create the schema up front (the child then only opens it)
    close_db()
    state = tmp_path / "exchange.json"
    code = CHILD.format(root=str(ROOT), url=url, state=str(state))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("SENT"):
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"child did not reach the send point: {line!r}\n{err}")
        client_order_id = line.split()[1]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # restart
    init_db(url)
    report = build_recovery_report()
    assert [i.client_order_id for i in report.pending_intents] == [client_order_id]
    assert report.needs_exchange_check
    (trade_info,) = report.open_trades  # the uncommitted second trade is gone
    assert trade_info.pair == "BTC/USDT" and trade_info.open_orders == ()
    assert Order.session.query(Order).count() == 0

    ex = FakeExchange.load(state)
    found = ex.fetch_order_by_client_id(client_order_id)
    assert found is not None
    if resolve_by == "client_id":
        intent = resolve_intent(client_order_id, found)
        assert intent.status == "acknowledged" and intent.exchange_order_id == found["id"]
    else:
        rec = reconcile(ex.fetch_orders("BTC/USDT"), pairs=["BTC/USDT"])
        assert [d.fix for d in rec.differences] == [FixAction.ADOPT_ORDER]
        apply_reconciliation(rec, dry_run=False)
        assert reconcile(ex.fetch_orders("BTC/USDT"), pairs=["BTC/USDT"]).is_clean
        assert get_intent(client_order_id).status == "acknowledged"
    assert pending_intents() == []
    trade = Trade.session.get(Trade, trade_info.id)
    assert trade is not None
    assert [o.order_id for o in trade.orders] == [found["id"]]
    assert trade.orders[0].ft_is_open
    report = build_recovery_report()
    assert report.pending_intents == ()
    assert [o.order_id for o in report.open_orders] == [found["id"]]


def test_intent_not_found_at_restart(process_backend: str) -> None:
    """An intent whose order never reached the exchange is resolved as not found."""
    from tradeledger.services.intents import record_intent

    init_db(process_backend)
    intent = record_intent(pair="BTC/USDT", side="buy", amount=1.0, price=10.0, trade_id=1)
    assert [i.client_order_id for i in pending_intents()] == [intent.client_order_id]
    resolved = resolve_intent(intent.client_order_id, None)
    assert resolved.status == "not_found"
    assert pending_intents() == []
