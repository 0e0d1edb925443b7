"""The applier: sends a run's persisted batches and follows every SendGrid job to its end.

Adds (upserts) and removals hit different endpoints, so they run on two threads. Each batch is
marked ``sending`` before its request and ``sent`` with its job ids after; a finished job
confirms the batch and updates the snapshot in one transaction. Resuming after a crash is the
same call: ``sent`` batches are polled again (a job SendGrid no longer knows is sent again),
``pending`` and ``sending`` ones are sent, confirmed ones are left alone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from workbench.errors import DestinationError, RemoteNotFound
from workbench.store import Store

from .batching import REMOVE_MAX_IDS, chunks, json_size, upsert_body
from .client import SendGridClient
from .job_errors import refused_emails
from .models import Contact, ImportJob
from .polling import JobPace
from .sync_state import CONFIRMED, FAILED, PENDING, SENDING, SENT, Batch, confirm_batch, set_status

FIRST_POLL_S = 0.05  # jobs are polled quickly at first, then less often up to poll_s


@dataclass
class ApplyOutcome:
    """What the applier saw: alarms (contacts created!), failures and unfinished batches."""

    alarms: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    unfinished: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def alarm(self, text: str) -> None:
        """Record an alarm (thread-safe)."""
        with self.lock:
            self.alarms.append(text)

    def fail(self, text: str) -> None:
        """Record a failed batch (thread-safe)."""
        with self.lock:
            self.failures.append(text)


def plan_batches(
    run_id: int,
    to_add: pl.DataFrame,
    to_remove: pl.DataFrame,
    *,
    max_contacts: int,
    max_bytes: int,
) -> list[Batch]:
    """Split a plan's rows into request-sized batches: adds first, then removals."""
    batches = _add_batches(run_id, to_add, max_contacts, max_bytes)
    removals = to_remove.filter(pl.col("contact_id").is_not_null())
    groups = removals.group_by("contact_id", maintain_order=True).agg("email").rows()
    for chunk in chunks(groups, REMOVE_MAX_IDS):  # at most 100 ids; every email of each id
        rows = [(email, contact_id) for contact_id, emails in chunk for email in emails]
        batches.append(
            Batch(run_id, len(batches), "remove", [r[0] for r in rows], [r[1] for r in rows])
        )
    return batches


def _add_batches(
    run_id: int, to_add: pl.DataFrame, max_contacts: int, max_bytes: int
) -> list[Batch]:
    """Adds grouped so each batch is one upsert within the count and byte limits."""
    batches: list[Batch] = []
    overhead = json_size(upsert_body("x" * 36, []))
    current: Batch | None = None
    size, seen = overhead, set[str]()
    for email, contact_id, entry_json in to_add.iter_rows():
        entry = json.loads(entry_json)
        entry_size = len(entry_json.encode("utf-8")) + 2  # == json_size(entry) + 2, no re-dump
        new_contact = contact_id not in seen
        added = entry_size if new_contact else 0
        full = current is not None and (
            len(current.entries) >= max_contacts or size + added > max_bytes
        )
        if current is None or (new_contact and full):
            current = Batch(run_id, len(batches), "add", [], [])
            batches.append(current)
            size, seen, new_contact, added = overhead, set(), True, entry_size
        current.emails.append(email)
        current.contact_ids.append(contact_id)
        if new_contact:
            current.entries.append(entry)
            seen.add(contact_id)
            size += added
    return batches


def contacts_of(batch: Batch) -> list[Contact]:
    """The batch's upsert entries as contacts (primary email plus existing identifiers)."""
    ids = dict.fromkeys(batch.contact_ids)
    return [
        Contact(
            id=cid,
            email=entry.get("email"),
            phone_number_id=entry.get("phone_number_id"),
            external_id=entry.get("external_id"),
            anonymous_id=entry.get("anonymous_id"),
        )
        for cid, entry in zip(ids, batch.entries, strict=True)
    ]


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
        self._unfinished: dict[int, ImportJob] = {}  # batch seq -> its job last seen unfinished
        self._sent_at: dict[int, float] = {}  # batch seq -> when this process sent it

    def apply(self, batches: list[Batch]) -> ApplyOutcome:
        """Send and follow every unfinished batch; adds and removals on two threads."""
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=self._guarded, args=(kind, batches, errors), name=kind)
            for kind in ("add", "remove")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        self.outcome.unfinished = sum(b.status in (PENDING, SENDING, SENT) for b in batches)
        return self.outcome

    def _guarded(self, kind: str, batches: list[Batch], errors: list[BaseException]) -> None:
        try:
            self._work(kind, [b for b in batches if b.kind == kind])
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self._stop.set()
            errors.append(exc)

    def _work(self, kind: str, batches: list[Batch]) -> None:
        for batch in batches:
            if self._stop.is_set():
                return
            if batch.status in (PENDING, SENDING):
                self._send(batch)
        self._follow([b for b in batches if b.status == SENT])

    def _send(self, batch: Batch) -> None:
        set_status(self.store, batch, SENDING)
        try:
            if batch.kind == "add":
                batch.job_ids = self.client.add_to_list(self.list_id, contacts_of(batch))
            else:
                result = self.client.remove_from_list(self.list_id, batch.contact_ids)
                batch.job_ids = result.job_ids
                batch.outcome["gone_contact_ids"] = sorted(result.stale_ids)
        except RemoteNotFound:
            self._raise_if_list_gone()
            raise
        set_status(self.store, batch, SENT)
        self._sent_at[batch.seq] = time.monotonic()
        if not batch.job_ids:  # every contact of a removal was already gone
            confirm_batch(self.store, self.activation, batch, set(batch.contact_ids))

    def _raise_if_list_gone(self) -> None:
        try:
            self.client.get_list(self.list_id)
        except RemoteNotFound:
            if self.on_list_gone is not None:
                raise self.on_list_gone() from None
            raise

    def _follow(self, sent: list[Batch]) -> None:
        """Poll the jobs of ``sent`` batches until each batch is confirmed, failed or too late.

        Batches are settled in the order they were sent and a round stops at the first one
        still unfinished: SendGrid works through a list's jobs in order, so polling the later
        ones would only find them unfinished too. The wait between rounds follows the
        unfinished job's progress (``JobPace``).
        """
        deadline = time.monotonic() + self.timeout_s
        waiting, pace = list(sent), JobPace(FIRST_POLL_S, max(self.poll_s, FIRST_POLL_S))
        while waiting and not self._stop.is_set():
            waiting = self._settle_in_order(waiting)
            if waiting and time.monotonic() < deadline:
                head, seq = self._unfinished.get(waiting[0].seq), waiting[0].seq
                time.sleep(pace.next_delay(head, self._sent_at.get(seq)) if head else FIRST_POLL_S)
            elif waiting:
                return

    def _settle_in_order(self, waiting: list[Batch]) -> list[Batch]:
        """Settle ``waiting`` batches in order up to the first unfinished one; those left."""
        for index, batch in enumerate(waiting):
            if not self._settle(batch):
                return waiting[index:]
        return []

    def _settle(self, batch: Batch) -> bool:
        """Check one batch's jobs; True when the batch is done (confirmed, failed or resent)."""
        jobs: list[ImportJob] = []
        for job_id in batch.job_ids:
            try:
                jobs.append(self.client.job(job_id))
            except RemoteNotFound:  # SendGrid forgot the job: the request is sent again
                self._send(batch)
                return batch.status != SENT
        if not all(job.finished for job in jobs):
            self._unfinished[batch.seq] = next(job for job in jobs if not job.finished)
            return False
        self._check_created(batch, jobs)
        bad = [job for job in jobs if job.status != "completed"]
        batch.outcome["jobs"] = [_job_summary(job) for job in jobs]
        refused = self._refused_rows(batch, bad)
        if refused is None:
            set_status(self.store, batch, FAILED)
            self.outcome.fail(f"{batch.kind} batch {batch.seq}: job(s) {_statuses(bad)}")
        else:
            batch.outcome["row_errors"] = refused
            gone = set(batch.outcome.get("gone_contact_ids") or [])
            confirm_batch(self.store, self.activation, batch, gone)
        return batch.status in (CONFIRMED, FAILED)

    def _refused_rows(self, batch: Batch, bad: list[ImportJob]) -> dict[str, str] | None:
        """Rows of the batch SendGrid refused ({} when none); None when the batch failed."""
        if not bad:
            return {}
        if batch.kind != "add":
            return None
        by_primary: dict[str, str] = {}
        for job in bad:
            found = refused_emails(self.client, job)
            if found is None:
                return None
            by_primary.update(found)
        return rows_of_refused(batch, by_primary)

    def _check_created(self, batch: Batch, jobs: list[ImportJob]) -> None:
        created = sum(job.created for job in jobs)
        if created:
            self.outcome.alarm(
                f"ALARM: SendGrid reports {created} contact(s) CREATED by {batch.kind} batch "
                f"{batch.seq} (jobs {', '.join(j.id for j in jobs)}); a sync must never create "
                "contacts: check the contacts of this run"
            )


def rows_of_refused(batch: Batch, by_primary: dict[str, str]) -> dict[str, str] | None:
    """The batch's emails whose contact's upserted (primary) email was refused."""
    primary_of = {
        cid: str(entry.get("email") or "").lower()
        for cid, entry in zip(dict.fromkeys(batch.contact_ids), batch.entries, strict=True)
    }
    if not set(by_primary) <= set(primary_of.values()):
        return None  # a refused row we cannot place: fail the whole batch (retried next run)
    return {
        email: by_primary[primary_of[cid]]
        for email, cid in zip(batch.emails, batch.contact_ids, strict=True)
        if primary_of[cid] in by_primary
    }


def _job_summary(job: ImportJob) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "status": job.status,
        "requested": job.requested,
        "created": job.created,
        "updated": job.updated,
        "errored": job.errored,
    }


def _statuses(jobs: list[ImportJob]) -> str:
    return ", ".join(f"{job.id} {job.status} ({job.errored} errored)" for job in jobs)
