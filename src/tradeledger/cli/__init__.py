"""The ``tradeledger`` command line (typer + rich), one module per command group."""

from __future__ import annotations

from tradeledger.cli import backup as _backup  # noqa: F401
from tradeledger.cli import basic as _basic  # noqa: F401  (registers commands)
from tradeledger.cli import check as _check  # noqa: F401
from tradeledger.cli import db as _db  # noqa: F401
from tradeledger.cli import demo as _demo  # noqa: F401
from tradeledger.cli import export as _export  # noqa: F401
from tradeledger.cli import fleet as _fleet  # noqa: F401
from tradeledger.cli import importer as _importer  # noqa: F401
from tradeledger.cli import journal as _journal  # noqa: F401
from tradeledger.cli import locks as _locks  # noqa: F401
from tradeledger.cli import recover as _recover  # noqa: F401
from tradeledger.cli import stats as _stats  # noqa: F401
from tradeledger.cli import timescale as _timescale  # noqa: F401
from tradeledger.cli import trades as _trades  # noqa: F401
from tradeledger.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``tradeledger`` command."""
    app()
