"""Plain-English descriptions of segments, from the same operator table the compiler uses.

``describe_segment`` reads like "customers where country is SE and plan is one of pro,
enterprise and (lifetime value is at least 500 or signup at is within the last 30 days) and
having at least 3 events where name is purchase within the last 90 days".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workbench.catalog import Catalog
from workbench.segments.model import Segment, parse_segment
from workbench.segments.operators import OPERATORS
from workbench.segments.validate import node_kind

_AGG_WORDS = {"sum": "total", "avg": "average", "min": "smallest", "max": "largest"}


def label(name: str) -> str:
    """A column or entity name as words: ``lifetime_value`` -> ``lifetime value``."""
    return name.replace("_", " ")


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(template: str, column: str, value: Any) -> str:
    low, high = [*value, None, None][:2] if isinstance(value, list) else (None, None)
    return template.format(
        column=column, value=_value_text(value), low=_value_text(low), high=_value_text(high)
    )


def describe_node(node: Mapping[str, Any], nested: bool = False) -> str:
    """One filter node in English; ``nested`` puts groups in parentheses."""
    kind = node_kind(node)
    if kind in ("and", "or"):
        text = f" {kind} ".join(describe_node(child, nested=True) for child in node[kind])
        return f"({text})" if nested and len(node[kind]) > 1 else text
    if kind == "not":
        inner = node["not"]
        if node_kind(inner) == "in_segment":
            return f"not in segment {inner['in_segment']}"
        return f"not ({describe_node(inner)})"
    if kind == "in_segment":
        return f"in segment {node['in_segment']}"
    if kind == "related":
        return describe_related(node)
    op = OPERATORS.get(str(node.get("op")))
    if op is None:
        return f"{label(str(node.get('column')))} {node.get('op')} {node.get('value')}"
    return _fill(op.template, label(str(node["column"])), node.get("value"))


def describe_related(node: Mapping[str, Any]) -> str:
    """A related-entity condition: "having at least 3 events where ... within the last 90 days"."""
    entity = label(str(node["related"]))
    having = node.get("having") or {"agg": "count", "op": "gte", "value": 1}
    op = OPERATORS.get(str(having.get("op")))
    amount = _fill(op.quantity, "", having.get("value")) if op and op.quantity else "?"
    if having.get("agg") == "count":
        text = _count_phrase(having, amount, entity)
    else:
        agg = _AGG_WORDS.get(str(having.get("agg")), str(having.get("agg")))
        text = f"having {entity} with {agg} {label(str(having.get('column')))} {amount}"
    if node.get("where") is not None:
        text += f" where {describe_node(node['where'])}"
    if node.get("within_last_days") is not None:
        text += f" within the last {node['within_last_days']} days"
    return text


def _count_phrase(having: Mapping[str, Any], amount: str, entity: str) -> str:
    op, value = having.get("op"), having.get("value")
    if (op, value) in (("gte", 1), ("gt", 0)):
        return f"having any {entity}"
    if (op, value) in (("eq", 0), ("lt", 1), ("lte", 0)):
        return f"having no {entity}"
    return f"having {amount} {entity}"


def describe_segment(doc: Mapping[str, Any] | Segment | str, catalog: Catalog | None = None) -> str:
    """The whole segment in one English sentence ("customers where ...")."""
    segment = parse_segment(doc)
    who = label(segment.entity)
    if catalog is not None and segment.entity in catalog.entities:
        who = label(catalog.entities[segment.entity].name)
    if segment.filter is None:
        return f"all {who}"
    return f"{who} where {describe_node(segment.filter)}"
