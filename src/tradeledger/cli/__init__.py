"""The ``tradeledger`` command line (typer + rich), one module per command group."""

from __future__ import annotations

from tradeledger.cli import basic as _basic  # noqa: F401  (registers commands)
from tradeledger.cli import demo as _demo  # noqa: F401
from tradeledger.cli import stats as _stats  # noqa: F401
from tradeledger.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``tradeledger`` command."""
    app()
