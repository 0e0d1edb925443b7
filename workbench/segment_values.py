"""The segment editor's conditions and values as plain data: no Streamlit here either.

Builders of condition nodes (column, related entity, saved segment), the choice of the widget
that suits an operator's value, and :func:`coerce_value`, which turns widget values into
document values; whatever does not fit is kept as typed, so the validator reports it with its
path instead of an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from workbench.catalog import ColumnKind
from workbench.segments.values import ValueShape

# -- condition nodes ----------------------------------------------------------------------


def column_condition(
    column: str, op: str, value: Any = None, *, takes_value: bool = True
) -> dict[str, Any]:
    """A column condition; ``takes_value=False`` for operators without a value (``is_null``)."""
    node: dict[str, Any] = {"column": column, "op": op}
    if takes_value:
        node["value"] = value
    return node


def related_condition(
    entity: str,
    *,
    where: Mapping[str, Any] | None = None,
    within_last_days: int | None = None,
    having: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A related-entity condition ("at least 2 orders where ... within the last 365 days")."""
    node: dict[str, Any] = {"related": entity}
    if where is not None:
        node["where"] = dict(where)
    if within_last_days is not None:
        node["within_last_days"] = within_last_days
    if having is not None:
        node["having"] = dict(having)
    return node


def having(agg: str, op: str, value: Any, column: str | None = None) -> dict[str, Any]:
    """The ``having`` part of a related condition (``count`` takes no column)."""
    result: dict[str, Any] = {"agg": agg, "op": op, "value": value}
    if agg != "count" and column:
        result["column"] = column
    return result


def segment_condition(name: str, *, exclude: bool = False) -> dict[str, Any]:
    """Include (``in_segment``) or exclude (``not`` ``in_segment``) a saved segment."""
    node: dict[str, Any] = {"in_segment": name}
    return {"not": node} if exclude else node


# -- values: which widget suits a column, and widget values -> document values -------------

_SPLIT = re.compile(r"[,\n]")


def value_widget(kind: ColumnKind, shape: ValueShape, choices: Sequence[Any] | None) -> str:
    """The widget for an operator's value: ``none``, ``multiselect``, ``select``, ``text``,
    ``text_list``, ``number``, ``number_range``, ``date``, ``date_range``, ``days``, ``boolean``.

    ``choices`` are the column's distinct values when it has few (None when it has many).
    """
    if shape is ValueShape.NONE:
        return "none"
    if shape is ValueShape.DAYS:
        return "days"
    if shape is ValueShape.DATE:
        return "date"
    timeish = kind in (ColumnKind.DATE, ColumnKind.TIMESTAMP)
    if shape is ValueShape.RANGE:
        return "date_range" if timeish else "number_range"
    if shape is ValueShape.LIST:
        return "multiselect" if choices else "text_list"
    if kind is ColumnKind.BOOLEAN:
        return "boolean"
    if kind is ColumnKind.NUMBER:
        return "number"
    if timeish:
        return "date"
    return "select" if choices else "text"


def coerce_value(kind: ColumnKind, shape: ValueShape, raw: Any) -> Any:
    """The document value for a widget's value (dates become ISO text, whole floats ints).

    Text typed into a list field is split on commas and new lines. What cannot be converted
    is passed on as typed, so validation reports it at its path.
    """
    if shape is ValueShape.NONE:
        return None
    if shape is ValueShape.DAYS:
        return _whole(raw)
    if shape is ValueShape.LIST:
        items = _SPLIT.split(raw) if isinstance(raw, str) else list(raw or [])
        items = [i.strip() if isinstance(i, str) else i for i in items]
        return [_scalar(kind, i) for i in items if i != ""]
    if shape is ValueShape.RANGE:
        low, high = [*list(raw), None, None][:2] if raw is not None else (None, None)
        return [_scalar(kind, low), _scalar(kind, high)]
    return _scalar(kind, raw)


def widget_value(widget: str, value: Any) -> Any:
    """What the ``widget`` shows for a document ``value``: the inverse of :func:`coerce_value`,
    to open a saved condition for editing (dates back to ``date``, lists back to text, ranges
    as their two ends). A value that does not fit the widget gives None (its default)."""
    try:
        return _WIDGET_VALUES[widget](value)
    except (TypeError, ValueError, AttributeError):
        return None


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _pair(convert: Any) -> Any:
    return lambda value: [convert(value[0]), convert(value[1])]


_WIDGET_VALUES: dict[str, Any] = {
    "none": lambda value: None,
    "multiselect": list,
    "select": lambda value: value,
    "text": str,
    "text_list": lambda value: ", ".join(str(v) for v in value),
    "number": float,
    "number_range": _pair(float),
    "date": _as_date,
    "date_range": _pair(_as_date),
    "days": int,
    "boolean": bool,
}


def _whole(raw: Any) -> Any:
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return raw


def _scalar(kind: ColumnKind, raw: Any) -> Any:
    if isinstance(raw, datetime):
        return raw.isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    if kind is ColumnKind.NUMBER:
        return _number(raw)
    if kind is ColumnKind.BOOLEAN and isinstance(raw, str):
        return {"true": True, "false": False}.get(raw.strip().lower(), raw)
    return raw.strip() if isinstance(raw, str) else raw


def _number(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return raw.strip()
    return _whole(raw)
