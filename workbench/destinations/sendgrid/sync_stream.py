"""Sending a run's adds while SendGrid's export is still being read (``Draft.streams``).

A first run over a large segment looks its contacts up in one export of the whole account. Read
whole, a million contacts take about a second to parse, match and cut before the first upsert
can leave; the upserts themselves then wait on the rate limit (10/s) for three more. Read chunk
by chunk (``export_chunks``), the first batch of 30,000 contacts is stored and sent after the
first chunk, and the rest is cut while SendGrid's rate limit paces the upserts.

Only a plan that nothing can stop once its contacts are known streams: nothing leaves the list
(no removal can trip the guard), the segment has members, and the lookups read an export. Every
batch is stored before it is handed to the senders, as in a planned run; the run is marked
``streaming`` until its whole plan is stored. A run killed while streaming is resumed like any
other (its stored batches are sent and followed), then ends as interrupted: the next run plans
the rest against the snapshot SendGrid confirmed.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING

import polars as pl

from .batching import json_size, upsert_body
from .contact_frames import MATCH_SCHEMA
from .run_record import write_skipped
from .snapshot_after import Forecast, forecast
from .sync import SyncPlan, finish_plan
from .sync_batches import LIST_ID_CHARS, add_batches
from .sync_state import Batch, save_batches

if TYPE_CHECKING:
    from workbench.store import Store

    from .sync_context import Context
    from .sync_planning import Streaming

log = logging.getLogger(__name__)


class BatchFeed:
    """Batches handed to an applier that is already sending: a plan cut while it is read.

    The producer ``put``s each batch once it is stored, then ``close``s the feed (also when
    it fails); the applier ``cancel``s it when it stops, so the producer stops cutting."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self._queue: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._cancelled = threading.Event()

    def put(self, batch: Batch) -> None:
        """Hand over one stored batch."""
        self.batches.append(batch)
        self._queue.put(batch)

    def close(self) -> None:
        """No batch follows."""
        self._queue.put(None)

    def cancel(self) -> None:
        """The applier stopped: whatever is put now is never sent (senders waiting for a
        batch are woken with the end)."""
        self._cancelled.set()
        self._queue.put(None)

    @property
    def cancelled(self) -> bool:
        """Whether the applier stopped taking batches."""
        return self._cancelled.is_set()

    def next(self) -> Batch | None:
        """The next batch, waiting for it; None once the feed is closed (for every taker)."""
        batch = self._queue.get()
        if batch is None:
            self._queue.put(None)  # the other senders see the end too
        return batch


def produce(
    ctx: Context, run_id: int, streaming: Streaming, feed: BatchFeed
) -> tuple[SyncPlan, Forecast | None] | None:
    """Read the export chunk by chunk, store and hand over each full batch as it is cut, then
    store the whole plan (skipped rows and the run's planned fields); the plan and the snapshot
    it will leave (``snapshot_after.forecast``). None when the applier stopped first."""
    from .sync_planning import guarded, plan_fields

    poll_s = ctx.options.poll_s
    try:
        to_add = cut_while_reading(ctx, run_id, streaming, feed)
        if to_add is None:
            return None
        found = finish_plan(streaming.draft, to_add, set(), "export", ctx.client, poll_s)
        plan = guarded(ctx, found)
        write_skipped(ctx.ws.settings.home, run_id, plan.skipped)
        ctx.ws.store.update_run(run_id, **plan_fields(plan), streaming=False)
    finally:
        feed.close()
    return plan, _forecast(ctx, plan)


def _forecast(ctx: Context, plan: SyncPlan) -> Forecast | None:
    try:
        return forecast(ctx.ws.store, ctx.name, plan)
    except Exception:  # only ever a matter of speed (see snapshot_after.keep_snapshot_copy)
        log.warning("no forecast of the snapshot of %s", ctx.name, exc_info=True)
        return None


def cut_while_reading(
    ctx: Context, run_id: int, streaming: Streaming, feed: BatchFeed
) -> pl.DataFrame | None:
    """Every contact found for the draft's candidates (``email, contact_id, entry``, in export
    order), each full batch stored and handed over as soon as it is cut; None if cancelled."""
    client, store = ctx.client, ctx.ws.store
    limits = (client.upsert_max_contacts, client.upsert_max_bytes)
    matcher = streaming.matcher
    found: list[pl.DataFrame] = []
    pending = pl.DataFrame(schema=MATCH_SCHEMA)
    for contacts in client.export_frames(streaming.urls):
        if feed.cancelled:
            return None
        matched = matcher.matches(contacts)
        found.append(matched)
        pending = pl.concat([pending, matched])
        ready, pending = full_batches(run_id, pending, *limits)
        hand_over(store, feed, ready)
    if feed.cancelled:
        return None
    hand_over(store, feed, add_batches(run_id, pending, *limits))
    return pl.concat([pl.DataFrame(schema=MATCH_SCHEMA), *found])


def full_batches(
    run_id: int, rows: pl.DataFrame, max_contacts: int, max_bytes: int
) -> tuple[list[Batch], pl.DataFrame]:
    """The batches ``rows`` fill to a limit (within both), and the rows left for the next ones
    (those of the last, possibly not full, batch)."""
    budget = max_bytes - json_size(upsert_body("x" * LIST_ID_CHARS, []))
    size = int(rows.get_column("entry").str.len_bytes().sum()) + 2 * rows.height
    if rows.height <= max_contacts and size <= budget:
        return [], rows
    batches = add_batches(run_id, rows, max_contacts, max_bytes)
    if len(batches) < 2:
        return [], rows
    rest = rows.filter(pl.col("email").is_in(pl.Series(batches[-1].emails).implode()))
    return batches[:-1], rest


def hand_over(store: Store, feed: BatchFeed, batches: list[Batch]) -> None:
    """Number ``batches`` after those already handed over, store them, then hand them over."""
    for batch in batches:
        batch.seq = len(feed.batches)
        save_batches(store, [batch])
        feed.put(batch)
