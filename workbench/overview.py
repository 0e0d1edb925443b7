"""What the pages show about the workspace: what is set up, what ran, what needs attention,
what a column holds, and SendGrid destinations as the Destination page edits them.

Everything here is plain Python over ``Workspace`` (no Streamlit), so the pages stay thin and
these answers are tested without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from sqlglot import exp

from workbench.catalog import ColumnKind
from workbench.destinations.sendgrid.client import SendGridClient
from workbench.destinations.sendgrid.models import ConnectionCheck
from workbench.errors import ConfigError
from workbench.schedules import parse_schedule
from workbench.secrets import ResolvedKey, resolve_api_key, save_api_key, validate_key_format
from workbench.workspace import Workspace

FAILED_STATUSES = frozenset({"failed", "error"})
WAITING_STATUSES = frozenset({"awaiting_approval", "needs_approval", "waiting_approval"})
DISTINCT_LIMIT = 50
LATEST_RUNS = 10
HOSTS = {"global": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}
MODES = {
    "managed": "add-only: add members who entered, remove those who left; never touch contacts "
    "someone else put on the list",
    "mirror": "mirror: the list holds exactly the segment; anyone else on it is removed",
}


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
    """Failed runs and runs waiting for approval, newest first, with what the run said."""
    found = []
    for run in runs:
        status = str(run.get("status", ""))
        kind = "failed" if status in FAILED_STATUSES else "approval"
        if status in FAILED_STATUSES or status in WAITING_STATUSES:
            reason = run.get("error") or run.get("reason") or run.get("message") or status
            found.append(Attention(kind, str(run["activation"]), int(run["id"]), str(reason)))
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


def region_of(host: str) -> str:
    """``global``, ``eu`` or ``custom`` for a SendGrid host URL."""
    for region, known in HOSTS.items():
        if host.rstrip("/") == known:
            return region
    return "custom"


def is_sandbox(config: dict[str, Any]) -> bool:
    """True for the demo sandbox destination (marked so, or pointing at this machine)."""
    host = urlparse(str(config.get("host", ""))).hostname or ""
    return bool(config.get("sandbox")) or host in ("127.0.0.1", "localhost", "::1")


def activation_defaults(
    list_name: str, email_column: str, schedule: str, mode: str, guards: dict[str, Any]
) -> dict[str, Any]:
    """Default activation settings; ConfigError when the schedule text or mode is not valid."""
    parsed = parse_schedule(schedule)
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    return {
        "list_name": list_name.strip() or "{segment}",
        "email_column": email_column,
        "schedule": str(parsed),
        "mode": mode,
        "guards": dict(guards),
    }


def save_sendgrid_destination(
    ws: Workspace, name: str, host: str, defaults: dict[str, Any], api_key: str = ""
) -> list[str]:
    """Save a SendGrid destination (and its key file when a key is typed); key format warnings.

    The one place the Destination page saves through, so switching it to
    ``workbench.destinations.sendgrid.destination`` is a one-function change.
    """
    warnings = validate_key_format(api_key.strip()) if api_key.strip() else []
    if api_key.strip():
        save_api_key(ws.settings.home, name, api_key)
    config = {"kind": "sendgrid", "host": host.rstrip("/"), "defaults": defaults}
    ws.store.save_destination(name, config)
    return warnings


def destination_key(ws: Workspace, name: str) -> ResolvedKey | None:
    """The destination's API key and where it came from (show only ``.masked``), or None."""
    return resolve_api_key(ws.settings.home, name)


def check_destination(ws: Workspace, host: str, key: str) -> ConnectionCheck:
    """Does ``key`` work on ``host`` with the permissions a list sync needs? (plain words)."""
    client = SendGridClient(key, host, ws.settings.sendgrid_timeout_s, max_retries=1)
    return client.check_connection()
