"""The admin HTTP surface under ``/_sandbox/`` (no API key; the sandbox listens on loopback).

Lets a sandbox running in another process be seeded and inspected:

=======  ====================================  =============================================
GET      /_sandbox/health                      ``{"ok": true}``
GET/POST /_sandbox/faults                      read / change knobs (body: knob -> value)
POST     /_sandbox/flush                       finish pending jobs, make everything visible
GET/POST /_sandbox/contacts                    all contacts / seed ``{"contacts", "list_ids"?}``
GET/POST /_sandbox/lists                       ``?name=`` find a list / create ``{"name"}``
GET      /_sandbox/lists/{id}/members          ``{"emails": [...]}``
DELETE   /_sandbox/lists/{id}                  delete a list, as in SendGrid's UI
POST     /_sandbox/keys                        add a key ``{"key", "scopes"}``
POST     /_sandbox/keys/{key}/revoke           revoke a key
GET/DEL  /_sandbox/requests                    the request log / clear it
GET      /_sandbox/jobs/{id}/errors            a job's errors as CSV (its ``errors_url``)
GET      /_sandbox/downloads/{id}/0.gz         an export file (pre-signed, expiring)
=======  ====================================  =============================================
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from typing import TYPE_CHECKING, Any

from workbench.destinations.sendgrid.sandbox import exports, store
from workbench.destinations.sendgrid.sandbox.api import Answer, ApiError, ApiRequest
from workbench.errors import NotFoundError, WorkbenchError

if TYPE_CHECKING:
    from workbench.destinations.sendgrid.sandbox.server import SandboxServer


def serve(
    sandbox: SandboxServer,
    method: str,
    path: str,
    query: dict[str, list[str]],
    raw: bytes,
    base_url: str,
) -> Answer:
    """Answer one admin request; workbench errors become 4xx answers with their message."""
    try:
        body = json.loads(raw) if raw else {}
        return _dispatch(sandbox, method, path, query, body, base_url)
    except ApiError as exc:
        return Answer(exc.status, exc.body())
    except (WorkbenchError, ValueError, TypeError) as exc:
        status = 404 if isinstance(exc, NotFoundError) else 400
        return Answer(status, ApiError(status, str(exc)).body())


def _dispatch(
    sandbox: SandboxServer,
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: Any,
    base_url: str,
) -> Answer:
    admin = sandbox.admin
    tail = path.removeprefix("/_sandbox/").strip("/")
    if (method, tail) == ("GET", "health"):
        return Answer(200, {"ok": True})
    if tail == "faults":
        return Answer(200, admin.set_faults(**body) if method == "POST" else admin.faults())
    if (method, tail) == ("POST", "flush"):
        admin.flush()
        return Answer(200, {"ok": True})
    if tail == "contacts":
        if method == "POST":
            return Answer(200, {"ids": admin.add_contacts(body["contacts"], body.get("list_ids"))})
        return Answer(200, {"contacts": admin.contacts()})
    if tail == "lists":
        if method == "POST":
            return Answer(200, {"id": admin.create_list(body["name"])})
        return Answer(200, {"list": admin.find_list((query.get("name") or [""])[0])})
    if tail == "requests":
        if method == "DELETE":
            admin.clear_request_log()
        return Answer(200, {"requests": admin.request_log()})
    if (method, tail) == ("POST", "keys"):
        admin.add_key(body["key"], body["scopes"])
        return Answer(200, {"ok": True})
    return _dispatch_with_ids(sandbox, method, tail, query, base_url)


def _dispatch_with_ids(
    sandbox: SandboxServer, method: str, tail: str, query: dict[str, list[str]], base_url: str
) -> Answer:
    admin = sandbox.admin
    if found := re.fullmatch(r"lists/([^/]+)/members", tail):
        return Answer(200, {"emails": sorted(admin.list_members(found[1]))})
    if (found := re.fullmatch(r"lists/([^/]+)", tail)) and method == "DELETE":
        admin.delete_list(found[1])
        return Answer(200, {"ok": True})
    if (found := re.fullmatch(r"keys/([^/]+)/revoke", tail)) and method == "POST":
        admin.revoke_key(found[1])
        return Answer(200, {"ok": True})
    if found := re.fullmatch(r"jobs/([^/]+)/errors", tail):
        return _job_errors(sandbox, found[1])
    if found := re.fullmatch(r"downloads/([^/]+)/0\.gz", tail):
        with store.transaction(sandbox.config.state_path) as conn:
            req = ApiRequest(
                conn, {"id": found[1]}, query, None, base_url, sandbox.plan, time.time()
            )
            return exports.download(req)
    raise ApiError(404, f"no admin endpoint {method} /_sandbox/{tail}")


def _job_errors(sandbox: SandboxServer, job_id: str) -> Answer:
    with store.transaction(sandbox.config.state_path) as conn:
        rows = conn.execute("SELECT errors FROM jobs WHERE id = ?", (job_id,)).fetchall()
    if not rows:
        raise ApiError(404, f"job {job_id} not found")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["index", "email", "message"])
    for error in json.loads(rows[0]["errors"]):
        writer.writerow([error.get("index", ""), error.get("email", ""), error["message"]])
    return Answer(200, raw=out.getvalue().encode(), content_type="text/csv")
