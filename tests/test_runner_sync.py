# ruff: noqa: F811  (fixtures are imported from tests/sendgrid)
"""The runner pushing for real: a SendGrid sandbox over loopback HTTP, a real SQLite store and
real runner processes. Due runs happen once, failures back off, approvals are reported, a dry
run writes nothing, two runners and an app push never run one activation twice, and a runner
stopped by SIGTERM in the middle of a push is resumed by the next start without losing anyone."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import workbench
from tests.sendgrid.conftest import sandbox, sandbox_config, sg_key  # noqa: F401  (fixtures)
from tests.sendgrid.sync_support import FAST, WRITES, World, world  # noqa: F401
from workbench import activations, runner
from workbench.errors import ConflictError, RunSkipped
from workbench.runner_exec import exit_code

REPO = Path(workbench.__file__).resolve().parents[1]
FIRST = set(range(1, 151))
SECOND = set(range(60, 330))
UPSERT = "PUT /v3/marketing/contacts"


def later(**delta: float) -> datetime:
    """The real time now plus ``delta`` (the runner's clock; runs are stamped in real time)."""
    return datetime.now(UTC) + timedelta(**delta)


def runner_process(world: World, *args: str) -> subprocess.Popen[str]:
    """``python -m workbench.runner ARGS`` against the world's home, polling jobs quickly."""
    settings = world.ws.settings
    env = {k: v for k, v in os.environ.items() if k != "SENDGRID_API_KEY"}
    env |= {"PYTHONPATH": str(REPO), "WORKBENCH_HOME": str(settings.home),
            "WORKBENCH_WAREHOUSE": str(settings.warehouse),
            "WORKBENCH_SYNC_POLL_S": "0.02"}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.runner", *args], env=env, text=True,
        cwd=settings.home.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a runner process: exit code, stdout, stderr."""
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def run_count(world: World, name: str | None = None) -> int:
    """How many runs the store holds (of one activation)."""
    return len(activations.list_runs(world.ws, name or world.name))


@pytest.fixture
def hourly(world: World) -> World:
    """The world's activation on an hourly schedule (it never ran, so it is due)."""
    config = world.ws.store.get_activation(world.name)
    config["overrides"] = {**config["overrides"], "schedule": "every 1h"}
    world.ws.store.save_activation(world.name, config)
    return world


def test_a_due_activation_runs_once_and_logs_one_line_with_its_counts(
    hourly: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="workbench.runner")
    (result,) = runner.run_due(hourly.ws.settings, options=FAST)
    assert (result.status, exit_code([result])) == ("succeeded", 0), result.reason
    assert hourly.on_list() == hourly.expected(FIRST) == hourly.snapshot()
    assert result.counts["added"] == len(hourly.expected(FIRST)) and result.counts["failed"] == 0
    (line,) = [r.getMessage() for r in caplog.records if "status=succeeded" in r.getMessage()]
    assert line.startswith(f"activation={hourly.name} run={result.run_id} status=succeeded ")
    assert f"added={result.counts['added']} removed=0 skipped={result.counts['skipped']}" in line
    assert hourly.key not in caplog.text
    again = runner.run_due(hourly.ws.settings, options=FAST, now=later(minutes=30))
    assert [r.status for r in again] == ["not_due"] and run_count(hourly) == 1


def test_missed_daily_slots_run_once(world: World) -> None:
    config = world.ws.store.get_activation(world.name)
    config["overrides"] = {"schedule": "daily 00:00"}
    world.ws.store.save_activation(world.name, config)
    old = world.ws.store.create_run(world.name, {"status": "succeeded"})
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    with world.ws.store.transaction() as con:
        con.execute("UPDATE runs SET started_at = ?, updated_at = ? WHERE id = ?",
                    (three_days_ago, three_days_ago, old))  # fmt: skip
    statuses = [r.status for _ in range(3) for r in runner.run_due(world.ws.settings, options=FAST)]
    assert statuses == ["succeeded", "not_due", "not_due"] and run_count(world) == 2


def test_a_revoked_key_fails_then_backs_off(hourly: World) -> None:
    hourly.sandbox.admin.revoke_key(hourly.key)
    (first,) = runner.run_due(hourly.ws.settings, options=FAST)
    assert first.status == "failed" and "rejected (401)" in first.reason and exit_code([first]) == 1
    assert hourly.key not in first.reason
    requests = len(hourly.sandbox.admin.request_log())
    (waiting,) = runner.run_due(hourly.ws.settings, options=FAST, now=later(minutes=4))
    assert waiting.status == "not_due" and "1 failure(s) in a row" in waiting.reason
    assert len(hourly.sandbox.admin.request_log()) == requests  # nothing sent while backing off
    (second,) = runner.run_due(hourly.ws.settings, options=FAST, now=later(minutes=6))
    assert second.status == "failed" and run_count(hourly) == 2
    (third,) = runner.run_due(hourly.ws.settings, options=FAST, now=later(minutes=9))
    assert third.status == "not_due" and "2 failure(s) in a row" in third.reason


def test_a_run_waiting_for_approval_is_reported_not_rerun(hourly: World) -> None:
    assert runner.run_due(hourly.ws.settings, options=FAST)[0].status == "succeeded"
    hourly.set_segment(set(range(1, 21)))  # removes far more than 20%: the guard stops it
    (stopped,) = runner.run_due(hourly.ws.settings, options=FAST, now=later(hours=2))
    assert stopped.status == "needs_approval" and exit_code([stopped]) == 1
    writes = len(hourly.writes())
    code, out, _ = finish(runner_process(hourly, "--once", "--json"))
    report = json.loads(out)
    assert (code, report["status"], report["run_id"]) == (1, "waiting", stopped.run_id)
    assert run_count(hourly) == 2 and len(hourly.writes()) == writes
    assert hourly.on_list() == hourly.expected(FIRST)


def test_dry_run_plans_and_prints_but_writes_nothing(hourly: World) -> None:
    hourly.sandbox.admin.clear_request_log()
    code, out, err = finish(runner_process(hourly, "--once", "--dry-run"))
    assert code == 0, err
    assert f"activation {hourly.name} -> list" in out and "add " in out
    plans: list[str] = []
    result = runner.run_named(hourly.ws.settings, hourly.name, dry_run=True, plans=plans)
    report = json.loads(result.to_json())
    assert (report["status"], report["run_id"]) == ("planned", None) and len(plans) == 1
    assert report["counts"]["to_add"] == len(hourly.expected(FIRST))
    methods = {r["method"] for r in hourly.sandbox.admin.request_log()}
    assert hourly.writes() == [] and methods <= {"GET", "POST"}
    assert not any(
        r["path"].endswith("/lists") and r["method"] == "POST"
        for r in hourly.sandbox.admin.request_log()
    )  # no list created
    assert run_count(hourly) == 0 and hourly.snapshot() == set()


def test_two_runners_and_an_app_push_run_each_activation_exactly_once(hourly: World) -> None:
    activations.activate(hourly.ws, hourly.name, name="second", list_name="second {segment}",
                         schedule="every 1h")  # fmt: skip
    hourly.sandbox.admin.set_faults(latency_s=0.03)
    app_outcome: list[str] = []

    def push_from_the_app() -> None:
        try:
            app_outcome.append(activations.run(hourly.ws, hourly.name, options=FAST).status)
        except ConflictError as exc:
            app_outcome.append(str(exc))

    processes = [runner_process(hourly, "--once", "--json") for _ in range(2)]
    app = threading.Thread(target=push_from_the_app)
    app.start()
    outputs = [finish(p) for p in processes]
    app.join(timeout=120)
    reports = [json.loads(line) for _, out, _ in outputs for line in out.splitlines()]
    statuses = Counter((r["name"], r["status"]) for r in reports)
    assert all(code == 0 for code, _, _ in outputs), outputs
    assert run_count(hourly) == 1 and run_count(hourly, "second") == 1
    assert statuses[("second", "succeeded")] == 1
    assert statuses[(hourly.name, "succeeded")] + app_outcome.count("succeeded") == 1
    upserted = Counter(
        r["body"]["list_ids"][0] for r in hourly.sandbox.admin.request_log()
        if r["endpoint"] == UPSERT for _ in r["body"]["contacts"]
    )  # fmt: skip
    assert (
        sorted(upserted.values()) == [len(hourly.expected(FIRST))] * 2
    )  # each email once per list


def batch_statuses(world: World) -> list[str]:
    """The statuses of the sync's persisted batches, read straight from SQLite."""
    con = sqlite3.connect(world.ws.settings.state_db_path)
    try:
        return [r[0] for r in con.execute("SELECT status FROM run_batches").fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize("grace", ["0", "30"])
def test_sigterm_during_a_push_finishes_or_abandons_and_the_next_start_converges(
    world: World, grace: str
) -> None:
    world.run()
    contacts = world.contact_count()
    config = world.ws.store.get_activation(world.name)
    config["overrides"] = {"guards": {"max_remove_fraction": 1.0}}  # no approval needed
    world.ws.store.save_activation(world.name, config)
    world.set_segment(SECOND)
    world.sandbox.admin.set_faults(job_delay_s=0.6)  # the push is in flight for a while
    process = runner_process(world, "--activation", world.name, "--stop-grace", grace, "--json")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "sent" not in batch_statuses(world):
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    code, out, err = finish(process)
    assert code == 0, err
    expected_status = "interrupted" if grace == "0" else "succeeded"
    assert json.loads(out)["status"] == expected_status and "SIGTERM" in err
    world.sandbox.admin.set_faults(job_delay_s=0.0)
    world.sandbox.admin.flush()
    if grace == "0":
        assert activations.list_runs(world.ws, world.name)[0].status == "applying"
        (resumed,) = runner.run_due(world.ws.settings, options=FAST)  # a start after the stop
        assert resumed.status == "succeeded", resumed.reason
    assert world.on_list() == world.expected(SECOND) == world.snapshot()
    assert world.contact_count() == contacts


def test_loop_runs_what_is_due_and_stops_on_sigterm(hourly: World) -> None:
    process = runner_process(hourly, "--loop", "--json")
    assert process.stdout is not None
    report = json.loads(process.stdout.readline())
    assert (report["name"], report["status"]) == (hourly.name, "succeeded")
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process)
    assert code == 0 and f"activation={hourly.name} run=" in err
    assert hourly.on_list() == hourly.expected(FIRST) and run_count(hourly) == 1


def test_the_loop_rereads_the_store_on_each_wake(hourly: World) -> None:
    last = hourly.ws.store.create_run(hourly.name, {"status": "succeeded"})
    almost_an_hour_ago = (datetime.now(UTC) - timedelta(minutes=59, seconds=58)).isoformat()
    with hourly.ws.store.transaction() as con:
        con.execute("UPDATE runs SET started_at = ? WHERE id = ?", (almost_an_hour_ago, last))
    stop, seen = threading.Event(), list[str]()
    loop = threading.Thread(
        target=runner.run_loop, args=(hourly.ws.settings, stop),
        kwargs={"options": FAST, "emit": lambda r: seen.append(f"{r.name}:{r.status}")},
    )  # fmt: skip
    loop.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and f"{hourly.name}:not_due" not in seen:
        time.sleep(0.02)  # the first pass saw only the one activation, not due for 2 s
    activations.activate(hourly.ws, hourly.name, name="added later", list_name="later {segment}",
                         schedule="every 1h")  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and seen.count(f"{hourly.name}:succeeded") == 0:
        time.sleep(0.05)
    stop.set()
    loop.join(timeout=60)
    assert seen[0] == f"{hourly.name}:not_due" and "added later:succeeded" in seen
    assert seen.count(f"{hourly.name}:succeeded") == 1
    assert run_count(hourly) == 2 and run_count(hourly, "added later") == 1


def test_a_run_that_is_no_longer_due_under_the_lock_is_skipped(hourly: World) -> None:
    """The runner's last look happens under the activation's lock, so a run finished by
    another process between the runner's decision and its lock is not repeated."""
    with pytest.raises(RunSkipped, match="not due any more"):
        activations.run(hourly.ws, hourly.name, options=FAST, only_if=lambda: False)
    assert run_count(hourly) == 0 and hourly.writes() == []
    record = activations.run(hourly.ws, hourly.name, options=FAST, only_if=lambda: True)
    assert record.status == "succeeded" and run_count(hourly) == 1
