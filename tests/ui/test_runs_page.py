# ruff: noqa: F811  (the `world` fixture is imported from test_activations_page)
"""The Runs page: the history of an activation, the list size over time, one run in detail
with its jobs and API calls, and the per-row log offered as CSV and Parquet downloads."""

from __future__ import annotations

import json

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

from tests.sendgrid.sync_support import FAST, World
from tests.ui.conftest import texts
from tests.ui.test_activations_page import FIRST, world  # noqa: F401  (fixture)
from workbench import activations, run_views
from workbench.config import Settings
from workbench.destinations.sendgrid.run_record import RunRecord
from workbench.store import Store

PAGE = "pages/4_Runs.py"
LATER = set(range(121, 181))


@pytest.fixture
def two_runs(world: World) -> list[RunRecord]:
    """Two runs of the activation: the first push, then a changed segment (approved)."""
    activations.activate(world.ws, world.name)
    first = activations.run(world.ws, world.name, options=FAST)
    world.set_segment(LATER)
    second = activations.run(world.ws, world.name, approve=True, options=FAST)
    assert (first.status, second.status) == ("succeeded", "succeeded"), second.message
    return [second, first]


def open_page(app: AppTest) -> AppTest:
    """The Runs page after the home page."""
    app.run()
    app.switch_page(PAGE)
    return app.run()


def metric(at: AppTest, label: str) -> str:
    """The value of the metric labelled ``label``."""
    return next(str(m.value) for m in at.metric if m.label == label)


def chart_data(at: AppTest, index: int) -> pl.DataFrame:
    """The data behind the ``index``-th chart of the page (Arrow IPC in the Vega-Lite proto)."""
    chart = at.get("vega_lite_chart")[index].proto
    data = chart.datasets[0].data.data if chart.datasets else chart.data.data
    table = pa.ipc.open_stream(data).read_all()
    return pl.from_arrow(table)  # type: ignore[return-value]


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first table the page shows that has ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def offered(at: AppTest, key_end: str) -> str:
    """The media file id behind the download button whose key ends with ``key_end``."""
    button = next(b for b in at.get("download_button") if b.proto.id.endswith(key_end))
    return str(button.proto.url).rsplit("/", 1)[-1].split(".")[0]


def test_no_runs_says_where_to_start(app: AppTest) -> None:
    at = open_page(app)
    assert not at.exception
    assert "No runs yet" in texts(at)


def test_history_lists_every_run_with_its_counts(
    app: AppTest,
    world: World,
    two_runs: list[RunRecord],
) -> None:
    at = open_page(app)
    assert not at.exception
    history = table_with(at, "API calls")
    assert list(history["run"]) == [r.id for r in two_runs]
    assert list(history["added"]) == [r.fields["added"] for r in two_runs]
    assert list(history["removed"]) == [r.fields["removed"] for r in two_runs]
    assert history["removed"].iloc[0] == len(world.expected(FIRST) - world.expected(LATER)) > 0
    assert list(history["API calls"]) == [r.fields["api_calls"] for r in two_runs]
    size = chart_data(at, 0)  # oldest run first
    assert list(size["list size"]) == [len(world.expected(FIRST)), len(world.expected(LATER))]
    assert world.on_list() == world.expected(LATER)
    changes = chart_data(at, 1)  # wide: the chart folds added/removed into bars itself
    oldest_first = two_runs[::-1]
    for kind in ("added", "removed"):
        assert list(changes[kind]) == [r.fields[kind] for r in oldest_first]
    spec = json.loads(at.get("vega_lite_chart")[1].proto.spec)
    assert spec["encoding"]["x"]["axis"]["format"] == "%Y-%m-%d %H:%M"  # not ".064"


def test_run_detail_shows_counts_jobs_and_offers_the_log(
    app: AppTest,
    world: World,
    two_runs: list[RunRecord],
) -> None:
    at = open_page(app)
    latest = two_runs[0]
    assert metric(at, "added") == str(latest.fields["added"])
    assert metric(at, "removed") == str(latest.fields["removed"])
    jobs = table_with(at, "job status")
    assert set(jobs["kind"]) == {"add", "remove"}
    assert set(jobs["job status"]) == {"completed"} and set(jobs["created"]) == {0}
    log = activations.run_log(world.ws, latest.id)
    assert f"Per-row log: {log.height:,} row(s)." in texts(at)
    name = f"run-{latest.id}-log"
    csv = _calculate_file_id(run_views.csv_bytes(log), "text/csv", f"{name}.csv")
    assert offered(at, "log_csv") == csv
    parquet = _calculate_file_id(
        run_views.parquet_bytes(log), "application/vnd.apache.parquet", f"{name}.parquet"
    )
    assert offered(at, "log_parquet") == parquet


def test_choosing_an_older_run_shows_its_detail(
    app: AppTest,
    two_runs: list[RunRecord],
) -> None:
    at = open_page(app)
    first = two_runs[1]
    at.selectbox(key=f"runs_run_{first.activation}").set_value(first.id).run()
    assert not at.exception
    assert f"Run {first.id} succeeded" in texts(at)
    assert metric(at, "removed") == "0"
    assert metric(at, "added") == str(first.fields["added"])


def test_alarms_and_the_error_of_a_failed_run_are_shown_loudly(
    app: AppTest, app_env: Settings
) -> None:
    alarm = "ALARM: SendGrid reports 2 contact(s) CREATED by add batch 0 (jobs j1)"
    job = {"job_id": "j1", "status": "completed", "requested": 5, "updated": 3, "created": 2}
    Store(app_env.state_db_path).create_run(
        "vip",
        {
            "status": "failed",
            "message": "SendGrid did not finish: add batch 0: job(s) j1 errored",
            "alarms": [alarm],
            "jobs": [{"seq": 0, "kind": "add", "status": "failed", "outcome": [job]}],
        },
    )
    at = open_page(app)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert "Run 1 failed: SendGrid did not finish: add batch 0: job(s) j1 errored" in errors
    assert [e.proto.icon for e in at.error if e.value == alarm] == [":material/e911_emergency:"]
    assert list(table_with(at, "job status")["created"]) == [2]
    assert "Per-row log: 0 row(s)." in texts(at)
