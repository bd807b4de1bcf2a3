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


KNOWN_ISSUES: tuple[KnownIssue, ...] = ()


def known_issue(violation: str) -> KnownIssue | None:
    for issue in KNOWN_ISSUES:
        if issue.matches(violation):
            return issue
    return None
