"""Why is this person in (or not in) the segment? Condition by condition.

``explain(ws, segment, member)`` finds the entity's rows whose primary key is ``member`` (as
text) or, for an entity with an email column, whose email is ``member`` (trimmed, any case),
and evaluates the whole segment and every node of its filter on each of them in ONE query:
the same never-NULL predicates the engine counts with, so the verdicts always agree with the
segment's membership. A condition on one of the entity's own columns also shows the member's
value of that column, which is usually the answer to "why not?".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlglot import exp

from workbench.errors import NotFoundError
from workbench.segments.compiler import TOP_ALIAS, aliased, column
from workbench.segments.describe import describe_node, label
from workbench.segments.engine import AsOf, LookupLike, Prepared, prepare, run_query
from workbench.segments.operators import any_of
from workbench.segments.validate import node_kind
from workbench.workspace import Workspace

MAX_ROWS = 10  # an email shared by more rows than this is explained for the first ones only


@dataclass(frozen=True)
class Verdict:
    """One node of the filter for one member: does it hold, and the member's own value."""

    path: str
    depth: int
    description: str
    holds: bool
    column: str | None = None
    value: Any = None

    def line(self) -> str:
        """``✓ country is SE (country: SE)``, indented by depth."""
        mark = "✓" if self.holds else "✗"
        seen = f" ({label(self.column)}: {_shown(self.value)})" if self.column else ""
        return f"{'  ' * self.depth}{mark} {self.description}{seen}"


def _shown(value: Any) -> str:
    """A member's value as the user would write it: text quoted (case and spaces show),
    times in ISO form, a missing value as "no value"."""
    if value is None:
        return "no value"
    if isinstance(value, date):  # datetime too
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Explanation:
    """Whether one member (one row of the entity) is in the segment, and each node's verdict."""

    key: Any
    in_segment: bool
    verdicts: list[Verdict]

    def text(self) -> str:
        """The verdicts as an indented tree under a headline."""
        head = f"{self.key}: {'in' if self.in_segment else 'not in'} the segment"
        return "\n".join([head, *(v.line() for v in self.verdicts)])


def explain(
    ws: Workspace, segment: Any, member: str, as_of: AsOf = None, lookup: LookupLike = None
) -> list[Explanation]:
    """One explanation per row matching ``member`` (primary key, or email); NotFoundError
    when no row matches."""
    prep = prepare(ws, segment, as_of, lookup)
    nodes = list(_nodes(prep.segment.filter, "filter", 0))
    own = [_own_column(prep, node) for _, _, node in nodes]
    selected = [
        column(prep.entity.spec.primary_key),
        prep.predicate(strict=True),
        *(prep.compiler.node(node, prep.entity, strict=True) for _, _, node in nodes),
        *(column(name) for name in own if name is not None),
    ]
    query = exp.select(*selected).from_(aliased(prep.entity, TOP_ALIAS))
    query = query.where(_matching(prep, member)).order_by("1").limit(MAX_ROWS)
    rows = run_query(ws, prep.render(query), lambda rel: rel.fetchall())
    if not rows:
        raise NotFoundError(_not_found(prep, member))
    return [_explanation(row, nodes, own) for row in rows]


def _nodes(node: Any, path: str, depth: int) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    """Every node of the filter, depth first, with its document path and depth."""
    if node is None:
        return
    yield path, depth, node
    kind = node_kind(node)
    if kind in ("and", "or"):  # a ``not`` is one verdict: its inside would read backwards
        for i, child in enumerate(node[kind]):
            yield from _nodes(child, f"{path}.{kind}[{i}]", depth + 1)


def _own_column(prep: Prepared, node: Mapping[str, Any]) -> str | None:
    name = node.get("column") if node_kind(node) == "column" else None
    return name if isinstance(name, str) and name in prep.entity.columns else None


def _matching(prep: Prepared, member: str) -> exp.Expression:
    """The row(s) of ``member``: its primary key as text, or its email in any case."""
    text = member.strip()
    key = exp.cast(column(prep.entity.spec.primary_key), "VARCHAR")
    tests: list[exp.Expression] = [exp.EQ(this=key, expression=prep.compiler.bind(text))]
    email = prep.entity.spec.email_column
    if email:
        lowered = exp.Lower(this=exp.Trim(this=column(email)))
        tests.append(exp.EQ(this=lowered, expression=prep.compiler.bind(text.lower())))
    return any_of(*tests)


def _not_found(prep: Prepared, member: str) -> str:
    spec = prep.entity.spec
    where = f"{spec.primary_key}" + (f" or {spec.email_column}" if spec.email_column else "")
    return (
        f"no row of {label(spec.name)} has {where} {member.strip()!r}: check the value "
        "(a primary key, or an email in any case)"
    )


def _explanation(
    row: tuple[Any, ...], nodes: list[tuple[str, int, Mapping[str, Any]]], own: list[str | None]
) -> Explanation:
    key, whole, *rest = row
    holds, values = rest[: len(nodes)], iter(rest[len(nodes) :])
    verdicts = [
        Verdict(
            path,
            depth,
            _description(node),
            bool(held),
            name,
            next(values) if name is not None else None,
        )
        for (path, depth, node), held, name in zip(nodes, holds, own, strict=True)
    ]
    return Explanation(key, bool(whole), verdicts)


def _description(node: Mapping[str, Any]) -> str:
    kind = node_kind(node)
    if kind in ("and", "or"):
        return "all of these" if kind == "and" else "any of these"
    return describe_node(node)
