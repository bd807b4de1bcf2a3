"""Version of the tradeledger package."""

__version__ = "0.1.0"
