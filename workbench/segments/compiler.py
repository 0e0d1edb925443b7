"""The compiler: a valid segment becomes a sqlglot expression, rendered for a SQL dialect.

Every value is bound as a parameter (``$p1`` in DuckDB, ``%(p1)s`` in PostgreSQL, ``:p1`` in
Snowflake, ``@p1`` in BigQuery); only catalogued identifiers appear, quoted. Every predicate
is two-valued (never NULL), so ``not`` and nesting are safe. Relative dates are computed in
Python from ``as_of`` and bound. The segment's entity is aliased ``t0``; a related-entity
condition becomes a correlated ``EXISTS (SELECT 1 FROM related AS t1 WHERE t1.fk = t0.pk ...
GROUP BY t1.fk HAVING ...)`` when nobody without related rows can match, and ``NOT EXISTS (...
HAVING NOT ...)`` when a count of 0 matches; "any row" and "no row" need no grouping. DuckDB
plans these as SEMI and ANTI hash joins (as fast as a hand-written ``pk IN (...)``), and
EXISTS is never NULL, unlike ``pk IN (...)``, whose NULL-safe forms (COALESCE, ``AND pk IS NOT
NULL``) turn DuckDB's semi-join into a slower MARK join.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from workbench.catalog import Catalog, ColumnKind, Entity
from workbench.errors import SegmentInvalid, WorkbenchError
from workbench.segments.model import (
    Segment,
    as_lookup,
    document_of,
    parse_segment,
    resolve_as_of,
)
from workbench.segments.operators import (
    OPERATORS,
    BuildArgs,
    all_of,
    any_of,
    negate,
)
from workbench.segments.validate import Lookup, node_kind, validate_segment

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")
NATIVE_IS_BOOLEAN = ("duckdb", "postgres", "bigquery")  # dialects that have ``x IS TRUE``
TOP_ALIAS = "t0"  # the segment's own entity; related entities nest as t1, t2, ...
_AGGREGATES: dict[str, Callable[..., exp.Expression]] = {
    "sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max,
}  # fmt: skip


@dataclass(frozen=True)
class CompiledSegment:
    """SQL text for one dialect plus the values bound to its placeholders."""

    sql: str
    params: dict[str, Any]
    dialect: str = "duckdb"


def checked_segment(segment: Any, catalog: Catalog, lookup: Lookup) -> Segment:
    """The parsed segment if it is valid; SegmentInvalid listing every problem otherwise."""
    parsed = parse_segment(segment)
    problems = validate_segment(parsed, catalog, lookup)
    if problems:
        raise SegmentInvalid(problems)
    return parsed


def aliased(entity: Entity, alias: str) -> exp.Expression:
    """The entity's FROM item with a table alias (``"customers" AS "t0"``)."""
    return cast(
        exp.Expression, exp.alias_(entity.source_expression(), alias, table=True, quoted=True)
    )


def column(name: str) -> exp.Column:
    """A quoted column reference."""
    return exp.column(name, quoted=True)


class PredicateCompiler:
    """Turns validated filter nodes into never-NULL predicates; collects the bound values."""

    def __init__(self, catalog: Catalog, lookup: Lookup, as_of: datetime) -> None:
        self.catalog = catalog
        self.lookup = lookup
        self.as_of = as_of
        self.params: dict[str, Any] = {}
        self.scope = [TOP_ALIAS]

    def col(self, name: str) -> exp.Column:
        """A quoted column of the entity in the current scope (``"t1"."amount"``)."""
        return exp.column(name, table=self.scope[-1], quoted=True)

    def bind(self, value: Any) -> exp.Expression:
        """A placeholder for ``value`` (named p1, p2, ... in order of appearance)."""
        name = f"p{len(self.params) + 1}"
        self.params[name] = value
        return exp.Placeholder(this=name)

    def segment(self, segment: Segment, strict: bool = True) -> exp.Expression:
        """The predicate of a whole segment (TRUE when it has no filter).

        ``strict`` (the default) gives a predicate that is never NULL, safe to negate or
        combine anywhere. ``strict=False`` is for the top of a WHERE or FILTER clause, where
        NULL and FALSE select the same rows: there, conditions that are false on NULL skip
        their guard (the ``not`` parts stay strict), which lets DuckDB use plain range filters
        and short-circuit ORs (up to 1.3x faster on 5M customers).
        """
        entity = self.catalog.entity(segment.entity)
        if segment.filter is None:
            return exp.true()
        return self.node(segment.filter, entity, strict)

    def node(self, node: Mapping[str, Any], entity: Entity, strict: bool = True) -> exp.Expression:
        """The predicate of one node over ``entity``'s rows (``strict``: never NULL)."""
        kind = node_kind(node)
        if kind == "and":
            return all_of(*(self.node(n, entity, strict) for n in node["and"]))
        if kind == "or":
            return any_of(*(self.node(n, entity, strict) for n in node["or"]))
        if kind == "not":
            return negate(self.node(node["not"], entity, strict=True))
        if kind == "related":
            return self.related(node, entity)
        if kind == "in_segment":
            saved = parse_segment(document_of(self.lookup(node["in_segment"])))
            return exp.Paren(this=self.segment(saved, strict))
        return self.condition(node, entity, strict)

    def args(self, value: Any, kind: ColumnKind, type_name: str = "") -> BuildArgs:
        """Builder arguments; naive times become aware ones for TIMESTAMPTZ columns."""
        bind: Callable[[Any], exp.Expression] = self.bind
        if "TIME ZONE" in type_name.upper():
            bind = self.bind_aware
        return BuildArgs(value=value, kind=kind, bind=bind, as_of=self.as_of)

    def bind_aware(self, value: Any) -> exp.Expression:
        """Bind a naive UTC datetime as an aware one (for TIMESTAMP WITH TIME ZONE)."""
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return self.bind(value)

    def condition(
        self, node: Mapping[str, Any], entity: Entity, strict: bool = True
    ) -> exp.Expression:
        """A property condition ``{column, op, value}``."""
        col = entity.columns[node["column"]]
        op = OPERATORS[node["op"]]
        value = op.rule(col.kind).convert(node.get("value"))
        return op.predicate(self.col(col.name), self.args(value, col.kind, col.type), strict)

    def related(self, node: Mapping[str, Any], person: Entity) -> exp.Expression:
        """A related-entity condition: ``EXISTS`` (a semi-join) when people without related
        rows cannot match, ``NOT EXISTS`` (an anti-join) when a count of 0 matches."""
        related = self.catalog.entity(node["related"])
        assert related.spec.relation is not None  # validated: it points at ``person``
        having = node.get("having") or {"agg": "count", "op": "gte", "value": 1}
        true_at_zero = self._true_at_zero(having)
        outer, inner = self.scope[-1], f"t{len(self.scope)}"
        self.scope.append(inner)
        try:
            query = self._related_query(node, person, related, outer, inner)
            if not _is_any_row(having) and not (true_at_zero and _is_no_row(having)):
                test = self._having(having, related, strict=true_at_zero)
                query = query.group_by(self.col(related.spec.relation.foreign_key), copy=False)
                query = query.having(negate(test) if true_at_zero else test, copy=False)
        finally:
            self.scope.pop()
        exists = exp.Exists(this=query)
        return negate(exists) if true_at_zero else exists

    def _related_query(
        self, node: Mapping[str, Any], person: Entity, related: Entity, outer: str, inner: str
    ) -> exp.Select:
        assert related.spec.relation is not None
        fk = self.col(related.spec.relation.foreign_key)
        pk = exp.column(person.spec.primary_key, table=outer, quoted=True)
        filters: list[exp.Expression] = [exp.EQ(this=fk, expression=pk)]
        if node.get("where") is not None:
            filters.append(self.node(node["where"], related, strict=False))
        if node.get("within_last_days") is not None:
            time = related.columns[str(related.spec.time_column)]
            window = OPERATORS["within_last_days"]
            args = self.args(node["within_last_days"], time.kind, time.type)
            filters.append(window.predicate(self.col(time.name), args, strict=False))
        query = exp.select(exp.Literal.number(1)).from_(aliased(related, inner), copy=False)
        return query.where(*filters, copy=False)

    def _true_at_zero(self, having: Mapping[str, Any]) -> bool:
        """Whether people with no related rows match (only a count can be 0; other
        aggregates of no rows are NULL, and comparisons with NULL are false)."""
        if having["agg"] != "count":
            return False
        op = OPERATORS[having["op"]]
        assert op.compare is not None
        return op.compare(0, op.rule(ColumnKind.NUMBER).convert(having.get("value")))

    def _having(self, having: Mapping[str, Any], related: Entity, strict: bool) -> exp.Expression:
        op = OPERATORS[having["op"]]
        if having["agg"] == "count":
            value = op.rule(ColumnKind.NUMBER).convert(having.get("value"))
            return op.build(exp.Count(this=exp.Star()), self.args(value, ColumnKind.NUMBER))
        col = related.columns[having["column"]]
        aggregate = _AGGREGATES[having["agg"]](this=self.col(col.name))
        value = op.rule(col.kind).convert(having.get("value"))
        return op.predicate(aggregate, self.args(value, col.kind, col.type), strict)


def _is_no_row(having: Mapping[str, Any]) -> bool:
    """``count = 0`` / ``< 1`` / ``<= 0``: an anti-join on any row, no grouping needed."""
    if having["agg"] != "count":
        return False
    return (having["op"], having.get("value")) in (("eq", 0), ("lt", 1), ("lte", 0))


def _is_any_row(having: Mapping[str, Any]) -> bool:
    """``count >= 1`` / ``count > 0``: a plain semi-join, no grouping needed."""
    if having["agg"] != "count":
        return False
    return (having["op"], having.get("value")) in (("gte", 1), ("gt", 0))


def person_columns(entity: Entity, columns: list[str] | None = None) -> list[str]:
    """The columns a member query selects: given ones (checked), or the key and email."""
    if columns is None:
        columns = [entity.spec.primary_key]
        if entity.spec.email_column and entity.spec.email_column != entity.spec.primary_key:
            columns.append(entity.spec.email_column)
    return [entity.column(name).name for name in columns]


def member_query(
    entity: Entity, predicate: exp.Expression, columns: list[str] | None = None
) -> exp.Select:
    """``SELECT <columns> FROM <source> WHERE <predicate> ORDER BY <pk>``."""
    selected = [column(name) for name in person_columns(entity, columns)]
    query = exp.select(*selected).from_(aliased(entity, TOP_ALIAS), copy=False)
    query = query.where(predicate, copy=False)
    return query.order_by(column(entity.spec.primary_key), copy=False)


def count_query(entity: Entity, predicate: exp.Expression) -> exp.Select:
    """``SELECT count(*) FROM <source> WHERE <predicate>``."""
    count = exp.Count(this=exp.Star())
    query = exp.select(count).from_(aliased(entity, TOP_ALIAS), copy=False)
    return query.where(predicate, copy=False)


def _coalesced(node: exp.Expression) -> exp.Expression:
    """``(p) IS TRUE`` -> ``COALESCE(p, FALSE)``; ``(p) IS FALSE`` -> ``COALESCE(NOT p, FALSE)``."""
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Boolean):
        pred = node.this if node.expression.this else negate(node.this)
        return exp.Coalesce(this=pred, expressions=[exp.false()])
    return node


def render(query: exp.Expression, dialect: str) -> str:
    """SQL text for ``dialect``; where ``IS TRUE`` is not SQL (Snowflake...), COALESCE."""
    if dialect not in NATIVE_IS_BOOLEAN:
        query = query.transform(_coalesced)
    return query.sql(dialect=dialect)


def check_dialect(dialect: str) -> None:
    """A WorkbenchError naming the usual dialects when sqlglot does not know ``dialect``."""
    try:
        Dialect.get_or_raise(dialect)
    except ValueError:
        raise WorkbenchError(
            f"unknown SQL dialect {dialect!r} (for example: {', '.join(DIALECTS)})"
        ) from None


def compile_segment(
    segment: Any,
    catalog: Catalog,
    lookup: Lookup | Mapping[str, Any] | None = None,
    as_of: datetime | date | str | None = None,
    dialect: str = "duckdb",
    columns: list[str] | None = None,
) -> CompiledSegment:
    """The member query of a segment, rendered for ``dialect``; SegmentInvalid if invalid."""
    check_dialect(dialect)
    resolved = as_lookup(lookup)
    parsed = checked_segment(segment, catalog, resolved)
    compiler = PredicateCompiler(catalog, resolved, resolve_as_of(as_of))
    predicate = compiler.segment(parsed, strict=False)
    query = member_query(catalog.entity(parsed.entity), predicate, columns)
    return CompiledSegment(render(query, dialect), compiler.params, dialect)
