"""The Activations page over real HTTP to the SendGrid sandbox: activate in one click, preview
equal to ``activations.preview``, a background push whose summary equals the run record, the
approval flow, a double click that starts one run, and errors shown as messages."""

from __future__ import annotations

import random

import pytest
from streamlit.testing.v1 import AppTest

from tests.sendgrid.sync_support import FAST, World, customer_rows, expected_emails
from tests.ui.conftest import texts
from workbench import activations, ui_push
from workbench.config import Settings
from workbench.destinations.sendgrid.destination import client_for
from workbench.destinations.sendgrid.sandbox import SandboxServer
from workbench.workspace import Workspace

PAGE = "pages/3_Activations.py"
SEED = 11
FIRST = set(range(1, 151))
PUSH_TIMEOUT_S = 30.0
HAND_ADDED = "added.by.hand@example.org"


@pytest.fixture
def world(
    app_env: Settings,
    workspace: Workspace,
    sandbox: SandboxServer,
    sg_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    """Contacts for ~60% of the customers' valid emails, the segment "people-seg" (customers
    1..150) and a destination "sg" on the sandbox with default settings; no activation yet."""
    monkeypatch.setenv("WORKBENCH_SENDGRID_HOST", sandbox.url)
    monkeypatch.setenv("WORKBENCH_SYNC_POLL_S", "0.02")
    rows = customer_rows(workspace)
    valid = sorted(expected_emails(rows, {pid for pid, _ in rows}))
    contacts = set(random.Random(SEED).sample(valid, int(len(valid) * 0.6)))
    sandbox.admin.add_contacts([{"email": e} for e in sorted(contacts)])
    world = World(workspace, sandbox, rows, contacts, sg_key)
    world.set_segment(FIRST)
    activations.create_destination(workspace, "sg", host=sandbox.url, api_key=sg_key)
    return world


def open_page(app: AppTest) -> AppTest:
    """The Activations page after the home page."""
    app.run()
    app.switch_page(PAGE)
    return app.run()


def activated(app: AppTest) -> AppTest:
    """The page after clicking "Activate with defaults" for the only segment."""
    return open_page(app).button(key="act_defaults").click().run()


def push_and_wait(at: AppTest, world: World, key: str = "act_push") -> AppTest:
    """Click ``key``, wait for the background push to end, and render the outcome."""
    at.button(key=key).click().run()
    ui_push.wait_for_push(world.ws, world.name, PUSH_TIMEOUT_S)
    return at.run()


def metric(at: AppTest, label: str) -> str:
    """The value of the metric labelled ``label``."""
    return next(str(m.value) for m in at.metric if m.label == label)


def test_activate_with_defaults_is_one_click(app: AppTest, world: World) -> None:
    at = activated(app)
    assert not at.exception
    made = activations.get_activation(world.ws, world.name)
    assert (made.segment, made.destination, made.overrides) == (world.name, "sg", {})
    assert at.selectbox(key="act_choice").value == world.name
    table = at.dataframe[0].value
    assert list(table["schedule"]) == ["manual"] and list(table["status"]) == [""]
    assert "Activated 'people-seg'" in texts(at)


def test_custom_settings_store_only_what_differs(app: AppTest, world: World) -> None:
    at = open_page(app)
    k = f"act_sg_{world.name}_"
    at.text_input(key=k + "name").input("weekly-people")
    at.text_input(key=k + "schedule").input("weekly mon 07:00")
    at.radio(key=k + "mode").set_value("mirror").run()
    assert "weekly on Monday at 07:00 UTC" in texts(at)
    assert "mirror makes the list exactly segment ∩ contacts" in texts(at)
    at.button(key="act_custom").click().run()
    assert not at.exception
    made = activations.get_activation(world.ws, "weekly-people")
    assert made.overrides == {"schedule": "weekly mon 07:00", "mode": "mirror"}
    assert "weekly on Monday at 07:00 UTC" in list(at.dataframe[0].value["schedule"])


def test_the_entity_email_column_is_a_choice_over_a_default_column(
    app: AppTest, world: World
) -> None:
    activations.create_destination(world.ws, "sg", host=world.sandbox.url, email_column="city")
    at = open_page(app)
    box = at.selectbox(key=f"act_sg_{world.name}_email")
    assert box.value == "city"  # the destination's default
    assert box.options[0] == "use the entity's email column (default): email"
    box.set_value(activations.ENTITY_EMAIL_COLUMN).run()
    at.button(key="act_custom").click().run()
    assert not at.exception
    assert activations.get_activation(world.ws, world.name).overrides == {"email_column": ""}
    assert list(at.dataframe[0].value["email column"]) == ["the entity's own"]
    at = push_and_wait(at, world)
    assert world.on_list() == world.expected(FIRST)  # the emails, not the cities


def test_preview_shows_the_same_funnel_as_the_api(app: AppTest, world: World) -> None:
    at = activated(app).button(key="act_preview").click().run()
    assert not at.exception
    plan = activations.preview(world.ws, world.name, options=FAST)
    for step, count in plan.funnel:
        assert metric(at, step) == f"{count:,}"
    assert metric(at, "to add") == f"{plan.to_add.height:,}" != "0"
    skipped = at.dataframe[3].value  # activations table, to add, to remove, skipped
    assert len(skipped) == plan.skipped.height
    assert len(at.get("download_button")) == 3
    assert world.sandbox.admin.find_list(world.name) is None  # a preview writes nothing


def test_push_runs_in_the_background_and_its_summary_is_the_run_record(
    app: AppTest, world: World
) -> None:
    at = push_and_wait(activated(app), world)
    assert not at.exception
    record = activations.list_runs(world.ws, world.name)[0]
    assert record.status == "succeeded", record.message
    assert world.on_list() == world.expected(FIRST)
    assert metric(at, "added") == str(record.fields["added"]) == str(len(world.expected(FIRST)))
    assert metric(at, "removed") == "0"
    assert metric(at, "skipped") == str(sum(record.fields["skipped_by_reason"].values()))
    assert metric(at, "API calls") == str(record.fields["api_calls"])
    assert f"Run {record.id} succeeded" in texts(at)


def test_a_double_click_starts_one_run(app: AppTest, world: World) -> None:
    world.sandbox.admin.set_faults(job_delay_s=1.0)
    at = activated(app)
    at.button(key="act_push").click().run()
    progress = at.get("progress")[0].proto.text
    assert progress.startswith("Pushing people-seg")
    at.button(key="act_push").click().run()
    assert any("already running" in e.value for e in at.error)
    ui_push.wait_for_push(world.ws, world.name, PUSH_TIMEOUT_S)
    assert len(activations.list_runs(world.ws, world.name)) == 1
    assert world.on_list() == world.expected(FIRST)


def test_a_run_that_needs_approval_is_approved_and_changes_the_list(
    app: AppTest, world: World
) -> None:
    at = push_and_wait(activated(app), world)
    later = set(range(121, 181))
    world.set_segment(later)
    at = push_and_wait(at, world)
    waiting = activations.list_runs(world.ws, world.name)[0]
    assert waiting.status == "needs_approval"
    assert "would remove" in texts(at) and "waits for your approval" in texts(at)
    assert metric(at, "planned to remove") == f"{waiting.fields['planned']['to_remove']:,}"
    assert world.on_list() == world.expected(FIRST)  # nothing changed yet
    at = push_and_wait(at, world, key="act_approve")
    assert not at.exception
    assert activations.get_run(world.ws, waiting.id).status == "succeeded"
    assert world.on_list() == world.expected(later)


def test_discarding_a_waiting_run_sends_nothing(app: AppTest, world: World) -> None:
    at = push_and_wait(activated(app), world)
    world.set_segment(set())
    at = push_and_wait(at, world)
    waiting = activations.list_runs(world.ws, world.name)[0]
    assert "no member with a usable email" in texts(at)
    at.button(key="act_discard").click().run()
    assert activations.get_run(world.ws, waiting.id).status == "discarded"
    assert world.on_list() == world.expected(FIRST)


def test_a_revoked_key_is_a_clear_message(app: AppTest, world: World, sg_key: str) -> None:
    at = activated(app)
    world.sandbox.admin.revoke_key(sg_key)
    at = at.button(key="act_preview").click().run()
    assert not at.exception
    assert any("401" in e.value or "key" in e.value for e in at.error)
    at = push_and_wait(at, world)
    assert not at.exception
    assert activations.list_runs(world.ws, world.name)[0].status == "failed"
    assert any("failed" in e.value and "key" in e.value for e in at.error)
    assert sg_key not in texts(at)


def test_a_forbidden_key_says_its_http_status_once(app: AppTest, world: World) -> None:
    world.sandbox.admin.add_key(world.key, ["marketing.read"])  # may not create the list
    at = push_and_wait(activated(app), world)
    assert not at.exception
    record = activations.list_runs(world.ws, world.name)[0]
    assert record.status == "failed" and "403" in record.message
    [shown] = [e.value for e in at.error if f"Run {record.id} failed" in e.value]
    assert shown.count("403") == 1 and "lacks a permission" in shown


def test_drift_shows_both_directions_then_delete_asks_first(app: AppTest, world: World) -> None:
    at = push_and_wait(activated(app), world)
    at = at.button(key="act_drift").click().run()
    assert "In sync" in texts(at)
    world.sandbox.admin.add_contacts([{"email": HAND_ADDED}], [world.list_id()])
    member = sorted(world.expected(FIRST))[0]
    contact_id = next(c["id"] for c in world.sandbox.admin.contacts() if c["email"] == member)
    client = client_for(activations.get_destination(world.ws, "sg"), world.ws.settings)
    client.remove_from_list(world.list_id(), [contact_id])  # someone removes a member by hand
    world.sandbox.admin.flush()
    at = at.button(key="act_drift").click().run()
    assert not at.exception
    assert metric(at, "On the list but not in our records") == "1"
    assert metric(at, "In our records but gone from the list") == "1"
    shown = [list(d.value["email"]) for d in at.dataframe[-2:]]
    assert shown == [[HAND_ADDED], [member]]
    at.button(key="act_delete").click().run()
    assert "Delete activation 'people-seg'?" in texts(at)
    assert activations.list_activations(world.ws) != []
    at.button(key="act_delete_yes").click().run()
    assert not at.exception
    assert activations.list_activations(world.ws) == []
    assert "No activation yet" in texts(at)
