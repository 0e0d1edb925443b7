"""Streamlit widgets that build one condition of the segment editor (column or related entity).

The widget that suits a value is chosen, and its value turned into a document value, by
``workbench.segment_values``; operators come from the one operator table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import streamlit as st

from workbench import segment_values as sv
from workbench.catalog import ColumnKind, Entity
from workbench.overview import distinct_values
from workbench.segments import operators_for
from workbench.segments.operators import AGGREGATES, HAVING_OPERATORS, OPERATORS
from workbench.segments.validate import AGG_KINDS
from workbench.segments.values import ValueShape
from workbench.workspace import Workspace

CHOICES = "distinct_cache"
EDITABLE_KINDS = frozenset(ColumnKind) - {ColumnKind.OTHER}


def column_choices(ws: Workspace, entity: Entity, column: str) -> list[Any] | None:
    """Distinct values of a text column for a menu (cached in the session), or None."""
    if entity.columns[column].kind not in (ColumnKind.TEXT, ColumnKind.TEXT_LIST):
        return None
    cache = st.session_state.setdefault(CHOICES, {})
    if (entity.name, column) not in cache:
        cache[(entity.name, column)] = distinct_values(ws, entity.name, column)
    found: list[Any] | None = cache[(entity.name, column)]
    return found


def value_input(key: str, kind: ColumnKind, shape: ValueShape, choices: list[Any] | None) -> Any:
    """Render the widget that suits the value and return the document value it holds."""
    widget = sv.value_widget(kind, shape, choices)
    key = f"{key}_{widget}"
    raw = _WIDGETS[widget](key, choices or [])
    return sv.coerce_value(kind, shape, raw)


def _range(key: str, make: Callable[[str, str], Any]) -> list[Any]:
    low, high = st.columns(2)
    with low:
        first = make("From", f"{key}_low")
    with high:
        second = make("To", f"{key}_high")
    return [first, second]


def _default(key: str, value: Any) -> dict[str, Any]:
    """``value=`` for a widget whose state is not set yet (a condition opened for editing sets
    it; Streamlit warns when both are given)."""
    return {} if key in st.session_state else {"value": value}


def _number(label: str, key: str) -> Any:
    return st.number_input(label, step=1.0, key=key, **_default(key, 0.0))


def _date(label: str, key: str) -> Any:
    return st.date_input(label, key=key, **_default(key, date.today()))


_WIDGETS: dict[str, Callable[[str, list[Any]], Any]] = {
    "none": lambda key, c: None,
    "multiselect": lambda key, c: st.multiselect("Values", c, key=key),
    "select": lambda key, c: st.selectbox("Value", c, key=key),
    "text": lambda key, c: st.text_input("Value", key=key),
    "text_list": lambda key, c: st.text_input("Values (separate with commas)", key=key),
    "number": lambda key, c: _number("Value", key),
    "number_range": lambda key, c: _range(key, _number),
    "date": lambda key, c: _date("Date", key),
    "date_range": lambda key, c: _range(key, _date),
    "days": lambda key, c: st.number_input(
        "Days", min_value=0, step=1, key=key, **_default(key, 30)
    ),
    "boolean": lambda key, c: st.selectbox("Value", [True, False], key=key),
}


def column_condition_input(ws: Workspace, entity: Entity, key: str) -> dict[str, Any] | None:
    """Column → operator (from the one operator table) → value; the condition, or None."""
    names = [c.name for c in entity.columns.values() if c.kind in EDITABLE_KINDS]
    column = st.selectbox("Column", names, key=f"{key}_column")
    if column is None:
        return None
    kind = entity.columns[column].kind
    ops = [o.key for o in operators_for(kind)]
    op = st.selectbox("Operator", ops, format_func=lambda k: OPERATORS[k].label, key=f"{key}_op")
    shape = OPERATORS[op].shape
    choices = column_choices(ws, entity, column) if shape is not ValueShape.NONE else None
    value = value_input(f"{key}_value_{column}", kind, shape, choices)
    return sv.column_condition(column, op, value, takes_value=shape is not ValueShape.NONE)


def editable_in_place(node: Any) -> bool:
    """Whether a condition opens in the column form: a column condition on an editable column
    (related-entity and saved-segment conditions are removed and added again instead)."""
    return isinstance(node, dict) and isinstance(node.get("column"), str) and "op" in node


def seed_column_input(ws: Workspace, entity: Entity, key: str, node: dict[str, Any]) -> None:
    """Fill the widgets of :func:`column_condition_input` under ``key`` with ``node``'s column,
    operator and value, so the form opens showing the condition being edited. Call it from a
    callback (before the widgets exist in this run)."""
    column, op = node["column"], node["op"]
    if column not in entity.columns or op not in OPERATORS:
        return  # the form opens on its defaults; the problem stays shown at the condition
    state = st.session_state
    state[f"{key}_column"], state[f"{key}_op"] = column, op
    shape = OPERATORS[op].shape
    choices = column_choices(ws, entity, column) if shape is not ValueShape.NONE else None
    widget = sv.value_widget(entity.columns[column].kind, shape, choices)
    shown = sv.widget_value(widget, node.get("value"))
    if widget in ("multiselect", "select") and choices is not None:  # a menu holds only these
        shown = [v for v in shown if v in choices] if widget == "multiselect" else shown
        if widget == "select" and shown not in choices:
            return
    if shown is None:
        return
    value_key = f"{key}_value_{column}_{widget}"
    if widget in ("number_range", "date_range"):
        state[f"{value_key}_low"], state[f"{value_key}_high"] = shown
    else:
        state[value_key] = shown


def related_condition_input(ws: Workspace, related: Entity) -> dict[str, Any]:
    """Related entity: optional where, optional time window, having agg/op/value."""
    where = None
    if st.checkbox(f"Only {related.name} where…", key="rel_use_where"):
        where = column_condition_input(ws, related, "rel_where")
    days = None
    if related.spec.time_column and st.checkbox("Only within the last … days", key="rel_window"):
        days = int(st.number_input("Days", min_value=0, value=365, step=1, key="rel_days"))
    agg = st.selectbox("Having", AGGREGATES, key="rel_agg")
    column, kind = None, ColumnKind.NUMBER
    if agg != "count":
        fitting = [c.name for c in related.columns.values() if c.kind in AGG_KINDS[agg]]
        column = st.selectbox("Of column", fitting, key="rel_agg_column")
        kind = related.columns[column].kind if column else kind
    op = st.selectbox(
        "Compared", HAVING_OPERATORS, format_func=lambda k: OPERATORS[k].label, key="rel_op"
    )
    value = value_input(f"rel_value_{agg}_{column}", kind, OPERATORS[op].shape, None)
    having = sv.having(agg, op, value, column)
    return sv.related_condition(related.name, where=where, within_last_days=days, having=having)
