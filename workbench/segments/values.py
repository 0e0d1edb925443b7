"""Checking and converting the values written in a segment document.

A value in a document is JSON: text, a number, a boolean, an ISO date string or a list of
those. Before a value is bound to a query it is checked against the column's kind and the
operator's value shape, and converted (ISO strings become ``date``/``datetime``). Each check
returns the converted value or a list of messages; the validator adds the document path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from workbench.catalog import ColumnKind


class ValueShape(StrEnum):
    """What an operator expects after it: nothing, one value, a list, a range, days, a date."""

    NONE = "none"
    ONE = "one"
    LIST = "list"
    RANGE = "range"
    DAYS = "days"
    DATE = "date"


class ValueProblem(Exception):
    """A value does not fit; ``subpath`` is relative to the ``value`` key (``[1]`` or empty)."""

    def __init__(self, message: str, subpath: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.subpath = subpath


_EXPECTED = {
    ColumnKind.TEXT: "expected text",
    ColumnKind.NUMBER: "expected a number",
    ColumnKind.BOOLEAN: "expected true or false",
    ColumnKind.DATE: "expected a date like 2026-03-01",
    ColumnKind.TIMESTAMP: "expected a date like 2026-03-01 or a time like 2026-03-01T12:00:00",
}


def parse_iso_date(raw: Any) -> date:
    """An ISO calendar date (``2026-03-01``); ValueProblem otherwise."""
    if isinstance(raw, str) and len(raw) == 10:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise ValueProblem(f"expected a date like 2026-03-01, got {raw!r}")


def parse_moment(raw: Any) -> date | datetime:
    """A date (``2026-03-01``) or a time (``2026-03-01T12:00:00``, UTC unless it says so).

    A date stays a ``date`` so operators can treat it as a whole day; a time becomes a naive
    UTC ``datetime``.
    """
    if isinstance(raw, str) and len(raw) == 10:
        return parse_iso_date(raw)
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is not None:
            return to_naive_utc(moment)
    raise ValueProblem(f"{_EXPECTED[ColumnKind.TIMESTAMP]}, got {raw!r}")


def to_naive_utc(moment: datetime) -> datetime:
    """The same instant as a naive datetime in UTC (the warehouse's TIMESTAMP convention)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def scalar(kind: ColumnKind, raw: Any) -> Any:
    """One value for a column of ``kind`` (list columns take one text element)."""
    if kind is ColumnKind.TEXT_LIST:
        kind = ColumnKind.TEXT
    if kind is ColumnKind.TEXT and isinstance(raw, str):
        return raw
    if kind is ColumnKind.NUMBER and isinstance(raw, int | float) and not isinstance(raw, bool):
        return raw
    if kind is ColumnKind.BOOLEAN and isinstance(raw, bool):
        return raw
    if kind is ColumnKind.DATE:
        return parse_iso_date(raw)
    if kind is ColumnKind.TIMESTAMP:
        return parse_moment(raw)
    raise ValueProblem(f"{_EXPECTED.get(kind, 'a value this column cannot hold')}, got {raw!r}")


def _one_of_list(kind: ColumnKind, raw: Any, exact_length: int | None) -> list[Any]:
    if not isinstance(raw, list) or not raw:
        raise ValueProblem("expected a non-empty list of values")
    if exact_length is not None and len(raw) != exact_length:
        raise ValueProblem("expected a list of two values [low, high]")
    converted = []
    for i, item in enumerate(raw):
        try:
            converted.append(scalar(kind, item))
        except ValueProblem as problem:
            raise ValueProblem(problem.message, f"[{i}]") from None
    return converted


def _range(kind: ColumnKind, raw: Any) -> list[Any]:
    low, high = _one_of_list(kind, raw, exact_length=2)
    if _comparable(low) > _comparable(high):
        raise ValueProblem(f"the low end {raw[0]!r} is greater than the high end {raw[1]!r}")
    return [low, high]


def _comparable(value: Any) -> Any:
    """Dates and datetimes made comparable with each other (a date is its midnight)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


def days(raw: Any) -> int:
    """A whole, non-negative number of days."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    raise ValueProblem(f"expected a whole number of days (0 or more), got {raw!r}")


@dataclass(frozen=True)
class ValueRule:
    """How one operator's value is checked for one column kind."""

    shape: ValueShape
    kind: ColumnKind

    def convert(self, raw: Any) -> Any:
        """The converted value; ValueProblem when it does not fit."""
        if self.shape is ValueShape.ONE:
            return scalar(self.kind, raw)
        if self.shape is ValueShape.LIST:
            return _one_of_list(self.kind, raw, exact_length=None)
        if self.shape is ValueShape.RANGE:
            return _range(self.kind, raw)
        if self.shape is ValueShape.DAYS:
            return days(raw)
        if self.shape is ValueShape.DATE:
            return parse_iso_date(raw)
        return None
