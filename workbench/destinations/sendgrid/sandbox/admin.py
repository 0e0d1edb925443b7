"""The sandbox's admin object: seed and inspect its state, flip fault knobs, read the request log.

Admin reads show the ``truth`` layer (what SendGrid really holds), not the lagging view the API
answers from. Seeded contacts and lists are visible at once (they are "old" data).
"""

from __future__ import annotations

import collections
import time
import uuid
from typing import TYPE_CHECKING, Any

from workbench.destinations.sendgrid.sandbox import exports, jobs, store
from workbench.destinations.sendgrid.sandbox.api import is_valid_email
from workbench.destinations.sendgrid.sandbox.store import IDENTIFIERS, TRUTH, VISIBLE
from workbench.errors import ConflictError, InvalidRequest, NotFoundError

if TYPE_CHECKING:
    import sqlite3

    from workbench.destinations.sendgrid.sandbox.server import SandboxServer

SEED_FIELDS = (
    "email",
    "alternate_emails",
    "first_name",
    "last_name",
    "custom_fields",
    *IDENTIFIERS,
)


class SandboxAdmin:
    """Direct access to one sandbox's state (``SandboxServer.admin``)."""

    def __init__(self, server: SandboxServer) -> None:
        self._server = server

    def _transaction(self) -> Any:
        return self._server.db.write()

    def _pump(self, conn: sqlite3.Connection, now: float) -> None:
        self._server.inbox.copy_into(conn)  # the worker marks them moved in the inbox
        jobs.pump(conn, now, self._server.plan.knobs.visibility_lag_s)
        exports.pump_exports(conn, now)

    def add_contacts(
        self, contacts: list[dict[str, Any]], list_ids: list[str] | None = None
    ) -> list[str]:
        """Seed contacts (visible at once), optionally on lists; returns their new ids in order.

        Each item needs an ``email`` (or an identifier); ``alternate_emails``, ``first_name``,
        ``last_name``, ``external_id``, ``phone_number_id``, ``anonymous_id`` are optional.
        """
        now = time.time()
        seeded = [_seed_contact(item, now) for item in contacts]
        with self._transaction() as conn:
            for list_id in list_ids or []:
                _require_list(conn, list_id)
            _refuse_known_emails(conn, [c["email"] for c in seeded if c.get("email")])
            for layer in (TRUTH, VISIBLE):
                store.write_contacts(conn, layer, seeded)
                conn.executemany(
                    "INSERT OR IGNORE INTO members(layer, list_id, contact_id, added_at) "
                    "VALUES (?, ?, ?, ?)",
                    [(layer, lid, c["id"], now) for c in seeded for lid in list_ids or []],
                )
        return [str(c["id"]) for c in seeded]

    def create_list(self, name: str) -> str:
        """Create a list directly (no API call, no rate limit); returns its id."""
        return self.create_lists([name])[0]

    def create_lists(self, names: list[str]) -> list[str]:
        """Create several lists in one go (no cap check: tests fill accounts); returns ids."""
        now, ids = time.time(), []
        with self._transaction() as conn:
            last = conn.execute("SELECT max(seq) FROM lists").fetchall()[0][0] or 0
            for offset, name in enumerate(names, start=1):
                ids.append(str(uuid.uuid4()))
                conn.execute(
                    "INSERT INTO lists(id, seq, name, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (ids[-1], last + offset, name, now, now),
                )
        return ids

    def list_members(self, list_id: str) -> set[str]:
        """The primary emails of the contacts really on a list (after finished jobs)."""
        with self._transaction() as conn:
            self._pump(conn, time.time())
            _require_list(conn, list_id)
            ids = store.member_ids(conn, TRUTH, list_id)
            return {c["email"] for c in store.contacts_by(conn, TRUTH, "id", ids) if c["email"]}

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact the account really holds, with its ``list_ids``, oldest first."""
        with self._transaction() as conn:
            self._pump(conn, time.time())
            rows = conn.execute(
                "SELECT * FROM contacts WHERE layer = ? ORDER BY created_at, id", (TRUTH,)
            ).fetchall()
            found = [store.contact_from_row(r) for r in rows]
            for contact in found:
                contact["list_ids"] = store.list_ids_of(conn, TRUTH, contact["id"])
        return found

    def find_list(self, name: str) -> dict[str, Any] | None:
        """The list called ``name`` as ``{id, name, contact_count}`` (true count), or None."""
        with self._transaction() as conn:
            self._pump(conn, time.time())
            rows = conn.execute(
                "SELECT * FROM lists WHERE name = ? ORDER BY seq", (name,)
            ).fetchall()
            if not rows:
                return None
            count = store.member_count(conn, TRUTH, rows[0]["id"])
            return {"id": rows[0]["id"], "name": rows[0]["name"], "contact_count": count}

    def delete_list(self, list_id: str) -> None:
        """Delete a list as a user would in SendGrid's UI (its contacts stay)."""
        with self._transaction() as conn:
            _require_list(conn, list_id)
            store.delete_list(conn, list_id)

    def add_key(self, key: str, scopes: list[str]) -> None:
        """Accept another API key with ``scopes``."""
        with self._transaction() as conn:
            store.put_key(conn, key, scopes)

    def revoke_key(self, key: str) -> None:
        """Revoke a key: from now on it gets 401."""
        with self._transaction() as conn:
            if not store.revoke_key(conn, key):
                raise NotFoundError("the sandbox does not know that API key")

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Change fault knobs while running (see ``Knobs``); returns all current knobs."""
        return self._server.plan.update(knobs)

    def faults(self) -> dict[str, Any]:
        """The current knobs."""
        return self._server.plan.update({})

    def flush(self) -> None:
        """Finish every pending job and export now and make every change visible."""
        with self._transaction() as conn:
            self._server.inbox.copy_into(conn)
            conn.execute("UPDATE jobs SET due_at = ? WHERE status = 'pending'", (time.time(),))
            conn.execute("UPDATE exports SET due_at = ? WHERE status = 'pending'", (time.time(),))
            jobs.pump(conn, time.time(), 0.0, budget=10**9)
            conn.execute("UPDATE changes SET visible_at = 0")
            while jobs.pump(conn, time.time(), 0.0):
                pass
            exports.pump_exports(conn, time.time())
        self._server.renderer.render_due()

    def request_log(self, bodies: bool = True) -> list[dict[str, Any]]:
        """The API requests so far (the newest ``REQUEST_LOG_SIZE``): method, path, endpoint,
        query, body (None past the log's body budget, or without ``bodies``), body_bytes,
        status, at."""
        return self._server.request_log(bodies)

    def request_log_usage(self) -> dict[str, int]:
        """What the request log holds: ``entries``, ``bodies`` kept, their ``body_bytes``."""
        return self._server.requests.usage()

    def clear_request_log(self) -> None:
        """Forget the requests logged so far."""
        self._server.clear_request_log()


def _refuse_known_emails(conn: sqlite3.Connection, emails: list[str]) -> None:
    repeated = sorted(e for e, n in collections.Counter(emails).items() if n > 1)
    known = [
        c["email"]
        for i in range(0, len(emails), 500)
        for c in store.contacts_by(conn, TRUTH, "email", emails[i : i + 500])
    ]
    if repeated or known:
        raise ConflictError(
            f"the sandbox already has (or was given twice) {(repeated + known)[:5]}"
        )


def _require_list(conn: sqlite3.Connection, list_id: str) -> None:
    if store.get_list(conn, list_id) is None:
        raise NotFoundError(f"the sandbox has no list {list_id}")


def _seed_contact(item: dict[str, Any], now: float) -> dict[str, Any]:
    unknown = sorted(set(item) - set(SEED_FIELDS))
    email = (item.get("email") or "").strip().lower() or None
    alternates = [a.strip().lower() for a in item.get("alternate_emails") or []]
    if unknown or not all(is_valid_email(e) for e in [*([email] if email else []), *alternates]):
        raise InvalidRequest(f"cannot seed {item!r}: fields {list(SEED_FIELDS)} with valid emails")
    if email is None and not any(item.get(name) for name in IDENTIFIERS):
        raise InvalidRequest(f"cannot seed {item!r}: it needs an email or an identifier")
    contact = {k: v for k, v in item.items() if v is not None}
    contact.update(
        id=str(uuid.uuid4()),
        email=email,
        alternate_emails=alternates,
        created_at=now,
        updated_at=now,
    )
    return contact
