"""The set-based path for upserted items that carry a primary email and nothing else.

That is what a list sync sends for contacts without identifiers (``{"email": ...}``), 30,000 at a
time. Such an item changes nothing on an existing contact but ``updated_at`` and its lists, so a
chunk is applied with a few statements: one lookup of the chunk's emails, two of their lists
(over JSON arrays, ``json_each``; counts from the index alone), an ``UPDATE`` of
``updated_at``, one ``INSERT`` of the new contacts, one of the new memberships (each in key
order). The Python loop in between only
decides, item by item and in order, what the per-item path would decide (created or updated,
the 250-list cap, duplicates).

The chunk leaves ONE change record (``PLAIN_UPSERT``) that ``make_visible`` applies the same way
to the ``visible`` layer once it is due: the same end state as the per-row records of the other
paths, because the ``visible`` row of a contact equals its ``truth`` row up to that change.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from workbench.destinations.sendgrid.sandbox.config import MAX_LISTS_PER_CONTACT
from workbench.destinations.sendgrid.sandbox.store import TRUTH, VISIBLE

PLAIN_UPSERT = "plain_upsert"  # the kind of the change record this path leaves

_FIND = (
    "SELECT email, id FROM contacts WHERE layer = ? AND email IN (SELECT value FROM json_each(?))"
)
_COUNTS = (  # memberships per contact, from the index alone (may count a deleted list's)
    "SELECT contact_id, count(*) FROM members INDEXED BY members_contact "
    "WHERE layer = ?1 AND contact_id IN (SELECT value FROM json_each(?2)) GROUP BY contact_id"
)
_EXACT_COUNTS = (  # lists per contact, existing lists only
    "SELECT m.contact_id, count(*) FROM members m INDEXED BY members_contact "
    "JOIN lists l ON l.id = m.list_id "
    "WHERE m.layer = ?1 AND m.contact_id IN (SELECT value FROM json_each(?2)) "
    "GROUP BY m.contact_id"
)
_ON_ADDED = (
    "SELECT contact_id, list_id FROM members WHERE layer = ?1 "
    "AND list_id IN (SELECT value FROM json_each(?2)) "
    "AND contact_id IN (SELECT value FROM json_each(?3))"
)
_TOUCH = "UPDATE contacts SET updated_at = ? WHERE layer = ? AND id = ?"
_CREATE = (
    "INSERT OR REPLACE INTO contacts(layer, id, email, phone_number_id, external_id, "
    "anonymous_id, data, created_at, updated_at) "
    "SELECT ?1, value ->> 0, value ->> 1, NULL, NULL, NULL, '{}', ?2, ?2 FROM json_each(?3)"
)
_ADD_MEMBERS = (
    "INSERT OR IGNORE INTO members(layer, list_id, contact_id, added_at) "
    "SELECT ?1, value ->> 0, value ->> 1, ?2 FROM json_each(?3) "
    "WHERE value ->> 0 IN (SELECT id FROM lists)"
)


def is_plain(items: list) -> bool:
    """Whether every item is ``{"email": <non-blank text>}`` and nothing else."""
    return all(
        isinstance(item, dict)
        and len(item) == 1
        and isinstance(item.get("email"), str)
        and item["email"].strip()
        for item in items
    )


class _Chunk:
    """What applying one chunk decides, collected for the set-based writes."""

    def __init__(self, added: list[str]) -> None:
        self.added = list(dict.fromkeys(added))
        self.created: list[list[str]] = []
        self.touched: dict[str, None] = {}
        self.members: list[list[str]] = []
        self.counts = {"created_count": 0, "updated_count": 0}
        self.errors: list[dict[str, Any]] = []


def _known(conn: sqlite3.Connection, emails: list[str]) -> dict[str, str]:
    rows = conn.execute(_FIND, (TRUTH, json.dumps(emails))).fetchall()
    return {row[0]: row[1] for row in rows}


def _lists(
    conn: sqlite3.Connection, ids: list[str], added: list[str]
) -> dict[str, tuple[int, set[str]]]:
    """Per contact of ``ids``: how many lists it is on, and which of ``added``. Counts come from
    the index; only contacts the cap could refuse are counted again against existing lists."""
    counts = dict(conn.execute(_COUNTS, (TRUTH, json.dumps(ids))).fetchall())
    near = [i for i, n in counts.items() if n + len(added) > MAX_LISTS_PER_CONTACT]
    if near:
        exact = dict(conn.execute(_EXACT_COUNTS, (TRUTH, json.dumps(near))).fetchall())
        counts.update({i: exact.get(i, 0) for i in near})
    on: dict[str, set[str]] = {}
    rows = conn.execute(_ON_ADDED, (TRUTH, json.dumps(added), json.dumps(ids))).fetchall()
    for contact_id, list_id in rows:
        on.setdefault(contact_id, set()).add(list_id)
    return {i: (counts[i], on.get(i, set())) for i in counts}


def apply_plain_upsert(
    conn: sqlite3.Connection, added: list[str], items: list[dict], start: int, now: float
) -> tuple[dict[str, int], list[dict], dict[str, Any]]:
    """Apply plain upsert ``items`` (see the module docstring) to ``truth``; the counts, the row
    errors and the payload of the chunk's change record."""
    emails = [item["email"].strip().lower() for item in items]
    chunk = _Chunk(added)
    known = _known(conn, list(dict.fromkeys(emails)))
    state = _lists(conn, list(known.values()), chunk.added)
    for index, (item, email) in enumerate(zip(items, emails, strict=True), start=start):
        _decide(chunk, known, state, index, item, email)
    _write(conn, TRUTH, now, chunk.created, list(chunk.touched), chunk.members)
    change = {
        "at": now,
        "created": chunk.created,
        "touched": list(chunk.touched),
        "members": chunk.members,
    }
    return chunk.counts, chunk.errors, change


def _decide(
    chunk: _Chunk,
    known: dict[str, str],
    state: dict[str, tuple[int, set[str]]],
    index: int,
    item: dict,
    email: str,
) -> None:
    """One item, as the per-item path decides it: refused past the list cap, else created
    (unknown email) or updated, and put on the added lists it is not on yet."""
    contact_id = known.get(email)
    count, on = state.get(contact_id, (0, set())) if contact_id else (0, set())
    joining = [list_id for list_id in chunk.added if list_id not in on]
    if count + len(joining) > MAX_LISTS_PER_CONTACT:
        message = f"a contact can be on at most {MAX_LISTS_PER_CONTACT} lists"
        chunk.errors.append({"index": index, "email": item.get("email"), "message": message})
        return
    if contact_id is None:
        contact_id = known[email] = str(uuid.uuid4())
        chunk.created.append([contact_id, email])
        chunk.counts["created_count"] += 1
    else:
        chunk.touched[contact_id] = None
        chunk.counts["updated_count"] += 1
    chunk.members.extend([list_id, contact_id] for list_id in joining)
    state[contact_id] = (count + len(joining), on | set(joining))


def _write(
    conn: sqlite3.Connection,
    layer: str,
    now: float,
    created: list[list[str]],
    touched: list[str],
    members: list[list[str]],
) -> None:
    """The chunk's writes to ``layer``: new contacts, ``updated_at`` of the others, members
    (each in key order, so the B-tree pages are visited once, in order)."""
    if created:
        conn.execute(_CREATE, (layer, now, json.dumps(sorted(created))))
    if touched:
        conn.executemany(_TOUCH, [(now, layer, contact_id) for contact_id in sorted(touched)])
    if members:
        conn.execute(_ADD_MEMBERS, (layer, now, json.dumps(sorted(members))))


def make_plain_upsert_visible(conn: sqlite3.Connection, change: dict[str, Any]) -> None:
    """Apply one ``PLAIN_UPSERT`` change record to the ``visible`` layer."""
    created_ids = {contact_id for contact_id, _ in change["created"]}
    touched = [i for i in change["touched"] if i not in created_ids]
    _write(conn, VISIBLE, change["at"], change["created"], touched, change["members"])
