"""The segment engine: the public functions pages, notebooks, the CLI and the runner share.

Each function takes a ``Workspace``, compiles the segment against ``ws.catalog()`` (saved
segments for ``in_segment`` come from ``ws.store.get_segment`` unless ``lookup=`` is given),
and runs the query on a fresh cursor under ``ws.settings.query_timeout_s``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl
from sqlglot import exp

from workbench.catalog import Entity
from workbench.errors import QueryError, WorkbenchError
from workbench.segments.compiler import (
    CompiledSegment,
    PredicateCompiler,
    as_lookup,
    check_dialect,
    checked_segment,
    count_query,
    member_query,
    render,
    resolve_as_of,
)
from workbench.segments.model import Segment
from workbench.segments.validate import Lookup
from workbench.workspace import Workspace

T = TypeVar("T")
AsOf = datetime | date | str | None
LookupLike = Lookup | Mapping[str, Any] | None
EXPORT_FORMATS = {".csv": "FORMAT csv, HEADER", ".parquet": "FORMAT parquet"}


@dataclass(frozen=True)
class Preview:
    """A bounded look at a segment's members: ``truncated`` says there are more than shown."""

    frame: pl.DataFrame
    total: int
    limit: int

    @property
    def truncated(self) -> bool:
        """True when the segment has more members than the preview shows."""
        return self.total > self.frame.height


@dataclass
class Prepared:
    """A checked segment with its entity and a compiler holding the bound values."""

    segment: Segment
    entity: Entity
    compiler: PredicateCompiler

    def predicate(self, strict: bool = False) -> exp.Expression:
        """The whole segment's predicate (its values are bound in ``compiler``); not strict
        by default, for the top of a WHERE clause (see ``PredicateCompiler.segment``)."""
        return self.compiler.segment(self.segment, strict)

    def render(self, query: exp.Expression) -> CompiledSegment:
        """DuckDB SQL and params for a query built from this segment's predicates."""
        return CompiledSegment(query.sql(dialect="duckdb"), dict(self.compiler.params))


def store_lookup(ws: Workspace) -> Lookup:
    """Saved segments from the workspace's state store."""
    return lambda name: ws.store.get_segment(name)


def prepare(ws: Workspace, segment: Any, as_of: AsOf = None, lookup: LookupLike = None) -> Prepared:
    """Parse and validate ``segment`` (SegmentInvalid lists every problem)."""
    catalog = ws.catalog()
    resolved = as_lookup(lookup) if lookup is not None else store_lookup(ws)
    parsed = checked_segment(segment, catalog, resolved)
    compiler = PredicateCompiler(catalog, resolved, resolve_as_of(as_of))
    return Prepared(parsed, catalog.entity(parsed.entity), compiler)


def run_query(ws: Workspace, compiled: CompiledSegment, fetch: Callable[[Any], T]) -> T:
    """Run ``compiled`` on a fresh cursor, interrupted after ``query_timeout_s`` seconds."""
    limit = ws.settings.query_timeout_s
    cursor = ws.cursor()
    timer = threading.Timer(limit, cursor.interrupt)
    timer.start()
    try:
        return fetch(cursor.sql(compiled.sql, params=compiled.params))
    except duckdb.InterruptException:
        raise QueryError(
            f"the segment query ran longer than the limit of {limit:g} s and was stopped: "
            "narrow the segment, or raise WORKBENCH_QUERY_TIMEOUT_S"
        ) from None
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise QueryError(f"the warehouse refused the segment query: {first}") from None
    finally:
        timer.cancel()
        cursor.close()


def _scalar(relation: Any) -> Any:
    return relation.fetchall()[0][0]


def count(ws: Workspace, segment: Any, as_of: AsOf = None, lookup: LookupLike = None) -> int:
    """How many rows of the segment's entity match it."""
    prep = prepare(ws, segment, as_of, lookup)
    return int(run_query(ws, prep.render(count_query(prep.entity, prep.predicate())), _scalar))


def preview(
    ws: Workspace,
    segment: Any,
    limit: int | None = None,
    as_of: AsOf = None,
    lookup: LookupLike = None,
) -> Preview:
    """The first members (every column of the entity, by key), at most ``preview_limit``."""
    limit = min(limit or ws.settings.preview_limit, ws.settings.preview_limit)
    prep = prepare(ws, segment, as_of, lookup)
    predicate = prep.predicate()
    query = member_query(prep.entity, predicate, list(prep.entity.columns)).limit(limit)
    frame = run_query(ws, prep.render(query), lambda rel: rel.pl())
    if frame.height < limit:
        return Preview(frame, frame.height, limit)
    total = run_query(ws, prep.render(count_query(prep.entity, predicate.copy())), _scalar)
    return Preview(frame, int(total), limit)


def members(
    ws: Workspace,
    segment: Any,
    as_of: AsOf = None,
    columns: list[str] | None = None,
    lookup: LookupLike = None,
) -> pl.DataFrame:
    """Every member: the key and email columns by default (or ``columns``), ordered by key."""
    prep = prepare(ws, segment, as_of, lookup)
    query = member_query(prep.entity, prep.predicate(), columns)
    return run_query(ws, prep.render(query), lambda rel: rel.pl())


def export_members(
    ws: Workspace, segment: Any, out: Path, as_of: AsOf = None, lookup: LookupLike = None
) -> int:
    """Write the members (key and email) to a ``.csv`` or ``.parquet`` file; returns the count."""
    out = Path(out)
    options = EXPORT_FORMATS.get(out.suffix.lower())
    if options is None:
        raise WorkbenchError(f"cannot export to {out.name!r}: name the file .csv or .parquet")
    if not out.parent.is_dir():
        raise WorkbenchError(f"cannot export to {str(out)!r}: the folder does not exist")
    prep = prepare(ws, segment, as_of, lookup)
    select = prep.render(member_query(prep.entity, prep.predicate()))
    target = exp.Literal.string(str(out)).sql(dialect="duckdb")
    copy = CompiledSegment(f"COPY ({select.sql}) TO {target} ({options})", select.params)
    return int(run_query(ws, copy, _scalar))


def segment_sql(
    ws: Workspace,
    segment: Any,
    dialect: str = "duckdb",
    as_of: AsOf = None,
    lookup: LookupLike = None,
) -> CompiledSegment:
    """The member query of a segment in ``dialect``, with its bound values."""
    check_dialect(dialect)
    prep = prepare(ws, segment, as_of, lookup)
    query = member_query(prep.entity, prep.predicate())
    return CompiledSegment(render(query, dialect), dict(prep.compiler.params), dialect)
