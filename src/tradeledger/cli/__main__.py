"""``python -m tradeledger.cli``: the ``tradeledger`` command."""

from tradeledger.cli import main

main()
