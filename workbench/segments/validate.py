"""Validation: every problem of a segment document at once, each with its path.

Paths read like ``filter.and[2].or[0].value``. The validator checks the tree's shape (one
kind of node per object, no unknown keys), every column and entity against the catalog,
every operator against the column's kind (from the operator table) and every value against
the operator's shape, and follows ``in_segment`` references through ``lookup`` to find
unknown segments, other entities and cycles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workbench.catalog import Catalog, ColumnKind, Entity
from workbench.errors import NotFoundError, Problem
from workbench.segments.model import (
    Lookup,
    Segment,
    document_of,
    load_text,
    top_level_problems,
)
from workbench.segments.operators import AGGREGATES, HAVING_OPERATORS, OPERATORS, get_operator
from workbench.segments.values import ValueProblem, ValueRule, ValueShape, days

NODE_KEYS: dict[str, frozenset[str]] = {
    "and": frozenset({"and"}),
    "or": frozenset({"or"}),
    "not": frozenset({"not"}),
    "column": frozenset({"column", "op", "value"}),
    "related": frozenset({"related", "where", "within_last_days", "having"}),
    "in_segment": frozenset({"in_segment"}),
}
HAVING_KEYS = frozenset({"agg", "column", "op", "value"})
AGG_KINDS = {
    "sum": frozenset({ColumnKind.NUMBER}),
    "avg": frozenset({ColumnKind.NUMBER}),
    "min": frozenset({ColumnKind.NUMBER, ColumnKind.DATE, ColumnKind.TIMESTAMP}),
    "max": frozenset({ColumnKind.NUMBER, ColumnKind.DATE, ColumnKind.TIMESTAMP}),
}


def node_kind(node: Mapping[str, Any]) -> str | None:
    """Which kind of node this object is (``and``, ``column``, ...), or None if ambiguous."""
    kinds = [k for k in NODE_KEYS if k in node]
    return kinds[0] if len(kinds) == 1 else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Validator:
    """Walks one document's filter tree and collects problems."""

    def __init__(self, catalog: Catalog, lookup: Lookup, chain: tuple[str, ...]) -> None:
        self.catalog = catalog
        self.lookup = lookup
        self.chain = chain
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(path, message))

    def node(self, node: Any, path: str, entity: Entity) -> None:
        """Check one node (and everything under it) over ``entity``'s columns."""
        if not isinstance(node, Mapping):
            self.add(path, "expected a condition object")
            return
        kind = node_kind(node)
        if kind is None:
            found = ", ".join(k for k in NODE_KEYS if k in node) or "none of them"
            self.add(path, f"a condition needs exactly one of {', '.join(NODE_KEYS)} "
                           f"(found: {found})")  # fmt: skip
            return
        for key in node:
            if key not in NODE_KEYS[kind]:
                self.add(_join(path, str(key)), f"unknown key in a {kind!r} condition "
                         f"(allowed: {', '.join(sorted(NODE_KEYS[kind]))})")  # fmt: skip
        getattr(self, f"_{kind}")(node, path, entity)

    def _and(self, node: Mapping[str, Any], path: str, entity: Entity) -> None:
        self._group(node, "and", path, entity)

    def _or(self, node: Mapping[str, Any], path: str, entity: Entity) -> None:
        self._group(node, "or", path, entity)

    def _group(self, node: Mapping[str, Any], key: str, path: str, entity: Entity) -> None:
        items = node[key]
        if not isinstance(items, list) or not items:
            self.add(_join(path, key), "expected a non-empty list of conditions")
            return
        for i, child in enumerate(items):
            self.node(child, f"{_join(path, key)}[{i}]", entity)

    def _not(self, node: Mapping[str, Any], path: str, entity: Entity) -> None:
        self.node(node["not"], _join(path, "not"), entity)

    def _column(self, node: Mapping[str, Any], path: str, entity: Entity) -> None:
        column = self._known_column(node["column"], _join(path, "column"), entity)
        op = self._known_operator(node.get("op"), _join(path, "op"), column, entity)
        if op is not None and column is not None:
            self._value(node, path, op.key, op.rule(entity.columns[column].kind))

    def _known_column(self, name: Any, path: str, entity: Entity) -> str | None:
        if isinstance(name, str) and name in entity.columns:
            return name
        known = ", ".join(entity.columns)
        self.add(path, f"unknown column {name!r} of {entity.name!r} (columns: {known})")
        return None

    def _known_operator(self, key: Any, path: str, column: str | None, entity: Entity) -> Any:
        op = get_operator(key) if isinstance(key, str) else None
        if op is None:
            self.add(path, f"unknown operator {key!r} (operators: {', '.join(OPERATORS)})")
            return None
        if column is not None and entity.columns[column].kind not in op.kinds:
            kind = entity.columns[column].kind
            fitting = ", ".join(o.key for o in OPERATORS.values() if kind in o.kinds)
            self.add(path, f"operator {op.key!r} does not apply to {kind.value} column "
                           f"{column!r} (use one of: {fitting})")  # fmt: skip
            return None
        return op

    def _value(self, node: Mapping[str, Any], path: str, op_key: str, rule: ValueRule) -> None:
        vpath = _join(path, "value")
        if rule.shape is ValueShape.NONE:
            if "value" in node:
                self.add(vpath, f"operator {op_key!r} takes no value: remove it")
            return
        if "value" not in node:
            self.add(vpath, f"operator {op_key!r} needs a value")
            return
        try:
            rule.convert(node["value"])
        except ValueProblem as problem:
            self.add(vpath + problem.subpath, problem.message)

    def _related(self, node: Mapping[str, Any], path: str, entity: Entity) -> None:
        related = self._related_entity(node["related"], _join(path, "related"), entity)
        if related is None:
            return
        if "where" in node:
            self.node(node["where"], _join(path, "where"), related)
        if "within_last_days" in node:
            self._window(node["within_last_days"], _join(path, "within_last_days"), related)
        if node.get("having") is not None:
            self._having(node["having"], _join(path, "having"), related)

    def _related_entity(self, name: Any, path: str, person: Entity) -> Entity | None:
        candidates = {e.name: e for e in self.catalog.related_to(person.name)}
        if isinstance(name, str) and name in candidates:
            return candidates[name]
        fitting = ", ".join(candidates) or "none"
        if isinstance(name, str) and name in self.catalog.entities:
            self.add(path, f"entity {name!r} is not related to {person.name!r} "
                           f"(related: {fitting})")  # fmt: skip
        else:
            self.add(path, f"unknown entity {name!r} (related to {person.name!r}: {fitting})")
        return None

    def _window(self, raw: Any, path: str, related: Entity) -> None:
        if related.spec.time_column is None:
            self.add(path, f"entity {related.name!r} has no time column to count days on")
        try:
            days(raw)
        except ValueProblem as problem:
            self.add(path, problem.message)

    def _having(self, having: Any, path: str, related: Entity) -> None:
        if not isinstance(having, Mapping):
            self.add(path, "expected an object like {agg: count, op: gte, value: 1}")
            return
        for key in having:
            if key not in HAVING_KEYS:
                self.add(_join(path, str(key)), "unknown key (allowed: agg, column, op, value)")
        agg = having.get("agg")
        if agg not in AGGREGATES:
            self.add(_join(path, "agg"), f"expected one of {', '.join(AGGREGATES)}, got {agg!r}")
            return
        kind = self._aggregated_kind(agg, having, path, related)
        op = having.get("op")
        if op not in HAVING_OPERATORS:
            self.add(_join(path, "op"), f"expected one of {', '.join(HAVING_OPERATORS)}")
        elif kind is not None:
            self._value(having, path, op, OPERATORS[op].rule(kind))

    def _aggregated_kind(
        self, agg: str, having: Mapping[str, Any], path: str, related: Entity
    ) -> ColumnKind | None:
        if agg == "count":
            if "column" in having:
                self.add(_join(path, "column"), "count counts rows: remove the column")
            return ColumnKind.NUMBER
        if "column" not in having:
            self.add(_join(path, "column"), f"{agg} needs a column of {related.name!r}")
            return None
        column = self._known_column(having["column"], _join(path, "column"), related)
        if column is None:
            return None
        kind = related.columns[column].kind
        if kind not in AGG_KINDS[agg]:
            self.add(_join(path, "column"), f"cannot take {agg} of {kind.value} column {column!r}")
            return None
        return kind

    def _in_segment(self, node: Mapping[str, Any], path: str, entity: Entity) -> None:
        path, name = _join(path, "in_segment"), node["in_segment"]
        if not isinstance(name, str):
            self.add(path, "expected the name of a saved segment")
        elif name in self.chain:
            self.add(path, "cycle: " + " → ".join((*self.chain[self.chain.index(name) :], name)))
        else:
            self._referenced(name, path, entity)

    def _referenced(self, name: str, path: str, entity: Entity) -> None:
        try:
            doc = document_of(self.lookup(name))
        except NotFoundError:
            self.add(path, f"unknown segment {name!r}: save it first, or check the name")
            return
        if doc.get("entity") != entity.name:
            self.add(path, f"segment {name!r} is about {doc.get('entity')!r}, not {entity.name!r}")
            return
        for problem in _validate(doc, self.catalog, self.lookup, (*self.chain, name)):
            self.add(path, f"in segment {name!r}: {problem}")


def _validate(doc: Any, catalog: Catalog, lookup: Lookup, chain: tuple[str, ...]) -> list[Problem]:
    problems = top_level_problems(doc)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("entity"), str):
        return problems
    if doc["entity"] not in catalog.entities:
        known = ", ".join(catalog.entities) or "none"
        return [*problems, Problem("entity", f"unknown entity {doc['entity']!r} (known: {known})")]
    validator = _Validator(catalog, lookup, chain)
    if isinstance(doc.get("filter"), Mapping):
        validator.node(doc["filter"], "filter", catalog.entities[doc["entity"]])
    return problems + validator.problems


def validate_segment(
    doc: Mapping[str, Any] | Segment | str, catalog: Catalog, lookup: Lookup
) -> list[Problem]:
    """Every problem of the document, with its path; an empty list means it is valid.

    ``lookup(name)`` returns a saved segment's document or raises NotFoundError.
    """
    if isinstance(doc, Segment):
        doc = doc.to_dict()
    elif isinstance(doc, str):
        doc = load_text(doc)
    name = doc.get("name") if isinstance(doc, Mapping) else None
    return _validate(doc, catalog, lookup, (name,) if isinstance(name, str) else ())
