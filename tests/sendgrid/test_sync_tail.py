"""The end of a run over real HTTP: once everything is sent and SendGrid's times anchor the
schedule, the jobs due at the same moment are looked at together, so the run waits one
answer for them instead of one answer after another (seen in the sandbox's request log)."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.destinations.sendgrid.client import SendGridClient
from workbench.destinations.sendgrid.sandbox import SandboxServer
from workbench.destinations.sendgrid.sync_apply import Applier
from workbench.destinations.sendgrid.sync_state import (
    CONFIRMED,
    SENT,
    Batch,
    save_batches,
    set_status,
)
from workbench.store import Store

JOB_POLLS = "GET /v3/marketing/contacts/imports/{id}"
LATENCY_S = 0.2  # every answer waits this long: looks one after another are this far apart


def _sent_upserts(client: SendGridClient, store: Store, list_id: str) -> list[Batch]:
    """Three upsert batches of two contacts each, sent (their jobs finish at once) and stored
    as ``sent`` with their job ids, as a run stopped while following them leaves them."""
    batches = []
    for seq in range(3):
        emails = [f"tail{seq}-{n}@example.com" for n in range(2)]
        entries = json.dumps([{"email": e} for e in emails])
        batches.append(Batch(1, seq, "add", emails, ["", ""], entries))
    save_batches(store, batches)
    for batch in batches:
        batch.job_ids = [client.add_entries_to_list(list_id, batch.entries_json)]
        set_status(store, batch, SENT)
    for batch in batches:  # finished before the run follows them (sandbox jobs are quick)
        statuses = client.wait_for_jobs(batch.job_ids, poll_s=0.01, timeout_s=5)
        assert all(job.finished for job in statuses.values())
    return batches


def test_the_jobs_due_at_the_end_are_looked_at_together(
    sandbox: SandboxServer, sg_key: str, tmp_path: Path
) -> None:
    client = SendGridClient(sg_key, sandbox.url, timeout_s=5, backoff=0.001)
    store = Store(tmp_path / "state.sqlite")
    list_id = client.create_list("tail").id
    batches = _sent_upserts(client, store, list_id)
    sandbox.admin.set_faults(latency_s=LATENCY_S)
    sandbox.admin.clear_request_log()
    outcome = Applier(store, client, "act", list_id, poll_s=2.0).apply(batches)
    assert outcome.unfinished == 0 and not outcome.failures
    assert [b.status for b in batches] == [CONFIRMED] * 3
    polls = [r for r in sandbox.admin.request_log() if r["endpoint"] == JOB_POLLS]
    job_of = {b.job_ids[0]: b.seq for b in batches}
    polled = [job_of[r["path"].rsplit("/", 1)[-1]] for r in polls]
    assert sorted(polled) == [0, 1, 2]  # each job looked at once
    # the first look anchors the schedule on SendGrid's finish; the other two are both due
    # then: one look of the last (newest) job and the older one in the same moment
    second, third = (r["at"] for r in polls[1:])
    assert third - second < LATENCY_S / 2
    assert sorted(store.read_snapshot("act")["email"].to_list()) == sorted(
        e for b in batches for e in b.emails
    )
