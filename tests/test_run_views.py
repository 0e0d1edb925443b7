"""Run records shaped for the pages (tables, chart series, progress) and the background push
registry."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from workbench import run_views as rv
from workbench import ui_push
from workbench.activations import ENTITY_EMAIL_COLUMN
from workbench.destinations.sendgrid.destination import DefaultSettings, Guards
from workbench.destinations.sendgrid.run_record import RunRecord
from workbench.destinations.sendgrid.sync_state import CONFIRMED, FAILED, Batch, save_batches
from workbench.errors import ConflictError, QueryError
from workbench.schedules import Schedule
from workbench.ui_settings import changed_settings
from workbench.workspace import Workspace

FUNNEL = [
    ["members", 150],
    ["valid emails", 140],
    ["unique after normalisation", 130],
    ["SendGrid contacts", 78],
    ["will be on the list", 78],
]


def record(run_id: int, status: str = "succeeded", **fields: Any) -> RunRecord:
    """A run record as ``activations.get_run`` returns it."""
    run = {"id": run_id, "activation": "a", "status": status, "updated_at": "t"}
    return RunRecord.from_run(
        {"started_at": f"2026-06-0{run_id}T08:00:00.000+02:00", **run, **fields}
    )


def test_funnel_rows_give_counts_and_shares_of_the_members() -> None:
    rows = rv.funnel_rows(FUNNEL)
    assert [r["count"] for r in rows] == [150, 140, 130, 78, 78]
    assert [r["share"] for r in rows] == ["100%", "93%", "87%", "52%", "52%"]
    assert rv.funnel_rows([["members", 0]]) == [{"step": "members", "count": 0, "share": "0%"}]


def test_bounded_says_when_rows_were_left_out() -> None:
    frame = pl.DataFrame({"email": [f"p{i}@x.org" for i in range(5)]})
    assert rv.bounded(frame, 5) == (frame, "")
    shown, note = rv.bounded(frame, 2)
    assert shown["email"].to_list() == ["p0@x.org", "p1@x.org"]
    assert note == "Showing the first 2 of 5 rows."


def test_downloads_hold_every_row_in_both_formats() -> None:
    frame = pl.DataFrame({"email": ["a@x.org", "b@x.org"], "reason": [None, "not a contact"]})
    assert pl.read_csv(io.BytesIO(rv.csv_bytes(frame))).equals(frame)
    assert pl.read_parquet(io.BytesIO(rv.parquet_bytes(frame))).equals(frame)


def test_history_rows_sum_the_skip_reasons_and_default_missing_counts() -> None:
    done = record(
        2, added=5, removed=1, failed=0, duration_s=1.26, api_calls=9,
        skipped_by_reason={"null": 2, "not a SendGrid contact": 3},
    )  # fmt: skip
    waiting = record(3, "needs_approval")
    rows = rv.history_rows([waiting, done])
    assert rows[1] == {
        "run": 2, "started": "2026-06-02 06:00:00 UTC", "status": "succeeded", "added": 5,
        "removed": 1, "skipped": 5, "failed": 0, "duration (s)": 1.3, "API calls": 9,
    }  # fmt: skip
    assert (rows[0]["added"], rows[0]["skipped"], rows[0]["API calls"]) == (0, 0, 0)


def test_list_size_follows_the_funnel_after_success_and_the_net_change_otherwise() -> None:
    first = record(1, added=78, removed=0, funnel=FUNNEL)
    waiting = record(2, "needs_approval")
    failed = record(3, "failed", added=10, removed=4)  # partly applied
    later = record(4, added=1, removed=2, funnel=[*FUNNEL[:4], ["will be on the list", 83]])
    series = rv.size_over_time([later, failed, waiting, first])  # newest first, as listed
    assert series["list size"].to_list() == [78, 78, 84, 83]
    assert series["started"].to_list() == sorted(series["started"].to_list())
    assert series["started"][0] == datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    assert series["removed"].to_list() == [0, 0, 4, 2]


def test_job_rows_and_created_total_read_every_job_of_every_batch() -> None:
    jobs = [
        {"seq": 0, "kind": "add", "status": CONFIRMED, "job_ids": ["j1"],
         "outcome": [{"job_id": "j1", "status": "completed", "requested": 3, "updated": 3,
                      "created": 0, "errored": 0}]},
        {"seq": 1, "kind": "remove", "status": "sent", "job_ids": ["j2"], "outcome": []},
    ]  # fmt: skip
    rows = rv.job_rows(record(1, jobs=jobs))
    assert [(r["job id"], r["job status"], r["batch status"]) for r in rows] == [
        ("j1", "completed", CONFIRMED),
        ("j2", "not finished", "sent"),
    ]
    assert rv.created_total(record(1, jobs=jobs)) == 0
    jobs[0]["outcome"][0]["created"] = 2
    assert rv.created_total(record(1, jobs=jobs)) == 2


def test_retries_and_calls_are_totalled_over_endpoints() -> None:
    run = record(1, api_retries={"GET /x": 2, "PUT /y": 1}, api_calls_by_endpoint={"a": 1, "b": 4})
    assert rv.retries(run) == 3 and rv.retries(record(2)) == 0
    assert rv.api_call_rows(run) == [{"endpoint": "b", "calls": 4}, {"endpoint": "a", "calls": 1}]


def test_when_shows_utc_and_leaves_unreadable_text_alone() -> None:
    assert rv.when("2026-06-30T14:00:00.000+02:00") == "2026-06-30 12:00:00 UTC"
    assert rv.when("2026-06-30T12:00:00") == "2026-06-30 12:00:00 UTC"
    assert rv.when("yesterday") == "yesterday"


def test_approval_reasons_prefer_the_guards_words() -> None:
    guarded = record(1, "needs_approval", guard_problems=["it would remove 63 of 78"])
    assert rv.approval_reasons(guarded) == ["it would remove 63 of 78"]
    assert rv.approval_reasons(record(2, "needs_approval", message="waiting")) == ["waiting"]


def test_changed_settings_keep_only_what_differs_from_the_defaults() -> None:
    defaults = DefaultSettings(schedule=Schedule.daily(6, 30), guards=Guards(False, 0.2))
    form = {
        "name": "", "list_name": "{segment}", "email_column": None, "schedule": "daily 06:30",
        "mode": "managed", "allow_empty": False, "max_remove_percent": 20,
        "adopt_existing_list": False,
    }  # fmt: skip
    assert changed_settings(defaults, form) == {"name": None, "adopt_existing_list": False}
    form |= {"name": "x", "mode": "mirror", "schedule": " every 6h", "max_remove_percent": 50}
    assert changed_settings(defaults, form) == {
        "name": "x", "adopt_existing_list": False, "mode": "mirror", "schedule": "every 6h",
        "guards": {"allow_empty": False, "max_remove_fraction": 0.5},
    }  # fmt: skip


def test_the_entity_email_column_is_a_choice_that_overrides_a_default_column() -> None:
    form = {"name": "", "list_name": "{segment}", "schedule": "manual", "mode": "managed",
            "max_remove_percent": 20}  # fmt: skip
    plain, column = DefaultSettings(), DefaultSettings(email_column="work_email")
    assert "email_column" not in changed_settings(plain, {**form, "email_column": ""})
    assert changed_settings(plain, {**form, "email_column": "work_email"})["email_column"] == (
        "work_email"
    )
    assert "email_column" not in changed_settings(column, {**form, "email_column": "work_email"})
    reset = changed_settings(column, {**form, "email_column": ENTITY_EMAIL_COLUMN})
    assert reset["email_column"] == ENTITY_EMAIL_COLUMN  # not "no override": that keeps the default


def test_a_repeated_http_status_is_said_once() -> None:
    forbidden = "SendGrid refused creating the list (403): the API key lacks a permission"
    assert rv.status_said_once(f"{forbidden} (HTTP 403)") == forbidden
    assert rv.status_said_once("HTTP 403 from SendGrid (HTTP 403)") == "HTTP 403 from SendGrid"
    deleted = "the list 'se' (L1) was deleted in SendGrid: recreate it (HTTP 404)"
    assert rv.status_said_once(deleted) == deleted  # the only place it is said: kept
    assert rv.status_said_once("refused (403) (HTTP 500)") == "refused (403) (HTTP 500)"
    assert rv.status_said_once("") == ""


def test_progress_counts_batches_and_confirmed_emails(workspace: Workspace) -> None:
    run_id = workspace.store.create_run("a", {"status": "applying"})
    assert ui_push.run_progress(workspace, run_id).describe().startswith("Planning")
    batches = [
        Batch(run_id, 0, "add", ["a@x.org", "b@x.org"], ["1", "2"], status=CONFIRMED),
        Batch(run_id, 1, "add", ["c@x.org"], ["3"], status=FAILED),
        Batch(run_id, 2, "remove", ["d@x.org"], ["4"]),
    ]
    save_batches(workspace.store, batches)
    progress = ui_push.run_progress(workspace, run_id)
    assert (progress.batches, progress.confirmed, progress.failed) == (3, 1, 1)
    assert progress.fraction == pytest.approx(2 / 3)
    assert progress.describe() == "2 of 3 batch(es) finished (2 of 4 emails confirmed), 1 failed"


def test_a_second_push_of_the_same_activation_is_refused_while_one_runs(
    workspace: Workspace,
) -> None:
    release = threading.Event()

    def slow() -> RunRecord:
        release.wait(10)
        return record(1)

    first = ui_push.start_push(workspace, "a", slow)
    with pytest.raises(ConflictError, match="already running"):
        ui_push.start_push(workspace, "a", slow)
    other = ui_push.start_push(workspace, "b", lambda: record(2))  # another activation may run
    release.set()
    assert ui_push.wait_for_push(workspace, "a", 10) is first and first.record == record(1)
    assert ui_push.wait_for_push(workspace, "b", 10) is other and not other.running
    again = ui_push.start_push(workspace, "a", lambda: record(3))  # finished: may start again
    ui_push.wait_for_push(workspace, "a", 10)
    assert again.record == record(3)


def test_a_failing_push_keeps_its_message(workspace: Workspace) -> None:
    def refused() -> RunRecord:
        raise ConflictError("activation a is already running (pid 1): wait for it to finish")

    def broken() -> RunRecord:
        raise QueryError("the warehouse timed out")

    ui_push.start_push(workspace, "a", refused)
    push = ui_push.wait_for_push(workspace, "a", 10)
    assert push is not None and push.error.startswith("Not started: activation a is already")
    ui_push.start_push(workspace, "a", broken)
    push = ui_push.wait_for_push(workspace, "a", 10)
    assert push is not None and push.error == "the warehouse timed out" and push.record is None


def test_skip_reasons_read_in_plain_words_and_downloads_keep_the_codes() -> None:
    skipped = record(1, skipped_by_reason={"null": 1, "not a SendGrid contact": 28, "invalid": 2})
    assert rv.skipped_rows(skipped) == [
        {"skipped because": "no email", "rows": 1},
        {"skipped because": "not a SendGrid contact", "rows": 28},
        {"skipped because": "invalid email", "rows": 2},
    ]
    log = pl.DataFrame({"email": ["a@x.org", None, "b@x.org", "c"],
                        "reason": [None, "null", "duplicate", "some new reason"]})  # fmt: skip
    shown = rv.readable_reasons(log)
    assert shown["reason"].to_list() == [None, "no email", "duplicate email", "some new reason"]
    assert log["reason"].to_list() == [None, "null", "duplicate", "some new reason"]
    assert pl.read_csv(io.BytesIO(rv.csv_bytes(log)))["reason"].to_list()[1] == "null"
    no_reasons = pl.DataFrame({"email": ["a@x.org"]})
    assert rv.readable_reasons(no_reasons).equals(no_reasons)


def test_run_label_uses_the_tables_time_format() -> None:
    run = record(3, status="failed")
    assert rv.run_label(run) == "run 3: failed, started 2026-06-03 06:00:00 UTC"
    assert rv.history_rows([run])[0]["started"] == "2026-06-03 06:00:00 UTC"
