"""Violations the campaigns found in code outside reliability/, reported and not fixed yet.

A campaign still counts them as violations and exits 1; with ``--allow-known`` it exits 0 when
*every* violation matches one of these (CI uses that, so any new violation still fails it).
Remove an entry once its fix lands: the campaign then proves the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownIssue:
    key: str
    pattern: str
    summary: str

    def matches(self, violation: str) -> bool:
        return re.search(self.pattern, violation, re.S) is not None


KNOWN_ISSUES: tuple[KnownIssue, ...] = (
    KnownIssue(
        "init-db-hangs-on-wrong-service",
        r"^init_db: undocumented _Hung",
        "init_db('mysql://user@127.0.0.1:5432/db') - a MySQL URL pointing at a PostgreSQL port - "
        "never returns: PyMySQL waits for a server greeting that never comes (no read timeout "
        "during the handshake). Proposed fix: default connect_args read_timeout/connect_timeout "
        "for the handshake (and connect_timeout for psycopg), configurable.",
    ),
    KnownIssue(
        "identifier-silently-cut",
        r"Trade\.pair: a \d+-character identifier was silently cut",
        "models/base.py cuts every bounded string column to its length, identifiers included: "
        "Trade(pair=<1000 chars>) stores the first 25 characters (another pair!) instead of "
        "refusing with InvalidValueError naming 'pair'.",
    ),
    KnownIssue(
        "long-order-id-unclear",
        r"order_id: refused without naming the field: Order-id's don't match",
        "Order.parse_from_ccxt_object with an id longer than 255 characters: the id is cut "
        "by the column listener, then refused with a confusing OrderMismatchError instead of "
        "InvalidOrderError('order id longer than 255 characters').",
    ),
    KnownIssue(
        "trade-constructor-types",
        r"^Trade: undocumented",
        "Trade(**kwargs) does not check value types: a str/dict/object for a float, bool or "
        "datetime column fails only at commit with sqlalchemy StatementError/ProgrammingError, "
        "pair=None with IntegrityError, a non-numeric string amount with "
        "decimal.InvalidOperation - instead of InvalidValueError naming the field.",
    ),
    KnownIssue(
        "init-db-malformed-url",
        r"^init_db: undocumented",
        "init_db lets some malformed URLs escape as ValueError (non-numeric port), "
        "sqlalchemy ArgumentError (bad SQLite URL), AttributeError, or a driver "
        "ProgrammingError (unknown query option) instead of InvalidDatabaseURL.",
    ),
    KnownIssue(
        "custom-data-non-ascii-key",
        r"^set_custom_data: undocumented IntegrityError",
        "models/custom_data.py matches keys with SQL lower(cd_key) == key.lower(); SQLite's "
        "lower() is ASCII-only, so a key with a non-ASCII capital ('Ä') is never found again: "
        "get_custom_data misses it and a second set_custom_data raises IntegrityError "
        "(UNIQUE ft_trade_id, cd_key).",
    ),
    KnownIssue(
        "kv-int-overflow",
        r"^KeyValueStore\.store_value: undocumented OverflowError",
        "KeyValueStore.store_value(key, 2**70) raises OverflowError from the driver (and "
        "DataError on servers) instead of InvalidValueError: the int column is 64-bit.",
    ),
    KnownIssue(
        "kv-int-overflow-server",
        r"^KeyValueStore\.store_value: undocumented (DataError|StatementError)",
        "Same as kv-int-overflow, raised by other drivers.",
    ),
)


def known_issue(violation: str) -> KnownIssue | None:
    for issue in KNOWN_ISSUES:
        if issue.matches(violation):
            return issue
    return None
