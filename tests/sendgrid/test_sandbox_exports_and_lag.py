"""Exports (gzip files behind expiring pre-signed links) and the visibility lag of reads."""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.sendgrid.helpers import call, wait_for
from workbench.destinations.sendgrid.sandbox import SandboxServer

EXPORTS = "/v3/marketing/contacts/exports"


def ready_export(sg, body: dict) -> dict:
    status, started, _ = call(sg, "POST", EXPORTS, body)
    assert status == 202
    return wait_for(
        lambda: (s := call(sg, "GET", f"{EXPORTS}/{started['id']}")[1])["status"] != "pending" and s
    )


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # no API key on purpose
        return gzip.decompress(response.read())


@pytest.fixture
def seeded(sandbox: SandboxServer) -> dict[str, str]:
    lid, other = sandbox.admin.create_lists(["seg", "other"])
    sandbox.admin.add_contacts(
        [
            {"email": "a@example.com", "first_name": "Ann", "alternate_emails": ["a2@example.com"]},
            {"email": "b@example.com"},
        ],
        list_ids=[lid],
    )
    sandbox.admin.add_contacts([{"email": "c@example.com"}], list_ids=[other])
    return {"list": lid, "other": other}


def test_csv_export_of_one_list_downloads_without_a_key(sendgrid_client, seeded) -> None:
    export = ready_export(sendgrid_client, {"list_ids": [seeded["list"]], "file_type": "csv"})
    assert export["status"] == "ready" and export["contact_count"] == 2
    rows = list(csv.DictReader(io.StringIO(download(export["urls"][0]).decode())))
    assert list(rows[0])[:3] == ["EMAIL", "FIRST_NAME", "LAST_NAME"] and "CONTACT_ID" in rows[0]
    assert {r["EMAIL"] for r in rows} == {"a@example.com", "b@example.com"}
    assert next(r for r in rows if r["EMAIL"] == "a@example.com")["FIRST_NAME"] == "Ann"


def test_json_export_of_everyone_has_one_object_per_line(sendgrid_client, seeded) -> None:
    export = ready_export(sendgrid_client, {"file_type": "json"})
    lines = download(export["urls"][0]).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 3 and all(r["contact_id"] for r in records)
    assert {r["email"] for r in records} == {"a@example.com", "b@example.com", "c@example.com"}


def test_export_links_expire_and_cannot_be_forged(
    sandbox: SandboxServer, sendgrid_client, seeded
) -> None:
    sandbox.admin.set_faults(export_ttl_s=0.3)
    url = ready_export(sendgrid_client, {"file_type": "csv"})["urls"][0]
    assert download(url)
    with pytest.raises(urllib.error.HTTPError) as forged:
        download(url.replace("token=", "token=0"))
    assert forged.value.code == 403
    time.sleep(0.35)
    with pytest.raises(urllib.error.HTTPError) as expired:
        download(url)
    assert expired.value.code == 403


def test_exports_stay_pending_for_the_job_delay_and_can_fail(
    sandbox: SandboxServer, sendgrid_client, seeded
) -> None:
    sandbox.admin.set_faults(job_delay_s=0.2)
    _, started, _ = call(sendgrid_client, "POST", EXPORTS, {"file_type": "csv"})
    assert call(sendgrid_client, "GET", f"{EXPORTS}/{started['id']}")[1]["status"] == "pending"
    assert ready_export(sendgrid_client, {"file_type": "csv"})["status"] == "ready"
    sandbox.admin.set_faults(fail_next_exports=1, job_delay_s=0)
    failed = ready_export(sendgrid_client, {"file_type": "csv"})
    assert failed["status"] == "failure" and failed["message"] and "urls" not in failed


def test_reads_lag_behind_finished_writes(sandbox: SandboxServer, sendgrid_client) -> None:
    sandbox.admin.set_faults(visibility_lag_s=0.4)
    lid = sandbox.admin.create_list("seg")
    body = {"list_ids": [lid], "contacts": [{"email": "late@example.com"}]}
    job = call(sendgrid_client, "PUT", "/v3/marketing/contacts", body)[1]["job_id"]
    status = call(sendgrid_client, "GET", f"/v3/marketing/contacts/imports/{job}")[1]["status"]
    assert status == "completed"
    assert sandbox.admin.list_members(lid) == {"late@example.com"}  # the truth
    search = {"emails": ["late@example.com"]}
    assert call(sendgrid_client, "POST", "/v3/marketing/contacts/search/emails", search)[0] == 404
    count_path = f"/v3/marketing/lists/{lid}/contacts/count"
    assert call(sendgrid_client, "GET", count_path)[1]["contact_count"] == 0
    wait_for(lambda: call(sendgrid_client, "GET", count_path)[1]["contact_count"] == 1)
    assert call(sendgrid_client, "POST", "/v3/marketing/contacts/search/emails", search)[0] == 200


def test_removals_lag_too(sandbox: SandboxServer, sendgrid_client) -> None:
    lid = sandbox.admin.create_list("seg")
    (cid,) = sandbox.admin.add_contacts([{"email": "a@example.com"}], list_ids=[lid])
    sandbox.admin.set_faults(visibility_lag_s=0.3)
    call(
        sendgrid_client, "DELETE", f"/v3/marketing/lists/{lid}/contacts", query={"contact_ids": cid}
    )
    found = call(sendgrid_client, "POST", "/v3/marketing/contacts/batch", {"ids": [cid]})[1][
        "result"
    ]
    assert found[0]["list_ids"] == [lid]
    wait_for(
        lambda: (
            call(sendgrid_client, "POST", "/v3/marketing/contacts/batch", {"ids": [cid]})[1][
                "result"
            ][0]["list_ids"]
            == []
        )
    )


def test_flush_finishes_jobs_and_shows_everything(sandbox: SandboxServer, sendgrid_client) -> None:
    sandbox.admin.set_faults(job_delay_s=60, visibility_lag_s=60)
    lid = sandbox.admin.create_list("seg")
    call(
        sendgrid_client,
        "PUT",
        "/v3/marketing/contacts",
        {"list_ids": [lid], "contacts": [{"email": "a@example.com"}]},
    )
    assert sandbox.admin.list_members(lid) == set()
    sandbox.admin.flush()
    assert sandbox.admin.list_members(lid) == {"a@example.com"}
    assert (
        call(sendgrid_client, "GET", f"/v3/marketing/lists/{lid}/contacts/count")[1][
            "contact_count"
        ]
        == 1
    )
