"""Result base class: every analytics result converts to plain dicts and to DataFrames.

``to_dict()`` returns nested plain Python values (``dict``/``list``/``float``/``int``/
``str``/``date``/``datetime``/``None``). ``to_dataframe()`` needs pandas, which tradeledger
never requires: without it, :class:`~tradeledger.exceptions.OptionalDependencyError` is
raised. A result that holds rows (``rows`` attribute) becomes one DataFrame row per row;
any other result becomes a one-row DataFrame of its scalar fields.
"""

from __future__ import annotations

import dataclasses
import importlib
from datetime import date, datetime
from enum import Enum
from typing import Any

from tradeledger.exceptions import OptionalDependencyError

__all__ = ["Result", "plain", "require_pandas"]


def plain(value: Any) -> Any:
    """Convert dataclasses, tuples and enums to plain dicts, lists and values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value
    return value


def require_pandas() -> Any:
    """Import pandas or raise :class:`OptionalDependencyError` saying how to get it."""
    try:
        return importlib.import_module("pandas")
    except ImportError as exc:
        raise OptionalDependencyError(
            "to_dataframe() needs pandas, which tradeledger does not install: pip install pandas"
        ) from exc


class Result:
    """Mixin of the frozen result dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """The result as nested plain Python values."""
        out = plain(self)
        assert isinstance(out, dict)
        return out

    def to_dataframe(self) -> Any:
        """The result as a ``pandas.DataFrame`` (rows, or one row of scalar fields).

        Raises:
            OptionalDependencyError: pandas is not installed.
        """
        pd = require_pandas()
        rows = getattr(self, "rows", None)
        if rows is not None:
            columns = [f.name for f in dataclasses.fields(self._row_type())]
            return pd.DataFrame([plain(r) for r in rows], columns=columns)
        scalars = {k: v for k, v in self.to_dict().items() if not isinstance(v, dict | list)}
        return pd.DataFrame([scalars])

    def _row_type(self) -> Any:
        """Dataclass type of the rows (overridden where rows exist)."""
        raise NotImplementedError
