# ruff: noqa: F811  (the `world` fixture is imported from sync_support)
"""Guards and approval (the stored plan is what gets applied), managed vs mirror mode, and
drift reconciliation against the list's real membership."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.sendgrid.sync_support import (  # noqa: F401
    FAST,
    World,
    delete_contact,
    make_world,
    world,
)
from workbench import activations
from workbench.destinations.sendgrid.destination import client_for
from workbench.destinations.sendgrid.sandbox import SandboxServer
from workbench.errors import ConflictError
from workbench.workspace import Workspace

FIRST = set(range(1, 151))
MOST_LEAVE = set(range(1, 61))
HAND_ADDED = "added.by.hand@example.org"


def test_an_empty_segment_waits_for_approval_without_touching_sendgrid(world: World) -> None:
    world.run()
    world.set_segment(set())
    world.sandbox.admin.clear_request_log()
    waiting = world.run()
    assert waiting.status == "needs_approval"
    assert "no member" in waiting.message
    assert world.writes() == []
    assert world.on_list() == world.expected(FIRST) == world.snapshot()
    applied = activations.approve_run(world.ws, waiting.id, FAST)
    assert applied.status == "succeeded" and applied.id == waiting.id
    assert world.on_list() == set() == world.snapshot()


def test_a_first_run_of_an_empty_segment_creates_no_list(world: World) -> None:
    world.set_segment(set())
    waiting = world.run()
    assert waiting.status == "needs_approval"
    assert world.sandbox.admin.request_log() == []  # not even a lookup of the list
    assert activations.get_activation(world.ws, world.name).list_id is None


def test_approval_applies_the_stored_plan_not_a_fresh_one(world: World) -> None:
    world.run()
    world.set_segment(MOST_LEAVE)
    waiting = world.run()
    assert waiting.status == "needs_approval" and "more than 20%" in waiting.message
    world.set_segment(FIRST)  # the segment changes back before anyone approves
    activations.approve_run(world.ws, waiting.id, FAST)
    assert world.on_list() == world.expected(MOST_LEAVE)  # exactly what was shown for approval
    with pytest.raises(ConflictError, match="only a run waiting for approval"):
        activations.approve_run(world.ws, waiting.id, FAST)


def test_a_newer_run_supersedes_a_plan_waiting_for_approval(world: World) -> None:
    world.run()
    world.set_segment(MOST_LEAVE)
    old = world.run()
    newer = world.run(approve=True)
    assert newer.status == "succeeded"
    assert activations.get_run(world.ws, old.id).status == "superseded"
    with pytest.raises(ConflictError, match="superseded"):
        activations.approve_run(world.ws, old.id, FAST)


def hand_add(world: World, email: str) -> None:
    """Someone adds a contact to the list in SendGrid's UI."""
    world.sandbox.admin.add_contacts([{"email": email}], list_ids=[world.list_id()])


def test_managed_mode_leaves_hand_added_members_alone(world: World) -> None:
    world.run()
    hand_add(world, HAND_ADDED)
    assert world.run().status == "succeeded"
    assert world.on_list() == world.expected(FIRST) | {HAND_ADDED}


def test_mirror_mode_removes_what_the_segment_does_not_want(
    workspace: Workspace,
    sandbox: SandboxServer,
    sg_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mirror = make_world(workspace, sandbox, sg_key, tmp_path, monkeypatch, mode="mirror")
    mirror.run()
    hand_add(mirror, HAND_ADDED)
    record = mirror.run()
    assert record.status == "succeeded" and record.fields["removed"] == 1
    assert mirror.on_list() == mirror.expected(FIRST) == mirror.snapshot()
    assert HAND_ADDED in {c["email"] for c in sandbox.admin.contacts()}  # contact kept


def test_reconcile_reports_drift_and_a_reconciling_run_repairs_it(world: World) -> None:
    world.run()
    hand_add(world, HAND_ADDED)
    member = sorted(world.expected(FIRST))[0]
    contact_id = next(c["id"] for c in world.sandbox.admin.contacts() if c["email"] == member)
    client = client_for(activations.get_destination(world.ws, "sg"), world.ws.settings)
    client.remove_from_list(world.list_id(), [contact_id])  # someone removes a member by hand
    world.sandbox.admin.flush()
    drift = activations.reconcile(world.ws, world.name, FAST)
    assert drift.on_list_not_in_snapshot["email"].to_list() == [HAND_ADDED]
    assert drift.in_snapshot_not_on_list["email"].to_list() == [member]
    assert not drift.in_sync
    plain = world.run()
    assert plain.fields["added"] == 0  # without reconcile, the snapshot still believes it
    repaired = world.run(reconcile=True)
    assert repaired.fields["added"] == 1
    assert repaired.fields["drift"]["in_snapshot_not_on_list"] == 1
    assert world.on_list() == world.expected(FIRST) | {HAND_ADDED}
    assert world.snapshot() == world.expected(FIRST)
    assert activations.reconcile(world.ws, world.name, FAST).in_snapshot_not_on_list.is_empty()


def test_approval_drops_contacts_deleted_since_the_plan_instead_of_creating_them(
    world: World,
) -> None:
    world.run()
    later = set(range(100, 200))
    world.set_segment(later)
    waiting = world.run()
    assert waiting.status == "needs_approval"
    log = activations.run_log(world.ws, waiting.id)
    deleted = sorted(log.filter(pl.col("action") == "add")["email"].to_list())[0]
    delete_contact(world, deleted)  # while the plan waits, someone deletes the contact
    before = world.contact_count()
    applied = activations.approve_run(world.ws, waiting.id, FAST)
    assert applied.status == "succeeded" and applied.alarms == []
    assert applied.fields["vanished_since_plan"] == 1
    assert world.contact_count() == before  # the deleted contact was not created again
    assert world.on_list() == world.expected(later) - {deleted}
    log = activations.run_log(world.ws, waiting.id).filter(pl.col("email") == deleted)
    assert log["reason"].to_list() == ["contact deleted in SendGrid since the plan"]


def test_a_list_of_the_same_name_made_by_someone_else_is_not_taken_silently(
    world: World,
) -> None:
    theirs = world.sandbox.admin.create_list(world.name)
    record = world.run()
    assert record.status == "failed"
    assert f"a SendGrid list named {world.name!r} exists already" in record.message
    assert "adopt" in record.message
    assert record.fields["contacts_matched"] == len(world.expected(FIRST))  # the plan is kept
    assert world.writes() == [] and world.sandbox.admin.list_members(theirs) == set()
    config = world.ws.store.get_activation(world.name)
    world.ws.store.save_activation(world.name, {**config, "adopt_existing_list": True})
    assert world.run().status == "succeeded"
    adopted = activations.get_activation(world.ws, world.name)
    assert adopted.list_id == theirs and not adopted.created_by_us
    assert world.on_list() == world.expected(FIRST)


def test_a_list_created_just_before_a_crash_is_recognised_as_ours(world: World) -> None:
    config = world.ws.store.get_activation(world.name)
    world.ws.store.save_activation(world.name, {**config, "creating_list": world.name})
    created = world.sandbox.admin.create_list(world.name)  # the crash came before its id was saved
    assert world.run().status == "succeeded"
    ours = activations.get_activation(world.ws, world.name)
    assert ours.list_id == created and ours.created_by_us
    client = client_for(activations.get_destination(world.ws, "sg"), world.ws.settings)
    assert [sg_list.name for sg_list in client.lists()].count(world.name) == 1  # not created twice
