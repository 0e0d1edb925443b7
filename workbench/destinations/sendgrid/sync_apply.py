"""The applier: sends a run's persisted batches and follows every SendGrid job to its end.

Three kinds of work run at once, as SendGrid's limits are per endpoint: upserts (``ADD_SENDERS``
in flight, paced by the client within the rate limit), removals (``REMOVE_SENDERS``) and job
polls (one follower, polling while later batches are still being sent). Each batch is marked
``sending`` before its request and ``sent`` with its job ids after; a finished job confirms the
batch and updates the snapshot in one transaction (on a confirming thread of its own, so that
a slow SQLite write never delays the next poll). Resuming after a crash is the same call:
``sent`` batches are polled again (a job SendGrid no longer knows is sent again), ``pending``
and ``sending`` ones are sent, confirmed ones are left alone.

The follower polls each job when it should be done (``job_schedule``), so that normally one poll
finds each job finished. A lone upsert is sent after the removals (see ``_senders``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from workbench.errors import DestinationError, RemoteNotFound
from workbench.store import Store

from .client import SendGridClient
from .job_errors import (
    ApplyOutcome,
    created_alarm,
    job_statuses,
    job_summary,
    job_times,
    refused_rows,
    rows_of_refused,
)
from .job_schedule import Planned, Schedule
from .models import ImportJob
from .polling import rows_done
from .sync_batches import plan_batches
from .sync_state import FAILED, PENDING, SENDING, SENT, Batch, confirm_batch, set_status

if TYPE_CHECKING:
    from .sync_stream import BatchFeed

__all__ = ["Applier", "ApplyOutcome", "plan_batches", "rows_of_refused"]

FIRST_POLL_S = 0.05  # jobs are polled quickly at first, then less often up to poll_s
ADD_SENDERS = 2  # upserts in flight at once: SendGrid parses one while the next uploads
SETTLE_WORKERS = 4  # finished jobs polled at once (within the 10/s of the job-status endpoint)
IDLE_POLL_S = 0.25  # the follower looks for newly sent batches at least this often
REMOVE_SENDERS = 2  # removals in flight at once: a 50 ms latency each would leave 10/s unused


class Applier:
    """Sends and follows the batches of one run of one activation."""

    def __init__(
        self,
        store: Store,
        client: SendGridClient,
        activation: str,
        list_id: str,
        *,
        poll_s: float = 5.0,
        timeout_s: float = 900.0,
        on_list_gone: Callable[[], DestinationError] | None = None,
    ) -> None:
        self.store, self.client = store, client
        self.activation, self.list_id = activation, list_id
        self.poll_s, self.timeout_s = poll_s, timeout_s
        self.on_list_gone = on_list_gone
        self.outcome = ApplyOutcome()
        self._stop = threading.Event()
        self._senders_done = threading.Event()
        self._sent: queue.SimpleQueue[Batch] = queue.SimpleQueue()  # to the follower, in order
        self._sent_at: dict[int, float] = {}  # batch seq -> when this process sent it
        self._times: dict[int, dict[str, float]] = {}  # seq -> SendGrid's times, when seen
        self._concluded: list[Future[None]] = []  # finished batches, confirmed in this order
        self._behind = self._speculated = False  # see _poll_round
        self._fed: BatchFeed | None = None

    def apply(self, batches: list[Batch], fed: BatchFeed | None = None) -> ApplyOutcome:
        """Send every unsent batch and follow every job (see the module docstring); ``fed``:
        add batches still being cut while the first ones are sent (``sync_stream``)."""
        errors: list[BaseException] = []
        self._confirmer = ThreadPoolExecutor(1, thread_name_prefix="sync-confirm")
        self._fed = fed
        for batch in batches:
            if batch.status == SENT:  # sent by an earlier process: followed from now on
                self._sent_at[batch.seq] = time.monotonic()
                self._sent.put(batch)
        follower = self._thread(self._follow, errors, None, "follow")
        senders = self._senders(batches, "remove", REMOVE_SENDERS, errors)
        if fed is not None:
            senders += [
                self._thread(self._send_fed, errors, fed, f"add-{n}") for n in range(ADD_SENDERS)
            ]
        elif len(self._unsent(batches, "add")) > 1:  # see _senders
            senders += self._senders(batches, "add", ADD_SENDERS, errors)
        else:
            for sender in senders:
                sender.join()
            senders = self._senders(batches, "add", ADD_SENDERS, errors)
        for sender in senders:
            sender.join()
        if fed is not None:
            fed.cancel()  # a sender stopped on an error: cut nothing more
        self._senders_done.set()
        follower.join()
        self._confirmer.shutdown(wait=True)
        errors += [exc for f in self._concluded if (exc := f.exception()) is not None]
        if errors:
            raise errors[0]
        every = batches + (fed.batches if fed is not None else [])
        self.outcome.unfinished = sum(b.status in (PENDING, SENDING, SENT) for b in every)
        return self.outcome

    def _senders(
        self, batches: list[Batch], kind: str, count: int, errors: list[BaseException]
    ) -> list[threading.Thread]:
        """``count`` threads sending the unsent batches of ``kind``, in order.

        SendGrid runs a list's jobs one after the other: a lone upsert sent among the removals
        would hold every removal job queued behind it (and their polls, within the same 10/s)
        for its whole run, so one upsert is sent after the removals; several go alongside."""
        work: queue.SimpleQueue[Batch] = queue.SimpleQueue()
        for batch in self._unsent(batches, kind):
            work.put(batch)
        return [self._thread(self._send_all, errors, work, f"{kind}-{n}") for n in range(count)]

    @staticmethod
    def _unsent(batches: list[Batch], kind: str) -> list[Batch]:
        return [b for b in batches if b.kind == kind and b.status in (PENDING, SENDING)]

    def _thread(
        self, work: Callable[[Any], None], errors: list[BaseException], arg: Any, name: str
    ) -> threading.Thread:
        def guarded() -> None:
            try:
                work(arg)
            except BaseException as exc:  # handed to the main thread, which re-raises it
                self._stop.set()
                if self._fed is not None:
                    self._fed.cancel()  # wakes the senders waiting for a batch
                errors.append(exc)

        thread = threading.Thread(target=guarded, name=f"sync-{name}", daemon=True)
        thread.start()
        return thread

    def _send_all(self, work: queue.SimpleQueue[Batch]) -> None:
        """Send batches taken from ``work`` until it is empty (several senders share it)."""
        while not self._stop.is_set():
            try:
                batch = work.get_nowait()
            except queue.Empty:
                return
            self._send(batch)

    def _send_fed(self, fed: BatchFeed) -> None:
        """Send the batches of ``fed`` as they come, until it ends (several senders share it)."""
        while not self._stop.is_set():
            batch = fed.next()
            if batch is None:
                return
            self._send(batch)

    def _send(self, batch: Batch) -> None:
        set_status(self.store, batch, SENDING)
        try:
            if batch.kind == "add":
                batch.job_ids = [self.client.add_entries_to_list(self.list_id, batch.entries_json)]
            else:
                result = self.client.remove_from_list(self.list_id, batch.contact_ids)
                batch.job_ids = result.job_ids
                batch.outcome["gone_contact_ids"] = sorted(result.stale_ids)
        except RemoteNotFound:
            self._raise_if_list_gone()
            raise
        self._sent_at[batch.seq] = time.monotonic()  # SendGrid's job order, before our write
        set_status(self.store, batch, SENT)
        if not batch.job_ids:  # every contact of a removal was already gone
            confirm_batch(self.store, self.activation, batch, set(batch.contact_ids))
        else:
            self._sent.put(batch)

    def _raise_if_list_gone(self) -> None:
        try:
            self.client.get_list(self.list_id)
        except RemoteNotFound:
            if self.on_list_gone is not None:
                raise self.on_list_gone() from None
            raise

    def _follow(self, _: None) -> None:
        """Poll the jobs of sent batches until each batch is confirmed, failed or too late
        (``timeout_s`` after the last batch was sent); when, see ``job_schedule``."""
        waiting: list[Batch] = []
        schedule = Schedule(FIRST_POLL_S, max(self.poll_s, FIRST_POLL_S))
        deadline: float | None = None
        while not self._stop.is_set():
            sending = not self._senders_done.is_set()  # else every sent batch is queued
            self._take_sent(waiting, block=sending and not waiting)
            if not waiting:
                if not sending:  # the last batch settled: the run goes on at once
                    return
                continue
            if deadline is None and self._senders_done.is_set():
                deadline = time.monotonic() + self.timeout_s
            if deadline is not None and time.monotonic() >= deadline:
                return
            waiting = self._poll_round(waiting, schedule)

    def _poll_round(self, waiting: list[Batch], schedule: Schedule) -> list[Batch]:
        """Poll the newest due job (with older due ones at the tail: ``_due_along``); if it
        has started, settle every older one too. Returns the batches still waiting.

        Once everything is sent, a probe that was already finished when first looked at means
        the estimates lag behind SendGrid: the LAST job is looked at once, right away; when it
        is done, so is every other (one call at most is lost on the guess). Not needed once
        SendGrid's own job times anchor the estimates."""
        now = time.monotonic()
        keys = [(b.seq, b.contacts, self._sent_at[b.seq]) for b in waiting]
        schedule.kinds.update((b.seq, b.kind) for b in waiting)
        schedule.all_sent = self._senders_done.is_set()
        planned = schedule.plan(keys)
        ready = [i for i, p in enumerate(planned) if p.due <= now]
        early = not (schedule.paced or schedule.all_sent) and waiting[0].kind == "add"
        if not ready or early:  # a first look at an upsert only gives a pace: after sending
            wait = min(p.due for p in planned) - now
            self._stop.wait(min(max(wait, FIRST_POLL_S), IDLE_POLL_S))
            return waiting
        probe = ready[-1]
        lagging = self._behind and self._senders_done.is_set() and not schedule.anchored
        if lagging and not self._speculated:  # everything sent, no SendGrid times: the last
            probe, self._speculated = len(waiting) - 1, True
        first_look = planned[probe].key not in schedule.seen
        found = self._settle_all(waiting, [*self._due_along(schedule, ready, probe), probe])
        job = found[probe]
        self._behind = job is None and first_look  # finished before we looked: we lag
        if job is None or rows_done(job) > 0:  # jobs run in order: every older one is done
            found.update(self._settle_all(waiting, [i for i in range(probe) if i not in found]))
        for index in sorted(found):  # older ones first; one settled behind the probe ended
            self._learn(schedule, planned, keys, index, found[index], timed=index == probe)
        return [b for i, b in enumerate(waiting) if i not in found or found[i] is not None]

    @staticmethod
    def _due_along(schedule: Schedule, ready: list[int], probe: int) -> list[int]:
        """The older due jobs polled with the probe once all is sent and SendGrid's times
        anchor the schedule (the tail: each look after another adds a latency to the run).
        No call of their own: were the probe unfinished, they would be polled in the next
        round (an unfinished anchored look without progress moves no other estimate)."""
        return [i for i in ready if i < probe] if schedule.all_sent and schedule.anchored else []

    def _settle_all(self, waiting: list[Batch], indices: list[int]) -> dict[int, ImportJob | None]:
        """``_settle`` the batches at ``indices`` of ``waiting``, at once when several."""
        if len(indices) <= 1:
            return {i: self._settle(waiting[i]) for i in indices}
        with ThreadPoolExecutor(SETTLE_WORKERS, thread_name_prefix="sync-settle") as pool:
            found = list(pool.map(self._settle, [waiting[i] for i in indices]))
        return dict(zip(indices, found, strict=True))

    def _learn(
        self,
        schedule: Schedule,
        planned: list[Planned],
        keys: list[tuple[int, int, float]],
        index: int,
        job: ImportJob | None,
        timed: bool = True,
    ) -> None:
        """Tell the schedule what a poll of ``planned[index]`` found (None: finished); a job
        settled behind the probe ended at some unknown earlier time (not ``timed``)."""
        (_, rows, sent), times = keys[index], self._times.get(keys[index][0], {})
        start = schedule.start_of(planned, index, sent)
        if job is None:
            schedule.finished(planned[index], rows, start, timed, sent_at=sent, **times)
        else:
            schedule.unfinished(planned[index], job, start, rows)

    def _take_sent(self, waiting: list[Batch], block: bool) -> None:
        """Move newly sent batches to ``waiting`` (waiting briefly for one when ``block``), in
        the order SendGrid answered them: with two senders, the batch answered first can be
        recorded second, and the schedule chains each job from the one before it."""
        try:
            waiting.append(
                self._sent.get(timeout=FIRST_POLL_S) if block else self._sent.get_nowait()
            )
            while True:
                waiting.append(self._sent.get_nowait())
        except queue.Empty:
            waiting.sort(key=lambda b: self._sent_at[b.seq])

    def _settle(self, batch: Batch) -> ImportJob | None:
        """Check one batch's jobs; None when the batch is done (confirmed, failed or resent),
        else the first unfinished job."""
        jobs: list[ImportJob] = []
        for job_id in batch.job_ids:
            try:
                jobs.append(self.client.job(job_id))
            except RemoteNotFound:  # SendGrid forgot the job: sent again, followed anew
                self._send(batch)
                return None
        unfinished = next((job for job in jobs if not job.finished), None)
        if unfinished is not None:
            return unfinished
        self._times[batch.seq] = {**job_times(jobs), "seen_at": time.monotonic()}
        self._concluded.append(self._confirmer.submit(self._conclude, batch, jobs))
        return None

    def _conclude(self, batch: Batch, jobs: list[ImportJob]) -> None:
        """Record a batch whose jobs ended: confirmed (with the snapshot) or failed. On a
        thread of its own, so that a slow SQLite write never holds the next poll back."""
        alarm = created_alarm(batch, jobs)
        if alarm:
            self.outcome.alarm(alarm)
        bad = [job for job in jobs if job.status != "completed"]
        batch.outcome["jobs"] = [job_summary(job) for job in jobs]
        refused = refused_rows(self.client, batch, bad)
        if refused is None:
            set_status(self.store, batch, FAILED)
            self.outcome.fail(f"{batch.kind} batch {batch.seq}: job(s) {job_statuses(bad)}")
        else:
            batch.outcome["row_errors"] = refused
            gone = set(batch.outcome.get("gone_contact_ids") or [])
            confirm_batch(self.store, self.activation, batch, gone)
