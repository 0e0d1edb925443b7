# ruff: noqa: F811  (the `world` fixture is imported from sync_support)
"""The sync when SendGrid misbehaves: 429 storms, 5xx, an erroring upsert job, a stale contact
id on removal, a list deleted in SendGrid, a revoked key. Nothing is lost, nothing created."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import polars as pl
import sendgrid

from tests.sendgrid.helpers import call
from tests.sendgrid.sync_support import FAST, World, delete_contact, world  # noqa: F401
from workbench import activations
from workbench.destinations.sendgrid.sandbox import store as sandbox_store
from workbench.destinations.sendgrid.sandbox.store import TRUTH, VISIBLE
from workbench.destinations.sendgrid.sync_context import open_context
from workbench.destinations.sendgrid.sync_run import apply_run
from workbench.destinations.sendgrid.sync_state import Batch, save_batches
from workbench.secrets import save_api_key

FIRST = set(range(1, 151))
LATER = set(range(1, 131))


def test_a_429_storm_from_a_noisy_neighbour_is_waited_out(
    world: World, sendgrid_client: sendgrid.SendGridAPIClient
) -> None:
    world.sandbox.admin.set_faults(rate_limit_per_s=3)
    stop = threading.Event()

    def neighbour() -> None:  # another tool on the same account, eating the same limits
        while not stop.is_set():
            for endpoint in ("/v3/marketing/contacts/search/emails",):
                call(sendgrid_client, "POST", endpoint, {"emails": ["someone@example.com"]})
            call(sendgrid_client, "GET", "/v3/marketing/lists")

    threads = [threading.Thread(target=neighbour) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        record = world.run()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert record.status == "succeeded", record.message
    assert sum(record.fields["api_retries"].values()) > 0  # we met 429s and waited them out
    assert world.on_list() == world.expected(FIRST) == world.snapshot()


def test_5xx_answers_are_retried(world: World) -> None:
    world.sandbox.admin.set_faults(fail_next_requests=3)
    record = world.run()
    assert record.status == "succeeded", record.message
    assert [r["status"] for r in world.sandbox.admin.request_log()][:3] == [500, 500, 500]
    assert world.on_list() == world.expected(FIRST)


def test_an_upsert_job_that_errors_fails_the_run_and_the_next_run_adds_them(world: World) -> None:
    world.sandbox.admin.set_faults(fail_next_jobs=1)
    before = world.contact_count()
    record = world.run()
    assert world.snapshot_copy_is_exact()  # computed from the batches, not the forecast
    assert record.status == "failed" and "failed" in record.message
    assert record.fields["failed"] == len(world.expected(FIRST))
    assert world.snapshot() == set()  # nothing confirmed, nothing recorded
    log = activations.run_log(world.ws, record.id)
    assert set(log.filter(pl.col("action") == "add")["outcome"].to_list()) == {"failed"}
    again = world.run()
    assert again.status == "succeeded" and again.fields["added"] == len(world.expected(FIRST))
    assert world.on_list() == world.expected(FIRST) == world.snapshot()
    assert world.contact_count() == before


def test_a_stale_contact_id_on_removal_is_skipped_and_forgotten(world: World) -> None:
    world.run()
    leavers = sorted(world.expected(FIRST) - world.expected(LATER))
    assert len(leavers) >= 2
    delete_contact(world, leavers[0])
    world.set_segment(LATER)
    record = world.run()
    assert world.snapshot_copy_is_exact()
    assert record.status == "succeeded", record.message
    assert record.fields["removed"] == len(leavers)
    assert world.on_list() == world.expected(LATER) == world.snapshot()
    log = activations.run_log(world.ws, record.id).filter(pl.col("email") == leavers[0])
    assert log["reason"].to_list() == ["the contact no longer exists in SendGrid"]


def test_a_deleted_list_fails_clearly_keeps_the_snapshot_and_can_be_recreated(
    world: World,
) -> None:
    world.run()
    old_id, kept = world.list_id(), world.snapshot()
    world.sandbox.admin.delete_list(old_id)
    record = world.run()
    assert record.status == "failed"
    assert f"the list 'people-seg' ({old_id}) was deleted in SendGrid" in record.message
    assert "--recreate-list" in record.message
    assert record.message.endswith("(HTTP 404)") and record.message.count("404") == 1
    assert world.snapshot() == kept
    again = world.run(recreate_list=True)
    assert again.status == "succeeded", again.message
    assert world.list_id() != old_id
    assert world.on_list() == world.expected(FIRST) == world.snapshot()


def test_a_revoked_key_fails_clearly_and_loses_nothing(world: World) -> None:
    world.run()
    kept = world.snapshot()
    world.set_segment(LATER)
    world.sandbox.admin.revoke_key(world.key)
    record = world.run()
    assert record.status == "failed" and "rejected" in record.message
    assert record.message.count("401") == 1, record.message  # the status, said once
    assert world.key not in record.message
    assert world.snapshot() == kept
    world.sandbox.admin.add_key("SG.replacement-key", ["marketing.read", "marketing.write"])
    save_api_key(world.ws.settings.home, "sg", "SG.replacement-key")  # the user replaces it
    assert world.run(approve=True).status == "succeeded"
    assert world.on_list() == world.expected(LATER)


def test_no_run_ever_creates_a_contact(world: World) -> None:
    before = world.contact_count()
    for ids in (FIRST, LATER, set(range(100, 240)), FIRST):
        world.set_segment(ids)
        record = world.run(approve=True)
        assert record.status == "succeeded" and record.alarms == []
    assert world.contact_count() == before


def test_a_job_that_reports_created_contacts_raises_an_alarm_on_the_run(world: World) -> None:
    # A contact deleted between lookup and upsert is the real-world way this happens; here the
    # persisted batch names an address SendGrid does not know, which the upsert creates.
    world.run()
    ctx = open_context(world.ws, world.name, FAST)
    run_id = world.ws.store.create_run(world.name, {"status": "planned"})
    entry = {"email": "ghost@example.org"}
    batch = Batch(run_id, 0, "add", [entry["email"]], ["gone-id"], entries_json=json.dumps([entry]))
    save_batches(world.ws.store, [batch])
    record = apply_run(ctx, run_id)
    assert len(record.alarms) == 1 and "1 contact(s) CREATED" in record.alarms[0]
    assert "ALARM" in record.describe()
    assert activations.get_run(world.ws, run_id).alarms == record.alarms


def test_jobs_slower_than_the_time_limit_leave_the_run_to_be_resumed(world: World) -> None:
    world.sandbox.admin.set_faults(job_delay_s=30)
    patient = replace(FAST, job_timeout_s=0.3)
    waiting = activations.run(world.ws, world.name, options=patient)
    assert waiting.status == "applying" and "run again to resume" in waiting.message
    assert world.snapshot() == set()  # nothing confirmed yet, nothing recorded
    world.sandbox.admin.set_faults(job_delay_s=0.0)
    world.sandbox.admin.flush()
    world.sandbox.admin.clear_request_log()
    resumed = world.run()
    assert resumed.id == waiting.id and resumed.status == "succeeded"
    assert world.writes() == []  # the jobs were followed, not sent again
    assert world.on_list() == world.expected(FIRST) == world.snapshot()


def put_on_lists(world: World, email: str, count: int) -> None:
    """Put one contact on ``count`` other lists, as years of campaigns would."""
    list_ids = world.sandbox.admin.create_lists([f"campaign {i}" for i in range(count)])
    contact_id = next(c["id"] for c in world.sandbox.admin.contacts() if c["email"] == email)
    with sandbox_store.transaction(world.sandbox.config.state_path) as conn:
        conn.executemany(
            "INSERT INTO members(layer, list_id, contact_id, added_at) VALUES (?, ?, ?, 0)",
            [(layer, lid, contact_id) for layer in (TRUTH, VISIBLE) for lid in list_ids],
        )


def test_one_refused_row_does_not_sink_its_batch(world: World) -> None:
    full = sorted(world.expected(FIRST))[3]
    put_on_lists(world, full, 250)  # SendGrid refuses a 251st list
    record = world.run()
    assert world.snapshot_copy_is_exact()  # without the refused row
    assert record.status == "succeeded" and "refused 1 row" in record.message
    assert record.fields["failed"] == 1
    assert record.fields["added"] == len(world.expected(FIRST)) - 1
    assert world.on_list() == world.expected(FIRST) - {full} == world.snapshot()
    log = activations.run_log(world.ws, record.id).filter(pl.col("email") == full)
    assert log["outcome"].to_list() == ["failed"]
    assert "250 lists" in log["reason"].to_list()[0]
