"""Approving a run that a guard stopped: apply exactly its stored plan, minus one danger.

The plan may have waited hours for approval. A contact deleted in SendGrid since then would be
CREATED by the upsert (the upsert creates unknown emails), so before sending, the stored adds'
contact ids are checked (by id, or by one export when that takes fewer calls) and vanished
contacts leave the plan with the reason "contact deleted in SendGrid since the plan".
Nothing else about the plan changes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import polars as pl

from workbench.errors import ConflictError

from . import sync_lock
from .batching import BATCH_MAX_IDS
from .run_record import RunRecord, read_skipped, write_skipped
from .sync import EXPORT_CALLS_ESTIMATE
from .sync_context import Context, SyncOptions, open_context
from .sync_run import apply_run
from .sync_state import PENDING, Batch, load_batches, rewrite_batch

if TYPE_CHECKING:
    from workbench.workspace import Workspace

REASON_VANISHED = "contact deleted in SendGrid since the plan"


def approve_run(ws: Workspace, run_id: int, options: SyncOptions) -> RunRecord:
    """Apply the stored plan of a run that waits for approval (ConflictError otherwise)."""
    name = str(ws.store.get_run(run_id)["activation"])
    ctx = open_context(ws, name, options)
    with sync_lock.locked(ws.store, name, options.heartbeat_s):
        status = ws.store.get_run(run_id)["status"]
        if status != "needs_approval":
            raise ConflictError(
                f"run {run_id} is {status}: only a run waiting for approval can be approved"
            )
        vanished = drop_vanished_contacts(ctx, run_id)
        ws.store.update_run(run_id, approved=True, vanished_since_plan=vanished)
        return apply_run(ctx, run_id)


def existing_contact_ids(ctx: Context, ids: set[str]) -> set[str]:
    """Which of ``ids`` SendGrid still has, by the cheaper path in API calls."""
    if math.ceil(len(ids) / BATCH_MAX_IDS) <= EXPORT_CALLS_ESTIMATE:
        return {c.id for c in ctx.client.contacts_by_ids(ids)}
    everyone = ctx.client.export_frame(poll_s=ctx.options.poll_s).get_column("contact_id")
    return set(everyone.to_list()) & ids


def drop_vanished_contacts(ctx: Context, run_id: int) -> int:
    """Take contacts deleted since the plan out of its pending adds; how many left."""
    batches = [b for b in load_batches(ctx.ws.store, run_id) if b.kind == "add"]
    batches = [b for b in batches if b.status == PENDING]
    ids = {cid for b in batches for cid in b.contact_ids}
    if not ids:
        return 0
    vanished = ids - existing_contact_ids(ctx, ids)
    dropped: list[str] = []
    for batch in batches:
        if vanished & set(batch.contact_ids):
            dropped += without_contacts(batch, vanished)
            rewrite_batch(ctx.ws.store, batch)
    if dropped:
        home = ctx.ws.settings.home
        extra = pl.DataFrame({"email": dropped, "reason": [REASON_VANISHED] * len(dropped)})
        write_skipped(home, run_id, pl.concat([read_skipped(home, run_id), extra]))
    return len(vanished)


def without_contacts(batch: Batch, vanished: set[str]) -> list[str]:
    """Remove ``vanished`` contacts from an add batch in place; the emails taken out."""
    entries = dict(zip(dict.fromkeys(batch.contact_ids), batch.entries, strict=True))
    kept = [
        (e, c) for e, c in zip(batch.emails, batch.contact_ids, strict=True) if c not in vanished
    ]
    gone = [e for e, c in zip(batch.emails, batch.contact_ids, strict=True) if c in vanished]
    batch.emails = [e for e, _ in kept]
    batch.contact_ids = [c for _, c in kept]
    batch.entries = [entries[c] for c in dict.fromkeys(batch.contact_ids)]
    return gone
