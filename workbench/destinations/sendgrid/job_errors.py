"""The rows an ``errored`` upsert job refused, read from its ``errors_url``.

A job that ends ``errored`` applied every row except the ones listed in its errors file (a CSV,
fetched like an export file: a pre-signed URL, no API key). Knowing those rows lets a sync
confirm the rest of the batch instead of failing all of it: one bad row does not sink a batch.
When the file cannot be read or a row cannot be placed, the caller treats the whole batch as
failed (it is retried by the next run), which is always safe.

Also what else turns finished jobs into a batch's outcome for the applier: ``ApplyOutcome``,
the created-contacts alarm, job summaries and SendGrid's job times.
"""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import DestinationError

from .client import SendGridClient
from .exports import gunzip_if_needed
from .models import ImportJob
from .sync_state import Batch

MESSAGE_COLUMNS = ("message", "error", "errors", "reason")


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


def refused_emails(client: SendGridClient, job: ImportJob) -> dict[str, str] | None:
    """The refused rows' emails (lower case) and messages; None when they cannot be known."""
    if job.status != "errored" or not job.errors_url:
        return None
    try:
        data = client.download(job.errors_url, what=f"the errors of job {job.id}")
    except DestinationError:
        return None
    return parse_errors(gunzip_if_needed(data).decode("utf-8-sig"))


def parse_errors(text: str) -> dict[str, str] | None:
    """``{email: message}`` from an errors CSV (headers in any case); None without emails."""
    rows = [
        {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        for row in csv.DictReader(io.StringIO(text))
    ]
    if any(not row.get("email") for row in rows):
        return None
    found: dict[str, str] = {}
    for row in rows:
        message = next((row[c] for c in MESSAGE_COLUMNS if row.get(c)), "refused by SendGrid")
        found[row["email"].lower()] = message[:200]
    return found


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


def job_summary(job: ImportJob) -> dict[str, Any]:
    """A finished job's status and counts, as a run records them."""
    return {
        "job_id": job.id,
        "status": job.status,
        "requested": job.requested,
        "created": job.created,
        "updated": job.updated,
        "errored": job.errored,
    }


def job_statuses(jobs: list[ImportJob]) -> str:
    """Jobs' ids, statuses and errored counts in one line (for a failure message)."""
    return ", ".join(f"{job.id} {job.status} ({job.errored} errored)" for job in jobs)


def job_times(jobs: list[ImportJob]) -> dict[str, float]:
    """``run_s``, ``finished_at`` (the longest, the last) and ``started_at`` (the first) of a
    batch's jobs when SendGrid gave them for every job (the schedule's keyword arguments);
    those it did not give are left out."""
    times: dict[str, float] = {}
    for name, pick in (("run_s", max), ("finished_at", max), ("started_at", min)):
        values = [getattr(job, name) for job in jobs]
        if values and None not in values:
            times[name] = pick(values)
    return times


def refused_rows(
    client: SendGridClient, batch: Batch, bad: list[ImportJob]
) -> dict[str, str] | None:
    """Rows of the batch SendGrid refused ({} when none); None when the batch failed."""
    if not bad:
        return {}
    if batch.kind != "add":
        return None
    by_primary: dict[str, str] = {}
    for job in bad:
        found = refused_emails(client, job)
        if found is None:
            return None
        by_primary.update(found)
    return rows_of_refused(batch, by_primary)


def created_alarm(batch: Batch, jobs: list[ImportJob]) -> str | None:
    """The alarm to raise when SendGrid says a batch's jobs CREATED contacts, else None."""
    created = sum(job.created for job in jobs)
    if not created:
        return None
    return (
        f"ALARM: SendGrid reports {created} contact(s) CREATED by {batch.kind} batch "
        f"{batch.seq} (jobs {', '.join(j.id for j in jobs)}); a sync must never create "
        "contacts: check the contacts of this run"
    )
