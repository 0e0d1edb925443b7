"""Planning one run of an activation: check the list, evaluate the segment, read the snapshot,
look up contacts, and store the plan as the run's batches (``plan_run``), or hand a plan that
only adds from an export to ``sync_stream`` (``Streaming``); ``preview`` plans without storing
anything. ``sync_run`` drives the run around it.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench import segments

from .export_chunks import ChunkMatcher
from .lists import list_deleted_error, resolve_list, stored_list_exists
from .run_record import write_skipped
from .sync import (
    Draft,
    SyncPlan,
    draft_plan,
    guard_problems,
    looked_up,
    lookup_path,
)
from .sync_batches import plan_batches
from .sync_context import AsOf, Context, SyncOptions, desired_members, list_name_of, open_context
from .sync_state import Batch, save_batches

if TYPE_CHECKING:
    import polars as pl

    from workbench.emails import NormalisedEmails
    from workbench.workspace import Workspace


def make_plan(
    ctx: Context,
    as_of: AsOf,
    list_id: str | None,
    snapshot: Future[pl.DataFrame] | None = None,
    desired: Future[NormalisedEmails] | None = None,
) -> SyncPlan:
    """Plan a run against the current snapshot, with the guards' verdict (``snapshot``,
    ``desired``: the snapshot's read and the segment's evaluation, already under way)."""
    with ThreadPoolExecutor(2, thread_name_prefix="sync-draft") as pool:
        draft = draft_of(ctx, pool, as_of, list_id, snapshot, desired)
        return finished(ctx, draft)


def draft_of(
    ctx: Context,
    pool: ThreadPoolExecutor,
    as_of: AsOf,
    list_id: str | None,
    snapshot: Future[pl.DataFrame] | None = None,
    desired: Future[NormalisedEmails] | None = None,
    export: Future[list[str]] | None = None,
) -> Draft:
    """The run's draft (see ``sync.draft_plan``); its export, if any, under way on ``pool``
    (``export``: already started by ``first_run_export``).

    The snapshot is read from SQLite on a second thread while DuckDB evaluates the segment
    (both release the GIL): at a million members that hides most of the shorter of the two."""
    if snapshot is None:
        snapshot = pool.submit(ctx.ws.store.read_snapshot, ctx.name)
    normalised = desired_members(ctx, as_of) if desired is None else desired.result()
    return draft_plan(
        pool,
        ctx.client,
        ctx.options.poll_s,
        activation=ctx.name,
        list_name=list_name_of(ctx),
        list_id=list_id,
        mode=ctx.settings.mode,
        normalised=normalised,
        snapshot=snapshot.result(),
        export=export,
    )


def first_run_export(
    ctx: Context, pool: ThreadPoolExecutor, as_of: AsOf, snapshot: Future[pl.DataFrame] | None
) -> Future[list[str]] | None:
    """The account's export, started on ``pool`` at once when the snapshot is empty and the
    segment counts so many rows (at least twice what the search path takes) that its lookups
    will read an export even if half of them lack a usable email: a first run at a million
    members asks for it 0.25 s sooner than after evaluating the segment. The count takes a
    few milliseconds in DuckDB; None when the draft must decide. (A segment of that many rows
    with almost no usable email then still waits for the export it did not need.)"""
    if snapshot is None or not snapshot.result().is_empty():
        return None
    doc = ctx.ws.store.get_segment(ctx.activation.segment)
    if lookup_path(segments.count(ctx.ws, doc, as_of) // 2) != "export":
        return None
    return pool.submit(ctx.client.export_urls, poll_s=ctx.options.poll_s)


def finished(ctx: Context, draft: Draft) -> SyncPlan:
    """The draft's plan: its contacts looked up, with the guards' verdict."""
    return guarded(ctx, looked_up(draft, ctx.client, ctx.options.poll_s))


def guarded(ctx: Context, plan: SyncPlan) -> SyncPlan:
    """``plan`` with the guards' verdict (why it must wait for approval, if it must)."""
    guards = ctx.settings.guards
    plan.guard_problems.extend(guard_problems(plan, guards.allow_empty, guards.max_remove_fraction))
    return plan


def preview(ws: Workspace, name: str, as_of: AsOf, options: SyncOptions) -> SyncPlan:
    """The plan a run would apply now; changes nothing anywhere."""
    ctx = open_context(ws, name, options)
    list_id = ctx.activation.list_id
    if list_id and not stored_list_exists(ctx.client, list_id):
        raise list_deleted_error(list_name_of(ctx), list_id)
    return make_plan(ctx, as_of, list_id)


def plan_fields(plan: SyncPlan) -> dict[str, Any]:
    """The run record's fields known once the run is planned."""
    funnel = dict(plan.funnel)
    return {
        "segment_size": funnel["members"],
        "valid_emails": funnel["valid emails"],
        "unique_emails": funnel["unique after normalisation"],
        "contacts_matched": funnel["SendGrid contacts"],
        "funnel": plan.funnel,
        "planned": plan.counts,
        "forgotten": plan.to_forget.height,
        "skipped_by_reason": plan.skipped_by_reason(),
        "lookup": plan.lookup,
        "list_name": plan.list_name,
        "mode": plan.mode,
        "guard_problems": plan.guard_problems,
    }


@dataclass(frozen=True)
class Streaming:
    """A run whose adds are sent while the export is read (``Draft.streams``): its draft,
    the matcher of its candidates, the export's file URLs and the list (found or created)."""

    draft: Draft
    matcher: ChunkMatcher
    urls: list[str]
    list_id: str


def plan_run(
    ctx: Context, run_id: int, as_of: AsOf, reconcile_first: bool, recreate_list: bool
) -> tuple[SyncPlan, list[Batch]] | Streaming:
    """Check the list, plan, and persist the plan as the run's batches and skipped rows; the
    plan and its batches (as stored), or a ``Streaming`` run when its adds can be cut and sent
    while the export is read (``sync_stream``).

    The snapshot is read and the segment evaluated while SendGrid is asked whether the list
    still exists (0.6 s, 0.3 s and 0.15 s at a million members), except in the rare runs that
    change the snapshot first: a recreated list forgets it (it is read again), a reconcile
    corrects it (read after). A run without a list finds or creates it while the contacts
    are looked up (``list_for_members``); its error, if any, ends the run once the plan is
    stored, as it would when sending."""
    with ThreadPoolExecutor(4, thread_name_prefix="sync-plan") as pool:
        early = None if reconcile_first else pool.submit(ctx.ws.store.read_snapshot, ctx.name)
        desired = pool.submit(desired_members, ctx, as_of)
        export = None if reconcile_first else first_run_export(ctx, pool, as_of, early)
        had_list = ctx.activation.list_id
        list_id = checked_list_id(ctx, recreate_list)
        if had_list and not list_id:
            early = None  # the deleted list's snapshot was just forgotten: read it again
        if reconcile_first and list_id:
            from .reconcile import correct_snapshot

            drift = correct_snapshot(ctx, list_id, desired.result())
            ctx.ws.store.update_run(run_id, drift=drift)
        listed = None if list_id else pool.submit(list_for_members, ctx, desired)
        draft = draft_of(ctx, pool, as_of, list_id, early, desired, export)
        if draft.streams and draft.export is not None:
            matcher = ChunkMatcher(draft.candidates)  # while SendGrid renders the export
            urls = draft.export.result()
            found = listed.result() if listed is not None else list_id
            if found:
                return Streaming(draft, matcher, urls, found)
        plan = finished(ctx, draft)
        batches = persist_plan(ctx, run_id, plan)
        if listed is not None:
            listed.result()
    return plan, batches


def list_for_members(ctx: Context, desired: Future[NormalisedEmails]) -> str | None:
    """Find or create the activation's list once the segment turns out to have members (an
    empty one stops for approval before anything is sent, so it creates nothing); its id."""
    if desired.result().valid.is_empty():
        return None
    return resolve_list(ctx, list_name_of(ctx))


def persist_plan(ctx: Context, run_id: int, plan: SyncPlan) -> list[Batch]:
    """Store the plan: forget what leaves without a request, keep the skipped rows, save the
    batches and the run's planned fields; the batches."""
    ctx.ws.store.confirm_removed(ctx.name, plan.to_forget.get_column("email").to_list())
    write_skipped(ctx.ws.settings.home, run_id, plan.skipped)
    batches = plan_batches(
        run_id,
        plan.to_add,
        plan.to_remove,
        max_contacts=ctx.client.upsert_max_contacts,
        max_bytes=ctx.client.upsert_max_bytes,
    )
    save_batches(ctx.ws.store, batches)
    ctx.ws.store.update_run(run_id, **plan_fields(plan))
    return batches


def checked_list_id(ctx: Context, recreate_list: bool) -> str | None:
    """The stored list id if the list still exists; a deleted list fails or is forgotten."""
    list_id = ctx.activation.list_id
    if not list_id or stored_list_exists(ctx.client, list_id):
        return list_id
    if not recreate_list:
        raise list_deleted_error(list_name_of(ctx), list_id)
    snapshot = ctx.ws.store.read_snapshot(ctx.name)
    ctx.ws.store.confirm_removed(ctx.name, snapshot.get_column("email").to_list())
    config = {**ctx.activation.to_dict(), "list_id": None, "created_by_us": False}
    ctx.ws.store.save_activation(ctx.name, config)
    ctx.reload()
    return None
