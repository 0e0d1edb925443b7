"""What the pages show about the workspace: what is set up, what ran, what needs attention,
what a column holds, and where a destination's API key comes from.

Everything here is plain Python over ``Workspace`` (no Streamlit), so the pages stay thin and
these answers are tested without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from sqlglot import exp

from workbench.catalog import ColumnKind
from workbench.secrets import ResolvedKey, resolve_api_key
from workbench.workspace import Workspace

FAILED_STATUSES = frozenset({"failed", "error"})
WAITING_STATUSES = frozenset({"awaiting_approval", "needs_approval", "waiting_approval"})
DISTINCT_LIMIT = 50
LATEST_RUNS = 10


@dataclass(frozen=True)
class EntityOverview:
    """One catalogued entity and how many rows it has."""

    name: str
    source: str
    rows: int
    columns: int
    email_column: str | None


@dataclass(frozen=True)
class Attention:
    """A run someone should look at: ``kind`` is ``failed`` or ``approval``."""

    kind: str
    activation: str
    run_id: int
    message: str


@dataclass(frozen=True)
class Overview:
    """The state of a workspace at a glance."""

    warehouse: str
    is_demo: bool
    entities: list[EntityOverview] = field(default_factory=list)
    segments: int = 0
    destinations: int = 0
    activations: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    attention: list[Attention] = field(default_factory=list)


def _row_count(ws: Workspace, entity_name: str) -> int:
    entity = ws.catalog().entity(entity_name)
    sql = f"SELECT count(*) FROM {entity.source_expression().sql(dialect='duckdb')}"
    return int(ws.cursor().sql(sql).fetchall()[0][0])


def needs_attention(runs: list[dict[str, Any]]) -> list[Attention]:
    """Activations whose latest run failed or waits for approval, newest first, with the
    reason the run gave (an older failure fixed by a later run is not listed)."""
    found, seen = [], set()
    for run in sorted(runs, key=lambda r: int(r["id"]), reverse=True):
        activation, status = str(run["activation"]), str(run.get("status", ""))
        if activation in seen:
            continue
        seen.add(activation)
        if status in FAILED_STATUSES or status in WAITING_STATUSES:
            kind = "failed" if status in FAILED_STATUSES else "approval"
            reason = run.get("message") or run.get("error") or run.get("reason") or status
            found.append(Attention(kind, activation, int(run["id"]), str(reason)))
    return found


def workspace_overview(ws: Workspace) -> Overview:
    """Warehouse, entities with row counts, saved objects, latest runs and what needs attention."""
    entities = [
        EntityOverview(
            name=e.name,
            source=e.spec.source,
            rows=_row_count(ws, e.name),
            columns=len(e.columns),
            email_column=e.spec.email_column,
        )
        for e in ws.catalog().entities.values()
    ]
    runs = ws.store.list_runs(limit=100)
    return Overview(
        warehouse=str(ws.settings.warehouse_path),
        is_demo=ws.settings.uses_demo_warehouse,
        entities=entities,
        segments=len(ws.store.list_segments()),
        destinations=len(ws.store.list_destinations()),
        activations=len(ws.store.list_activations()),
        runs=runs[:LATEST_RUNS],
        attention=needs_attention(runs),
    )


def distinct_values(
    ws: Workspace, entity: str, column: str, limit: int = DISTINCT_LIMIT
) -> list[Any] | None:
    """The column's distinct non-null values, most common first, or None when it has more than
    ``limit`` (too many for a menu). List columns give their elements. One bounded query."""
    source = ws.catalog().entity(entity)
    col = source.column(column)
    value: exp.Expression = exp.column(col.name, quoted=True)
    if col.kind is ColumnKind.TEXT_LIST:
        value = exp.Explode(this=value)
    inner = exp.select(exp.alias_(value, "v", quoted=True)).from_(source.source_expression())
    v = exp.column("v", quoted=True)
    query = (
        exp.select(v)
        .from_(inner.subquery("d"))
        .where(exp.Not(this=exp.Is(this=v, expression=exp.Null())))
    )
    query = query.group_by(v).order_by("count(*) DESC", "1").limit(exp.Placeholder(this="n"))
    rows = ws.cursor().sql(query.sql(dialect="duckdb"), params={"n": limit + 1}).fetchall()
    return None if len(rows) > limit else [r[0] for r in rows]


# -- SendGrid destinations ------------------------------------------------------------------


def is_sandbox(config: dict[str, Any]) -> bool:
    """True for the demo sandbox destination (marked so, or pointing at this machine)."""
    host = urlparse(str(config.get("host", ""))).hostname or ""
    return bool(config.get("sandbox")) or host in ("127.0.0.1", "localhost", "::1")


def destination_key(ws: Workspace, name: str) -> ResolvedKey | None:
    """The destination's API key and where it came from (show only ``.masked``), or None."""
    return resolve_api_key(ws.settings.home, name)


def next_steps(overview: Overview) -> str:
    """What to do for a first run, naming only the steps not done yet."""
    steps = []
    if not overview.segments:
        steps.append("build and save a segment on the Segments page")
    if not overview.destinations:
        steps.append("give SendGrid an API key on the Destination page")
    if overview.activations:
        steps.append("push an activation on the Activations page (or let the runner run it)")
    else:
        steps.append("activate a segment on the Activations page")
    return "No runs yet. To start: " + ", then ".join(steps) + "."
