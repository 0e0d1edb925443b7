"""A job as stored: the row creating one makes, how the ``jobs`` table takes it in, its status.

A request builds a ``NewJob`` (payload already JSON text) and stores it in the job inbox
(``inbox.py``); an upsert's text is its request body as received with the job's own keys
appended (``text_around_body``: no second encoding of 30,000 contacts); the worker copies it
into the state file's ``jobs`` table with ``insert_jobs`` (``INSERT OR IGNORE``, so copying
twice is harmless), where ``jobs.pump`` applies it. ``job_status`` answers in SendGrid's
import status shape, with its documented times: ``started_at`` is "when the job was created"
(SendGrid's OpenAPI), present from the first answer, so a client can't read it as the moment
the job began running (the worker's own start time stays internal); ``finished_at`` appears
once the job has ended.
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
_JSON_SPACE = " \t\n\r"  # the whitespace JSON allows between tokens


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


def new_job(
    kind: str, payload: dict, delay_s: float, fail: bool, now: float, text: str | None = None
) -> NewJob:
    """A pending job of ``kind`` (upsert, remove, delete_contacts) created at ``now``; ``text``,
    when given, is ``{"kind": kind, **payload}`` already as JSON text (it must decode to that,
    unknown extra keys aside: ``text_around_body``)."""
    size = len(payload["contacts"] if kind == UPSERT else payload["contact_ids"])
    return NewJob(
        id=str(uuid.uuid4()),
        job_type=UPSERT if kind == UPSERT else DELETE,
        payload=text if text is not None else json.dumps({"kind": kind, **payload}),
        results=json.dumps({"requested_count": size}),
        fail=int(fail),
        created_at=now,
        due_at=now + delay_s,
        size=size,
    )


def text_around_body(raw: bytes, kind: str, own: dict[str, Any]) -> str | None:
    """A job's payload text built around ``raw``, a request body holding a JSON object: the
    body as received with ``"kind": kind`` and ``own`` (e.g. the checked ``list_ids``) appended
    as its last keys, which win over keys of the same name in the body (``json.loads`` keeps
    the last of repeated keys). Its other keys stay, and the job ignores them. None when the
    body is not plain UTF-8 text of one object (then the caller encodes the payload itself)."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    inner = text.strip(_JSON_SPACE)
    if not (inner.startswith("{") and inner.endswith("}")):
        return None
    head = inner[:-1].rstrip(_JSON_SPACE)
    tail = json.dumps({"kind": kind, **own})[1:]
    return f"{head}{', ' if head != '{' else ''}{tail}"


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
