"""Activations: a saved segment kept equal to a SendGrid list. The public API.

::

    create_destination(ws, "sendgrid", api_key=...)     # once; the key goes to workbench.secrets
    activate(ws, "VIP customers")                        # one click: the destination's defaults
    preview(ws, "VIP customers")                         # SyncPlan: funnel, adds, removes, skips
    run(ws, "VIP customers")                             # RunRecord; needs_approval if a guard hit
    approve_run(ws, run_id)                              # applies exactly the stored plan
    reconcile(ws, "VIP customers")                       # Drift between the snapshot and the list
    list_runs(ws, "VIP customers"); run_log(ws, run_id)  # history and the per-row log
    discard_run(ws, run_id); delete_activation(ws, "VIP customers")

An activation stores only its overrides of the destination's defaults, so changing a default
changes every activation that does not override it. Once its list is resolved it also keeps
``list_id`` and ``created_by_us``. ``email_column=ENTITY_EMAIL_COLUMN`` overrides a
destination's default email column with the entity's own one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from workbench.destinations.sendgrid import (
    approval,
    sync_context,
    sync_lock,
    sync_planning,
    sync_run,
)
from workbench.destinations.sendgrid import reconcile as drift
from workbench.destinations.sendgrid.destination import (
    DefaultSettings,
    Destination,
    Guards,
    default_host,
)
from workbench.destinations.sendgrid.destination import test_connection as _test_connection
from workbench.destinations.sendgrid.models import ConnectionCheck
from workbench.destinations.sendgrid.reconcile import Drift
from workbench.destinations.sendgrid.run_record import RunRecord, build_run_log, export_log
from workbench.destinations.sendgrid.sync import SyncPlan
from workbench.destinations.sendgrid.sync_context import SyncOptions
from workbench.errors import ConfigError, ConflictError
from workbench.secrets import save_api_key
from workbench.workspace import Workspace

OVERRIDE_KEYS = ("list_name", "email_column", "schedule", "mode", "guards")
ENTITY_EMAIL_COLUMN = ""  # as an email_column: the entity's own email column, whatever the default
AsOf = sync_context.AsOf


@dataclass(frozen=True)
class Activation:
    """A segment sent to a destination, with its overrides of the destination's defaults."""

    name: str
    segment: str
    destination: str
    overrides: dict[str, Any] = field(default_factory=dict)
    adopt_existing_list: bool = False
    list_id: str | None = None
    created_by_us: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The activation as stored."""
        return {
            "segment": self.segment,
            "destination": self.destination,
            "overrides": self.overrides,
            "adopt_existing_list": self.adopt_existing_list,
            "list_id": self.list_id,
            "created_by_us": self.created_by_us,
        }

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Activation:
        """An activation from its stored JSON."""
        return cls(
            name=name,
            segment=str(data["segment"]),
            destination=str(data["destination"]),
            overrides=dict(data.get("overrides") or {}),
            adopt_existing_list=bool(data.get("adopt_existing_list", False)),
            list_id=data.get("list_id"),
            created_by_us=bool(data.get("created_by_us", False)),
        )

    def settings(self, destination: Destination) -> DefaultSettings:
        """The effective settings: the destination's defaults with this activation's overrides
        (``email_column`` None: the entity's own)."""
        settings = destination.defaults.overridden(self.overrides)
        return replace(settings, email_column=settings.email_column or None)


def create_destination(
    ws: Workspace,
    name: str,
    *,
    host: str | None = None,
    region: str = "global",
    api_key: str | None = None,
    **defaults: Any,
) -> Destination:
    """Save a SendGrid destination (and its key, if given, in the key file, never the store).

    ``defaults`` are the default activation settings: ``list_name``, ``email_column``,
    ``schedule``, ``mode``, ``guards`` (a dict of ``allow_empty``, ``max_remove_fraction``).
    """
    unknown = set(defaults) - set(OVERRIDE_KEYS)
    if unknown:
        raise ConfigError(f"unknown default setting(s) {sorted(unknown)}; known: {OVERRIDE_KEYS}")
    settings = DefaultSettings().overridden(defaults)
    destination = Destination(
        name=name,
        host=host or default_host(ws.settings, region),
        region=region,  # type: ignore[arg-type]  # checked by default_host
        defaults=settings,
    )
    if api_key is not None:
        save_api_key(ws.settings.home, name, api_key)
    ws.store.save_destination(name, destination.to_dict())
    return destination


def get_destination(ws: Workspace, name: str) -> Destination:
    """A saved destination; NotFoundError names the saved ones."""
    return Destination.from_dict(name, ws.store.get_destination(name))


def test_connection(ws: Workspace, name: str) -> ConnectionCheck:
    """Whether the destination's key works and may read and write lists."""
    _ready(ws, name, None)
    return _test_connection(get_destination(ws, name), ws.settings)


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _only_destination(ws: Workspace) -> str:
    """The name of the one saved destination; ConfigError when there are none or several."""
    names = [d.name for d in ws.store.list_destinations()]
    if len(names) != 1:
        found = ", ".join(names) or "none"
        raise ConfigError(f"name the destination to activate to (saved destinations: {found})")
    return names[0]


def activate(
    ws: Workspace,
    segment_name: str,
    destination: str | None = None,
    *,
    name: str | None = None,
    adopt_existing_list: bool = False,
    **overrides: Any,
) -> Activation:
    """Activate a saved segment to a destination with its defaults (plus any overrides).

    The activation is named after the segment unless ``name`` is given; ConflictError when
    that name is taken. An override of None is no override; ``email_column`` must be a column
    of the segment's entity, or ENTITY_EMAIL_COLUMN for the entity's own email column.
    """
    segment = ws.store.get_segment(segment_name)  # NotFoundError for an unknown segment
    unknown = set(overrides) - set(OVERRIDE_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown activation setting(s) {sorted(unknown)}; known: {OVERRIDE_KEYS}"
        )
    dest = get_destination(ws, destination or _only_destination(ws))
    given = {k: v for k, v in overrides.items() if v is not None}
    if "guards" in given:
        Guards.from_dict(given["guards"])
    if given.get("email_column"):  # CatalogError naming the entity's columns
        ws.catalog().entity(str(segment["entity"])).column(given["email_column"])
    activation = Activation(
        name or segment_name, segment_name, dest.name, given, adopt_existing_list
    )
    activation.settings(dest)  # refuse bad overrides before saving
    if activation.name in {a.name for a in ws.store.list_activations()}:
        raise ConflictError(
            f"an activation named {activation.name!r} exists already: pass another name"
        )
    ws.store.save_activation(activation.name, activation.to_dict())
    return activation


def get_activation(ws: Workspace, name: str) -> Activation:
    """A saved activation; NotFoundError names the saved ones."""
    return Activation.from_dict(name, ws.store.get_activation(name))


def list_activations(ws: Workspace) -> list[Activation]:
    """Every saved activation, by name."""
    return [Activation.from_dict(d.name, d.config) for d in ws.store.list_activations()]


def _ready(ws: Workspace, destination: str, options: SyncOptions | None) -> SyncOptions:
    """Start the demo sandbox if ``destination`` is the demo one; the options to run with."""
    from workbench.demo_sandbox import ensure_demo_sandbox  # late: it imports this module

    ensure_demo_sandbox(ws, destination)
    return options or SyncOptions.from_settings(ws.settings)


def preview(
    ws: Workspace, name: str, as_of: AsOf = None, options: SyncOptions | None = None
) -> SyncPlan:
    """The plan a run would apply now (reads SendGrid, changes nothing)."""
    options = _ready(ws, get_activation(ws, name).destination, options)
    return sync_planning.preview(ws, name, as_of, options)


def run(
    ws: Workspace,
    name: str,
    approve: bool = False,
    reconcile: bool = False,
    as_of: AsOf = None,
    *,
    recreate_list: bool = False,
    options: SyncOptions | None = None,
    only_if: Callable[[], bool] | None = None,
) -> RunRecord:
    """Run one activation (or resume its unfinished run); the run's record.

    ``approve`` lets a plan that a guard would stop go through; ``reconcile`` first reads the
    list's real membership and corrects the snapshot; ``recreate_list`` creates the list again
    when it was deleted in SendGrid (its snapshot is then cleared). ``only_if`` is asked
    under the activation's lock before a new run starts; when it says no, RunSkipped.
    """
    options = _ready(ws, get_activation(ws, name).destination, options)
    return sync_run.run(ws, name, approve, reconcile, as_of, recreate_list, options, only_if)


def approve_run(ws: Workspace, run_id: int, options: SyncOptions | None = None) -> RunRecord:
    """Apply exactly the stored plan of a run that waits for approval."""
    activation = get_activation(ws, ws.store.get_run(run_id)["activation"])
    return approval.approve_run(ws, run_id, _ready(ws, activation.destination, options))


def reconcile(ws: Workspace, name: str, options: SyncOptions | None = None) -> Drift:
    """Who is on the list but not in our snapshot, and who is in the snapshot but gone."""
    options = _ready(ws, get_activation(ws, name).destination, options)
    return drift.reconcile(ws, name, options)


def list_runs(ws: Workspace, name: str | None = None, limit: int = 100) -> list[RunRecord]:
    """The latest runs, newest first (of one activation, or all)."""
    return [RunRecord.from_run(r) for r in ws.store.list_runs(name, limit)]


def get_run(ws: Workspace, run_id: int) -> RunRecord:
    """One run's record."""
    return RunRecord.from_run(ws.store.get_run(run_id))


def run_log(ws: Workspace, run_id: int) -> pl.DataFrame:
    """The per-row log of a run: ``email, action (add/remove/skip), outcome, reason``."""
    return build_run_log(ws.store, ws.settings.home, run_id)


def export_run_log(ws: Workspace, run_id: int, path: Path) -> Path:
    """Write the per-row log of a run to a ``.csv`` or ``.parquet`` file."""
    return export_log(run_log(ws, run_id), path)


def discard_run(ws: Workspace, run_id: int) -> RunRecord:
    """Drop the plan of a run waiting for approval (nothing is sent); ConflictError otherwise.

    Takes the activation's lock, so it never races a push of the same activation.
    """
    name = str(ws.store.get_run(run_id)["activation"])
    with sync_lock.locked(ws.store, name):
        status = ws.store.get_run(run_id)["status"]
        if status != "needs_approval":
            raise ConflictError(f"run {run_id} is {status}: only a waiting run can be discarded")
        run = ws.store.update_run(
            run_id, status="discarded", message="discarded by the user: nothing was sent"
        )
    return RunRecord.from_run(run)


def delete_activation(ws: Workspace, name: str) -> None:
    """Delete an activation and its snapshot (its runs stay; the SendGrid list is kept).

    NotFoundError for an unknown name; ConflictError while a run of it holds the lock.
    """
    get_activation(ws, name)  # NotFoundError first
    with sync_lock.locked(ws.store, name):
        ws.store.delete_activation(name)
