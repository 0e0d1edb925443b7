"""One run of an activation: lock, (resume or) plan, guard, persist, apply, record.

A run is a persisted state machine: ``planned -> (needs_approval) -> applying -> succeeded |
failed``. The plan is persisted as the run's batches before anything is sent, so approving a
run applies exactly the stored plan, and a run killed while ``applying`` is resumed by the
next start instead of planned anew. Failures of SendGrid end the run as ``failed`` with the
reason; the snapshot only ever holds what SendGrid confirmed, so nothing is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from workbench.errors import DestinationError, RunSkipped, WorkbenchError

from . import sync_lock
from .lists import list_deleted_error, resolve_list, stored_list_exists
from .run_record import RunRecord, tally, write_skipped
from .snapshot_after import keep_snapshot_copy, predicted_snapshot
from .sync import SyncPlan, guard_problems, plan_sync
from .sync_apply import Applier
from .sync_batches import plan_batches
from .sync_context import (
    AsOf,
    Context,
    SyncOptions,
    desired_members,
    list_name_of,
    open_context,
)
from .sync_state import Batch, load_batches, save_batches, unfinished_run

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
    ``desired``: the snapshot's read and the segment's evaluation, already under way).

    The snapshot is read from SQLite on a second thread while DuckDB evaluates the segment
    (both release the GIL): at a million members that hides most of the shorter of the two."""
    with ThreadPoolExecutor(1, thread_name_prefix="sync-snapshot") as pool:
        if snapshot is None:
            snapshot = pool.submit(ctx.ws.store.read_snapshot, ctx.name)
        normalised = desired_members(ctx, as_of) if desired is None else desired.result()
        plan = plan_sync(
            activation=ctx.name,
            list_name=list_name_of(ctx),
            list_id=list_id,
            mode=ctx.settings.mode,
            normalised=normalised,
            snapshot=snapshot.result(),
            client=ctx.client,
            poll_s=ctx.options.poll_s,
        )
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


def run(
    ws: Workspace,
    name: str,
    approve: bool,
    reconcile_first: bool,
    as_of: AsOf,
    recreate_list: bool,
    options: SyncOptions,
    only_if: Callable[[], bool] | None = None,
) -> RunRecord:
    """Run an activation, or resume its unfinished run; see the module docstring.

    ``only_if`` is asked inside the lock, before a new run starts: the scheduled runner passes
    "still due", so a run that another process finished meanwhile is not repeated.
    """
    ctx = open_context(ws, name, options)
    with sync_lock.locked(ws.store, name, options.heartbeat_s):
        unfinished = unfinished_run(ws.store, name)
        if unfinished is not None:
            return apply_run(ctx, int(unfinished["id"]))
        if only_if is not None and not only_if():
            raise RunSkipped(f"activation {name} is not due any more: another process ran it")
        supersede_waiting_runs(ctx)
        run_id = ws.store.create_run(name, {"status": "planned", "segment": ctx.activation.segment})
        started = time.monotonic()
        try:
            plan, batches = plan_run(ctx, run_id, as_of, reconcile_first, recreate_list)
        except WorkbenchError as exc:
            return fail(ctx, run_id, exc, started)
        if plan.guard_problems and not approve:
            message = "waiting for approval: " + "; ".join(plan.guard_problems)
            ws.store.update_run(run_id, status="needs_approval", message=message)
            return record(ctx, run_id, started)
        with ThreadPoolExecutor(1, thread_name_prefix="sync-forecast") as pool:
            predicted = pool.submit(predicted_snapshot, plan, batches)  # while SendGrid works
            done = apply_run(ctx, run_id, started, list_checked=True, planned=batches)
            keep_snapshot_copy(ws.store, name, plan, batches, predicted)  # read by the next run
        return done


def plan_run(
    ctx: Context, run_id: int, as_of: AsOf, reconcile_first: bool, recreate_list: bool
) -> tuple[SyncPlan, list[Batch]]:
    """Check the list, plan, and persist the plan as the run's batches and skipped rows; the
    plan and its batches (as stored).

    The snapshot is read and the segment evaluated while SendGrid is asked whether the list
    still exists (0.6 s, 0.3 s and 0.15 s at a million members), except in the rare runs that
    change the snapshot first: a recreated list forgets it (it is read again), a reconcile
    corrects it (read after)."""
    with ThreadPoolExecutor(2, thread_name_prefix="sync-plan") as pool:
        early = None if reconcile_first else pool.submit(ctx.ws.store.read_snapshot, ctx.name)
        desired = pool.submit(desired_members, ctx, as_of)
        had_list = ctx.activation.list_id
        list_id = checked_list_id(ctx, recreate_list)
        if had_list and not list_id:
            early = None  # the deleted list's snapshot was just forgotten: read it again
        if reconcile_first and list_id:
            from .reconcile import correct_snapshot

            drift = correct_snapshot(ctx, list_id, desired.result())
            ctx.ws.store.update_run(run_id, drift=drift)
        plan = make_plan(ctx, as_of, list_id, early, desired)
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
    return plan, batches


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


def supersede_waiting_runs(ctx: Context) -> None:
    """Older plans waiting for approval are replaced by the new run (they can no longer apply);
    a run left ``planned`` stopped while planning (we hold the lock, so nobody else plans)."""
    for old in ctx.ws.store.list_runs(ctx.name, limit=50):
        if old["status"] == "needs_approval":
            ctx.ws.store.update_run(
                int(old["id"]), status="superseded", message="a newer run replaced this plan"
            )
        elif old["status"] == "planned":
            ctx.ws.store.update_run(
                int(old["id"]), status="abandoned", message="stopped while planning; nothing sent"
            )


def apply_run(
    ctx: Context,
    run_id: int,
    started: float | None = None,
    *,
    list_checked: bool = False,
    planned: list[Batch] | None = None,
) -> RunRecord:
    """Resolve the list, send (or resume) the run's batches, follow them and record the end.

    ``list_checked``: the list was just checked (or found or created) while planning this
    run, so it is not read once more before sending (a resumed or approved run checks it).
    ``planned``: the batches this process just stored for the run (not read back again).
    """
    started = time.monotonic() if started is None else started
    store = ctx.ws.store
    try:
        stored = store.get_run(run_id).get("list_id") or ctx.activation.list_id
        list_id = stored or resolve_list(ctx, list_name_of(ctx))  # found or created: it exists
        store.update_run(run_id, status="applying", list_id=list_id)
        if stored and not list_checked and not stored_list_exists(ctx.client, list_id):
            raise list_deleted_error(list_name_of(ctx), list_id)
        batches = load_batches(store, run_id) if planned is None else planned
        applier = Applier(
            store,
            ctx.client,
            ctx.name,
            list_id,
            poll_s=ctx.options.poll_s,
            timeout_s=ctx.options.job_timeout_s,
            on_list_gone=lambda: list_deleted_error(list_name_of(ctx), list_id),
        )
        outcome = applier.apply(batches)
    except WorkbenchError as exc:
        return fail(ctx, run_id, exc, started)
    refused = sum(len(b.outcome.get("row_errors") or {}) for b in batches)
    status, message = end_state(outcome.failures, outcome.unfinished, refused)
    alarms = [*store.get_run(run_id).get("alarms", []), *outcome.alarms]
    store.update_run(run_id, status=status, message=message, alarms=alarms)
    return record(ctx, run_id, started, batches)


def end_state(failures: list[str], unfinished: int, refused: int = 0) -> tuple[str, str]:
    """The final status and message of an applied run (refused rows alone do not fail it)."""
    if failures:
        return "failed", "SendGrid did not finish: " + "; ".join(failures[:5])
    if unfinished:
        return "applying", (
            f"{unfinished} batch(es) still wait for SendGrid's jobs: run again to resume"
        )
    if refused:
        return "succeeded", (
            f"SendGrid refused {refused} row(s): they are in the run log and are tried again "
            "by the next run"
        )
    return "succeeded", ""


def fail(ctx: Context, run_id: int, exc: WorkbenchError, started: float) -> RunRecord:
    """End a run as failed with the error's message (the snapshot is untouched), naming the
    HTTP status once: SendGrid's own texts often name it already."""
    message = str(exc)
    if isinstance(exc, DestinationError) and exc.status and str(exc.status) not in message:
        message = f"{message} (HTTP {exc.status})"
    ctx.ws.store.update_run(run_id, status="failed", message=message)
    return record(ctx, run_id, started)


def record(
    ctx: Context, run_id: int, started: float, batches: list[Batch] | None = None
) -> RunRecord:
    """Store the run's counts, jobs, API calls and duration; its record."""
    store = ctx.ws.store
    run = store.get_run(run_id)
    batches = load_batches(store, run_id) if batches is None else batches
    calls = dict(run.get("api_calls_by_endpoint") or {})
    now_calls = ctx.client.calls
    for endpoint, count in now_calls.items():
        calls[endpoint] = calls.get(endpoint, 0) + count - ctx.calls_recorded.get(endpoint, 0)
    ctx.calls_recorded = now_calls  # counted once even if this context records again
    fields: dict[str, Any] = {
        **tally(batches),
        "jobs": [
            {
                "seq": b.seq,
                "kind": b.kind,
                "status": b.status,
                "job_ids": b.job_ids,
                "outcome": b.outcome.get("jobs", []),
            }
            for b in batches
        ],
        "api_calls": sum(calls.values()),
        "api_calls_by_endpoint": calls,
        "api_retries": ctx.client.stats.snapshot()["retries"],
        "api_waited_s": ctx.client.stats.snapshot()["waited_s"],
        "duration_s": round(float(run.get("duration_s") or 0) + time.monotonic() - started, 3),
    }
    return RunRecord.from_run(store.update_run(run_id, **fields))
