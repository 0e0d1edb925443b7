# ruff: noqa: F811  (the `world` fixture is imported from sync_support)
"""A large first run sends its adds while SendGrid's export is still read (``sync_stream``):
it leaves exactly what a planned run leaves (list, snapshot, counts, run log); it stops
cleanly when SendGrid refuses the key halfway; a run killed at random moments while
streaming is finished by the next start, which plans the rest; and it asks for the export
as soon as the segment's row count shows it will need one."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from tests.sendgrid.sync_support import FAST, World, world  # noqa: F401
from tests.sendgrid.test_sync_crash import batch_rows, start_worker
from workbench import activations
from workbench.destinations.sendgrid.sync import REASON_NOT_CONTACT
from workbench.destinations.sendgrid.sync_context import SyncOptions, open_context
from workbench.destinations.sendgrid.sync_planning import first_run_export

SMALL = {"upsert_max_contacts": 40, "export_chunk_rows": (30, 120)}
STREAMING = SyncOptions(poll_s=0.02, heartbeat_s=0.5, client={**FAST.client, **SMALL})
UPSERT = "PUT /v3/marketing/contacts"


def everyone(world: World) -> set[int]:
    return {pid for pid, _ in world.rows}


def test_a_streamed_first_run_leaves_what_a_planned_run_leaves(world: World) -> None:
    world.set_segment(everyone(world))
    preview = activations.preview(world.ws, world.name, options=STREAMING)
    assert preview.lookup == "export" and preview.to_remove.is_empty()
    before = world.contact_count()
    record = world.run(options=STREAMING)
    assert record.status == "succeeded", record.message
    expected = world.expected(everyone(world))
    assert world.on_list() == expected == world.snapshot()
    assert world.contact_count() == before
    assert world.snapshot_copy_is_exact()
    fields = record.fields
    assert fields["planned"]["to_add"] == len(expected) == preview.to_add.height
    assert fields["skipped_by_reason"] == preview.skipped_by_reason()
    assert fields["skipped_by_reason"][REASON_NOT_CONTACT] > 0
    assert fields["api_calls_by_endpoint"][UPSERT] == math.ceil(len(expected) / 40)
    assert fields["api_calls_by_endpoint"]["POST /v3/marketing/contacts/exports"] == 1
    log = activations.run_log(world.ws, record.id)
    added = log.filter(pl.col("action") == "add").get_column("email").to_list()
    assert sorted(added) == sorted(expected)
    assert log.filter(pl.col("action") == "skip").height == preview.skipped.height
    again = world.run(options=STREAMING)
    assert again.fields["planned"]["to_add"] == 0 and again.status == "succeeded"


def test_a_key_revoked_while_streaming_stops_the_run_and_loses_nothing(world: World) -> None:
    world.set_segment(everyone(world))
    world.sandbox.admin.set_faults(latency_s=0.02)
    stop = threading.Event()

    def revoke_after_the_first_upsert() -> None:
        while not stop.is_set():
            log = world.sandbox.admin.request_log(bodies=False)
            if any(r["endpoint"] == UPSERT for r in log):
                world.sandbox.admin.revoke_key(world.key)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=revoke_after_the_first_upsert)
    watcher.start()
    try:
        record = world.run(options=STREAMING)
    finally:
        stop.set()
        watcher.join()
    assert record.status == "failed"
    assert "key" in record.message.lower()
    assert world.key not in record.message
    assert set(world.snapshot()) <= world.on_list()  # only what SendGrid confirmed
    replacement = world.key + "-replaced"  # what the user does: a new key for the destination
    world.sandbox.admin.add_key(replacement, ["marketing.read", "marketing.write"])
    activations.create_destination(world.ws, "sg", host=world.sandbox.url, api_key=replacement)
    again = world.run(options=STREAMING)
    assert again.status == "succeeded", again.message
    assert world.on_list() == world.expected(everyone(world)) == world.snapshot()


STREAM_WORKER_OPTIONS = {"upsert_max_contacts": 7, "export_chunk_rows": [20, 60]}


@pytest.mark.parametrize("delay_s", [0.05, 0.4, 2.5])  # early, late in the stream, after it
def test_a_run_killed_while_streaming_is_finished_by_the_next_start(
    world: World, tmp_path: Path, delay_s: float
) -> None:
    world.set_segment(everyone(world))
    contacts_before = world.contact_count()
    world.sandbox.admin.set_faults(latency_s=0.01, job_delay_s=0.05)
    process = start_worker(world, tmp_path, STREAM_WORKER_OPTIONS)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not batch_rows(world):
        time.sleep(0.005)  # its first batch is stored: the stream has begun
    time.sleep(delay_s)
    process.kill()
    process.wait(timeout=10)
    world.sandbox.admin.set_faults(latency_s=0.0, job_delay_s=0.0)
    record = world.run(approve=True)
    if record.status == "applying":
        record = world.run(approve=True)
    assert record.status == "succeeded", record.message
    assert world.on_list() == world.expected(everyone(world)) == world.snapshot()
    assert world.contact_count() == contacts_before  # no contact created
    runs = activations.list_runs(world.ws, world.name)
    assert all(r.status in ("succeeded", "failed") for r in runs)
    interrupted = [r for r in runs if r.status == "failed"]
    assert all("stopped while its contacts were read" in r.message for r in interrupted)
    assert world.run().fields["planned"]["to_add"] == 0


def test_only_a_large_first_run_asks_for_its_export_before_its_members_are_known(
    world: World,
) -> None:
    ctx = open_context(world.ws, world.name, FAST)
    empty = Future[pl.DataFrame]()
    empty.set_result(world.ws.store.read_snapshot(world.name))
    with ThreadPoolExecutor(1) as pool:
        assert first_run_export(ctx, pool, None, empty) is None  # 150 rows: searches may do
        assert world.sandbox.admin.request_log() == []
        world.set_segment(everyone(world))  # 2,000 rows: an export even if half lack an email
        started = first_run_export(ctx, pool, None, empty)
        assert started is not None
        contacts = ctx.client.read_export(started.result())
    assert set(contacts.get_column("email").to_list()) >= world.contacts
    world.run()
    held = Future[pl.DataFrame]()
    held.set_result(world.ws.store.read_snapshot(world.name))
    world.sandbox.admin.clear_request_log()
    with ThreadPoolExecutor(1) as pool:
        assert first_run_export(ctx, pool, None, held) is None  # not a first run any more
    assert world.sandbox.admin.request_log() == []
