"""Contact endpoints: upsert, lookups by email / identifier / id, counts, job status, scopes.

Lookups read the ``visible`` layer (they lag behind finished writes); the upsert validates the
request at once (on a read snapshot) and leaves the writing to a job in the job inbox, which
CREATES contacts it cannot identify.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import polars as pl

from workbench.destinations.sendgrid.sandbox import store
from workbench.destinations.sendgrid.sandbox.api import (
    Answer,
    ApiError,
    ApiRequest,
    is_valid_email,
    iso,
    string_list,
)
from workbench.destinations.sendgrid.sandbox.config import (
    MAX_ALTERNATE_EMAILS,
    MAX_LOOKUP,
    MAX_UPSERT_CONTACTS,
)
from workbench.destinations.sendgrid.sandbox.job_records import (
    UPSERT,
    job_status,
    text_around_body,
)
from workbench.destinations.sendgrid.sandbox.store import IDENTIFIERS, VISIBLE

CONTACTS_PATH = "/v3/marketing/contacts"
NOT_FOUND = {"error": "contact not found"}
MAX_EMAIL_LENGTH = 254  # as ``api.is_valid_email``
_EMAIL_OF = itemgetter("email")
# A stricter ``api.EMAIL_PATTERN`` for the column-wise check: the local part in printable ASCII
# (no space) minus the characters that pattern refuses, so it means the same in polars' regex
# engine as in Python's (``\s`` differs between them beyond ASCII); anything else falls back to
# the per-item check.
_LOCAL = r"[\x21\x23-\x27\x2A\x2B\x2D-\x3A\x3D\x3F\x41-\x5A\x5C\x5E-\x7E]+"
PLAIN_EMAIL = rf"^{_LOCAL}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{{2,}}$"


def contact_json(req: ApiRequest, contact: dict[str, Any], layer: str) -> dict[str, Any]:
    """A contact in SendGrid's shape (empty values left out, as SendGrid does)."""
    body = {
        k: v for k, v in contact.items() if v is not None and k not in ("created_at", "updated_at")
    }
    body.setdefault("alternate_emails", [])
    body.setdefault("custom_fields", {})
    body["list_ids"] = store.list_ids_of(req.conn, layer, contact["id"])
    body["segment_ids"] = []
    body["created_at"] = iso(contact["created_at"])
    body["updated_at"] = iso(contact["updated_at"])
    body["_metadata"] = {"self": f"{req.base_url}{CONTACTS_PATH}/{contact['id']}"}
    return body


def _check_upsert_item(index: int, item: object) -> None:
    where = f"contacts[{index}]"
    if not isinstance(item, dict):
        raise ApiError(400, f"{where} must be an object", where)
    email = item.get("email")
    if email is not None and not is_valid_email(email):
        raise ApiError(
            400, f"{where}.email {email!r} is not a valid email address", f"{where}.email"
        )
    if not email and not any(item.get(name) for name in IDENTIFIERS):
        raise ApiError(
            400, f"{where} needs an email or an identifier ({', '.join(IDENTIFIERS)})", where
        )
    alternates = item.get("alternate_emails") or []
    if len(alternates) > MAX_ALTERNATE_EMAILS or not all(is_valid_email(a) for a in alternates):
        raise ApiError(
            400,
            f"{where}.alternate_emails must hold at most {MAX_ALTERNATE_EMAILS} valid addresses",
            f"{where}.alternate_emails",
        )


def plain_upsert_items_valid(items: list) -> bool:
    """True when every item is exactly ``{"email": <text>}`` with a plain ASCII address that
    ``is_valid_email`` accepts, checked column-wise (one polars regex over all addresses).
    Each such item passes ``_check_upsert_item``; False says nothing about the items (the
    per-item check then decides, with its message)."""
    if set(map(type, items)) != {dict} or set(map(len, items)) != {1}:
        return False
    try:
        emails = list(map(_EMAIL_OF, items))
    except KeyError:
        return False
    if set(map(type, emails)) != {str}:
        return False
    column = pl.Series(emails, dtype=pl.String)
    too_long = column.str.len_bytes() > MAX_EMAIL_LENGTH
    return bool(column.str.contains(PLAIN_EMAIL).all()) and not too_long.any()


def upsert_contacts(req: ApiRequest) -> Answer:
    """``PUT /v3/marketing/contacts``: 202 and a job; unknown top-level keys are ignored."""
    body = req.json_object()
    contacts = body.get("contacts")
    if not isinstance(contacts, list) or not 1 <= len(contacts) <= MAX_UPSERT_CONTACTS:
        raise ApiError(
            400, f"contacts must be an array of 1 to {MAX_UPSERT_CONTACTS} contacts", "contacts"
        )
    if not plain_upsert_items_valid(contacts):  # else find which item is bad, and why
        for index, item in enumerate(contacts):
            _check_upsert_item(index, item)
    list_ids = string_list(body["list_ids"], "list_ids") if body.get("list_ids") is not None else []
    missing = [i for i in list_ids if store.get_list(req.conn, i) is None]
    if missing:
        raise ApiError(404, f"list(s) not found: {', '.join(missing)}", "list_ids")
    payload = {"list_ids": list_ids, "contacts": contacts}
    text = text_around_body(req.raw, UPSERT, {"list_ids": list_ids}) if req.raw else None
    return Answer(202, {"job_id": req.job_queue().create(UPSERT, payload, text)})


def _answer_lookup(req: ApiRequest, keys: list[str], found: dict[str, dict]) -> Answer:
    if not found:
        raise ApiError(404, "no contacts found")
    result = {
        k: {"contact": contact_json(req, found[k], VISIBLE)} if k in found else NOT_FOUND
        for k in keys
    }
    return Answer(200, {"result": result})


def search_emails(req: ApiRequest) -> Answer:
    """``POST .../search/emails``: primary and alternate emails, case-insensitive; 404 when
    nothing matched; 400 when any address is invalid."""
    emails = string_list(req.json_object().get("emails"), "emails", at_most=MAX_LOOKUP)
    invalid = [e for e in emails if not is_valid_email(e)]
    if invalid:
        raise ApiError(400, f"invalid email address(es): {', '.join(invalid[:5])}", "emails")
    keys = list(dict.fromkeys(e.strip().lower() for e in emails))
    found: dict[str, dict] = {}
    for contact in store.contacts_by_alternate_email(req.conn, VISIBLE, keys):
        for alt in contact.get("alternate_emails") or []:
            if alt.lower() in keys:
                found[alt.lower()] = contact
    found.update({c["email"]: c for c in store.contacts_by(req.conn, VISIBLE, "email", keys)})
    return _answer_lookup(req, keys, found)


def search_identifiers(req: ApiRequest) -> Answer:
    """``POST .../search/identifiers/{identifier_type}``: same rules as the email search."""
    kind = req.params["identifier_type"]
    if kind not in ("email", *IDENTIFIERS):
        raise ApiError(
            400,
            f"identifier_type must be email or one of {', '.join(IDENTIFIERS)}",
            "identifier_type",
        )
    values = string_list(req.json_object().get("identifiers"), "identifiers", at_most=MAX_LOOKUP)
    keys = list(dict.fromkeys(v.strip().lower() if kind == "email" else v for v in values))
    found = {c[kind]: c for c in store.contacts_by(req.conn, VISIBLE, kind, keys)}
    return _answer_lookup(req, keys, found)


def batch_contacts(req: ApiRequest) -> Answer:
    """``POST /v3/marketing/contacts/batch``: the contacts of up to 100 ids (unknown ones left
    out)."""
    ids = string_list(req.json_object().get("ids"), "ids", at_most=MAX_LOOKUP)
    found = store.contacts_by(req.conn, VISIBLE, "id", ids)
    return Answer(200, {"result": [contact_json(req, c, VISIBLE) for c in found]})


def get_contact(req: ApiRequest) -> Answer:
    """``GET /v3/marketing/contacts/{id}``."""
    found = store.contacts_by(req.conn, VISIBLE, "id", [req.params["id"]])
    if not found:
        raise ApiError(404, f"contact {req.params['id']} not found", "id")
    return Answer(200, contact_json(req, found[0], VISIBLE))


def count_contacts(req: ApiRequest) -> Answer:
    """``GET /v3/marketing/contacts/count`` (lags behind writes)."""
    rows = req.conn.execute("SELECT count(*) FROM contacts WHERE layer = ?", (VISIBLE,)).fetchall()
    return Answer(200, {"contact_count": rows[0][0], "billable_count": rows[0][0]})


def import_status(req: ApiRequest) -> Answer:
    """``GET /v3/marketing/contacts/imports/{id}``: a job's status and counts."""
    body = job_status(req.conn, req.params["id"], req.base_url)
    if body is None:  # not taken in by the worker yet (as of this request's snapshot)
        body = req.job_queue().waiting_status(req.params["id"])
    if body is None:
        raise ApiError(404, f"job {req.params['id']} not found", "id")
    return Answer(200, body)


def scopes(req: ApiRequest) -> Answer:
    """``GET /v3/scopes``: the scopes of the calling key."""
    return Answer(200, {"scopes": sorted(req.scopes)})
