"""The SendGrid client's operations over real HTTP against the sandbox (the real ``sendgrid``
package talking to a loopback server): lists, lookups, upserts, removals, jobs, exports."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable

import pytest

from workbench.destinations.sendgrid.client import SendGridClient
from workbench.destinations.sendgrid.models import Contact
from workbench.destinations.sendgrid.sandbox import SandboxServer
from workbench.errors import InvalidRequest, RemoteNotFound

IDENTIFIER_KEYS = {"email", "phone_number_id", "external_id", "anonymous_id"}
UPSERT = "PUT /v3/marketing/contacts"


@pytest.fixture
def client(sandbox: SandboxServer, sg_key: str) -> SendGridClient:
    """A client on the sandbox with tiny backoffs (no real waiting in tests)."""
    return SendGridClient(sg_key, sandbox.url, timeout_s=5, backoff=0.001, backoff_cap=0.01)


@pytest.fixture
def make_client(sandbox: SandboxServer, sg_key: str) -> Callable[..., SendGridClient]:
    """Build a sandbox client with other limits (page size, batch limits)."""

    def build(**options: object) -> SendGridClient:
        return SendGridClient(sg_key, sandbox.url, timeout_s=5, backoff=0.001, **options)  # type: ignore[arg-type]

    return build


def _people(count: int, seed: int = 11) -> list[dict[str, str]]:
    """Seed contacts with names (fields the upsert must never send) and external ids."""
    rng = random.Random(seed)
    return [
        {
            "email": f"person{i}.{rng.randrange(10**6)}@example.com",
            "first_name": f"Name{i}",
            "external_id": f"ext-{i}",
        }
        for i in range(count)
    ]


def _logged(sandbox: SandboxServer, endpoint: str) -> list[dict]:
    return [r for r in sandbox.admin.request_log() if r["endpoint"] == endpoint]


def test_scopes_and_a_working_connection(client: SendGridClient) -> None:
    assert {"marketing.read", "marketing.write"} <= client.scopes()
    check = client.check_connection()
    assert check.ok and check.missing == ()


def test_a_key_without_write_permission_is_named(sandbox: SandboxServer) -> None:
    key = "SG.read-only-key-for-the-check.fake0123456789"
    sandbox.admin.add_key(key, ["marketing.read"])
    check = SendGridClient(key, sandbox.url, backoff=0.001).check_connection()
    assert not check.ok
    assert check.missing == ("marketing.write",)
    assert "marketing.write" in check.message and "Marketing full access" in check.message


def test_lists_page_through_every_page(
    sandbox: SandboxServer, make_client: Callable[..., SendGridClient]
) -> None:
    names = [f"list {i:03d}" for i in range(60)]
    for name in names:
        sandbox.admin.create_list(name)
    client = make_client(lists_page_size=25)
    assert [sg_list.name for sg_list in client.lists()] == names
    assert client.calls["GET /v3/marketing/lists"] == 3
    pages = _logged(sandbox, "GET /v3/marketing/lists")
    assert [r["query"].get("page_token") is not None for r in pages] == [False, True, True]


def test_create_find_get_and_count_a_list(sandbox: SandboxServer, client: SendGridClient) -> None:
    created = client.create_list("  VIP customers ")
    assert created.name == "VIP customers" and created.contact_count == 0
    assert client.find_list("VIP customers") == created
    assert client.find_list("nobody") is None
    assert client.get_list(created.id).name == "VIP customers"
    sandbox.admin.add_contacts(_people(3), list_ids=[created.id])
    assert client.list_count(created.id) == 3


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_bad_list_name_is_refused_before_any_call(client: SendGridClient, name: str) -> None:
    with pytest.raises(InvalidRequest, match="1 to 100 characters"):
        client.create_list(name)
    assert client.stats.total_calls == 0


def test_get_list_of_an_unknown_id_is_remote_not_found(client: SendGridClient) -> None:
    with pytest.raises(RemoteNotFound):
        client.get_list(str(uuid.uuid4()))


def test_search_finds_primary_and_alternate_emails_case_insensitively(
    sandbox: SandboxServer, client: SendGridClient
) -> None:
    sandbox.admin.add_contacts(
        [
            {"email": "ann@example.com", "alternate_emails": ["ann.old@example.com"]},
            {"email": "bob@example.com", "phone_number_id": "pn-1"},
        ]
    )
    result = client.search_emails(
        [" ANN@Example.com", "ann.old@example.com", "Bob@example.com", "who@example.com", "nope"]
    )
    assert set(result.found) == {"ann@example.com", "ann.old@example.com", "bob@example.com"}
    assert result.found["ann.old@example.com"].email == "ann@example.com"  # maps to the contact
    assert result.found["ann.old@example.com"].id == result.found["ann@example.com"].id
    assert result.found["bob@example.com"].phone_number_id == "pn-1"
    assert result.not_found == {"who@example.com"}
    assert result.invalid == {"nope"}  # never sent: one bad address fails a whole search


def test_a_search_that_matches_nobody_is_not_an_error(client: SendGridClient) -> None:
    result = client.search_emails(["x1@example.com", "x2@example.com"])
    assert result.found == {} and result.not_found == {"x1@example.com", "x2@example.com"}


def test_an_address_only_sendgrid_refuses_is_isolated_and_the_rest_found(
    sandbox: SandboxServer, client: SendGridClient
) -> None:
    people = _people(40)
    sandbox.admin.add_contacts(people)
    odd = "someone@exa_mple.com"  # passes our shape check, refused by SendGrid (400)
    result = client.search_emails([p["email"] for p in people] + [odd])
    assert result.invalid == {odd}
    assert set(result.found) == {p["email"] for p in people}
    searches = _logged(sandbox, "POST /v3/marketing/contacts/search/emails")
    assert any(r["status"] == 400 for r in searches)
    assert len(searches) <= 2 * 7 + 1  # bisection: about 2 log2(41) calls, not 41


def test_searches_go_in_batches_of_at_most_100(
    sandbox: SandboxServer, client: SendGridClient
) -> None:
    emails = [f"nobody{i}@example.com" for i in range(250)]
    assert client.search_emails(emails).not_found == set(emails)
    sizes = [
        len(r["body"]["emails"])
        for r in _logged(sandbox, "POST /v3/marketing/contacts/search/emails")
    ]
    assert sorted(sizes) == [50, 100, 100]


def test_contacts_by_ids_reads_batches_and_skips_unknown_ids(
    sandbox: SandboxServer, client: SendGridClient
) -> None:
    ids = sandbox.admin.add_contacts(_people(130))
    found = client.contacts_by_ids([*ids, str(uuid.uuid4())])
    assert {c.id for c in found} == set(ids)
    assert client.calls["POST /v3/marketing/contacts/batch"] == 2


def test_add_to_list_sends_only_identifiers_of_looked_up_contacts(
    sandbox: SandboxServer, make_client: Callable[..., SendGridClient]
) -> None:
    people = _people(7)
    people[0]["alternate_emails"] = ["first.alt@example.com"]  # type: ignore[assignment]
    sandbox.admin.add_contacts(people)
    list_id = sandbox.admin.create_list("target")
    client = make_client(upsert_max_contacts=3)
    wanted = ["first.alt@example.com"] + [p["email"] for p in people[1:]] + ["ghost@example.com"]
    lookup = client.search_emails(wanted)
    job_ids = client.add_to_list(list_id, lookup.found.values())
    assert len(job_ids) == 3  # 7 contacts in batches of at most 3
    bodies = [r["body"] for r in _logged(sandbox, UPSERT)]
    sent = [c for body in bodies for c in body["contacts"]]
    assert all(set(c) <= IDENTIFIER_KEYS for c in sent)  # no names, no alternate emails
    assert {c["email"] for c in sent} == {p["email"] for p in people}  # primary emails only
    assert all(body["list_ids"] == [list_id] for body in bodies)
    jobs = client.wait_for_jobs(job_ids, poll_s=0.01, timeout_s=5)
    assert all(j.status == "completed" and j.created == 0 for j in jobs.values())
    assert sandbox.admin.list_members(list_id) == {p["email"] for p in people}
    assert len(sandbox.admin.contacts()) == 7  # nobody was created


def test_upsert_batches_stay_within_the_byte_limit(
    sandbox: SandboxServer, make_client: Callable[..., SendGridClient]
) -> None:
    people = _people(30)
    sandbox.admin.add_contacts(people)
    list_id = sandbox.admin.create_list("bytes")
    client = make_client(upsert_max_bytes=600)
    job_ids = client.add_to_list(
        list_id, client.search_emails([p["email"] for p in people]).found.values()
    )
    assert len(job_ids) > 1
    puts = _logged(sandbox, UPSERT)
    assert all(len(json.dumps(r["body"]).encode()) <= 600 for r in puts)
    assert sum(len(r["body"]["contacts"]) for r in puts) == 30
    sandbox.admin.flush()
    assert sandbox.admin.list_members(list_id) == {p["email"] for p in people}


def test_add_to_list_refuses_contacts_sendgrid_did_not_return(client: SendGridClient) -> None:
    with pytest.raises(InvalidRequest, match="search_emails first"):
        client.add_to_list(str(uuid.uuid4()), [Contact(id="", email="new@example.com")])
    assert client.stats.total_calls == 0


def test_remove_from_list_batches_ids_into_one_query_value(
    sandbox: SandboxServer, client: SendGridClient
) -> None:
    list_id = sandbox.admin.create_list("big")
    ids = sandbox.admin.add_contacts(_people(150), list_ids=[list_id])
    result = client.remove_from_list(list_id, ids[:120])
    assert len(result) == 2 and result.stale_ids == set()
    queries = [
        r["query"]["contact_ids"]
        for r in _logged(sandbox, "DELETE /v3/marketing/lists/{id}/contacts")
    ]
    assert all(len(q) == 1 for q in queries)  # one comma-joined value, not repeated keys
    assert sorted(len(q[0].split(",")) for q in queries) == [20, 100]
    client.wait_for_jobs(result, poll_s=0.01, timeout_s=5)
    assert len(sandbox.admin.list_members(list_id)) == 30
    assert len(sandbox.admin.contacts()) == 150  # removal never deletes contacts


def test_stale_ids_are_reported_and_the_rest_removed(
    sandbox: SandboxServer, client: SendGridClient
) -> None:
    list_id = sandbox.admin.create_list("stale")
    people = _people(5)
    ids = sandbox.admin.add_contacts(people, list_ids=[list_id])
    stale = [str(uuid.uuid4()), str(uuid.uuid4())]
    result = client.remove_from_list(list_id, [*ids[:3], *stale])
    assert result.stale_ids == set(stale)
    assert len(result.job_ids) == 1
    sandbox.admin.flush()
    assert sandbox.admin.list_members(list_id) == {p["email"] for p in people[3:]}


def test_removing_from_a_deleted_list_says_the_list_was_deleted(
    sandbox: SandboxServer, client: SendGridClient
) -> None:
    list_id = sandbox.admin.create_list("doomed")
    ids = sandbox.admin.add_contacts(_people(2), list_ids=[list_id])
    sandbox.admin.delete_list(list_id)
    with pytest.raises(RemoteNotFound, match="was deleted"):
        client.remove_from_list(list_id, ids)


def test_wait_for_jobs_polls_until_finished(sandbox: SandboxServer, client: SendGridClient) -> None:
    sandbox.admin.set_faults(job_delay_s=0.2)
    sandbox.admin.add_contacts(_people(2))
    list_id = sandbox.admin.create_list("slow")
    job_ids = client.add_to_list(
        list_id, client.search_emails([p["email"] for p in _people(2)]).found.values()
    )
    assert client.job(job_ids[0]).status == "pending"
    jobs = client.wait_for_jobs(job_ids, poll_s=0.05, timeout_s=5)
    assert jobs[job_ids[0]].finished and jobs[job_ids[0]].updated == 2


def test_an_unknown_job_is_remote_not_found(client: SendGridClient) -> None:
    with pytest.raises(RemoteNotFound):
        client.job(str(uuid.uuid4()))


@pytest.mark.parametrize("file_type", ["csv", "json"])
def test_export_reads_a_lists_real_membership(
    sandbox: SandboxServer, client: SendGridClient, file_type: str
) -> None:
    sandbox.admin.set_faults(job_delay_s=0.1)
    list_id = sandbox.admin.create_list("exported")
    people = _people(12)
    ids = sandbox.admin.add_contacts(people[:8], list_ids=[list_id])
    sandbox.admin.add_contacts(people[8:])
    contacts = client.export_contacts([list_id], file_type, poll_s=0.05, timeout_s=5)
    assert {(c.id, c.email) for c in contacts} == {
        (i, p["email"]) for i, p in zip(ids, people[:8], strict=True)
    }
    assert all(list_id in c.list_ids and c.external_id for c in contacts)
    everyone = client.export_contacts(None, file_type, poll_s=0.05, timeout_s=5)
    assert len(everyone) == 12
