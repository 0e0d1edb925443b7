"""The job inbox: jobs are accepted while the worker applies another job, survive a crash, and
are applied in the order they were created.

The worker is held inside a job's write transaction by ``SandboxServer.hold_next_job()`` (it
waits for the test's ``release()``), so "while a job is being applied" is a state the test
controls, not a race against the clock.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sendgrid

from tests.sendgrid.helpers import call, run_child, wait_for
from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer, inbox
from workbench.destinations.sendgrid.sandbox.inbox import inbox_path
from workbench.destinations.sendgrid.sandbox.job_worker import JobHold

BIG = 150  # more than a request applies itself (jobs.REQUEST_BUDGET): only the worker does
HELD_CALL_TIMEOUT_S = 3.0


def emails(prefix: str, count: int) -> list[dict[str, str]]:
    """``count`` upsert items with distinct addresses."""
    return [{"email": f"{prefix}{i}@example.com"} for i in range(count)]


def upsert(sg: sendgrid.SendGridAPIClient, list_id: str, items: list[dict]) -> str:
    """PUT the items onto a list; the job id (the answer must be 202)."""
    status, body, _ = call(
        sg, "PUT", "/v3/marketing/contacts", {"list_ids": [list_id], "contacts": items}
    )
    assert status == 202, body
    return str(body["job_id"])


def status_of(sg: sendgrid.SendGridAPIClient, job_id: str) -> dict:
    """The job's import status (must be found)."""
    status, body, _ = call(sg, "GET", f"/v3/marketing/contacts/imports/{job_id}")
    assert status == 200, body
    return dict(body)


def finished(sg: sendgrid.SendGridAPIClient, job_id: str) -> dict:
    """Wait until the job is no longer pending; its status."""
    return dict(wait_for(lambda: (s := status_of(sg, job_id))["status"] != "pending" and s, 10))


@pytest.fixture
def held(sandbox: SandboxServer) -> Iterator[JobHold]:
    """The next job the worker applies holds it inside its transaction until released."""
    hold = sandbox.hold_next_job()
    yield hold
    hold.release()


def test_write_requests_are_answered_while_the_worker_applies_a_job(
    sandbox: SandboxServer, sendgrid_client, held: JobHold
) -> None:
    sg = sendgrid_client
    lid = sandbox.admin.create_list("seg")
    known = sandbox.admin.add_contacts([{"email": "k@example.com"}], list_ids=[lid])
    first = upsert(sg, lid, emails("a", BIG))
    assert held.holding.wait(5), "the worker never started the first job"
    sg.client.timeout = HELD_CALL_TIMEOUT_S  # a request waiting for the worker fails the test
    running = status_of(sg, first)
    assert running["status"] == "pending" and running["started_at"]
    assert "finished_at" not in running
    second = upsert(sg, lid, emails("b", BIG))
    queued = status_of(sg, second)
    assert queued["status"] == "pending" and "finished_at" not in queued
    assert queued["started_at"] >= running["started_at"]  # SendGrid's "when it was created"
    assert queued["results"]["requested_count"] == BIG
    query = {"contact_ids": known[0]}
    status, removal, _ = call(sg, "DELETE", f"/v3/marketing/lists/{lid}/contacts", query=query)
    assert status == 202, removal
    held.release()
    sg.client.timeout = 10
    assert finished(sg, first)["results"]["created_count"] == BIG
    assert finished(sg, second)["results"]["created_count"] == BIG
    assert finished(sg, removal["job_id"])["results"]["deleted_count"] == 1
    members = sandbox.admin.list_members(lid)
    assert len(members) == 2 * BIG and "k@example.com" not in members


def test_a_removal_sent_after_an_upsert_applies_after_it(
    sandbox: SandboxServer, sendgrid_client
) -> None:
    sg = sendgrid_client
    lid = sandbox.admin.create_list("seg")
    contact = sandbox.admin.add_contacts([{"email": "x@example.com"}])[0]
    sandbox.admin.set_faults(job_delay_s=1.0)  # the upsert is due in a second ...
    adding = upsert(sg, lid, [{"email": "x@example.com"}, *emails("a", BIG)])
    sandbox.admin.set_faults(job_delay_s=0.0)  # ... the removal at once, but it comes second
    query = {"contact_ids": contact}
    status, removal, _ = call(sg, "DELETE", f"/v3/marketing/lists/{lid}/contacts", query=query)
    assert status == 202
    assert status_of(sg, removal["job_id"])["status"] == "pending"
    removed, added = finished(sg, removal["job_id"]), finished(sg, adding)
    assert removed["finished_at"] >= added["finished_at"]
    assert "x@example.com" not in sandbox.admin.list_members(lid)
    assert len(sandbox.admin.list_members(lid)) == BIG


def waiting_in_inbox(state: Path) -> list[str]:
    """The ids of the jobs waiting in the state file's inbox, oldest first."""
    conn = sqlite3.connect(f"file:{inbox_path(state)}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id FROM inbox WHERE moved_at IS NULL ORDER BY seq")
        return [row[0] for row in rows.fetchall()]
    finally:
        conn.close()


CRASH = textwrap.dedent(
    """
    import json, os, signal, sys, urllib.request
    from pathlib import Path
    from workbench.destinations.sendgrid.sandbox import FULL_SCOPES, SandboxConfig, SandboxServer

    KEY = "SG.crash-test-key"
    config = SandboxConfig(state_path=Path(sys.argv[1]), api_keys={KEY: list(FULL_SCOPES)})
    server = SandboxServer(config).start()
    list_id = server.admin.create_list("seg")
    hold = server.hold_next_job()

    def put(prefix: str) -> str:
        items = [{"email": f"{prefix}{i}@example.com"} for i in range(150)]
        body = json.dumps({"list_ids": [list_id], "contacts": items}).encode()
        request = urllib.request.Request(
            server.url + "/v3/marketing/contacts", data=body, method="PUT",
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())["job_id"]

    jobs = [put("a")]
    assert hold.holding.wait(5)
    jobs += [put("b"), put("c")]
    print(json.dumps({"list_id": list_id, "jobs": jobs}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no stop(): what the inbox holds stays there
    """
)


def crashed_sandbox(state: Path) -> dict:
    """Run ``CRASH`` on ``state`` in a child process killed with SIGKILL; the list id and the
    three job ids it printed."""
    child = run_child(CRASH, str(state))
    assert child.returncode == -9, child.stderr[-3000:]
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


def test_jobs_accepted_before_a_crash_are_finished_after_a_restart(
    tmp_path: Path, sg_key: str
) -> None:
    state = tmp_path / "sandbox.sqlite"
    left = crashed_sandbox(state)
    assert waiting_in_inbox(state) == left["jobs"][1:]  # the worker never took them in
    config = SandboxConfig(state_path=state, api_keys={sg_key: list(FULL_SCOPES)})
    with SandboxServer(config) as sandbox:
        sg = sendgrid.SendGridAPIClient(sg_key, host=sandbox.url)
        sg.client.timeout = 10
        done = [finished(sg, job_id) for job_id in left["jobs"]]
        assert [d["results"]["created_count"] for d in done] == [BIG, BIG, BIG]
        assert done[0]["finished_at"] <= done[1]["finished_at"] <= done[2]["finished_at"]
        assert len(sandbox.admin.list_members(left["list_id"])) == 3 * BIG


def test_discarding_the_inbox_drops_the_jobs_a_crash_left(tmp_path: Path, sg_key: str) -> None:
    state = tmp_path / "sandbox.sqlite"
    left = crashed_sandbox(state)
    assert inbox.discard(state) == 2
    config = SandboxConfig(state_path=state, api_keys={sg_key: list(FULL_SCOPES)})
    with SandboxServer(config) as sandbox:
        sg = sendgrid.SendGridAPIClient(sg_key, host=sandbox.url)
        assert finished(sg, left["jobs"][0])["results"]["created_count"] == BIG
        assert call(sg, "GET", f"/v3/marketing/contacts/imports/{left['jobs'][1]}")[0] == 404
        assert len(sandbox.admin.list_members(left["list_id"])) == BIG
