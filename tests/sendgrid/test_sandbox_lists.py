"""The sandbox's keys and lists, through the real ``sendgrid`` client over loopback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import sendgrid

from tests.sendgrid.helpers import call
from workbench.destinations.sendgrid.sandbox import READ_SCOPE, SandboxServer


def test_unknown_key_gets_401_in_sendgrids_error_shape(sandbox: SandboxServer) -> None:
    stranger = sendgrid.SendGridAPIClient("SG.not-a-key", host=sandbox.url)
    status, body, _ = call(stranger, "GET", "/v3/marketing/lists")
    assert status == 401
    assert body == {"errors": [{"field": None, "message": "authorization required"}]}


def test_revoked_key_gets_401(sandbox: SandboxServer, sendgrid_client, sg_key: str) -> None:
    assert call(sendgrid_client, "GET", "/v3/scopes")[0] == 200
    sandbox.admin.revoke_key(sg_key)
    assert call(sendgrid_client, "GET", "/v3/scopes")[0] == 401


def test_read_only_key_can_read_but_not_write(sandbox: SandboxServer) -> None:
    sandbox.admin.add_key("SG.read-only", [READ_SCOPE])
    reader = sendgrid.SendGridAPIClient("SG.read-only", host=sandbox.url)
    assert call(reader, "GET", "/v3/scopes")[1] == {"scopes": [READ_SCOPE]}
    assert call(reader, "GET", "/v3/marketing/lists")[0] == 200
    status, body, _ = call(reader, "POST", "/v3/marketing/lists", {"name": "x"})
    assert status == 403
    assert "marketing.write" in body["errors"][0]["message"]


def test_create_rename_get_and_delete_a_list(sendgrid_client) -> None:
    status, created, _ = call(sendgrid_client, "POST", "/v3/marketing/lists", {"name": "vip"})
    assert status == 201 and created["name"] == "vip" and created["contact_count"] == 0
    path = f"/v3/marketing/lists/{created['id']}"
    assert call(sendgrid_client, "PATCH", path, {"name": "vip-2"})[1]["name"] == "vip-2"
    assert call(sendgrid_client, "GET", path)[1]["name"] == "vip-2"
    assert call(sendgrid_client, "DELETE", path)[0] == 204
    assert call(sendgrid_client, "GET", path)[0] == 404


def test_duplicate_and_empty_list_names_are_refused(sendgrid_client) -> None:
    assert call(sendgrid_client, "POST", "/v3/marketing/lists", {"name": "a"})[0] == 201
    assert call(sendgrid_client, "POST", "/v3/marketing/lists", {"name": "a"})[0] == 400
    assert call(sendgrid_client, "POST", "/v3/marketing/lists", {"name": ""})[0] == 400


def test_paging_follows_absolute_next_links_until_the_end(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    made = [sandbox.admin.create_list(f"list-{i:02d}") for i in range(7)]
    seen, token, pages = [], None, 0
    while True:
        query = {"page_size": 3, **({"page_token": token} if token else {})}
        status, body, _ = call(sendgrid_client, "GET", "/v3/marketing/lists", query=query)
        assert status == 200
        pages += 1
        seen += [item["id"] for item in body["result"]]
        if "next" not in body["_metadata"]:
            break
        next_url = urlsplit(body["_metadata"]["next"])
        assert next_url.scheme == "http" and next_url.netloc == urlsplit(sandbox.url).netloc
        token = parse_qs(next_url.query)["page_token"][0]
    assert pages == 3 and seen == made
    assert body["_metadata"]["count"] == 7


@pytest.mark.parametrize("size", ["0", "1001", "ten"])
def test_page_size_outside_1_to_1000_is_refused(sendgrid_client, size: str) -> None:
    assert call(sendgrid_client, "GET", "/v3/marketing/lists", query={"page_size": size})[0] == 400


def test_an_account_holds_at_most_1000_lists(sandbox: SandboxServer, sendgrid_client) -> None:
    sandbox.admin.create_lists([f"l{i}" for i in range(999)])
    assert call(sendgrid_client, "POST", "/v3/marketing/lists", {"name": "the 1000th"})[0] == 201
    status, body, _ = call(sendgrid_client, "POST", "/v3/marketing/lists", {"name": "one too many"})
    assert status == 400 and "1000" in body["errors"][0]["message"]
    status, body, _ = call(sendgrid_client, "GET", "/v3/marketing/lists", query={"page_size": 1000})
    assert len(body["result"]) == 1000 and "next" not in body["_metadata"]
