"""Revision ``tl_0005`` (analytics cache state and triggers): upgrade from ``tl_0004`` with
data, downgrade, re-run over a half-applied state, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from tests.conftest import make_backend_url, selected_backends
from tests.test_analytics_cache import trade_row
from tradeledger.db import close_db, create_db_engine, init_db
from tradeledger.migrations import runner
from tradeledger.models import Trade
from tradeledger.services.analytics import cache as acache
from tradeledger.services.analytics._sql import normalise_dialect


@pytest.fixture(params=[b for b in selected_backends() if b != "sqlite-memory"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    found, drop = make_backend_url(request.param, tmp_path)
    try:
        yield found
    finally:
        close_db()
        drop()


def _alembic(engine: sa.Engine, action: str, target: str) -> None:
    cfg = runner.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, target)


def _state(engine: sa.Engine) -> tuple[bool, list[int], int]:
    """(table exists, slots, triggers present)."""
    dialect = normalise_dialect(engine.dialect.name)
    insp = sa.inspect(engine)
    if not insp.has_table(acache.STATE_TABLE):
        return False, [], 0
    with engine.connect() as conn:
        slots = sorted(conn.execute(sa.select(acache.state_table.c.slot)).scalars())
        names = ", ".join(f"'{n}'" for n in acache.trigger_names("postgresql"))
        if dialect == "sqlite":
            sql = f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({names})"
        elif dialect == "postgresql":
            sql = f"SELECT count(*) FROM pg_trigger WHERE tgname IN ({names})"
        else:
            sql = ("SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = "
                   f"DATABASE() AND TRIGGER_NAME IN ({names})")
        n = conn.execute(sa.text(sql)).scalar_one()
    return True, slots, int(n)


def test_downgrade_and_upgrade_again(url: str) -> None:
    engine = init_db(url)
    dialect = normalise_dialect(engine.dialect.name)
    expected_triggers = 0 if dialect == "mysql" else len(acache.trigger_names(dialect))
    assert _state(engine) == (True, list(range(acache.SLOTS[dialect])), expected_triggers)
    close_db()
    plain = create_db_engine(url)
    try:
        _alembic(plain, "downgrade", "tl_0004")
        assert _state(plain) == (False, [], 0)
        if dialect == "postgresql":
            with plain.connect() as conn:
                assert conn.execute(sa.text(
                    "SELECT count(*) FROM pg_proc WHERE proname = 'tl_analytics_bump'"
                )).scalar_one() == 0
        # writes still work without the triggers
        with plain.begin() as conn:
            conn.execute(sa.insert(Trade.__table__), [trade_row(1)])
    finally:
        plain.dispose()
    engine = init_db(url)  # stamped tl_0004: upgraded to the head
    assert runner.current_revision(engine) == runner.head_revision()
    assert _state(engine) == (True, list(range(acache.SLOTS[dialect])), expected_triggers)


def test_rerun_over_half_applied_state(url: str) -> None:
    engine = init_db(url)
    dialect = normalise_dialect(engine.dialect.name)
    close_db()
    plain = create_db_engine(url)
    try:
        _alembic(plain, "downgrade", "tl_0004")
        # a crash (MariaDB: DDL is not transactional) left the table with one slot only
        with plain.begin() as conn:
            acache.state_table.create(conn)
            conn.execute(acache.state_table.insert().values(slot=0, token=42))
        _alembic(plain, "upgrade", "tl_0005")
        found, slots, triggers = _state(plain)
        assert found and slots == list(range(max(1, acache.SLOTS[dialect])))
        assert triggers == (0 if dialect == "mysql" else len(acache.trigger_names(dialect)))
        _alembic(plain, "downgrade", "tl_0004")  # and it can be undone and redone again
        _alembic(plain, "upgrade", "tl_0005")
        assert _state(plain)[2] == triggers
    finally:
        plain.dispose()
