"""A job as stored: the row creating one makes, how the ``jobs`` table takes it in, its status.

A request builds a ``NewJob`` (payload already JSON text) and stores it in the job inbox
(``inbox.py``); the worker copies it into the state file's ``jobs`` table with
``insert_jobs`` (``INSERT OR IGNORE``, so copying twice is harmless), where ``jobs.pump``
applies it. ``job_status`` answers in SendGrid's import status shape, with its documented
times: ``started_at`` is "when the job was created" (SendGrid's OpenAPI), present from the
first answer, so a client can't read it as the moment the job began running (the worker's own
start time stays internal); ``finished_at`` appears once the job has ended.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from typing import Any

from workbench.destinations.sendgrid.sandbox.api import iso

UPSERT = "upsert"
DELETE = "delete"
PENDING = "pending"


@dataclass(frozen=True)
class NewJob:
    """A job as accepted, before the worker takes it in (the columns both files share)."""

    id: str
    job_type: str
    payload: str  # JSON text: {"kind": ..., **the request's payload}
    results: str  # JSON text: {"requested_count": n}
    fail: int
    created_at: float
    due_at: float
    size: int


COLUMNS = "id, job_type, payload, results, fail, created_at, due_at, size"
_INSERT = f"INSERT OR IGNORE INTO jobs({COLUMNS}, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


def new_job(kind: str, payload: dict, delay_s: float, fail: bool, now: float) -> NewJob:
    """A pending job of ``kind`` (upsert, remove, delete_contacts) created at ``now``."""
    size = len(payload["contacts"] if kind == UPSERT else payload["contact_ids"])
    return NewJob(
        id=str(uuid.uuid4()),
        job_type=UPSERT if kind == UPSERT else DELETE,
        payload=json.dumps({"kind": kind, **payload}),
        results=json.dumps({"requested_count": size}),
        fail=int(fail),
        created_at=now,
        due_at=now + delay_s,
        size=size,
    )


def insert_jobs(conn: sqlite3.Connection, new: Iterable[NewJob]) -> None:
    """Add jobs to the ``jobs`` table as pending, in the given order; ids already there are
    left alone."""
    conn.executemany(_INSERT, [(*astuple(job), PENDING) for job in new])


def job_status(conn: sqlite3.Connection, job_id: str, base_url: str) -> dict[str, Any] | None:
    """A job of the ``jobs`` table in SendGrid's import status shape, or None when unknown."""
    rows = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchall()
    if not rows:
        return None
    job = rows[0]
    results = json.loads(job["results"])
    if job["status"] in ("errored", "failed"):
        results["errors_url"] = f"{base_url}/_sandbox/jobs/{job_id}/errors"
    body = waiting_status(job_id, job["job_type"], results, job["created_at"])
    body["status"] = job["status"]
    if job["finished_at"] is not None:
        body["finished_at"] = iso(job["finished_at"])
    return body


def waiting_status(
    job_id: str, job_type: str, results: dict[str, Any], created_at: float
) -> dict[str, Any]:
    """The status of a job not finished yet: pending, its requested count, its creation time
    as ``started_at`` (SendGrid's documented meaning)."""
    return {
        "id": job_id,
        "status": PENDING,
        "job_type": job_type,
        "results": results,
        "started_at": iso(created_at),
    }
