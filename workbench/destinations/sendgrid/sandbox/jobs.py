"""Asynchronous jobs: upserts, removals from a list and contact deletions, applied in order.

Jobs are created in the job inbox (``inbox.py``) and copied into the ``jobs`` table by the
worker; ``pump(conn, now, lag)`` then applies them one after the other in creation order (the
head of the queue must be due, ``now + job_delay_s`` after its creation; a later job never
overtakes it): it applies them to the ``truth`` layer and records each row it changed as a
change that becomes visible ``lag`` seconds after it was written; then it copies the due
changes to the ``visible`` layer. A job marked to fail (fault knobs) ends ``failed`` and writes
nothing. Big jobs advance in chunks of ``CHUNK`` items per transaction (a job stays ``pending``
until its last chunk; plain upserts go whole, ``PLAIN_CHUNK``); a job's ``started_at`` is set
when it is started (``start_head`` marks it in a short transaction of its own first). That
time is the sandbox's own (the bench's timeline reads it); the API's ``started_at`` is the
creation time, as SendGrid documents it (``job_records.job_status``).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from workbench.destinations.sendgrid.sandbox import bulk, plain_upsert, store
from workbench.destinations.sendgrid.sandbox.config import MAX_LISTS_PER_CONTACT
from workbench.destinations.sendgrid.sandbox.job_records import UPSERT
from workbench.destinations.sendgrid.sandbox.store import IDENTIFIERS, TRUTH

CHUNK = 1000
REQUEST_BUDGET = 100  # a request finishes due jobs this small itself; bigger ones: the worker
PLAIN_CHUNK = 30_000  # plain upserts per step (set-based): a whole 30,000-contact job
_HEAD = (  # the oldest pending job (the index gives its rowid; no sort of payloads)
    "SELECT {columns} FROM jobs "
    "WHERE rowid = (SELECT min(rowid) FROM jobs INDEXED BY jobs_pending WHERE status = 'pending')"
)
CONTACT_FIELDS = (  # the contact fields an upsert may set besides email and identifiers
    *("first_name", "last_name", "alternate_emails", "address_line_1", "address_line_2"),
    *("city", "state_province_region", "country", "postal_code", "custom_fields"),
)


def pump(
    conn: sqlite3.Connection,
    now: float,
    lag_s: float,
    budget: int = CHUNK,
    largest_job: int | None = None,
) -> bool:
    """Advance due jobs by at most ``budget`` items (only jobs of at most ``largest_job`` items,
    if given), then make due changes visible (at most ``2 * budget``); returns True when work
    is left, so a worker knows to call again soon."""
    limit = budget
    ended: list[str] = []
    while budget > 0:
        head = conn.execute(_HEAD.replace("{columns}", "*")).fetchall()
        if not head or head[0]["due_at"] > now:
            break
        if largest_job is not None and head[0]["size"] > largest_job:
            break
        budget -= _advance(conn, head[0], now, lag_s, budget)
        if _status(conn, head[0]["id"]) != "pending":
            ended.append(head[0]["id"])
    changes = conn.execute(
        "SELECT * FROM changes WHERE visible_at <= ? ORDER BY seq LIMIT ?", (now, 2 * limit)
    ).fetchall()
    bulk.make_visible(conn, [(c["kind"], json.loads(c["payload"])) for c in changes])
    if changes:
        conn.execute("DELETE FROM changes WHERE seq <= ?", (changes[-1]["seq"],))
    _stamp_finished(conn, ended)
    return budget <= 0 or len(changes) == 2 * limit


def _status(conn: sqlite3.Connection, job_id: str) -> str:
    return str(conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchall()[0][0])


def _stamp_finished(conn: sqlite3.Connection, ended: list[str]) -> None:
    """Jobs that ended in this transaction finish now, after their changes were made visible
    (the visible copy of a 30,000-contact job takes about as long as applying it): a status
    read sees ``completed`` from the commit just after this, not ``finished_at`` + 1.4 s."""
    conn.executemany(
        "UPDATE jobs SET finished_at = ? WHERE id = ?", [(time.time(), job) for job in ended]
    )


def due_for_request(
    conn: sqlite3.Connection, now: float, inbox_head: Callable[[], tuple[float, int] | None]
) -> bool:
    """Whether a request at ``now`` has work to do before answering: a due job of at most
    ``REQUEST_BUDGET`` items at the head of the queue (the ``jobs`` table's, else the inbox's:
    ``inbox_head()`` gives its due time and size), a due change, or a due export set to
    fail."""
    rows = conn.execute(_HEAD.replace("{columns}", "due_at, size")).fetchall()
    head = (rows[0][0], rows[0][1]) if rows else inbox_head()
    if head is not None and head[0] <= now and head[1] <= REQUEST_BUDGET:
        return True
    sql = (
        "SELECT EXISTS(SELECT 1 FROM changes WHERE visible_at <= ?1) "
        "OR EXISTS(SELECT 1 FROM exports WHERE status = 'pending' AND due_at <= ?1 AND fail = 1)"
    )
    return bool(conn.execute(sql, (now,)).fetchall()[0][0])


def head_state(conn: sqlite3.Connection, now: float) -> tuple[str, bool] | None:
    """The id of the job at the head of the queue, if it is due, and whether it has started."""
    rows = conn.execute(_HEAD.replace("{columns}", "id, due_at, started_at")).fetchall()
    if not rows or rows[0]["due_at"] > now:
        return None
    return rows[0]["id"], rows[0]["started_at"] is not None


def start_head(conn: sqlite3.Connection, now: float) -> str | None:
    """Mark the job at the head of the queue started at ``now`` (if due and not yet started);
    returns its id when it is due."""
    state = head_state(conn, now)
    if state is not None and not state[1]:
        conn.execute("UPDATE jobs SET started_at = ? WHERE id = ?", (now, state[0]))
    return state[0] if state else None


def _advance(
    conn: sqlite3.Connection, job: sqlite3.Row, now: float, lag_s: float, budget: int
) -> int:
    """Apply the next ``budget`` items of a job; finish it after its last item. Returns the
    number of items done (at least 1, so a failing job also uses up budget)."""
    began = max(now, time.time())  # its started_at, unless an earlier step started it
    payload = json.loads(job["payload"])
    items = payload["contacts"] if payload["kind"] == UPSERT else payload["contact_ids"]
    counts, errors = json.loads(job["results"]), json.loads(job["errors"])
    if job["fail"]:
        errors = [{"message": "the job failed (sandbox fault)"}]
        counts["errored_count"] = len(items)
        _store_progress(conn, job["id"], len(items), counts, errors, (began, now), "failed")
        return 1
    start: int = job["progress"]
    changes: list[tuple[str, dict]] = []
    chunk = _next_chunk(payload["kind"], items, start, budget)
    applied, new_errors = _APPLY[payload["kind"]](conn, payload, chunk, start, now, changes)
    for name, value in applied.items():
        counts[name] = counts.get(name, 0) + value
    errors += new_errors
    counts["errored_count"] = len(errors)
    conn.executemany(
        "INSERT INTO changes(visible_at, kind, payload) VALUES (?, ?, ?)",
        [(now + lag_s, kind, json.dumps(change)) for kind, change in changes],
    )
    done = start + len(chunk) >= len(items)
    status = ("errored" if errors else "completed") if done else "pending"
    _store_progress(conn, job["id"], start + len(chunk), counts, errors, (began, now), status)
    return max(len(chunk), 1)


def _next_chunk(kind: str, items: list, start: int, budget: int) -> list:
    """The items to apply next: ``budget`` of them, or up to ``PLAIN_CHUNK`` plain upserts."""
    if kind == UPSERT and budget < PLAIN_CHUNK:
        wide = items[start : start + PLAIN_CHUNK]
        if plain_upsert.is_plain(wide):
            return wide
    return items[start : start + budget]


def _store_progress(
    conn: sqlite3.Connection,
    job_id: str,
    progress: int,
    counts: dict,
    errors: list,
    times: tuple[float, float],
    status: str,
) -> None:
    """Store a job's step: ``times`` is when the step began and the pump's ``now``."""
    began, now = times
    conn.execute(
        "UPDATE jobs SET status = ?, progress = ?, results = ?, errors = ?, "
        "started_at = coalesce(started_at, ?), finished_at = ? WHERE id = ?",
        (
            status,
            progress,
            json.dumps(counts),
            json.dumps(errors),
            began,
            None if status == "pending" else max(now, time.time()),
            job_id,
        ),
    )


def _apply_upsert(
    conn: sqlite3.Connection, payload: dict, items: list, start: int, now: float, changes: list
) -> tuple:
    created = updated = 0
    errors: list[dict] = []
    added = [i for i in payload.get("list_ids") or [] if store.get_list(conn, i) is not None]
    if plain_upsert.is_plain(items):
        counts, errors, change = plain_upsert.apply_plain_upsert(conn, added, items, start, now)
        changes.append((plain_upsert.PLAIN_UPSERT, change))
        return counts, errors
    if bulk.email_only(items):
        return bulk.apply_email_upsert(conn, added, items, start, now, changes, _merged)
    for index, item in enumerate(items, start=start):
        target, problem = _identify(conn, item)
        lists = _lists_after(conn, target, added)
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
    return list(dict.fromkeys(current + added))


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


def _apply_remove(
    conn: sqlite3.Connection, payload: dict, items: list, start: int, now: float, changes: list
) -> tuple:
    cur = conn.executemany(
        "DELETE FROM members WHERE layer = ? AND list_id = ? AND contact_id = ?",
        [(TRUTH, payload["list_id"], contact_id) for contact_id in items],
    )
    for contact_id in items:
        change = {"list_id": payload["list_id"], "contact_id": contact_id}
        changes.append(("member_removed", change))
    return {"deleted_count": max(cur.rowcount, 0)}, []


def _apply_delete_contacts(
    conn: sqlite3.Connection, payload: dict, items: list, start: int, now: float, changes: list
) -> tuple:
    deleted = 0
    for contact_id in items:
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
