"""The home page: what is set up, the latest runs, and what needs attention."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import texts
from workbench.config import Settings
from workbench.store import Store


def _rows_of(at: AppTest, entity: str) -> int:
    frame = at.dataframe[0].value
    return int(frame.loc[frame["entity"] == entity, "rows"].iloc[0])


def test_home_shows_entities_with_row_counts_and_empty_runs(app: AppTest) -> None:
    at = app.run()
    assert not at.exception
    assert _rows_of(at, "customers") == 2_000
    assert _rows_of(at, "orders") > 0
    assert "No runs yet" in texts(at)
    assert "Nothing needs attention" in texts(at)


def test_home_lists_failed_and_waiting_runs(app: AppTest, app_env: Settings) -> None:
    store = Store(app_env.state_db_path)
    store.create_run("daily-se", {"status": "failed", "message": "an old failure, fixed since"})
    store.create_run("daily-se", {"status": "succeeded"})
    store.create_run("weekly-vip", {"status": "failed", "message": "the SendGrid key was rejected"})
    store.create_run("monthly", {"status": "needs_approval", "message": "would remove 40%"})
    at = app.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Run 3 of activation **weekly-vip** failed: the SendGrid key was rejected"
    ]
    assert "would remove 40%" in at.warning[0].value
    runs = at.dataframe[1].value
    assert list(runs["status"]) == ["needs_approval", "failed", "succeeded", "failed"]


def test_home_with_a_destination_points_at_the_activations_page(
    app: AppTest, app_env: Settings
) -> None:
    store = Store(app_env.state_db_path)
    store.save_destination("demo", {"kind": "sendgrid", "host": "http://127.0.0.1:1"})
    store.save_segment({"name": "SE", "entity": "customers",
                        "filter": {"column": "country", "op": "eq", "value": "SE"}})  # fmt: skip
    at = app.run()
    assert not at.exception
    [note] = [i.value for i in at.info if "No runs yet" in i.value]
    assert note == "No runs yet. To start: activate a segment on the Activations page."


def test_home_says_a_failed_runs_http_status_once(app: AppTest, app_env: Settings) -> None:
    refused = "SendGrid refused creating list 'se' (403): the API key lacks a permission"
    Store(app_env.state_db_path).create_run(
        "se", {"status": "failed", "message": f"{refused} (HTTP 403)"}
    )
    at = app.run()
    assert [e.value for e in at.error] == [f"Run 1 of activation **se** failed: {refused}"]
