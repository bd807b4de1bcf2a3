"""Users' own columns and tables: an Alembic branch of their own, passed as ``extra_migrations``.

The user's revision ``ext_0001`` (branch ``myext``, ``depends_on`` a library revision) adds a
nullable column to ``trades`` and a table. It is applied together with the library's
revisions, survives a later library revision (simulated by a revision on the library branch
in another directory) and the column is usable on the mapped ``Trade`` class. Each scenario
runs in a child interpreter because mapping a column onto ``Trade`` is process-wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from tradeledger.db import close_db, create_db_engine, init_db
from tradeledger.exceptions import SchemaTooNewError
from tradeledger.migrations import runner

USER_REVISION = '''\
"""myext: a note on every trade and a table of signals.

Revision ID: ext_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "ext_0001"
down_revision = None
branch_labels = ("myext",)
depends_on = "tl_0002"


def upgrade():
    # nullable (or with a server default): freqtrade's INSERTs do not name the column
    op.add_column("trades", sa.Column("ext_note", sa.String(100), nullable=True))
    op.create_table(
        "ext_signals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pair", sa.String(25), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
    )


def downgrade():
    op.drop_table("ext_signals")
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("ext_note")
'''


def fake_library_revision(head: str) -> str:
    return f'''\
"""A later library release (simulated): one more project table.

Revision ID: tl_9000
"""
import sqlalchemy as sa
from alembic import op

revision = "tl_9000"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("tradeledger_future", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("tradeledger_future")
'''


CHILD = textwrap.dedent('''
    import json, sys
    from sqlalchemy import String, select
    from sqlalchemy.orm import Mapped, mapped_column
    from tradeledger.db import init_db
    from tradeledger.models import Trade

    # the user's mapping of their column (documented way: assign a mapped_column)
    Trade.ext_note = mapped_column(String(100), nullable=True)

    url, dirs, action = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    init_db(url, extra_migrations=dirs)
    s = Trade.session
    if action == "write":
        t = Trade(pair="ETH/USDT", exchange="binance", open_rate=2.0, amount=1.0,
                  stake_amount=2.0, fee_open=0.0, fee_close=0.0, is_open=True)
        t.ext_note = "from the user's column"
        s.add(t)
        s.commit()
    s.expire_all()
    rows = [(t.id, t.ext_note) for t in s.scalars(select(Trade).order_by(Trade.id))]
    print(json.dumps(rows))
''')


def run_child(url: str, dirs: list[Path], action: str) -> list[list[object]]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, url, json.dumps([str(d) for d in dirs]), action],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    d = tmp_path / "my_migrations"
    d.mkdir()
    (d / "ext_0001_note_and_signals.py").write_text(USER_REVISION)
    return d


def test_user_branch_applies_survives_and_maps(backend: str, backend_name: str,
                                               user_dir: Path, tmp_path: Path) -> None:
    if backend_name == "sqlite-memory":
        pytest.skip("needs a database shared with a child process")
    # a database written by an older library (at tl_0002 only)
    engine = create_db_engine(backend)
    with engine.connect() as conn:
        runner._run_upgrade(conn, runner.get_script_directory(), "tl_0002")
        conn.commit()
    engine.dispose()

    assert run_child(backend, [user_dir], "write") == [[1, "from the user's column"]]
    engine = create_db_engine(backend)
    heads = set(runner.current_revisions(engine))
    assert heads == {runner.head_revision(), "ext_0001"}
    assert {"ext_signals", "trades"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()

    # opened without the user's directory: refused, naming the way out, nothing written
    with pytest.raises(SchemaTooNewError, match="extra_migrations"):
        init_db(backend)
    close_db()

    # a later library release adds a revision on top of the library head
    future = tmp_path / "future_library"
    future.mkdir()
    (future / "tl_9000_future.py").write_text(fake_library_revision(runner.head_revision()))
    assert run_child(backend, [user_dir, future], "read") == [[1, "from the user's column"]]
    engine = create_db_engine(backend)
    assert set(runner.current_revisions(engine)) == {"tl_9000", "ext_0001"}
    assert "tradeledger_future" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_fresh_database_with_user_branch(tmp_path: Path, user_dir: Path) -> None:
    """On an empty database the user's revisions run after the library's (replay)."""
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    engine = init_db(url, extra_migrations=[user_dir])
    assert runner.last_result is not None and runner.last_result.action == "created"
    cols = {c["name"] for c in sa.inspect(engine).get_columns("trades")}
    assert "ext_note" in cols
    assert set(runner.current_revisions(engine)) == {runner.head_revision(), "ext_0001"}
    assert runner.head_revisions([user_dir]) == tuple(sorted({runner.head_revision(),
                                                              "ext_0001"}))
