"""Contract: every request the SendGrid client sends, over a sequence of all its operations,
matches SendGrid's published OpenAPI documents (checked on what the sandbox logged)."""

from __future__ import annotations

import uuid

from tests.sendgrid.contract import validate_request
from workbench.destinations.sendgrid.client import SendGridClient
from workbench.destinations.sendgrid.sandbox import SandboxServer

CLIENT_ENDPOINTS = {
    "GET /v3/scopes",
    "POST /v3/marketing/lists",
    "GET /v3/marketing/lists",
    "GET /v3/marketing/lists/{id}",
    "GET /v3/marketing/lists/{id}/contacts/count",
    "DELETE /v3/marketing/lists/{id}/contacts",
    "PUT /v3/marketing/contacts",
    "POST /v3/marketing/contacts/search/emails",
    "POST /v3/marketing/contacts/batch",
    "GET /v3/marketing/contacts/imports/{id}",
    "POST /v3/marketing/contacts/exports",
    "GET /v3/marketing/contacts/exports/{id}",
}


def _run_every_operation(client: SendGridClient, sandbox: SandboxServer) -> None:
    """Each public operation once, including the error paths that send extra requests."""
    sandbox.admin.create_lists(["older one", "older two"])
    people = [{"email": f"member{i}@example.com", "external_id": f"crm-{i}"} for i in range(6)]
    people[0]["alternate_emails"] = ["member0.alt@example.com"]  # type: ignore[assignment]
    ids = sandbox.admin.add_contacts(people)
    assert client.check_connection().ok
    target = client.create_list("contract target")
    assert client.find_list("contract target") == target
    assert client.get_list(target.id).name == "contract target"
    lookup = client.search_emails(
        ["member0.alt@example.com", *[p["email"] for p in people[1:]], "odd@exa_mple.com"]
    )
    assert lookup.invalid == {"odd@exa_mple.com"}  # the 400 and the bisection are in the log
    jobs = client.add_to_list(target.id, lookup.found.values())
    assert all(job.finished for job in client.wait_for_jobs(jobs, poll_s=0.01).values())
    assert client.list_count(target.id) == 6
    assert len(client.contacts_by_ids(ids)) == 6
    removal = client.remove_from_list(target.id, [ids[0], str(uuid.uuid4())])  # one stale id
    assert len(removal.stale_ids) == 1
    for file_type in ("csv", "json"):
        assert len(client.export_contacts([target.id], file_type, poll_s=0.01)) >= 5


def test_every_request_the_client_sends_matches_the_documents(
    sandbox: SandboxServer, sg_key: str
) -> None:
    client = SendGridClient(sg_key, sandbox.url, timeout_s=5, backoff=0.001, lists_page_size=2)
    _run_every_operation(client, sandbox)
    log = sandbox.admin.request_log()
    assert {entry["endpoint"] for entry in log} == CLIENT_ENDPOINTS  # every operation covered
    for entry in log:
        validate_request(entry["method"], entry["path"], entry["body"], entry["query"])
    statuses = {entry["status"] for entry in log}
    assert {400, 404} <= statuses  # the error paths were exercised, and validated too
