"""Alembic revisions of tradeledger's own branch (label ``tradeledger``)."""
