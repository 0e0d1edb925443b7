"""The Destination page: a key saved and shown only masked, and the connection test against the
local SendGrid sandbox (real HTTP over loopback)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import texts
from workbench.config import Settings
from workbench.destinations.sendgrid.sandbox import SandboxServer
from workbench.secrets import key_file_path
from workbench.store import Store

PAGE = "pages/2_Destination.py"


@pytest.fixture
def page(app: AppTest, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The Destination page with WORKBENCH_SENDGRID_HOST pointing at the sandbox."""
    monkeypatch.setenv("WORKBENCH_SENDGRID_HOST", sandbox.url)
    app.run()
    app.switch_page(PAGE)
    return app.run()


def save_with_key(at: AppTest, key: str) -> AppTest:
    """Type ``key`` in the password field and save the destination as it stands."""
    at.text_input(key="dest_api_key").input(key).run()
    return at.button(key="dest_save").click().run()


def test_saved_key_is_never_shown_and_the_connection_works(
    page: AppTest,
    app_env: Settings,
    sg_key: str,
    sandbox: SandboxServer,
) -> None:
    at = save_with_key(page, sg_key)
    assert not at.exception
    assert at.selectbox(key="dest_choice").value == "sendgrid"
    saved = Store(app_env.state_db_path).get_destination("sendgrid")
    assert saved["host"] == sandbox.url
    assert saved["defaults"]["mode"] == "managed"
    assert key_file_path(app_env.home, "sendgrid").read_text().strip() == sg_key
    assert "(from key file)" in texts(at)
    assert "Sandbox" in texts(at)
    at.button(key="dest_test").click().run()
    assert not at.exception
    assert "connected" in at.success[0].value
    assert sg_key not in texts(at)
    assert at.session_state["dest_api_key"] == ""  # the typed key is not kept in the form


def test_a_wrong_key_gets_the_401_message(page: AppTest) -> None:
    at = save_with_key(page, "SG.wrong-key-for-this-sandbox")
    at.button(key="dest_test").click().run()
    assert not at.exception
    assert "rejected (401)" in at.error[0].value
    assert "SG.wrong-key-for-this-sandbox" not in texts(at)


def test_a_bad_schedule_is_explained_and_not_saved(page: AppTest, app_env: Settings) -> None:
    at = page
    at.text_input(key="+ New destination_schedule").input("every blue moon").run()
    assert any("invalid schedule" in e.value for e in at.error)
    at.button(key="dest_save").click().run()
    assert not at.exception
    assert Store(app_env.state_db_path).list_destinations() == []


def test_a_destination_needs_a_name(page: AppTest, app_env: Settings) -> None:
    at = page
    at.text_input(key="+ New destination_name").input("  ").run()
    at.button(key="dest_save").click().run()
    assert not at.exception
    assert any("give the destination a name" in e.value for e in at.error)
    assert Store(app_env.state_db_path).list_destinations() == []
