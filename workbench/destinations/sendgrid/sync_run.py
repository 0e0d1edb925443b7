"""One run of an activation: lock, (resume or) plan, guard, persist, apply, record (the
planning itself is ``sync_planning``).

A run is a persisted state machine: ``planned -> (needs_approval) -> applying -> succeeded |
failed``. The plan is persisted as the run's batches before anything is sent, so approving a
run applies exactly the stored plan, and a run killed while ``applying`` is resumed by the
next start instead of planned anew. Failures of SendGrid end the run as ``failed`` with the
reason; the snapshot only ever holds what SendGrid confirmed, so nothing is lost.

A plan that only adds, with its contacts found by an export, is not stored whole first: its
batches are cut, stored and sent while the export is read (``stream_run``, ``sync_stream``).
A run killed while streaming is resumed like any other, then ends as interrupted, and the same
start plans the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from workbench.errors import DestinationError, RunSkipped, WorkbenchError

from . import sync_lock
from .lists import list_deleted_error, resolve_list, stored_list_exists
from .run_record import RunRecord, tally
from .snapshot_after import forecast, keep_snapshot_copy
from .sync_apply import Applier, ApplyOutcome
from .sync_context import AsOf, Context, SyncOptions, list_name_of, open_context
from .sync_planning import Streaming, plan_run
from .sync_state import Batch, load_batches, unfinished_run
from .sync_stream import BatchFeed, produce

if TYPE_CHECKING:
    from workbench.workspace import Workspace


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
            resumed = apply_run(ctx, int(unfinished["id"]))
            if not unfinished.get("streaming") or resumed.status != "succeeded":
                return resumed
            end_interrupted_stream(ctx, resumed)  # and plan the rest now
        if only_if is not None and not only_if():
            raise RunSkipped(f"activation {name} is not due any more: another process ran it")
        supersede_waiting_runs(ctx)
        run_id = ws.store.create_run(name, {"status": "planned", "segment": ctx.activation.segment})
        started = time.monotonic()
        try:
            planned = plan_run(ctx, run_id, as_of, reconcile_first, recreate_list)
        except WorkbenchError as exc:
            return fail(ctx, run_id, exc, started)
        if isinstance(planned, Streaming):
            return stream_run(ctx, run_id, planned, started)
        plan, batches = planned
        if plan.guard_problems and not approve:
            message = "waiting for approval: " + "; ".join(plan.guard_problems)
            ws.store.update_run(run_id, status="needs_approval", message=message)
            return record(ctx, run_id, started)
        with ThreadPoolExecutor(1, thread_name_prefix="sync-forecast") as pool:
            predicted = pool.submit(forecast, ws.store, name, plan)  # while SendGrid works
            done = apply_run(ctx, run_id, started, list_checked=True, planned=batches)
            keep_snapshot_copy(ws.store, name, plan, batches, predicted)  # read by the next run
        return done


def stream_run(ctx: Context, run_id: int, streaming: Streaming, started: float) -> RunRecord:
    """Send the adds of a ``Streaming`` run while its export is read (``sync_stream``), follow
    them and record the end, as ``apply_run`` does for a stored plan."""
    store = ctx.ws.store
    store.update_run(run_id, status="applying", list_id=streaming.list_id, streaming=True)
    feed = BatchFeed()
    with ThreadPoolExecutor(1, thread_name_prefix="sync-stream") as pool:
        produced = pool.submit(produce, ctx, run_id, streaming, feed)
        try:
            outcome = applier_for(ctx, streaming.list_id).apply([], feed)
            result = produced.result()
        except WorkbenchError as exc:
            feed.cancel()
            wait([produced])  # the cutting stops before the run is recorded as failed
            return fail(ctx, run_id, exc, started)
    done = concluded(ctx, run_id, started, feed.batches, outcome)
    if result is not None:
        plan, predicted = result
        keep_snapshot_copy(store, ctx.name, plan, feed.batches, predicted)
    return done


def end_interrupted_stream(ctx: Context, resumed: RunRecord) -> None:
    """A streaming run was killed before its whole plan was stored: its stored batches are
    now done (``resumed``), the rest is for a new run, planned against what SendGrid
    confirmed."""
    ctx.ws.store.update_run(
        resumed.id,
        status="failed",
        streaming=False,
        message="stopped while its contacts were read from SendGrid's export: the batches it "
        "had stored are done, the next run planned the rest",
    )


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
        outcome = applier_for(ctx, list_id).apply(batches)
    except WorkbenchError as exc:
        return fail(ctx, run_id, exc, started)
    return concluded(ctx, run_id, started, batches, outcome)


def applier_for(ctx: Context, list_id: str) -> Applier:
    """The applier of a run of ``ctx``'s activation to the list ``list_id``."""
    return Applier(
        ctx.ws.store,
        ctx.client,
        ctx.name,
        list_id,
        poll_s=ctx.options.poll_s,
        timeout_s=ctx.options.job_timeout_s,
        on_list_gone=lambda: list_deleted_error(list_name_of(ctx), list_id),
    )


def concluded(
    ctx: Context, run_id: int, started: float, batches: list[Batch], outcome: ApplyOutcome
) -> RunRecord:
    """Record the end of an applied run: its status, message, alarms and counts."""
    store = ctx.ws.store
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
