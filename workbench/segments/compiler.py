"""The compiler: a valid segment becomes a sqlglot expression, rendered for a SQL dialect.

Every value is bound as a parameter (``$p1`` in DuckDB, ``%(p1)s`` in PostgreSQL, ``:p1`` in
Snowflake, ``@p1`` in BigQuery); only catalogued identifiers appear, quoted. Every predicate
is two-valued (never NULL), so ``not`` and nesting are safe. Relative dates are computed in
Python from ``as_of`` and bound. A related-entity condition becomes a semi-join
(``COALESCE(pk IN (SELECT fk ... GROUP BY fk HAVING ...), FALSE)``) when nobody without related
rows can match, and an anti-join (``COALESCE(NOT pk IN (... HAVING NOT ...), TRUE)``) when a
count of 0 matches; "any row" and "no row" need no grouping at all. (COALESCE keeps these
never-NULL without hiding the join from DuckDB's optimizer, which ``AND pk IS NOT NULL`` did.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from workbench.catalog import Catalog, ColumnKind, Entity
from workbench.errors import NotFoundError, SegmentInvalid, WorkbenchError
from workbench.segments.model import Segment, document_of, parse_segment
from workbench.segments.operators import (
    OPERATORS,
    BuildArgs,
    all_of,
    any_of,
    is_null,
    negate,
)
from workbench.segments.validate import Lookup, node_kind, validate_segment
from workbench.segments.values import parse_moment, to_naive_utc

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")
_AGGREGATES: dict[str, Callable[..., exp.Expression]] = {
    "sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max,
}  # fmt: skip


@dataclass(frozen=True)
class CompiledSegment:
    """SQL text for one dialect plus the values bound to its placeholders."""

    sql: str
    params: dict[str, Any]
    dialect: str = "duckdb"


def resolve_as_of(as_of: datetime | date | str | None = None) -> datetime:
    """The as-of moment as naive UTC: now by default; a date alone is 00:00 UTC that day."""
    if as_of is None:
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    if isinstance(as_of, str):
        as_of = parse_moment(as_of)
    if isinstance(as_of, datetime):
        return to_naive_utc(as_of)
    return datetime(as_of.year, as_of.month, as_of.day)


def no_saved_segments(name: str) -> dict[str, Any]:
    """A lookup for when no store is at hand: every name is unknown."""
    raise NotFoundError(f"no saved segment called {name!r}")


def as_lookup(lookup: Lookup | Mapping[str, Any] | None) -> Lookup:
    """A lookup function from a function, a dict of documents by name, or None."""
    if lookup is None:
        return no_saved_segments
    if isinstance(lookup, Mapping):
        documents = lookup

        def from_mapping(name: str) -> Any:
            if name not in documents:
                raise NotFoundError(f"no saved segment called {name!r}")
            return documents[name]

        return from_mapping
    return lookup


def checked_segment(segment: Any, catalog: Catalog, lookup: Lookup) -> Segment:
    """The parsed segment if it is valid; SegmentInvalid listing every problem otherwise."""
    parsed = parse_segment(segment)
    problems = validate_segment(parsed, catalog, lookup)
    if problems:
        raise SegmentInvalid(problems)
    return parsed


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

    def bind(self, value: Any) -> exp.Expression:
        """A placeholder for ``value`` (named p1, p2, ... in order of appearance)."""
        name = f"p{len(self.params) + 1}"
        self.params[name] = value
        return exp.Placeholder(this=name)

    def segment(self, segment: Segment) -> exp.Expression:
        """The predicate of a whole segment (TRUE when it has no filter)."""
        entity = self.catalog.entity(segment.entity)
        return exp.true() if segment.filter is None else self.node(segment.filter, entity)

    def node(self, node: Mapping[str, Any], entity: Entity) -> exp.Expression:
        """The predicate of one node over ``entity``'s rows."""
        kind = node_kind(node)
        if kind == "and":
            return all_of(*(self.node(n, entity) for n in node["and"]))
        if kind == "or":
            return any_of(*(self.node(n, entity) for n in node["or"]))
        if kind == "not":
            return negate(self.node(node["not"], entity))
        if kind == "related":
            return self.related(node, entity)
        if kind == "in_segment":
            saved = parse_segment(document_of(self.lookup(node["in_segment"])))
            return exp.Paren(this=self.segment(saved))
        return self.condition(node, entity)

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

    def condition(self, node: Mapping[str, Any], entity: Entity) -> exp.Expression:
        """A property condition ``{column, op, value}``."""
        col = entity.columns[node["column"]]
        op = OPERATORS[node["op"]]
        value = op.rule(col.kind).convert(node.get("value"))
        return op.predicate(column(col.name), self.args(value, col.kind, col.type))

    def related(self, node: Mapping[str, Any], person: Entity) -> exp.Expression:
        """A related-entity condition as a semi-join or an anti-join on the person's key."""
        related = self.catalog.entity(node["related"])
        assert related.spec.relation is not None  # validated: it points at ``person``
        fk = column(related.spec.relation.foreign_key)
        having = node.get("having") or {"agg": "count", "op": "gte", "value": 1}
        true_at_zero = self._true_at_zero(having)
        query = exp.select(fk.copy()).from_(related.source_expression(), copy=False)
        query = query.where(*self._related_filters(node, related, fk), copy=False)
        if not _is_any_row(having) and not (true_at_zero and _is_no_row(having)):
            test = self._having(having, related)
            query = query.group_by(fk.copy(), copy=False)
            query = query.having(negate(test) if true_at_zero else test, copy=False)
        membership = exp.In(this=column(person.spec.primary_key), query=query.subquery())
        # COALESCE (not "AND pk IS NOT NULL") keeps DuckDB's semi/anti-join plan intact
        if true_at_zero:
            return exp.Coalesce(this=negate(membership), expressions=[exp.true()])
        return exp.Coalesce(this=membership, expressions=[exp.false()])

    def _related_filters(
        self, node: Mapping[str, Any], related: Entity, fk: exp.Expression
    ) -> list[exp.Expression]:
        filters: list[exp.Expression] = [negate(is_null(fk))]
        if node.get("where") is not None:
            filters.append(self.node(node["where"], related))
        if node.get("within_last_days") is not None:
            time = related.columns[str(related.spec.time_column)]
            window = OPERATORS["within_last_days"]
            args = self.args(node["within_last_days"], time.kind, time.type)
            filters.append(window.predicate(column(time.name), args))
        return filters

    def _true_at_zero(self, having: Mapping[str, Any]) -> bool:
        """Whether people with no related rows match (only a count can be 0; other
        aggregates of no rows are NULL, and comparisons with NULL are false)."""
        if having["agg"] != "count":
            return False
        op = OPERATORS[having["op"]]
        assert op.compare is not None
        return op.compare(0, op.rule(ColumnKind.NUMBER).convert(having.get("value")))

    def _having(self, having: Mapping[str, Any], related: Entity) -> exp.Expression:
        op = OPERATORS[having["op"]]
        if having["agg"] == "count":
            value = op.rule(ColumnKind.NUMBER).convert(having.get("value"))
            return op.build(exp.Count(this=exp.Star()), self.args(value, ColumnKind.NUMBER))
        col = related.columns[having["column"]]
        aggregate = _AGGREGATES[having["agg"]](this=column(col.name))
        value = op.rule(col.kind).convert(having.get("value"))
        return op.predicate(aggregate, self.args(value, col.kind, col.type))


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
    query = exp.select(*selected).from_(entity.source_expression(), copy=False)
    query = query.where(predicate, copy=False)
    return query.order_by(column(entity.spec.primary_key), copy=False)


def count_query(entity: Entity, predicate: exp.Expression) -> exp.Select:
    """``SELECT count(*) FROM <source> WHERE <predicate>``."""
    count = exp.Count(this=exp.Star())
    query = exp.select(count).from_(entity.source_expression(), copy=False)
    return query.where(predicate, copy=False)


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
    query = member_query(catalog.entity(parsed.entity), compiler.segment(parsed), columns)
    return CompiledSegment(query.sql(dialect=dialect), compiler.params, dialect)
