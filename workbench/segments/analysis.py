"""Looking inside a segment: per-condition counts (a funnel), breakdown by a column, overlap.

Each analysis runs as one query over the person entity with ``count(*) FILTER (WHERE ...)``
columns, so the entity is scanned once however many numbers come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlglot import exp

from workbench.catalog import ColumnKind
from workbench.errors import WorkbenchError
from workbench.segments.compiler import TOP_ALIAS, aliased, column
from workbench.segments.describe import describe_node, label
from workbench.segments.engine import AsOf, LookupLike, Prepared, prepare, run_query
from workbench.segments.operators import all_of, any_of, negate
from workbench.segments.validate import node_kind
from workbench.workspace import Workspace


@dataclass(frozen=True)
class ConditionCount:
    """One step of the funnel: a condition alone, and together with the ones before it."""

    path: str
    description: str
    alone: int
    cumulative: int


@dataclass(frozen=True)
class Overlap:
    """Sizes of two segments' parts: only in a, in both, only in b."""

    only_a: int
    both: int
    only_b: int

    @property
    def union(self) -> int:
        """Everyone in a or b."""
        return self.only_a + self.both + self.only_b


def _counted(predicate: exp.Expression) -> exp.Expression:
    return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=predicate))


def _counts_row(ws: Workspace, prep: Prepared, predicates: list[exp.Expression]) -> list[int]:
    columns = [_counted(p) for p in predicates]
    query = exp.select(*columns).from_(aliased(prep.entity, TOP_ALIAS))
    row = run_query(ws, prep.render(query), lambda rel: rel.fetchall()[0])
    return [int(v) for v in row]


def _top_conditions(prep: Prepared) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """How the top level combines (``and``/``or``) and its conditions with their paths."""
    root = prep.segment.filter
    if root is None:
        return "and", []
    kind = node_kind(root)
    if kind in ("and", "or"):
        return str(kind), [(f"filter.{kind}[{i}]", n) for i, n in enumerate(root[kind])]
    return "and", [("filter", root)]


def condition_counts(
    ws: Workspace, segment: Any, as_of: AsOf = None, lookup: LookupLike = None
) -> list[ConditionCount]:
    """The funnel: everyone first, then each top-level condition alone and cumulatively.

    For a top-level ``and`` the cumulative count shrinks (people matching this condition and
    all before it); for a top-level ``or`` it grows (people matching any so far).
    """
    prep = prepare(ws, segment, as_of, lookup)
    combine, conditions = _top_conditions(prep)
    joiner = all_of if combine == "and" else any_of
    alone = [prep.compiler.node(node, prep.entity, strict=False) for _, node in conditions]
    cumulative = [joiner(*(p.copy() for p in alone[: i + 1])) for i in range(len(alone))]
    numbers = _counts_row(ws, prep, [exp.true(), *alone, *cumulative])
    everyone = ConditionCount("", f"all {label(prep.entity.name)}", numbers[0], numbers[0])
    steps = [
        ConditionCount(path, describe_node(node), numbers[1 + i], numbers[1 + len(alone) + i])
        for i, (path, node) in enumerate(conditions)
    ]
    return [everyone, *steps]


def breakdown(
    ws: Workspace,
    segment: Any,
    column_name: str,
    as_of: AsOf = None,
    limit: int = 20,
    lookup: LookupLike = None,
) -> pl.DataFrame:
    """Members counted by the values of one column (``value``, ``members``), largest first.

    A list column counts each value in the list (a member with two tags counts twice).
    """
    prep = prepare(ws, segment, as_of, lookup)
    col = prep.entity.column(column_name)
    value: exp.Expression = column(col.name)
    if col.kind is ColumnKind.TEXT_LIST:
        value = exp.Explode(this=value)
    inner = exp.select(exp.alias_(value, "value", quoted=True))
    inner = inner.from_(aliased(prep.entity, TOP_ALIAS)).where(prep.predicate())
    members = exp.alias_(exp.Count(this=exp.Star()), "members", quoted=True)
    query = exp.select(exp.column("value", quoted=True), members).from_(inner.subquery("m"))
    query = query.group_by(exp.column("value", quoted=True))
    query = query.order_by("2 DESC", "1 NULLS LAST").limit(max(1, int(limit)))
    return run_query(ws, prep.render(query), lambda rel: rel.pl())


def overlap(
    ws: Workspace, a: Any, b: Any, as_of: AsOf = None, lookup: LookupLike = None
) -> Overlap:
    """How many are only in ``a``, in both, only in ``b`` (both segments of one entity)."""
    prep = prepare(ws, a, as_of, lookup)
    other = prepare(ws, b, as_of, lookup)
    if other.segment.entity != prep.segment.entity:
        raise WorkbenchError(
            f"cannot overlap segments of different entities ({prep.segment.entity!r} and "
            f"{other.segment.entity!r}): pick two segments of the same entity"
        )
    other.compiler = prep.compiler  # one set of bound values for both predicates
    pa, pb = prep.predicate(strict=True), other.predicate(strict=True)
    parts = [
        all_of(pa, negate(pb)),
        all_of(pa.copy(), pb.copy()),
        all_of(pb.copy(), negate(pa.copy())),
    ]
    only_a, both, only_b = _counts_row(ws, prep, parts)
    return Overlap(only_a, both, only_b)
