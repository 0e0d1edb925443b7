"""Set-based paths of the sandbox's job worker, for speed at a million contacts.

``apply_email_upsert`` applies a chunk of upserted items that all name a primary email and no
identifier (what a list sync sends): one query finds the chunk's existing contacts, one their
lists, and the writes go out with ``executemany``. It gives exactly what the per-item path in
``jobs`` gives (same contacts, memberships, counts, errors and change records, in order): the
chunk's lookups are answered from those prefetched rows, updated as each item is applied.
Items with identifiers take the per-item path (an identifier can match several contacts).

``make_visible`` copies change records to the ``visible`` layer run by run of the same kind.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from workbench.destinations.sendgrid.sandbox import plain_upsert, store
from workbench.destinations.sendgrid.sandbox.config import MAX_LISTS_PER_CONTACT
from workbench.destinations.sendgrid.sandbox.store import IDENTIFIERS, TRUTH, VISIBLE

SQL_VARIABLES = 900  # values per IN (...) query, under SQLite's host-parameter limit
MEMBER_INSERT = (
    "INSERT OR IGNORE INTO members(layer, list_id, contact_id, added_at) VALUES (?, ?, ?, ?)"
)
Merge = Callable[[dict | None, dict, float], dict[str, Any]]


def email_only(items: list) -> bool:
    """Whether every item names a primary email and no identifier (the set-based path fits)."""
    return all(
        isinstance(item, dict)
        and (item.get("email") or "").strip()
        and not any(item.get(name) for name in IDENTIFIERS)
        for item in items
    )


def _slices(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), SQL_VARIABLES):
        yield values[i : i + SQL_VARIABLES]


def contacts_by_email(conn: sqlite3.Connection, layer: str, emails: set[str]) -> dict[str, dict]:
    """Primary email -> contact of ``layer``, for those of ``emails`` that exist."""
    found: dict[str, dict] = {}
    for part in _slices(sorted(emails)):
        for contact in store.contacts_by(conn, layer, "email", part):
            found[contact["email"]] = contact
    return found


def lists_of(
    conn: sqlite3.Connection, layer: str, contact_ids: Iterable[str]
) -> dict[str, list[str]]:
    """Contact id -> the lists it is on in ``layer``, in list creation order."""
    lists: dict[str, list[str]] = {}
    for part in _slices(sorted(set(contact_ids))):
        rows = conn.execute(
            "SELECT m.contact_id, m.list_id FROM members m INDEXED BY members_contact "
            "JOIN lists l ON l.id = m.list_id WHERE m.layer = ? "
            f"AND m.contact_id IN ({','.join('?' * len(part))}) ORDER BY l.seq",
            (layer, *part),
        ).fetchall()
        for row in rows:
            lists.setdefault(row[0], []).append(row[1])
    return lists


def apply_email_upsert(
    conn: sqlite3.Connection,
    added: list[str],
    items: list[dict],
    start: int,
    now: float,
    changes: list,
    merge: Merge,
) -> tuple[dict[str, int], list[dict]]:
    """Apply email-only upsert ``items`` (see the module docstring); counts and row errors."""
    emails = [item["email"].strip().lower() for item in items]
    known = contacts_by_email(conn, TRUTH, set(emails))
    lists = lists_of(conn, TRUTH, (c["id"] for c in known.values()))
    counts = {"created_count": 0, "updated_count": 0}
    errors: list[dict] = []
    written: list[dict] = []
    memberships: list[tuple] = []
    for index, (item, email) in enumerate(zip(items, emails, strict=True), start=start):
        target = known.get(email)
        current = lists.get(target["id"], []) if target else []
        after = list(dict.fromkeys(current + added))
        if len(after) > MAX_LISTS_PER_CONTACT:
            message = f"a contact can be on at most {MAX_LISTS_PER_CONTACT} lists"
            errors.append({"index": index, "email": item.get("email"), "message": message})
            continue
        contact = merge(target, item, now)
        known[email], lists[contact["id"]] = contact, after
        written.append(contact)
        changes.append(("contact", contact))
        for list_id in (i for i in after if i not in current):
            memberships.append((TRUTH, list_id, contact["id"], now))
            change = {"list_id": list_id, "contact_id": contact["id"], "at": now}
            changes.append(("member_added", change))
        counts["created_count" if target is None else "updated_count"] += 1
    store.write_contacts(conn, TRUTH, written)
    conn.executemany(MEMBER_INSERT, memberships)
    return counts, errors


def make_visible(conn: sqlite3.Connection, changes: list[tuple[str, dict]]) -> None:
    """Apply change records to the ``visible`` layer with the effect of applying them in order.

    A plain-upsert record (``plain_upsert``) is applied set-based where it stands. Between two
    of those or two contact deletions, contact writes (contacts and alternate emails) commute
    with membership changes (members only), so they go out as one ``executemany`` each;
    membership changes keep their order (runs of additions, runs of removals).
    """
    for plain, stretch in itertools.groupby(
        changes, key=lambda c: c[0] == plain_upsert.PLAIN_UPSERT
    ):
        if plain:
            for _, payload in stretch:
                plain_upsert.make_plain_upsert_visible(conn, payload)
        else:
            _make_visible_in_order(conn, list(stretch))


def _make_visible_in_order(conn: sqlite3.Connection, changes: list[tuple[str, dict]]) -> None:
    for deleted, stretch in itertools.groupby(changes, key=lambda c: c[0] == "contact_deleted"):
        group = list(stretch)
        if deleted:
            for _, payload in group:
                store.delete_contact(conn, VISIBLE, payload["id"])
            continue
        store.write_contacts(conn, VISIBLE, [p for kind, p in group if kind == "contact"])
        memberships = [c for c in group if c[0] != "contact"]
        for kind, run in itertools.groupby(memberships, key=lambda c: c[0]):
            _membership_run(conn, kind, [payload for _, payload in run])


def _membership_run(conn: sqlite3.Connection, kind: str, payloads: list[dict]) -> None:
    if kind == "member_added":
        ids = {p["list_id"] for p in payloads}
        alive = {i for i in ids if store.get_list(conn, i) is not None}
        rows = [
            (VISIBLE, p["list_id"], p["contact_id"], p["at"])
            for p in payloads
            if p["list_id"] in alive
        ]
        conn.executemany(MEMBER_INSERT, rows)
    elif kind == "member_removed":
        conn.executemany(
            "DELETE FROM members WHERE layer = ? AND list_id = ? AND contact_id = ?",
            [(VISIBLE, p["list_id"], p["contact_id"]) for p in payloads],
        )
