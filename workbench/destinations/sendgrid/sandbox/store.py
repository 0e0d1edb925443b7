"""The sandbox's SQLite state: API keys, lists, contacts in two layers, memberships, jobs, exports.

Contacts and memberships exist twice, in the ``truth`` layer (what finished jobs wrote) and the
``visible`` layer (what searches, counts and exports see, a configurable lag behind). Writes
go to ``truth`` and leave a change record that ``jobs.pump`` copies to ``visible`` once it is
due. Lists themselves are synchronous in SendGrid, so they exist once.

Every write runs inside one ``BEGIN IMMEDIATE`` transaction (``transaction`` here, or the
running server's ``database.Database.write``); a request that only reads may use a snapshot
(``Database.read``). WAL mode and ``busy_timeout`` let a second process (the app, a test) read
and write the same file.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TRUTH = "truth"
VISIBLE = "visible"
IDENTIFIERS = ("phone_number_id", "external_id", "anonymous_id")
BUSY_TIMEOUT_MS = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys(
    key_hash TEXT PRIMARY KEY, scopes TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS lists(
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, name TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS contacts(
    layer TEXT NOT NULL, id TEXT NOT NULL, email TEXT, phone_number_id TEXT,
    external_id TEXT, anonymous_id TEXT, data TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY(layer, id));
CREATE UNIQUE INDEX IF NOT EXISTS contacts_email ON contacts(layer, email);
CREATE INDEX IF NOT EXISTS contacts_phone ON contacts(layer, phone_number_id);
CREATE INDEX IF NOT EXISTS contacts_external ON contacts(layer, external_id);
CREATE INDEX IF NOT EXISTS contacts_anonymous ON contacts(layer, anonymous_id);
CREATE INDEX IF NOT EXISTS contacts_created ON contacts(layer, created_at, id);
CREATE TABLE IF NOT EXISTS alternate_emails(
    layer TEXT NOT NULL, email TEXT NOT NULL, contact_id TEXT NOT NULL,
    PRIMARY KEY(layer, email, contact_id));
CREATE INDEX IF NOT EXISTS alternate_emails_contact ON alternate_emails(layer, contact_id);
CREATE TABLE IF NOT EXISTS members(
    layer TEXT NOT NULL, list_id TEXT NOT NULL, contact_id TEXT NOT NULL, added_at REAL NOT NULL,
    PRIMARY KEY(layer, list_id, contact_id));
CREATE INDEX IF NOT EXISTS members_contact ON members(layer, contact_id);
CREATE TABLE IF NOT EXISTS jobs(
    id TEXT PRIMARY KEY, job_type TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL,
    results TEXT NOT NULL, errors TEXT NOT NULL DEFAULT '[]', fail INTEGER NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, due_at REAL NOT NULL, started_at REAL, finished_at REAL);
CREATE TABLE IF NOT EXISTS changes(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, visible_at REAL NOT NULL, kind TEXT NOT NULL,
    payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exports(
    id TEXT PRIMARY KEY, params TEXT NOT NULL, status TEXT NOT NULL, fail INTEGER NOT NULL,
    created_at REAL NOT NULL, due_at REAL NOT NULL, updated_at REAL NOT NULL,
    completed_at REAL, expires_at REAL NOT NULL, contact_count INTEGER, file BLOB, message TEXT);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs(status, due_at);
CREATE INDEX IF NOT EXISTS changes_due ON changes(visible_at);
CREATE INDEX IF NOT EXISTS exports_pending ON exports(status, due_at);
"""

_process_lock = threading.RLock()


def connect(path: Path, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with WAL and busy_timeout."""
    conn = sqlite3.connect(
        str(path),
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=check_same_thread,
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def initialise(path: Path) -> None:
    """Create the state file (and its folder) and the schema if missing; switch to WAL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        _add_missing_columns(conn)
    finally:
        conn.close()


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a state file written by an earlier sandbox version up to date."""
    have = {r["name"] for r in conn.execute("PRAGMA table_info(jobs)").fetchall()}
    for column in ("progress", "size"):
        if column not in have:
            conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    if "started_at" not in have:
        conn.execute("ALTER TABLE jobs ADD COLUMN started_at REAL")


def process_lock() -> threading.RLock:
    """The lock every writer of this process takes around its transaction (one at a time)."""
    return _process_lock


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error."""
    with _process_lock:
        conn = connect(path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()


def hash_key(key: str) -> str:
    """The stored form of an API key: the state file never holds a key itself."""
    return hashlib.sha256(key.encode()).hexdigest()


def put_key(conn: sqlite3.Connection, key: str, scopes: list[str]) -> None:
    """Add a key or replace its scopes; a key revoked earlier stays revoked."""
    conn.execute(
        "INSERT INTO api_keys(key_hash, scopes) VALUES (?, ?) "
        "ON CONFLICT(key_hash) DO UPDATE SET scopes = excluded.scopes",
        (hash_key(key), json.dumps(sorted(set(scopes)))),
    )


def revoke_key(conn: sqlite3.Connection, key: str) -> bool:
    """Mark a key revoked; False when the sandbox does not know it."""
    cur = conn.execute("UPDATE api_keys SET revoked = 1 WHERE key_hash = ?", (hash_key(key),))
    return cur.rowcount > 0


def key_scopes(conn: sqlite3.Connection, key: str) -> list[str] | None:
    """The scopes of a valid key, or None when the key is unknown or revoked."""
    row = conn.execute(
        "SELECT scopes FROM api_keys WHERE key_hash = ? AND revoked = 0", (hash_key(key),)
    ).fetchall()
    return json.loads(row[0]["scopes"]) if row else None


def secret(conn: sqlite3.Connection) -> str:
    """The sandbox's signing secret for download links, created once and kept in the file."""
    rows = conn.execute("SELECT value FROM meta WHERE key = 'secret'").fetchall()
    if rows:
        return str(rows[0]["value"])
    value = secrets.token_hex(32)
    conn.execute("INSERT INTO meta(key, value) VALUES ('secret', ?)", (value,))
    return value


def contact_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored contact as a plain dict (identifiers, email, fields, timestamps)."""
    contact: dict[str, Any] = json.loads(row["data"])
    contact.update(id=row["id"], email=row["email"])
    contact.update({name: row[name] for name in IDENTIFIERS})
    contact.update(created_at=row["created_at"], updated_at=row["updated_at"])
    return contact


CONTACT_INSERT = (
    "INSERT OR REPLACE INTO contacts(layer, id, email, phone_number_id, external_id, "
    "anonymous_id, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
FIXED_COLUMNS = frozenset({"id", "email", "created_at", "updated_at", *IDENTIFIERS})


def _contact_values(layer: str, c: dict[str, Any]) -> tuple:
    data = json.dumps({k: v for k, v in c.items() if k not in FIXED_COLUMNS})
    ids = (c.get(name) for name in IDENTIFIERS)
    return (layer, c["id"], c.get("email"), *ids, data, c["created_at"], c["updated_at"])


def write_contact(conn: sqlite3.Connection, layer: str, contact: dict[str, Any]) -> None:
    """Insert or replace one contact in ``layer`` (the dict shape of ``contact_from_row``)."""
    conn.execute(CONTACT_INSERT, _contact_values(layer, contact))
    conn.execute(
        "DELETE FROM alternate_emails WHERE layer = ? AND contact_id = ?", (layer, contact["id"])
    )
    for email in contact.get("alternate_emails") or []:
        conn.execute(
            "INSERT OR IGNORE INTO alternate_emails(layer, email, contact_id) VALUES (?, ?, ?)",
            (layer, email.lower(), contact["id"]),
        )


def write_contacts(conn: sqlite3.Connection, layer: str, contacts: list[dict[str, Any]]) -> None:
    """Insert or replace many contacts in ``layer``, with their alternate-email index entries."""
    conn.executemany(CONTACT_INSERT, [_contact_values(layer, c) for c in contacts])
    _index_alternates(conn, layer, {c["id"]: c.get("alternate_emails") or [] for c in contacts})


def _index_alternates(conn: sqlite3.Connection, layer: str, emails: dict[str, list]) -> None:
    conn.executemany(
        "DELETE FROM alternate_emails WHERE layer = ? AND contact_id = ?",
        [(layer, contact_id) for contact_id in emails],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO alternate_emails(layer, email, contact_id) VALUES (?, ?, ?)",
        [(layer, e.lower(), cid) for cid, alternates in emails.items() for e in alternates],
    )


def delete_contact(conn: sqlite3.Connection, layer: str, contact_id: str) -> None:
    """Remove a contact and its memberships from ``layer``."""
    conn.execute("DELETE FROM contacts WHERE layer = ? AND id = ?", (layer, contact_id))
    _index_alternates(conn, layer, {contact_id: []})
    conn.execute(
        "DELETE FROM members INDEXED BY members_contact WHERE layer = ? AND contact_id = ?",
        (layer, contact_id),
    )


def contacts_by(conn: sqlite3.Connection, layer: str, column: str, values: list[str]) -> list[dict]:
    """Contacts of ``layer`` whose ``column`` (id, email or an identifier) is in ``values``."""
    if column not in ("id", "email", *IDENTIFIERS) or not values:
        return []
    marks = ",".join("?" * len(values))
    rows = conn.execute(
        f"SELECT * FROM contacts WHERE layer = ? AND {column} IN ({marks})", (layer, *values)
    ).fetchall()
    return [contact_from_row(r) for r in rows]


def contacts_by_alternate_email(
    conn: sqlite3.Connection, layer: str, emails: list[str]
) -> list[dict]:
    """Contacts of ``layer`` that carry one of ``emails`` (lower case) as an alternate email."""
    marks = ",".join("?" * len(emails))
    rows = conn.execute(
        "SELECT * FROM contacts WHERE layer = ? AND id IN (SELECT contact_id FROM "
        f"alternate_emails WHERE layer = ? AND email IN ({marks}))",
        (layer, layer, *emails),
    ).fetchall()
    return [contact_from_row(r) for r in rows]


def list_ids_of(conn: sqlite3.Connection, layer: str, contact_id: str) -> list[str]:
    """The lists a contact is on in ``layer``, in list creation order."""
    rows = conn.execute(
        "SELECT m.list_id FROM members m INDEXED BY members_contact "
        "JOIN lists l ON l.id = m.list_id WHERE m.layer = ? AND m.contact_id = ? ORDER BY l.seq",
        (layer, contact_id),
    ).fetchall()
    return [r["list_id"] for r in rows]


def get_list(conn: sqlite3.Connection, list_id: str) -> sqlite3.Row | None:
    """One list row, or None."""
    rows = conn.execute("SELECT * FROM lists WHERE id = ?", (list_id,)).fetchall()
    return rows[0] if rows else None


def delete_list(conn: sqlite3.Connection, list_id: str) -> None:
    """Remove a list and its memberships in both layers (contacts stay)."""
    conn.execute(
        "DELETE FROM members WHERE layer IN (?, ?) AND list_id = ?", (TRUTH, VISIBLE, list_id)
    )
    conn.execute("DELETE FROM lists WHERE id = ?", (list_id,))


def member_count(conn: sqlite3.Connection, layer: str, list_id: str) -> int:
    """How many contacts are on a list in ``layer``."""
    rows = conn.execute(
        "SELECT count(*) AS n FROM members WHERE layer = ? AND list_id = ?", (layer, list_id)
    ).fetchall()
    return int(rows[0]["n"])


def member_ids(conn: sqlite3.Connection, layer: str, list_id: str) -> list[str]:
    """The contact ids on a list in ``layer``, most recently added first."""
    rows = conn.execute(
        "SELECT contact_id FROM members WHERE layer = ? AND list_id = ? "
        "ORDER BY added_at DESC, contact_id",
        (layer, list_id),
    ).fetchall()
    return [r["contact_id"] for r in rows]
