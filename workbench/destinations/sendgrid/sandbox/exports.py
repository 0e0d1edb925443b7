"""Contact exports: ``POST /v3/marketing/contacts/exports``, its status, and the files.

An export is ``pending`` for ``job_delay_s``; when due it is rendered from the ``visible`` layer
(by ``export_worker``, outside the write lock) into one gzip file (CSV with upper-case headers,
or JSON lines with ``contact_id``) kept in the
state file. Its URL is pre-signed (HMAC of id and expiry with the sandbox's secret), needs no
API key, and stops working at ``expires_at`` (``export_ttl_s`` after creation).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import sqlite3
import uuid
from typing import Any

from workbench.destinations.sendgrid.sandbox import bulk, store
from workbench.destinations.sendgrid.sandbox.api import Answer, ApiError, ApiRequest, iso
from workbench.destinations.sendgrid.sandbox.store import VISIBLE

EXPORTS_PATH = "/v3/marketing/contacts/exports"
CSV_COLUMNS = (
    "EMAIL",
    "FIRST_NAME",
    "LAST_NAME",
    "ALTERNATE_EMAILS",
    "PHONE_NUMBER_ID",
    "EXTERNAL_ID",
    "ANONYMOUS_ID",
    "LIST_IDS",
    "CREATED_AT",
    "UPDATED_AT",
    "CONTACT_ID",
)


def start_export(req: ApiRequest) -> Answer:
    """Queue an export of everyone, or of the members of ``list_ids``; 202 with its id."""
    body = req.json_object()
    file_type = body.get("file_type", "csv")
    if file_type not in ("csv", "json"):
        raise ApiError(400, "file_type must be csv or json", "file_type")
    list_ids = body.get("list_ids") or []
    if not isinstance(list_ids, list) or not all(isinstance(i, str) for i in list_ids):
        raise ApiError(400, "list_ids must be an array of list ids", "list_ids")
    missing = [i for i in list_ids if store.get_list(req.conn, i) is None]
    if missing:
        raise ApiError(400, f"list(s) not found: {', '.join(missing)}", "list_ids")
    export_id, knobs = str(uuid.uuid4()), req.plan.knobs
    req.conn.execute(
        "INSERT INTO exports(id, params, status, fail, created_at, due_at, updated_at, expires_at) "
        "VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)",
        (
            export_id,
            json.dumps({"list_ids": list_ids, "file_type": file_type}),
            int(req.plan.export_fails()),
            req.now,
            req.now + knobs.job_delay_s,
            req.now,
            req.now + knobs.export_ttl_s,
        ),
    )
    return Answer(
        202, {"id": export_id, "_metadata": {"self": f"{req.base_url}{EXPORTS_PATH}/{export_id}"}}
    )


def pump_exports(conn: sqlite3.Connection, now: float) -> None:
    """Mark every due export that is set to fail as failed. Due exports that succeed are
    rendered outside the write lock by ``export_worker.ExportRenderer``."""
    conn.execute(
        "UPDATE exports SET status = 'failure', message = ?, updated_at = ? "
        "WHERE status = 'pending' AND due_at <= ? AND fail = 1",
        ("the export failed (sandbox fault)", now, now),
    )


def render_rows(conn: sqlite3.Connection, list_ids: list[str], file_type: str) -> tuple[bytes, int]:
    """An export file's text (CSV or JSON lines) rendered row by row in Python, and its row
    count (the general path: every JSON export, and CSV values the fast path cannot carry)."""
    contacts = _exported_contacts(conn, list_ids)
    return _render(conn, contacts, file_type), len(contacts)


def _exported_contacts(conn: sqlite3.Connection, list_ids: list[str]) -> list[dict]:
    if not list_ids:
        rows = conn.execute(
            "SELECT * FROM contacts WHERE layer = ? ORDER BY created_at, id", (VISIBLE,)
        ).fetchall()
    else:
        marks = ",".join("?" * len(list_ids))
        rows = conn.execute(
            "SELECT * FROM contacts WHERE layer = ? AND id IN (SELECT contact_id FROM members "
            f"WHERE layer = ? AND list_id IN ({marks})) ORDER BY created_at, id",
            (VISIBLE, VISIBLE, *list_ids),
        ).fetchall()
    return [store.contact_from_row(r) for r in rows]


def _render(conn: sqlite3.Connection, contacts: list[dict], file_type: str) -> bytes:
    lists = bulk.lists_of(conn, VISIBLE, (c["id"] for c in contacts))
    records = [_record(c, lists.get(c["id"], [])) for c in contacts]
    if file_type == "json":
        return "".join(json.dumps(r) + "\n" for r in records).encode()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow([_csv_value(r[column.lower()]) for column in CSV_COLUMNS])
    return out.getvalue().encode()


def _record(contact: dict, list_ids: list[str]) -> dict[str, Any]:
    return {
        "email": contact.get("email"),
        "first_name": contact.get("first_name"),
        "last_name": contact.get("last_name"),
        "alternate_emails": contact.get("alternate_emails") or [],
        "phone_number_id": contact.get("phone_number_id"),
        "external_id": contact.get("external_id"),
        "anonymous_id": contact.get("anonymous_id"),
        "list_ids": list_ids,
        "created_at": iso(contact["created_at"]),
        "updated_at": iso(contact["updated_at"]),
        "contact_id": contact["id"],
    }


def _csv_value(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def sign(conn: sqlite3.Connection, export_id: str, expires: int) -> str:
    """The download token of one export file (``expires``: Unix time in milliseconds)."""
    message = f"{export_id}:{expires}".encode()
    return hmac.new(store.secret(conn).encode(), message, hashlib.sha256).hexdigest()


# not the file, nor the message stored after it: reading them walks a 30 MB file's pages
_STATUS_COLUMNS = (
    "SELECT id, status, created_at, updated_at, expires_at, completed_at, contact_count "
    "FROM exports WHERE id = ?"
)


def export_status(req: ApiRequest) -> Answer:
    """``GET /v3/marketing/contacts/exports/{id}``: pending, ready (with ``urls``) or failure."""
    rows = req.conn.execute(_STATUS_COLUMNS, (req.params["id"],)).fetchall()
    if not rows:
        raise ApiError(404, f"export {req.params['id']} not found", "id")
    e = rows[0]
    body: dict[str, Any] = {
        "id": e["id"],
        "status": e["status"],
        "created_at": iso(e["created_at"]),
        "updated_at": iso(e["updated_at"]),
        "expires_at": iso(e["expires_at"]),
        "_metadata": {"self": f"{req.base_url}{EXPORTS_PATH}/{e['id']}"},
    }
    if e["status"] == "ready":
        expires = int(e["expires_at"] * 1000)
        token = sign(req.conn, e["id"], expires)
        url = f"{req.base_url}/_sandbox/downloads/{e['id']}/0.gz?expires={expires}&token={token}"
        body.update(
            urls=[url], completed_at=iso(e["completed_at"]), contact_count=e["contact_count"]
        )
    if e["status"] == "failure":
        message = req.conn.execute("SELECT message FROM exports WHERE id = ?", (e["id"],))
        body["message"] = message.fetchall()[0][0]
    return Answer(200, body)


def download(req: ApiRequest) -> Answer:
    """``GET /_sandbox/downloads/{id}/0.gz?expires=&token=``: the gzip file, no API key; 403
    when the token is wrong or expired (as a pre-signed URL would)."""
    expires_text = req.query_value("expires") or ""
    token = req.query_value("token") or ""
    if not expires_text.isdigit() or not hmac.compare_digest(
        token, sign(req.conn, req.params["id"], int(expires_text))
    ):
        raise ApiError(403, "the download link is not valid")
    if req.now * 1000 >= int(expires_text):
        raise ApiError(403, "the download link has expired")
    rows = req.conn.execute("SELECT file FROM exports WHERE id = ?", (req.params["id"],)).fetchall()
    if not rows or rows[0]["file"] is None:
        raise ApiError(404, "no such file")
    return Answer(200, raw=bytes(rows[0]["file"]), content_type="application/gzip")
