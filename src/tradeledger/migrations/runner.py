"""Bring a database to the schema this code expects (placeholder until Alembic lands)."""

from __future__ import annotations

from sqlalchemy import Engine


def prepare_database(engine: Engine, *, migrate: str = "auto", mode: str | None = None,
                     bot_id: str | None = None) -> None:
    """Create missing tables (``migrate="auto"``)."""
    from tradeledger.models import ModelBase

    if migrate == "auto":
        ModelBase.metadata.create_all(engine)


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision stamped in the database, if any."""
    from sqlalchemy import inspect, text

    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
