"""Schema preparation: create, adopt freqtrade schemas, and upgrade with Alembic.

See :mod:`tradeledger.migrations.runner` for the rules and ``docs/migrations.md`` for
operations (backups, clustered deployments, extension branches).
"""

from tradeledger.migrations.runner import (
    BASELINE_REVISION,
    PrepareResult,
    alembic_config,
    current_revision,
    current_revisions,
    database_status,
    get_script_directory,
    head_revision,
    head_revisions,
    prepare_database,
    set_database_mode,
)

__all__ = [
    "BASELINE_REVISION",
    "PrepareResult",
    "alembic_config",
    "current_revision",
    "current_revisions",
    "database_status",
    "get_script_directory",
    "head_revision",
    "head_revisions",
    "prepare_database",
    "set_database_mode",
]
