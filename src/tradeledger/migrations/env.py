"""Alembic environment for alembic's own commands (``alembic.command.*``) on tradeledger.

tradeledger itself never runs this file: :func:`tradeledger.migrations.prepare_database`
drives Alembic from code. It exists so that ``alembic.command.upgrade/revision/check`` work
with :func:`tradeledger.migrations.alembic_config` — pass an open connection in
``config.attributes["connection"]`` or a URL as ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context


def _run() -> None:
    from sqlalchemy import create_engine

    from tradeledger.models import ModelBase

    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("set config.attributes['connection'] or sqlalchemy.url")
        engine = create_engine(url)
        with engine.connect() as conn:
            _configure_and_run(conn, ModelBase.metadata)
        engine.dispose()
    else:
        _configure_and_run(connection, ModelBase.metadata)


def _configure_and_run(connection: object, metadata: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,  # type: ignore[arg-type]
        render_as_batch=getattr(getattr(connection, "dialect", None), "name", "") == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


try:
    _active = context.config is not None
except (NameError, AttributeError):  # imported outside an Alembic command
    _active = False
if _active:
    _run()
