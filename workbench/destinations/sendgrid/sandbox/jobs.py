"""Asynchronous jobs: upserts, removals from a list and contact deletions.

A job is stored ``pending`` with a due time (now + ``job_delay_s``). ``pump(conn, now, lag)``,
run at the start of every request, finishes the due jobs in order: it applies them to the
``truth`` layer and records each row it changed as a change that becomes visible ``lag``
seconds later; then it copies the due changes to the ``visible`` layer.
A job marked to fail (fault knobs) ends ``failed`` and writes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

from workbench.destinations.sendgrid.sandbox import store
from workbench.destinations.sendgrid.sandbox.config import MAX_LISTS_PER_CONTACT
from workbench.destinations.sendgrid.sandbox.store import IDENTIFIERS, TRUTH, VISIBLE

UPSERT = "upsert"
DELETE = "delete"
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "alternate_emails",
    "address_line_1",
    "address_line_2",
    "city",
    "state_province_region",
    "country",
    "postal_code",
    "custom_fields",
)


def create_job(
    conn: sqlite3.Connection, kind: str, payload: dict, delay_s: float, fail: bool
) -> str:
    """Store a pending job of ``kind`` (upsert, remove, delete_contacts); returns its id."""
    job_id = str(uuid.uuid4())
    now = time.time()
    job_type = UPSERT if kind == UPSERT else DELETE
    results = {"requested_count": _requested(kind, payload)}
    conn.execute(
        "INSERT INTO jobs(id, job_type, status, payload, results, fail, created_at, due_at) "
        "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)",
        (
            job_id,
            job_type,
            json.dumps({"kind": kind, **payload}),
            json.dumps(results),
            int(fail),
            now,
            now + delay_s,
        ),
    )
    return job_id


def _requested(kind: str, payload: dict) -> int:
    return len(payload["contacts"] if kind == UPSERT else payload["contact_ids"])


def pump(conn: sqlite3.Connection, now: float, lag_s: float) -> None:
    """Finish every due job, then make every due change visible."""
    due = conn.execute(
        "SELECT * FROM jobs WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, rowid", (now,)
    ).fetchall()
    for job in due:
        _finish(conn, job, now, lag_s)
    changes = conn.execute(
        "SELECT * FROM changes WHERE visible_at <= ? ORDER BY seq", (now,)
    ).fetchall()
    for change in changes:
        _make_visible(conn, change["kind"], json.loads(change["payload"]))
    if changes:
        conn.execute("DELETE FROM changes WHERE seq <= ?", (changes[-1]["seq"],))


def _finish(conn: sqlite3.Connection, job: sqlite3.Row, now: float, lag_s: float) -> None:
    payload = json.loads(job["payload"])
    counts = {"requested_count": _requested(payload["kind"], payload)}
    if job["fail"]:
        status, errors = "failed", [{"message": "the job failed (sandbox fault)"}]
        counts["errored_count"] = counts["requested_count"]
    else:
        changes: list[tuple[str, dict]] = []
        applied, errors = _APPLY[payload["kind"]](conn, payload, now, changes)
        counts.update(applied, errored_count=len(errors))
        for kind, change in changes:
            conn.execute(
                "INSERT INTO changes(visible_at, kind, payload) VALUES (?, ?, ?)",
                (job["due_at"] + lag_s, kind, json.dumps(change)),
            )
        status = "errored" if errors else "completed"
    conn.execute(
        "UPDATE jobs SET status = ?, results = ?, errors = ?, finished_at = ? WHERE id = ?",
        (status, json.dumps(counts), json.dumps(errors), now, job["id"]),
    )


def _apply_upsert(conn: sqlite3.Connection, payload: dict, now: float, changes: list) -> tuple:
    created = updated = 0
    errors: list[dict] = []
    for index, item in enumerate(payload["contacts"]):
        target, problem = _identify(conn, item)
        lists = _lists_after(conn, target, payload.get("list_ids") or [])
        if problem is None and len(lists) > MAX_LISTS_PER_CONTACT:
            problem = f"a contact can be on at most {MAX_LISTS_PER_CONTACT} lists"
        if problem:
            errors.append({"index": index, "email": item.get("email"), "message": problem})
            continue
        contact = _merged(target, item, now)
        store.write_contact(conn, TRUTH, contact)
        changes.append(("contact", contact))
        for list_id in lists:
            _add_member(conn, list_id, contact["id"], now, changes)
        created, updated = (created + 1, updated) if target is None else (created, updated + 1)
    return {"created_count": created, "updated_count": updated}, errors


def _identify(conn: sqlite3.Connection, item: dict) -> tuple[dict | None, str | None]:
    """The existing contact an upserted item means (primary email first, then identifiers)."""
    email = (item.get("email") or "").strip().lower() or None
    if email:
        found = store.contacts_by(conn, TRUTH, "email", [email])
        if found:
            return found[0], _identifier_clash(conn, item, found[0]["id"])
    for name in IDENTIFIERS:
        if item.get(name):
            found = store.contacts_by(conn, TRUTH, name, [item[name]])
            if found and (email is None or found[0].get("email") in (None, email)):
                return found[0], _identifier_clash(conn, item, found[0]["id"])
    return None, _identifier_clash(conn, item, None)


def _identifier_clash(conn: sqlite3.Connection, item: dict, own_id: str | None) -> str | None:
    for name in IDENTIFIERS:
        owners = store.contacts_by(conn, TRUTH, name, [item[name]]) if item.get(name) else []
        if any(o["id"] != own_id for o in owners):
            return f"{name} {item[name]!r} belongs to another contact"
    return None


def _lists_after(conn: sqlite3.Connection, target: dict | None, added: list[str]) -> list[str]:
    current = store.list_ids_of(conn, TRUTH, target["id"]) if target else []
    existing = [i for i in added if store.get_list(conn, i) is not None]
    return list(dict.fromkeys(current + existing))


def _merged(target: dict | None, item: dict, now: float) -> dict[str, Any]:
    """The contact after the upsert: fields the item names replace, the others stay."""
    contact = dict(target) if target else {"id": str(uuid.uuid4()), "created_at": now}
    for name in (*CONTACT_FIELDS, *IDENTIFIERS):
        if name in item:
            contact[name] = item[name]
    if item.get("email"):
        contact["email"] = item["email"].strip().lower()
    if "alternate_emails" in item:
        contact["alternate_emails"] = [e.strip().lower() for e in item["alternate_emails"] or []]
    contact["updated_at"] = now
    return contact


def _add_member(
    conn: sqlite3.Connection, list_id: str, contact_id: str, now: float, changes: list
) -> None:
    cur = conn.execute(
        "INSERT OR IGNORE INTO members(layer, list_id, contact_id, added_at) VALUES (?, ?, ?, ?)",
        (TRUTH, list_id, contact_id, now),
    )
    if cur.rowcount:
        changes.append(("member_added", {"list_id": list_id, "contact_id": contact_id, "at": now}))


def _apply_remove(conn: sqlite3.Connection, payload: dict, now: float, changes: list) -> tuple:
    removed = 0
    for contact_id in payload["contact_ids"]:
        cur = conn.execute(
            "DELETE FROM members WHERE layer = ? AND list_id = ? AND contact_id = ?",
            (TRUTH, payload["list_id"], contact_id),
        )
        removed += cur.rowcount
        change = {"list_id": payload["list_id"], "contact_id": contact_id}
        changes.append(("member_removed", change))
    return {"deleted_count": removed}, []


def _apply_delete_contacts(
    conn: sqlite3.Connection, payload: dict, now: float, changes: list
) -> tuple:
    deleted = 0
    for contact_id in payload["contact_ids"]:
        if store.contacts_by(conn, TRUTH, "id", [contact_id]):
            store.delete_contact(conn, TRUTH, contact_id)
            changes.append(("contact_deleted", {"id": contact_id}))
            deleted += 1
    return {"deleted_count": deleted}, []


_APPLY = {
    "upsert": _apply_upsert,
    "remove": _apply_remove,
    "delete_contacts": _apply_delete_contacts,
}


def _make_visible(conn: sqlite3.Connection, kind: str, change: dict) -> None:
    if kind == "contact":
        store.write_contact(conn, VISIBLE, change)
    elif kind == "contact_deleted":
        store.delete_contact(conn, VISIBLE, change["id"])
    elif kind == "member_added" and store.get_list(conn, change["list_id"]) is not None:
        conn.execute(
            "INSERT OR IGNORE INTO members(layer, list_id, contact_id, added_at) "
            "VALUES (?, ?, ?, ?)",
            (VISIBLE, change["list_id"], change["contact_id"], change["at"]),
        )
    elif kind == "member_removed":
        conn.execute(
            "DELETE FROM members WHERE layer = ? AND list_id = ? AND contact_id = ?",
            (VISIBLE, change["list_id"], change["contact_id"]),
        )


def job_status(conn: sqlite3.Connection, job_id: str, base_url: str) -> dict[str, Any] | None:
    """A job in SendGrid's import status shape, or None when unknown."""
    rows = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchall()
    if not rows:
        return None
    job = rows[0]
    results = json.loads(job["results"])
    if job["status"] in ("errored", "failed"):
        results["errors_url"] = f"{base_url}/_sandbox/jobs/{job_id}/errors"
    body = {
        "id": job_id,
        "status": job["status"],
        "job_type": job["job_type"],
        "results": results,
        "started_at": iso(job["created_at"]),
    }
    if job["finished_at"] is not None:
        body["finished_at"] = iso(job["finished_at"])
    return body


def iso(ts: float) -> str:
    """A Unix time as SendGrid's ISO 8601 UTC text with milliseconds."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return f"{text}.{int(ts % 1 * 1000):03d}Z"
