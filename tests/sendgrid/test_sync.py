# ruff: noqa: F811  (the `world` fixture is imported from sync_support)
"""The list sync end to end over real HTTP: first, incremental and no-op runs, contacts that
appear later, messy emails, addresses SendGrid refuses, the export path, the run log."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from tests.sendgrid.sync_support import FAST, World, world  # noqa: F401
from workbench import activations
from workbench.destinations.sendgrid.destination import client_for
from workbench.destinations.sendgrid.sync import (
    REASON_NOT_CONTACT,
    REASON_REFUSED,
    draft_plan,
    early_export,
    looked_up,
)
from workbench.emails import is_valid_email, normalise_email, normalise_emails

FIRST = set(range(1, 151))


def test_preview_changes_nothing_and_shows_the_funnel(world: World) -> None:
    plan = activations.preview(world.ws, world.name, options=FAST)
    steps = dict(plan.funnel)
    assert steps["members"] == 150
    assert steps["will be on the list"] == len(world.expected(FIRST)) == plan.to_add.height
    assert set(plan.to_add["email"].to_list()) == world.expected(FIRST)
    assert plan.to_remove.is_empty()
    assert world.writes() == [] and world.sandbox.admin.find_list(world.name) is None
    assert "will be on the list" in plan.describe()


def test_first_run_adds_exactly_the_existing_contacts(world: World) -> None:
    before = world.contact_count()
    record = world.run()
    assert record.status == "succeeded", record.message
    assert world.on_list() == world.expected(FIRST) == world.snapshot()
    assert record.fields["added"] == len(world.expected(FIRST))
    assert record.fields["segment_size"] == 150
    not_contacts = expected_not_contacts(world, FIRST)
    assert record.fields["skipped_by_reason"][REASON_NOT_CONTACT] == len(not_contacts)
    assert world.contact_count() == before  # no contact created
    assert all(j["created"] == 0 for b in record.fields["jobs"] for j in b["outcome"])
    assert record.fields["api_calls"] > 0 and record.alarms == []
    created = activations.get_activation(world.ws, world.name)
    assert created.list_id and created.created_by_us


def expected_not_contacts(world: World, ids: set[int]) -> set[str]:
    """Valid unique emails of ``ids`` that are no SendGrid contact."""
    from tests.sendgrid.sync_support import expected_emails

    return expected_emails(world.rows, ids) - world.contacts


def test_second_run_without_changes_sends_nothing(world: World) -> None:
    world.run()
    world.sandbox.admin.clear_request_log()
    record = world.run()
    assert record.status == "succeeded"
    assert record.fields["added"] == record.fields["removed"] == 0
    assert world.writes() == []
    assert world.on_list() == world.expected(FIRST)


def test_incremental_run_adds_joiners_and_removes_leavers(world: World) -> None:
    world.run()
    assert world.snapshot_copy_is_exact()  # what the next run reads at once
    later = set(range(121, 181))
    world.set_segment(later)
    record = world.run(approve=True)  # removes far more than 20%
    assert record.status == "succeeded", record.message
    assert world.snapshot_copy_is_exact()
    assert world.on_list() == world.expected(later) == world.snapshot()
    leavers = world.expected(FIRST) - world.expected(later)
    assert record.fields["removed"] == len(leavers)
    assert record.fields["added"] == len(world.expected(later) - world.expected(FIRST))
    assert len(world.sandbox.admin.contacts()) == len(world.contacts)  # removal keeps contacts


def test_contacts_that_appear_later_are_added_by_the_next_run(world: World) -> None:
    world.run()
    newcomers = sorted(expected_not_contacts(world, FIRST))[:5]
    world.sandbox.admin.add_contacts([{"email": e} for e in newcomers])
    world.contacts |= set(newcomers)
    record = world.run()
    assert record.fields["added"] == 5
    assert world.on_list() == world.expected(FIRST)


def test_messy_emails_are_normalised_and_dropped_rows_keep_their_reason(world: World) -> None:
    everyone = {pid for pid, _ in world.rows if pid <= 600}
    world.set_segment(everyone)
    record = world.run()
    on_list = world.on_list()
    assert all(e == e.strip().lower() for e in on_list)
    log = activations.run_log(world.ws, record.id)
    reasons = dict(log.filter(pl.col("action") == "skip").group_by("reason").len().rows())
    raw = [e for pid, e in world.rows if pid in everyone]
    cleaned = [normalise_email(e) for e in raw]
    valid = [e for e in cleaned if e is not None and is_valid_email(e)]
    assert reasons.get("null", 0) == sum(e is None for e in cleaned) > 0
    assert reasons.get("invalid", 0) == len(cleaned) - len(valid) - reasons["null"] > 0
    assert reasons.get("duplicate", 0) == len(valid) - len(set(valid)) > 0
    mixed = [e for e in raw if e and e != e.strip().lower() and normalise_email(e) in on_list]
    assert mixed  # addresses with spaces or capitals matched their (lower-case) contact


def test_an_address_sendgrid_refuses_is_skipped_and_the_rest_is_found(world: World) -> None:
    refused = f"{'a' * 64}@{'b' * 30}.example.com"  # valid for us, over the search's 100 chars
    known = sorted(world.contacts)[:3]
    frame = pl.DataFrame({"id": [1, 2, 3, 4], "email": [*known, refused]})
    client = client_for(activations.get_destination(world.ws, "sg"), world.ws.settings)
    with ThreadPoolExecutor(1) as pool:
        draft = draft_plan(
            pool,
            client,
            5.0,
            activation="t",
            list_name="t",
            list_id=None,
            mode="managed",
            normalised=normalise_emails(frame, "email", "id"),
            snapshot=world.ws.store.read_snapshot("t"),
        )
        plan = looked_up(draft, client, 5.0)
    assert plan.skipped.rows() == [(refused, REASON_REFUSED)]
    assert plan.to_add["email"].to_list() == known


def test_a_large_first_lookup_uses_one_export_instead_of_many_searches(world: World) -> None:
    everyone = {pid for pid, _ in world.rows}
    world.set_segment(everyone)
    plan = activations.preview(world.ws, world.name, options=FAST)
    assert plan.lookup == "export"
    world.sandbox.admin.clear_request_log()
    record = world.run()
    calls = record.fields["api_calls_by_endpoint"]
    assert calls.get("POST /v3/marketing/contacts/search/emails", 0) == 0
    assert calls["POST /v3/marketing/contacts/exports"] == 1  # started before the diff, once
    assert world.on_list() == world.expected(everyone)


def test_the_export_starts_before_the_diff_only_when_the_diff_cannot_change_the_path(
    world: World,
) -> None:
    client = client_for(activations.get_destination(world.ws, "sg"), world.ws.settings)
    world.sandbox.admin.clear_request_log()
    with ThreadPoolExecutor(1) as pool:
        assert early_export(pool, client, 500, poll_s=0.05) is None  # 5 searches may do
        assert early_export(pool, client, -40, poll_s=0.05) is None  # snapshot bigger
        assert world.sandbox.admin.request_log() == []  # nothing asked of SendGrid
        started = early_export(pool, client, 501, poll_s=0.05)
        assert started is not None
        contacts = client.read_export(started.result())
    assert set(contacts.get_column("email").to_list()) >= set(world.contacts)


def test_run_log_is_downloadable_as_csv_and_parquet(world: World, tmp_path: Path) -> None:
    record = world.run()
    log = activations.run_log(world.ws, record.id)
    assert set(log.columns) == {"email", "action", "outcome", "reason"}
    added = set(log.filter(pl.col("action") == "add")["email"].to_list())
    assert added == world.expected(FIRST)
    csv = activations.export_run_log(world.ws, record.id, tmp_path / "log.csv")
    parquet = activations.export_run_log(world.ws, record.id, tmp_path / "log.parquet")
    assert pl.read_csv(csv).height == log.height == pl.read_parquet(parquet).height
    listed = activations.list_runs(world.ws, world.name)
    assert [r.id for r in listed] == [record.id]


def test_one_contact_reached_by_two_emails_stays_while_one_of_them_is_wanted(
    world: World,
) -> None:
    strangers = sorted(expected_not_contacts(world, FIRST))[:2]
    primary, alternate = strangers
    world.sandbox.admin.add_contacts([{"email": primary, "alternate_emails": [alternate]}])
    first = world.run()
    assert first.fields["added"] == len(world.expected(FIRST)) + 2  # both emails, one contact
    assert primary in world.on_list() and alternate not in world.on_list()  # lists show primaries
    leaver = next(pid for pid, e in world.rows if e and normalise_email(e) == alternate)
    world.set_segment(FIRST - {leaver})
    world.sandbox.admin.clear_request_log()
    second = world.run()
    assert world.snapshot_copy_is_exact()  # the forgotten email left the copy too
    assert second.fields["removed"] == 0 and second.fields["forgotten"] == 1
    assert world.writes() == []  # removing the contact would also drop the wanted primary email
    assert primary in world.on_list()
    assert alternate not in world.snapshot() and primary in world.snapshot()
