"""Schema preparation: create, adopt freqtrade schemas, and upgrade with Alembic."""

from tradeledger.migrations.runner import current_revision, prepare_database

__all__ = ["current_revision", "prepare_database"]
