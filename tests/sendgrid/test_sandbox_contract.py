"""Every endpoint the sandbox serves, called through the real ``sendgrid`` client, with every
request body checked against SendGrid's OpenAPI documents and every answer too."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sendgrid

from tests.sendgrid.contract import ContractViolation, validate_request, validate_response
from tests.sendgrid.helpers import call
from workbench.destinations.sendgrid.sandbox import READ_SCOPE, SandboxServer
from workbench.destinations.sendgrid.sandbox.routes import API_ROUTES


def exchange(
    sg: sendgrid.SendGridAPIClient,
    method: str,
    path: str,
    body: Any = None,
    query: dict | None = None,
) -> tuple[int, Any]:
    """Validate the request, send it, validate the answer; returns (status, body)."""
    validate_request(method, path, body, query)
    status, answer, headers = call(sg, method, path, body, query)
    validate_response(method, path, status, answer)
    assert "X-RateLimit-Remaining" in headers
    return status, answer


def test_every_endpoint_answers_in_the_documented_shapes(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    sg = sendgrid_client
    assert exchange(sg, "GET", "/v3/scopes")[0] == 200
    status, created = exchange(sg, "POST", "/v3/marketing/lists", {"name": "contract"})
    assert status == 201
    lid, lpath = created["id"], f"/v3/marketing/lists/{created['id']}"
    sandbox.admin.create_lists(["second", "third"])
    status, page = exchange(sg, "GET", "/v3/marketing/lists", query={"page_size": 2})
    assert status == 200 and "next" in page["_metadata"]
    assert exchange(sg, "PATCH", lpath, {"name": "contract-2"})[0] == 200
    ids = sandbox.admin.add_contacts(
        [
            {
                "email": "ann@example.com",
                "alternate_emails": ["ann@work.example.com"],
                "external_id": "crm-1",
                "first_name": "Ann",
            },
            {"email": "bob@example.com"},
        ],
        list_ids=[lid],
    )
    assert exchange(sg, "GET", lpath, query={"contact_sample": "true"})[0] == 200
    assert exchange(sg, "GET", f"{lpath}/contacts/count")[1]["contact_count"] == 2
    upsert = {"list_ids": [lid], "contacts": [{"email": "ann@example.com", "external_id": "crm-1"}]}
    status, job = exchange(sg, "PUT", "/v3/marketing/contacts", upsert)
    assert status == 202
    assert exchange(sg, "GET", f"/v3/marketing/contacts/imports/{job['job_id']}")[0] == 200
    emails = {"emails": ["ANN@work.example.com", "nobody@example.com"]}
    assert exchange(sg, "POST", "/v3/marketing/contacts/search/emails", emails)[0] == 200
    by_id = {"identifiers": ["crm-1"]}
    path = "/v3/marketing/contacts/search/identifiers/external_id"
    assert exchange(sg, "POST", path, by_id)[0] == 200
    assert exchange(sg, "POST", "/v3/marketing/contacts/batch", {"ids": ids})[0] == 200
    assert exchange(sg, "GET", f"/v3/marketing/contacts/{ids[0]}")[0] == 200
    assert exchange(sg, "GET", "/v3/marketing/contacts/count")[1]["contact_count"] == 2
    status, export = exchange(
        sg, "POST", "/v3/marketing/contacts/exports", {"list_ids": [lid], "file_type": "json"}
    )
    assert status == 202
    assert (
        exchange(sg, "GET", f"/v3/marketing/contacts/exports/{export['id']}")[1]["status"]
        == "ready"
    )
    query = {"contact_ids": ids[1]}
    assert exchange(sg, "DELETE", f"{lpath}/contacts", query=query)[0] == 202
    assert exchange(sg, "DELETE", lpath, query={"delete_contacts": "true"})[0] == 200
    other = sandbox.admin.create_list("plain")
    assert exchange(sg, "DELETE", f"/v3/marketing/lists/{other}")[0] == 204
    served = {entry["endpoint"] for entry in sandbox.admin.request_log()}
    assert served == {route.endpoint for route in API_ROUTES}


def test_error_answers_match_the_documents_too(sandbox: SandboxServer, sendgrid_client) -> None:
    sg, missing = sendgrid_client, "00000000-0000-4000-8000-000000000000"
    lid = sandbox.admin.create_list("errors")
    cases = [
        ("GET", f"/v3/marketing/lists/{missing}", None, None, 404),
        ("PATCH", f"/v3/marketing/lists/{missing}", {"name": "x"}, None, 404),
        ("DELETE", f"/v3/marketing/lists/{missing}", None, None, 404),
        ("GET", f"/v3/marketing/lists/{missing}/contacts/count", None, None, 404),
        ("DELETE", f"/v3/marketing/lists/{lid}/contacts", None, {"contact_ids": missing}, 404),
        ("POST", "/v3/marketing/lists", {"name": ""}, None, 400),
        ("PUT", "/v3/marketing/contacts", {"contacts": [{"email": "not-an-address"}]}, None, 400),
        ("POST", "/v3/marketing/contacts/search/emails", {"emails": ["x@example.com"]}, None, 404),
        ("POST", "/v3/marketing/contacts/search/emails", {"emails": ["bad@"]}, None, 400),
        ("GET", "/v3/marketing/lists", None, {"page_size": "0"}, 400),
        (
            "POST",
            "/v3/marketing/contacts/search/identifiers/external_id",
            {"identifiers": ["z"]},
            None,
            404,
        ),
        ("GET", f"/v3/marketing/contacts/imports/{missing}", None, None, 404),
        ("GET", f"/v3/marketing/contacts/exports/{missing}", None, None, 404),
        ("GET", f"/v3/marketing/contacts/{missing}", None, None, 404),
    ]
    deliberately_invalid = {400}  # these requests break the documented request schemas
    for method, path, body, query, expected in cases:
        if expected not in deliberately_invalid:
            validate_request(method, path, body, query)
        status, answer, _ = call(sg, method, path, body, query)
        assert status == expected, (method, path, answer)
        validate_response(method, path, status, answer)


def test_auth_and_limit_errors_match_the_documents(sandbox: SandboxServer) -> None:
    stranger = sendgrid.SendGridAPIClient("SG.unknown", host=sandbox.url)
    for path in ("/v3/scopes", "/v3/marketing/lists", "/v3/marketing/contacts/count"):
        status, body, _ = call(stranger, "GET", path)
        assert status == 401
        validate_response("GET", path, status, body)
    sandbox.admin.add_key("SG.reader", [READ_SCOPE])
    reader = sendgrid.SendGridAPIClient("SG.reader", host=sandbox.url)
    status, body, _ = call(reader, "POST", "/v3/marketing/lists", {"name": "no"})
    assert status == 403
    validate_response("POST", "/v3/marketing/lists", status, body)
    sandbox.admin.set_faults(rate_limits={"GET /v3/scopes": 1})
    call(reader, "GET", "/v3/scopes")
    status, body, _ = call(reader, "GET", "/v3/scopes")
    assert status == 429
    validate_response("GET", "/v3/scopes", status, body)


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("POST", "/v3/marketing/lists", 201, {"id": 5, "name": "x"}),
        ("GET", "/v3/marketing/lists", 200, {"result": {"not": "an array"}}),
        ("GET", "/v3/marketing/lists", 201, {"result": []}),
        ("GET", "/v3/scopes", 200, {"scope": []}),
        ("DELETE", "/v3/marketing/lists/abc", 204, {"job_id": "x"}),
        ("POST", "/v3/marketing/contacts/batch", 200, {"result": [{"id": "x"}]}),
        ("GET", "/v3/marketing/lists/abc", 401, {"errors": {"message": "no"}}),
    ],
)
def test_the_contract_rejects_answers_outside_the_documents(
    method: str, path: str, status: int, body: Any
) -> None:
    with pytest.raises(ContractViolation):
        validate_response(method, path, status, body)


@pytest.mark.parametrize(
    ("method", "path", "body", "query"),
    [
        ("PUT", "/v3/marketing/contacts", {"list_ids": ["x"]}, None),
        ("PUT", "/v3/marketing/contacts", {"contacts": []}, None),
        ("POST", "/v3/marketing/lists", {"name": "x" * 101}, None),
        ("GET", "/v3/marketing/lists", None, {"page_size": "5000"}),
        ("DELETE", "/v3/marketing/lists/abc/contacts", None, {"contact_ids": ["a", "b"]}),
        ("DELETE", "/v3/marketing/lists/abc/contacts", None, None),
        (
            "POST",
            "/v3/marketing/contacts/search/identifiers/nickname",
            {"identifiers": ["a"]},
            None,
        ),
        ("GET", "/v3/marketing/segments", None, None),
    ],
)
def test_the_contract_rejects_requests_outside_the_documents(
    method: str, path: str, body: Any, query: Any
) -> None:
    with pytest.raises(ContractViolation):
        validate_request(method, path, body, query)


def test_the_quirks_are_handled_narrowly() -> None:
    error = {"errors": [{"field": None, "message": "not found"}]}
    validate_response("GET", "/v3/marketing/lists/abc", 404, error)
    validate_response("GET", "/v3/marketing/lists/abc", 404, [{"message": "not found"}])
    with pytest.raises(ContractViolation):
        validate_response("GET", "/v3/marketing/lists/abc", 404, {"errors": "not found"})
    sample = {
        "id": "c3445f88-5c69-4237-86e6-9ec9de958050",
        "list_ids": [],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    for shaped in (sample, [sample]):
        validate_response("GET", "/v3/marketing/lists/abc", 200, {"contact_sample": shaped})
    with pytest.raises(ContractViolation):
        validate_response("GET", "/v3/marketing/lists/abc", 200, {"contact_sample": [{"id": 1}]})
    assert json.dumps(error)  # the shape the sandbox sends for every error
