"""Destinations and activations as saved settings (defaults, overrides, secrets kept out), and
the two actions on them that need no SendGrid: discard a waiting run, delete an activation."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from workbench import activations
from workbench.destinations.sendgrid import sync_lock
from workbench.destinations.sendgrid.destination import EU_HOST, Guards
from workbench.errors import CatalogError, ConfigError, ConflictError, NotFoundError
from workbench.schedules import Schedule
from workbench.workspace import Workspace

KEY = "SG.a-key-that-must-never-be-stored-0123456789"
SEGMENT = {
    "name": "se",
    "entity": "customers",
    "filter": {"column": "country", "op": "eq", "value": "SE"},
}


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Workspace:
    """A workspace with a saved segment and no key in the environment."""
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    workspace.store.save_segment(SEGMENT)
    return workspace


def test_activate_with_defaults_needs_only_the_segment(ws: Workspace) -> None:
    activations.create_destination(ws, "sg", host="http://127.0.0.1:9")
    made = activations.activate(ws, "se")
    dest = activations.get_destination(ws, "sg")
    settings = made.settings(dest)
    assert (made.name, made.destination, settings.list_name) == ("se", "sg", "{segment}")
    assert settings.mode == "managed" and settings.schedule == Schedule.manual()
    assert settings.guards == Guards(allow_empty=False, max_remove_fraction=0.2)
    assert settings.email_column is None  # the entity's own email column


def test_overrides_win_and_destination_defaults_reach_activations_without_them(
    ws: Workspace,
) -> None:
    activations.create_destination(
        ws, "sg", host="http://127.0.0.1:9", list_name="wb {segment}", mode="mirror"
    )
    plain = activations.activate(ws, "se")
    custom = activations.activate(
        ws, "se", name="se-custom", list_name="{entity}: {segment}", schedule="daily 06:30",
        guards={"max_remove_fraction": 0.5}, mode="managed",
    )  # fmt: skip
    dest = activations.get_destination(ws, "sg")
    assert plain.settings(dest).list_name == "wb {segment}"
    assert plain.settings(dest).mode == "mirror"
    got = custom.settings(dest)
    assert (got.list_name, got.mode, str(got.schedule)) == (
        "{entity}: {segment}", "managed", "daily 06:30",
    )  # fmt: skip
    assert got.guards == Guards(allow_empty=False, max_remove_fraction=0.5)


def test_the_entity_email_column_can_override_a_default_column(ws: Workspace) -> None:
    activations.create_destination(ws, "sg", host="http://127.0.0.1:9", email_column="city")
    dest = activations.get_destination(ws, "sg")
    inherited = activations.activate(ws, "se")
    own = activations.activate(ws, "se", name="own", email_column=activations.ENTITY_EMAIL_COLUMN)
    assert inherited.settings(dest).email_column == "city"
    assert own.settings(dest).email_column is None  # the entity's own, as without a default
    assert activations.get_activation(ws, "own").overrides == {"email_column": ""}
    none = activations.activate(ws, "se", name="none", email_column=None)  # None: no override
    assert none.settings(dest).email_column == "city"
    with pytest.raises(CatalogError, match=r"no column 'mail'.*email"):
        activations.activate(ws, "se", name="typo", email_column="mail")


def test_the_key_goes_to_the_key_file_never_the_state_store(ws: Workspace) -> None:
    activations.create_destination(ws, "sg", host="http://127.0.0.1:9", api_key=KEY)
    raw = sqlite3.connect(ws.settings.state_db_path).execute("SELECT config FROM destinations")
    stored = raw.fetchall()[0][0]
    assert KEY not in stored and json.loads(stored)["host"] == "http://127.0.0.1:9"
    key_file = ws.settings.home / "secrets" / "sg.key"
    assert key_file.read_text().strip() == KEY
    assert key_file.stat().st_mode & 0o077 == 0


def test_region_eu_defaults_to_the_eu_host(ws: Workspace) -> None:
    assert activations.create_destination(ws, "eu", region="eu").host == EU_HOST
    with pytest.raises(ConfigError, match="region"):
        activations.create_destination(ws, "mars", region="mars")


def test_bad_settings_are_refused_with_a_clear_message(ws: Workspace) -> None:
    activations.create_destination(ws, "sg", host="http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="placeholders"):
        activations.activate(ws, "se", list_name="{segmnet}")
    with pytest.raises(ConfigError, match="mode"):
        activations.activate(ws, "se", mode="sometimes")
    with pytest.raises(ConfigError, match="max_remove_fraction"):
        activations.activate(ws, "se", guards={"max_remove_fraction": 2})
    with pytest.raises(ConfigError, match="invalid schedule"):
        activations.activate(ws, "se", schedule="whenever")
    with pytest.raises(NotFoundError, match="segment"):
        activations.activate(ws, "no-such-segment")
    activations.activate(ws, "se")
    with pytest.raises(ConflictError, match="exists already"):
        activations.activate(ws, "se")


def test_activating_without_naming_one_of_several_destinations_is_refused(
    ws: Workspace,
) -> None:
    with pytest.raises(ConfigError, match="none"):
        activations.activate(ws, "se")
    activations.create_destination(ws, "a", host="http://127.0.0.1:9")
    activations.create_destination(ws, "b", host="http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="saved destinations: a, b"):
        activations.activate(ws, "se")
    assert activations.activate(ws, "se", "b").destination == "b"


def test_a_destination_without_a_key_fails_its_connection_test_plainly(ws: Workspace) -> None:
    activations.create_destination(ws, "sg", host="http://127.0.0.1:9")
    check = activations.test_connection(ws, "sg")
    assert not check.ok and "no SendGrid API key" in check.message


def test_discard_only_a_waiting_run_and_say_nothing_was_sent(ws: Workspace) -> None:
    waiting = ws.store.create_run("a", {"status": "needs_approval"})
    done = ws.store.create_run("a", {"status": "succeeded"})
    discarded = activations.discard_run(ws, waiting)
    assert (discarded.status, discarded.message) == (
        "discarded", "discarded by the user: nothing was sent",
    )  # fmt: skip
    assert activations.get_run(ws, waiting).status == "discarded"
    with pytest.raises(ConflictError, match="run 2 is succeeded: only a waiting run"):
        activations.discard_run(ws, done)
    with pytest.raises(ConflictError, match="only a waiting run"):
        activations.discard_run(ws, waiting)  # twice
    with pytest.raises(NotFoundError):
        activations.discard_run(ws, 99)


def test_delete_waits_for_a_running_push_and_keeps_the_history(ws: Workspace) -> None:
    activations.create_destination(ws, "sg", host="http://127.0.0.1:9")
    activations.activate(ws, "se", name="a")
    ws.store.confirm_added("a", [("p@x.org", "c1")], None)
    ws.store.create_run("a", {"status": "succeeded"})
    owner = sync_lock.acquire(ws.store, "a")
    with pytest.raises(ConflictError, match="already running"):
        activations.delete_activation(ws, "a")
    assert activations.get_activation(ws, "a").segment == "se"  # still there
    sync_lock.release(ws.store, owner)
    activations.delete_activation(ws, "a")
    assert activations.list_activations(ws) == [] and ws.store.read_snapshot("a").is_empty()
    assert [r.status for r in activations.list_runs(ws, "a")] == ["succeeded"]
    with pytest.raises(NotFoundError, match="activation"):
        activations.delete_activation(ws, "a")
