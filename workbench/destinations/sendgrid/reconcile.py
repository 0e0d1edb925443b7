"""Drift between what we recorded and what the SendGrid list really holds (read by export).

``on_list_not_in_snapshot``: contacts on the list that our snapshot does not know (added by
hand, or by another tool); ``in_snapshot_not_on_list``: members we confirmed that are gone
from the list (removed by hand, or their contact deleted). A run with ``reconcile`` corrects
the snapshot from the list first: gone members are forgotten (so they are added again if the
segment still wants them) and desired members already on the list are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from workbench.emails import NormalisedEmails
from workbench.errors import ConfigError

from .lists import list_deleted_error, stored_list_exists
from .models import Contact

if TYPE_CHECKING:
    from workbench.workspace import Workspace

    from .sync_context import Context, SyncOptions

DRIFT_SCHEMA = {"email": pl.String, "contact_id": pl.String}


@dataclass(frozen=True)
class Drift:
    """The two directions of drift, each an ``email, contact_id`` frame sorted by email."""

    list_id: str
    on_list_not_in_snapshot: pl.DataFrame
    in_snapshot_not_on_list: pl.DataFrame

    @property
    def in_sync(self) -> bool:
        """True when the list holds exactly the snapshot's contacts."""
        return self.on_list_not_in_snapshot.is_empty() and self.in_snapshot_not_on_list.is_empty()

    def counts(self) -> dict[str, int]:
        """The sizes of both directions."""
        return {
            "on_list_not_in_snapshot": self.on_list_not_in_snapshot.height,
            "in_snapshot_not_on_list": self.in_snapshot_not_on_list.height,
        }


def real_members(ctx: Context, list_id: str) -> list[Contact]:
    """The contacts really on the list, read by an export of that list."""
    return ctx.client.export_contacts([list_id], poll_s=ctx.options.poll_s)


def drift_between(list_id: str, snapshot: pl.DataFrame, real: list[Contact]) -> Drift:
    """Compare the snapshot with the list's real members by contact id."""
    real_ids = {c.id for c in real}
    known_ids = set(snapshot.get_column("contact_id").drop_nulls().to_list())
    extra = [(c.email or "", c.id) for c in real if c.id not in known_ids]
    gone = snapshot.filter(~pl.col("contact_id").is_in(list(real_ids)))
    return Drift(
        list_id,
        pl.DataFrame(extra, DRIFT_SCHEMA, orient="row").sort("email"),
        gone.select("email", "contact_id").sort("email"),
    )


def correct_snapshot(ctx: Context, list_id: str, desired: NormalisedEmails) -> dict[str, Any]:
    """Make the snapshot agree with the list before planning; the drift's counts."""
    real = real_members(ctx, list_id)
    drift = drift_between(list_id, ctx.ws.store.read_snapshot(ctx.name), real)
    store = ctx.ws.store
    store.confirm_removed(ctx.name, drift.in_snapshot_not_on_list.get_column("email").to_list())
    wanted = set(desired.valid.get_column("email").to_list())
    extra_ids = set(drift.on_list_not_in_snapshot.get_column("contact_id").to_list())
    present: list[tuple[str, str | None]] = [
        (address, c.id)
        for c in real
        if c.id in extra_ids
        for address in (c.email, *c.alternate_emails)
        if address and address in wanted
    ]
    store.confirm_added(ctx.name, present, None)
    return {**drift.counts(), "recorded_from_list": len(present)}


def reconcile(ws: Workspace, name: str, options: SyncOptions) -> Drift:
    """The drift of an activation's list (reads SendGrid, changes nothing)."""
    from .sync_context import list_name_of, open_context

    ctx = open_context(ws, name, options)
    list_id = ctx.activation.list_id
    if not list_id:
        raise ConfigError(f"activation {name!r} has no SendGrid list yet: run it first")
    if not stored_list_exists(ctx.client, list_id):
        raise list_deleted_error(list_name_of(ctx), list_id)
    return drift_between(list_id, ws.store.read_snapshot(name), real_members(ctx, list_id))
