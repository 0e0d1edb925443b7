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
GET/DEL  /_sandbox/requests                    the request log (``?bodies=0``: without) / clear
GET      /_sandbox/requests/usage              what the request log holds (entries, body bytes)
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from workbench.destinations.sendgrid.sandbox import exports
from workbench.destinations.sendgrid.sandbox.api import Answer, ApiError, ApiRequest
from workbench.errors import NotFoundError, WorkbenchError

if TYPE_CHECKING:
    from workbench.destinations.sendgrid.sandbox.admin import SandboxAdmin
    from workbench.destinations.sendgrid.sandbox.server import SandboxServer


@dataclass
class AdminCall:
    """One admin request: the sandbox, the path's captured part, query, JSON body, base URL."""

    sandbox: SandboxServer
    part: str
    query: dict[str, list[str]]
    body: Any
    base_url: str

    @property
    def admin(self) -> SandboxAdmin:
        """The sandbox's admin object."""
        return self.sandbox.admin


OK: dict[str, Any] = {"ok": True}


def serve(
    sandbox: SandboxServer,
    method: str,
    path: str,
    query: dict[str, list[str]],
    raw: bytes,
    base_url: str,
) -> Answer:
    """Answer one admin request; workbench errors become 4xx answers with their message."""
    tail = path.removeprefix("/_sandbox/").strip("/")
    try:
        body = json.loads(raw) if raw else {}
        for methods, pattern, action in ADMIN_ROUTES:
            found = re.fullmatch(pattern, tail)
            if found and method in methods:
                part = unquote(found[1]) if found.groups() else ""
                return action(AdminCall(sandbox, part, query, body, base_url))
        raise ApiError(404, f"no admin endpoint {method} /_sandbox/{tail}")
    except ApiError as exc:
        return Answer(exc.status, exc.body())
    except (WorkbenchError, ValueError, TypeError, KeyError) as exc:
        status = 404 if isinstance(exc, NotFoundError) else 400
        return Answer(status, ApiError(status, f"bad admin request: {exc}").body())


def _faults(ctx: AdminCall) -> Answer:
    admin, body = ctx.admin, ctx.body
    return Answer(200, admin.set_faults(**body) if body else admin.faults())


def _flush(ctx: AdminCall) -> Answer:
    ctx.admin.flush()
    return Answer(200, OK)


def _seed(ctx: AdminCall) -> Answer:
    body = ctx.body
    return Answer(200, {"ids": ctx.admin.add_contacts(body["contacts"], body.get("list_ids"))})


def _create_list(ctx: AdminCall) -> Answer:
    return Answer(200, {"id": ctx.admin.create_list(ctx.body["name"])})


def _find_list(ctx: AdminCall) -> Answer:
    return Answer(200, {"list": ctx.admin.find_list((ctx.query.get("name") or [""])[0])})


def _delete_list(ctx: AdminCall) -> Answer:
    ctx.admin.delete_list(ctx.part)
    return Answer(200, OK)


def _add_key(ctx: AdminCall) -> Answer:
    ctx.admin.add_key(ctx.body["key"], ctx.body["scopes"])
    return Answer(200, OK)


def _revoke_key(ctx: AdminCall) -> Answer:
    ctx.admin.revoke_key(ctx.part)
    return Answer(200, OK)


def _requests(ctx: AdminCall) -> Answer:
    bodies = (ctx.query.get("bodies") or ["1"])[0] not in ("0", "false")
    return Answer(200, {"requests": ctx.admin.request_log(bodies)})


def _clear_requests(ctx: AdminCall) -> Answer:
    ctx.admin.clear_request_log()
    return _requests(ctx)


def _download(ctx: AdminCall) -> Answer:
    with ctx.sandbox.db.read() as conn:
        req = ApiRequest(
            conn, {"id": ctx.part}, ctx.query, None, ctx.base_url, ctx.sandbox.plan, time.time()
        )
        return exports.download(req)


ADMIN_ROUTES: tuple[tuple[tuple[str, ...], str, Callable[[AdminCall], Answer]], ...] = (
    (("GET",), "health", lambda ctx: Answer(200, OK)),
    (("GET", "POST"), "faults", _faults),
    (("POST",), "flush", _flush),
    (("GET",), "contacts", lambda ctx: Answer(200, {"contacts": ctx.admin.contacts()})),
    (("POST",), "contacts", _seed),
    (("GET",), "lists", _find_list),
    (("POST",), "lists", _create_list),
    (
        ("GET",),
        r"lists/([^/]+)/members",
        lambda ctx: Answer(200, {"emails": sorted(ctx.admin.list_members(ctx.part))}),
    ),
    (("DELETE",), r"lists/([^/]+)", _delete_list),
    (("POST",), "keys", _add_key),
    (("POST",), r"keys/([^/]+)/revoke", _revoke_key),
    (("GET",), "requests", _requests),
    (("DELETE",), "requests", _clear_requests),
    (("GET",), "requests/usage", lambda ctx: Answer(200, ctx.admin.request_log_usage())),
    (("GET",), r"jobs/([^/]+)/errors", lambda ctx: _job_errors(ctx.sandbox, ctx.part)),
    (("GET",), r"downloads/([^/]+)/0\.gz", _download),
)


def _job_errors(sandbox: SandboxServer, job_id: str) -> Answer:
    with sandbox.db.read() as conn:
        rows = conn.execute("SELECT errors FROM jobs WHERE id = ?", (job_id,)).fetchall()
    if not rows:
        raise ApiError(404, f"job {job_id} not found")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["index", "email", "message"])
    for error in json.loads(rows[0]["errors"]):
        writer.writerow([error.get("index", ""), error.get("email", ""), error["message"]])
    return Answer(200, raw=out.getvalue().encode(), content_type="text/csv")
