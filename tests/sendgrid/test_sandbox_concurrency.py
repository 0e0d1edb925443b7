"""Reads never wait for the sandbox's writer; a due export is ready on the call that finds it."""

from __future__ import annotations

import threading
import time

from tests.sendgrid.helpers import call
from workbench.destinations.sendgrid.sandbox import SandboxServer

SEARCH = "/v3/marketing/contacts/search/emails"
EXPORTS = "/v3/marketing/contacts/exports"


def test_searches_and_job_polls_answer_while_the_writer_is_held(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    lid = sandbox.admin.create_list("seg")
    sandbox.admin.add_contacts([{"email": "a@example.com"}])
    body = {"list_ids": [lid], "contacts": [{"email": "a@example.com"}]}
    job_id = call(sendgrid_client, "PUT", "/v3/marketing/contacts", body)[1]["job_id"]
    call(sendgrid_client, "GET", f"/v3/marketing/contacts/imports/{job_id}")  # finishes it
    with sandbox.db.write():  # as a big job or a stored export would hold it
        began = time.perf_counter()
        found = call(sendgrid_client, "POST", SEARCH, {"emails": ["A@example.com"]})
        polled = call(sendgrid_client, "GET", f"/v3/marketing/contacts/imports/{job_id}")
        took = time.perf_counter() - began
    assert found[0] == 200 and found[1]["result"]["a@example.com"]["contact"]["list_ids"] == [lid]
    assert polled[0] == 200 and polled[1]["status"] == "completed"
    assert took < 2.0  # the client's timeout is 5 s: a read waiting for the writer fails


def test_a_write_request_waits_for_the_writer_and_then_succeeds(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    held = threading.Event()

    def hold() -> None:
        with sandbox.db.write():
            held.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    began = time.perf_counter()
    status, created, _ = call(sendgrid_client, "POST", "/v3/marketing/lists", {"name": "seg"})
    took = time.perf_counter() - began
    holder.join()
    assert status == 201 and sandbox.admin.find_list("seg")["id"] == created["id"]
    assert took >= 0.2  # writes take turns with the writer


def test_the_status_call_that_finds_an_export_due_answers_ready(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    sandbox.admin.add_contacts([{"email": f"p{i}@example.com"} for i in range(50)])
    sandbox.admin.set_faults(job_delay_s=0.2)
    started = call(sendgrid_client, "POST", EXPORTS, {"file_type": "csv"})[1]
    assert call(sendgrid_client, "GET", f"{EXPORTS}/{started['id']}")[1]["status"] == "pending"
    time.sleep(0.2)
    ready = call(sendgrid_client, "GET", f"{EXPORTS}/{started['id']}")[1]
    assert ready["status"] == "ready" and ready["contact_count"] == 50 and ready["urls"]
