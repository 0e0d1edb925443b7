"""The sandbox's contacts: upsert jobs and their counts, lookups, removals, list deletion."""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.sendgrid.helpers import call, wait_for
from workbench.destinations.sendgrid.sandbox import SandboxServer

UPSERT = "/v3/marketing/contacts"
SEARCH = "/v3/marketing/contacts/search/emails"


def job_of(sg, body: dict) -> str:
    status, answer, _ = call(sg, "PUT", UPSERT, body)
    assert status == 202, answer
    return answer["job_id"]


def job_status(sg, job_id: str) -> dict:
    return call(sg, "GET", f"/v3/marketing/contacts/imports/{job_id}")[1]


def test_upsert_creates_unknown_contacts_and_counts_them(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    lid = sandbox.admin.create_list("seg")
    sandbox.admin.add_contacts([{"email": "known@example.com", "first_name": "Kim"}])
    contacts = [{"email": "KNOWN@example.com"}, {"email": "stranger@example.com"}]
    job = job_status(
        sendgrid_client, job_of(sendgrid_client, {"list_ids": [lid], "contacts": contacts})
    )
    assert job["status"] == "completed" and job["job_type"] == "upsert"
    counts = {k: job["results"][k] for k in ("requested_count", "created_count", "updated_count")}
    assert counts == {"requested_count": 2, "created_count": 1, "updated_count": 1}
    assert sandbox.admin.list_members(lid) == {"known@example.com", "stranger@example.com"}
    kim = next(c for c in sandbox.admin.contacts() if c["email"] == "known@example.com")
    assert kim["first_name"] == "Kim"  # omitted fields stay as they were


def test_list_ids_are_additive(sandbox: SandboxServer, sendgrid_client) -> None:
    first, second = sandbox.admin.create_lists(["first", "second"])
    sandbox.admin.add_contacts([{"email": "a@example.com"}], list_ids=[first])
    job_of(sendgrid_client, {"list_ids": [second], "contacts": [{"email": "a@example.com"}]})
    (contact,) = sandbox.admin.contacts()
    assert contact["list_ids"] == [first, second]


def test_a_typo_in_list_ids_adds_nobody_to_any_list(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    lid = sandbox.admin.create_list("seg")
    sandbox.admin.add_contacts([{"email": "a@example.com"}])
    job = job_of(sendgrid_client, {"lists_ids": [lid], "contacts": [{"email": "a@example.com"}]})
    assert job_status(sendgrid_client, job)["results"]["updated_count"] == 1
    assert sandbox.admin.list_members(lid) == set()


def test_upsert_identifies_contacts_by_external_id(sandbox: SandboxServer, sendgrid_client) -> None:
    lid = sandbox.admin.create_list("seg")
    sandbox.admin.add_contacts([{"email": "a@example.com", "external_id": "crm-1"}])
    job = job_of(sendgrid_client, {"list_ids": [lid], "contacts": [{"external_id": "crm-1"}]})
    assert job_status(sendgrid_client, job)["results"]["created_count"] == 0
    assert sandbox.admin.list_members(lid) == {"a@example.com"}


@pytest.mark.parametrize(
    "body",
    [
        {"contacts": []},
        {"contacts": [{"first_name": "no email"}]},
        {"contacts": [{"email": "not-an-address"}]},
        {"contacts": [{"email": "a@example.com"}] * 30_001},
    ],
)
def test_bad_upserts_are_refused_at_once(sendgrid_client, body: dict) -> None:
    assert call(sendgrid_client, "PUT", UPSERT, body)[0] == 400


def test_an_upsert_over_6_mb_gets_413(sendgrid_client) -> None:
    padding = "x" * 45
    contacts = [{"email": f"user{i}@example.com", "first_name": padding} for i in range(70_000)]
    status, body, _ = call(sendgrid_client, "PUT", UPSERT, {"contacts": contacts})
    assert status == 413 and "bytes" in body["errors"][0]["message"]


def test_unknown_list_in_upsert_is_404(sendgrid_client) -> None:
    body = {
        "list_ids": ["00000000-0000-4000-8000-000000000000"],
        "contacts": [{"email": "a@example.com"}],
    }
    assert call(sendgrid_client, "PUT", UPSERT, body)[0] == 404


def test_email_search_rules(sandbox: SandboxServer, sendgrid_client) -> None:
    sandbox.admin.add_contacts(
        [{"email": "Ann@Example.com", "alternate_emails": ["ann@work.example.com"]}]
    )
    status, body, _ = call(
        sendgrid_client, "POST", SEARCH, {"emails": ["ANN@WORK.example.com", "x@example.com"]}
    )
    assert status == 200
    assert body["result"]["ann@work.example.com"]["contact"]["email"] == "ann@example.com"
    assert body["result"]["x@example.com"] == {"error": "contact not found"}
    assert call(sendgrid_client, "POST", SEARCH, {"emails": ["ann@example.com"]})[0] == 200
    assert call(sendgrid_client, "POST", SEARCH, {"emails": ["nobody@example.com"]})[0] == 404
    one_bad = {"emails": ["ann@example.com", "broken@"]}
    assert call(sendgrid_client, "POST", SEARCH, one_bad)[0] == 400
    too_many = {"emails": [f"u{i}@example.com" for i in range(101)]}
    assert call(sendgrid_client, "POST", SEARCH, too_many)[0] == 400


def test_identifier_search_and_batch(sandbox: SandboxServer, sendgrid_client) -> None:
    ids = sandbox.admin.add_contacts([{"email": "a@example.com", "phone_number_id": "p-1"}])
    path = "/v3/marketing/contacts/search/identifiers/phone_number_id"
    status, body, _ = call(sendgrid_client, "POST", path, {"identifiers": ["p-1", "p-2"]})
    assert status == 200 and body["result"]["p-1"]["contact"]["id"] == ids[0]
    assert body["result"]["p-2"] == {"error": "contact not found"}
    wrong_type = "/v3/marketing/contacts/search/identifiers/nickname"
    assert call(sendgrid_client, "POST", wrong_type, {"identifiers": ["a"]})[0] == 400
    status, body, _ = call(
        sendgrid_client, "POST", "/v3/marketing/contacts/batch", {"ids": [*ids, "gone"]}
    )
    assert [c["id"] for c in body["result"]] == ids
    assert (
        call(sendgrid_client, "POST", "/v3/marketing/contacts/batch", {"ids": ["x"] * 101})[0]
        == 400
    )


def test_removal_is_a_job_and_a_stale_id_makes_the_whole_call_404(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    lid = sandbox.admin.create_list("seg")
    ids = sandbox.admin.add_contacts(
        [{"email": "a@example.com"}, {"email": "b@example.com"}], list_ids=[lid]
    )
    path = f"/v3/marketing/lists/{lid}/contacts"
    stale = "00000000-0000-4000-8000-000000000000"
    status, _, _ = call(sendgrid_client, "DELETE", path, query={"contact_ids": f"{ids[0]},{stale}"})
    assert status == 404
    assert sandbox.admin.list_members(lid) == {"a@example.com", "b@example.com"}
    status, body, _ = call(sendgrid_client, "DELETE", path, query={"contact_ids": ids[0]})
    assert status == 202 and body["job_id"]
    assert sandbox.admin.list_members(lid) == {"b@example.com"}
    assert len(sandbox.admin.contacts()) == 2  # removed from the list, not from the account
    missing_list = "/v3/marketing/lists/00000000-0000-4000-8000-000000000000/contacts"
    assert call(sendgrid_client, "DELETE", missing_list, query={"contact_ids": ids[1]})[0] == 404


def test_contact_ids_as_repeated_keys_are_refused(sandbox: SandboxServer, sendgrid_client) -> None:
    lid = sandbox.admin.create_list("seg")
    ids = sandbox.admin.add_contacts(
        [{"email": "a@example.com"}, {"email": "b@example.com"}], list_ids=[lid]
    )
    status, _, _ = call(
        sendgrid_client, "DELETE", f"/v3/marketing/lists/{lid}/contacts", query={"contact_ids": ids}
    )
    assert status == 400


def test_deleting_a_list_keeps_or_deletes_its_contacts(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    keep, drop = sandbox.admin.create_lists(["keep", "drop"])
    sandbox.admin.add_contacts([{"email": "k@example.com"}], list_ids=[keep])
    sandbox.admin.add_contacts([{"email": "d@example.com"}], list_ids=[drop])
    assert call(sendgrid_client, "DELETE", f"/v3/marketing/lists/{keep}")[0] == 204
    assert {c["email"] for c in sandbox.admin.contacts()} == {"k@example.com", "d@example.com"}
    status, body, _ = call(
        sendgrid_client, "DELETE", f"/v3/marketing/lists/{drop}", query={"delete_contacts": "true"}
    )
    assert status == 200
    assert job_status(sendgrid_client, body["job_id"])["results"]["deleted_count"] == 1
    assert {c["email"] for c in sandbox.admin.contacts()} == {"k@example.com"}


def test_jobs_stay_pending_until_the_delay_has_passed(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    sandbox.admin.set_faults(job_delay_s=0.3)
    lid = sandbox.admin.create_list("seg")
    job = job_of(sendgrid_client, {"list_ids": [lid], "contacts": [{"email": "a@example.com"}]})
    pending = job_status(sendgrid_client, job)
    assert pending["status"] == "pending" and "finished_at" not in pending
    assert sandbox.admin.list_members(lid) == set()
    done = wait_for(lambda: (s := job_status(sendgrid_client, job))["status"] == "completed" and s)
    assert done["results"]["created_count"] == 1 and done["finished_at"]
    assert sandbox.admin.list_members(lid) == {"a@example.com"}


def test_failing_jobs_write_nothing_and_say_so(sandbox: SandboxServer, sendgrid_client) -> None:
    lid = sandbox.admin.create_list("seg")
    sandbox.admin.set_faults(fail_next_jobs=1)
    failed = job_status(
        sendgrid_client,
        job_of(sendgrid_client, {"list_ids": [lid], "contacts": [{"email": "a@example.com"}]}),
    )
    assert failed["status"] == "failed" and failed["results"]["errored_count"] == 1
    assert failed["results"]["errors_url"].startswith(sandbox.url)
    assert sandbox.admin.list_members(lid) == set()
    ok = job_status(
        sendgrid_client,
        job_of(sendgrid_client, {"list_ids": [lid], "contacts": [{"email": "a@example.com"}]}),
    )
    assert ok["status"] == "completed"


def test_a_contact_on_250_lists_errors_in_the_job(sandbox: SandboxServer, sendgrid_client) -> None:
    lists = sandbox.admin.create_lists([f"l{i}" for i in range(251)])
    sandbox.admin.add_contacts([{"email": "busy@example.com"}], list_ids=lists[:250])
    body = {
        "list_ids": [lists[250]],
        "contacts": [{"email": "busy@example.com"}, {"email": "new@example.com"}],
    }
    job = job_status(sendgrid_client, job_of(sendgrid_client, body))
    assert job["status"] == "errored"
    assert (job["results"]["errored_count"], job["results"]["created_count"]) == (1, 1)
    assert sandbox.admin.list_members(lists[250]) == {"new@example.com"}


def test_a_big_job_is_finished_by_the_background_worker(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    lid = sandbox.admin.create_list("big")
    contacts = [{"email": f"user{i:04d}@example.com"} for i in range(1_200)]
    job = job_of(sendgrid_client, {"list_ids": [lid], "contacts": contacts})
    done = wait_for(
        lambda: (s := job_status(sendgrid_client, job))["status"] != "pending" and s, timeout_s=20
    )
    assert done["status"] == "completed" and done["results"]["created_count"] == 1_200
    assert len(sandbox.admin.list_members(lid)) == 1_200


def test_parallel_upserts_all_land(sandbox: SandboxServer, sendgrid_client) -> None:
    lid = sandbox.admin.create_list("parallel")

    def upsert(batch: int) -> str:
        contacts = [{"email": f"b{batch}-{i}@example.com"} for i in range(20)]
        return job_of(sendgrid_client, {"list_ids": [lid], "contacts": contacts})

    with ThreadPoolExecutor(max_workers=6) as pool:
        jobs = list(pool.map(upsert, range(12)))
    statuses = [job_status(sendgrid_client, j) for j in jobs]
    assert {s["status"] for s in statuses} == {"completed"}
    assert sum(s["results"]["created_count"] for s in statuses) == 240
    assert len(sandbox.admin.list_members(lid)) == 240


def test_an_identifier_owned_by_another_contact_errors_that_row(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    sandbox.admin.add_contacts([{"email": "a@example.com", "external_id": "crm-1"}])
    body = {
        "contacts": [{"email": "b@example.com", "external_id": "crm-1"}, {"email": "c@example.com"}]
    }
    job = job_status(sendgrid_client, job_of(sendgrid_client, body))
    assert job["status"] == "errored"
    assert (job["results"]["errored_count"], job["results"]["created_count"]) == (1, 1)
    with urllib.request.urlopen(job["results"]["errors_url"], timeout=5) as response:
        errors = response.read().decode()
    assert "b@example.com" in errors and "external_id" in errors
