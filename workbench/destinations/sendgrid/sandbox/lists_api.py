"""List endpoints: create, page through, get, rename, delete, count, remove contacts.

List metadata is synchronous (as in SendGrid); counts and contact samples read the ``visible``
layer, so they lag behind finished writes. Removals and contact deletions are jobs, created in
the job inbox (a removal answers from a read snapshot, without waiting for the job worker).
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from workbench.destinations.sendgrid.sandbox import store
from workbench.destinations.sendgrid.sandbox.api import Answer, ApiError, ApiRequest, string_list
from workbench.destinations.sendgrid.sandbox.config import (
    DEFAULT_PAGE_SIZE,
    MAX_LISTS,
    MAX_PAGE_SIZE,
)
from workbench.destinations.sendgrid.sandbox.contacts_api import contact_json
from workbench.destinations.sendgrid.sandbox.store import TRUTH, VISIBLE

LISTS_PATH = "/v3/marketing/lists"
SAMPLE_SIZE = 50


def list_json(req: ApiRequest, row: Any) -> dict[str, Any]:
    """A list in SendGrid's shape, with its (lagging) contact count."""
    return {
        "id": row["id"],
        "name": row["name"],
        "contact_count": store.member_count(req.conn, VISIBLE, row["id"]),
        "_metadata": {"self": f"{req.base_url}{LISTS_PATH}/{row['id']}"},
    }


def existing_list(req: ApiRequest) -> Any:
    """The list named by the path's ``{id}``, else 404."""
    row = store.get_list(req.conn, req.params["id"])
    if row is None:
        raise ApiError(404, f"list {req.params['id']} not found", "id")
    return row


def _list_name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise ApiError(400, "name must be a string of 1 to 100 characters", "name")
    return name


def _check_name_free(req: ApiRequest, name: str, own_id: str | None = None) -> None:
    rows = req.conn.execute("SELECT id FROM lists WHERE name = ?", (name,)).fetchall()
    if any(r["id"] != own_id for r in rows):
        raise ApiError(400, f"a list named {name!r} already exists", "name")


def create_list(req: ApiRequest) -> Answer:
    """``POST /v3/marketing/lists``: 201 with the new list; 400 past 1000 lists or when the name
    is taken."""
    name = _list_name(req.json_object())
    count, last_seq = req.conn.execute("SELECT count(*), max(seq) FROM lists").fetchall()[0]
    if count >= MAX_LISTS:
        raise ApiError(400, f"an account can have at most {MAX_LISTS} lists", "name")
    _check_name_free(req, name)
    list_id, now = str(uuid.uuid4()), time.time()
    req.conn.execute(
        "INSERT INTO lists(id, seq, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        (list_id, (last_seq or 0) + 1, name, now, now),
    )
    return Answer(201, list_json(req, store.get_list(req.conn, list_id)))


def _page_size(req: ApiRequest) -> int:
    text = req.query_value("page_size") or str(DEFAULT_PAGE_SIZE)
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise ApiError(
            400, f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}", "page_size"
        )
    return int(text)


def _after_seq(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("after:"))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(400, "page_token is not valid", "page_token") from exc


def _page_url(req: ApiRequest, size: int, token: str) -> str:
    return f"{req.base_url}{LISTS_PATH}?{urlencode({'page_size': size, 'page_token': token})}"


def page_lists(req: ApiRequest) -> Answer:
    """``GET /v3/marketing/lists``: one page in creation order; ``_metadata.next`` while more."""
    size, token = _page_size(req), req.query_value("page_token") or ""
    after = _after_seq(token)
    rows = req.conn.execute(
        "SELECT * FROM lists WHERE seq > ? ORDER BY seq LIMIT ?", (after, size + 1)
    ).fetchall()
    total = req.conn.execute("SELECT count(*) FROM lists").fetchall()[0][0]
    meta: dict[str, Any] = {"self": _page_url(req, size, token), "count": total}
    if len(rows) > size:
        rows = rows[:size]
        next_token = base64.urlsafe_b64encode(f"after:{rows[-1]['seq']}".encode()).decode()
        meta["next"] = _page_url(req, size, next_token)
    return Answer(200, {"result": [list_json(req, r) for r in rows], "_metadata": meta})


def get_list(req: ApiRequest) -> Answer:
    """``GET /v3/marketing/lists/{id}``; ``contact_sample=true`` adds up to 50 recent contacts."""
    body = list_json(req, existing_list(req))
    if (req.query_value("contact_sample") or "").lower() == "true":
        ids = store.member_ids(req.conn, VISIBLE, req.params["id"])[:SAMPLE_SIZE]
        found = store.contacts_by(req.conn, VISIBLE, "id", ids)
        body["contact_sample"] = [contact_json(req, c, VISIBLE) for c in found]
    return Answer(200, body)


def rename_list(req: ApiRequest) -> Answer:
    """``PATCH /v3/marketing/lists/{id}``: a new name."""
    row = existing_list(req)
    name = _list_name(req.json_object())
    _check_name_free(req, name, own_id=row["id"])
    req.conn.execute(
        "UPDATE lists SET name = ?, updated_at = ? WHERE id = ?", (name, time.time(), row["id"])
    )
    return Answer(200, list_json(req, store.get_list(req.conn, row["id"])))


def delete_list(req: ApiRequest) -> Answer:
    """``DELETE /v3/marketing/lists/{id}``: 204; with ``delete_contacts=true`` 200 and a job
    that deletes every contact on the list from the account."""
    row = existing_list(req)
    members = store.member_ids(req.conn, TRUTH, row["id"])
    store.delete_list(req.conn, row["id"])
    if (req.query_value("delete_contacts") or "").lower() != "true":
        return Answer(204)
    job_id = req.job_queue().create("delete_contacts", {"contact_ids": members})
    return Answer(200, {"job_id": job_id})


def count_list(req: ApiRequest) -> Answer:
    """``GET /v3/marketing/lists/{id}/contacts/count`` (lags behind writes)."""
    count = store.member_count(req.conn, VISIBLE, existing_list(req)["id"])
    return Answer(200, {"contact_count": count, "billable_count": count})


def remove_contacts(req: ApiRequest) -> Answer:
    """``DELETE /v3/marketing/lists/{id}/contacts?contact_ids=a,b``: 202 and a job; 404 when the
    list or any one id does not exist."""
    row = existing_list(req)
    values = req.query.get("contact_ids") or []
    if len(values) != 1:
        raise ApiError(
            400, "contact_ids must be given once, as one comma-separated value", "contact_ids"
        )
    ids = string_list([v.strip() for v in values[0].split(",") if v.strip()], "contact_ids")
    known = {c["id"] for c in store.contacts_by(req.conn, TRUTH, "id", ids)}
    missing = [i for i in ids if i not in known]
    if missing:
        raise ApiError(404, f"contact id(s) not found: {', '.join(missing[:10])}", "contact_ids")
    payload = {"list_id": row["id"], "contact_ids": list(dict.fromkeys(ids))}
    return Answer(202, {"job_id": req.job_queue().create("remove", payload)})
