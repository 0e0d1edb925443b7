"""The sandbox's request log: bodies kept as received and decoded when read, bounded by a count
of entries and a budget of body bytes (older entries keep their metadata, lose their body)."""

from __future__ import annotations

import json
import urllib.request

from tests.sendgrid.helpers import call
from workbench.destinations.sendgrid.sandbox import SandboxServer
from workbench.destinations.sendgrid.sandbox.remote import SandboxRemote
from workbench.destinations.sendgrid.sandbox.server import BODY_TEXT_CHARS, RequestLog

UPSERT = "/v3/marketing/contacts"


def upsert_body(lid: str, count: int, prefix: str) -> dict:
    """An upsert of ``count`` new contacts onto ``lid``."""
    return {
        "list_ids": [lid],
        "contacts": [{"email": f"{prefix}{i}@example.com"} for i in range(count)],
    }


def encoded_size(body: dict) -> int:
    """The bytes the real client sends for ``body`` (``json.dumps`` with its defaults)."""
    return len(json.dumps(body).encode())


def test_a_logged_body_is_readable_as_sent(
    sandbox: SandboxServer, sendgrid_client, sg_key: str
) -> None:
    lid = sandbox.admin.create_list("seg")
    body = upsert_body(lid, 3, "a")
    assert call(sendgrid_client, "PUT", UPSERT, body)[0] == 202
    text = b"not json " * 300
    request = urllib.request.Request(
        sandbox.url + UPSERT, data=text, method="PUT", headers={"Authorization": f"Bearer {sg_key}"}
    )
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
    first, second = sandbox.admin.request_log()
    assert first["body"] == body and first["body_bytes"] == encoded_size(body)
    assert second["status"] == 400 and second["body_bytes"] == len(text)
    assert second["body"] == text[:BODY_TEXT_CHARS].decode()
    bare = sandbox.admin.request_log(bodies=False)
    assert [(e["status"], e["body"]) for e in bare] == [(202, None), (400, None)]


def test_the_oldest_bodies_go_past_the_budget_and_their_requests_stay(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    lid = sandbox.admin.create_list("seg")
    bodies = [upsert_body(lid, 200, f"b{k}-") for k in range(5)]
    sizes = [encoded_size(b) for b in bodies]
    sandbox.requests = RequestLog(max_body_bytes=sizes[3] + sizes[4])
    for body in bodies:
        assert call(sendgrid_client, "PUT", UPSERT, body)[0] == 202
    log = sandbox.admin.request_log()
    assert [(e["endpoint"], e["status"]) for e in log] == [("PUT /v3/marketing/contacts", 202)] * 5
    assert [e["body_bytes"] for e in log] == sizes  # the size of a dropped body stays
    assert [e["body"] for e in log] == [None, None, None, bodies[3], bodies[4]]
    usage = sandbox.admin.request_log_usage()
    assert usage == {"entries": 5, "bodies": 2, "body_bytes": sizes[3] + sizes[4]}


def test_the_admin_surface_reports_the_log_and_its_usage(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    lid = sandbox.admin.create_list("seg")
    body = upsert_body(lid, 10, "c")
    assert call(sendgrid_client, "PUT", UPSERT, body)[0] == 202
    assert call(sendgrid_client, "GET", "/v3/scopes")[0] == 200
    remote = SandboxRemote(sandbox.url)
    assert remote.request_log_usage() == {
        "entries": 2,
        "bodies": 1,
        "body_bytes": encoded_size(body),
    }
    assert [e["body"] for e in remote.request_log()] == [body, None]
    assert [(e["path"], e["body"]) for e in remote.request_log(bodies=False)] == [
        (UPSERT, None),
        ("/v3/scopes", None),
    ]
    remote.clear_request_log()
    assert remote.request_log_usage() == {"entries": 0, "bodies": 0, "body_bytes": 0}


def test_the_log_stays_within_its_bounds_however_much_is_sent() -> None:
    log = RequestLog(max_entries=100, max_body_bytes=10_000)
    for k in range(5000):
        log.add({"path": f"/r/{k}", "status": 202}, b'{"k": %d, "pad": "%s"}' % (k, b"x" * 990))
        assert log.usage()["body_bytes"] <= 10_000
    entries = log.entries()
    assert [e["path"] for e in entries] == [f"/r/{k}" for k in range(4900, 5000)]
    assert log.usage() == {
        "entries": 100,
        "bodies": 9,
        "body_bytes": sum(e["body_bytes"] for e in entries[-9:]),
    }
    assert [e["body"]["k"] for e in entries[-9:]] == list(range(4991, 5000))
    assert all(e["body"] is None for e in entries[:-9])


def test_a_body_over_the_whole_budget_is_not_kept() -> None:
    log = RequestLog(max_entries=10, max_body_bytes=100)
    log.add({"path": "/small"}, b'{"a": 1}')
    log.add({"path": "/big"}, b"[" + b"1," * 100 + b"1]")
    assert [(e["path"], e["body"]) for e in log.entries()] == [("/small", {"a": 1}), ("/big", None)]
    assert log.usage() == {"entries": 2, "bodies": 1, "body_bytes": 8}
    log.add({"path": "/empty"}, b"")
    assert log.entries()[-1]["body"] is None and log.entries()[-1]["body_bytes"] == 0
