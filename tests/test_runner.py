"""The runner's due-ness decisions from a real SQLite run history, its exit codes and how fast
it starts with nothing due. Run histories are written into the store with chosen times (the
clock is injected as ``now``); pushes over HTTP live in tests/test_runner_sync.py."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import workbench
from workbench import activations, runner
from workbench.config import Settings
from workbench.runner_exec import ActivationResult, exit_code
from workbench.runner_plan import Decision, decide_all
from workbench.workspace import Workspace

REPO = Path(workbench.__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # a Friday
SEGMENT = {
    "name": "se",
    "entity": "customers",
    "filter": {"column": "country", "op": "eq", "value": "SE"},
}


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Workspace:
    """A workspace with a saved segment, a destination without a key and no key around."""
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    workspace.store.save_segment(SEGMENT)
    activations.create_destination(workspace, "sg", host="http://127.0.0.1:9")
    return workspace


def add_run(ws: Workspace, name: str, status: str, started: datetime, minutes: float = 1) -> int:
    """Record a past run of ``name`` that started at ``started`` and ended ``minutes`` later."""
    run_id = ws.store.create_run(name, {"status": status})
    ended = started + timedelta(minutes=minutes)
    with ws.store.transaction() as con:
        con.execute(
            "UPDATE runs SET started_at = ?, updated_at = ? WHERE id = ?",
            (started.isoformat(), ended.isoformat(), run_id),
        )
    return run_id


def decision(ws: Workspace, name: str, now: datetime = NOW) -> Decision:
    """The runner's decision for one activation at ``now``."""
    (found,) = decide_all(ws.settings.state_db_path, now, only=name)
    return found


@pytest.mark.parametrize(
    ("schedule", "last_success", "due", "next_at"),
    [
        ("manual", None, False, None),
        ("manual", NOW - timedelta(days=30), False, None),
        ("every 6h", None, True, NOW),
        ("every 6h", NOW - timedelta(hours=5), False, NOW + timedelta(hours=1)),
        ("every 6h", NOW - timedelta(hours=7), True, NOW - timedelta(hours=1)),
        ("daily 06:30", NOW - timedelta(hours=23, minutes=30), False, NOW + timedelta(minutes=30)),
        ("daily 05:30", NOW - timedelta(hours=24, minutes=30), True, NOW - timedelta(minutes=30)),
        ("weekly mon 06:30", datetime(2026, 11, 23, 6, 30, tzinfo=UTC), False,
         datetime(2026, 11, 30, 6, 30, tzinfo=UTC)),
        ("weekly mon 06:30", datetime(2026, 11, 16, 6, 30, tzinfo=UTC), True,
         datetime(2026, 11, 23, 6, 30, tzinfo=UTC)),
        ("cron 0 */4 * * *", NOW - timedelta(hours=2, minutes=1), True, NOW - timedelta(hours=2)),
        ("cron 0 */4 * * *", NOW - timedelta(hours=1, minutes=59), False, NOW + timedelta(hours=2)),
    ],
)  # fmt: skip
def test_every_schedule_kind_is_due_from_the_last_successful_run(
    ws: Workspace, schedule: str, last_success: datetime | None, due: bool, next_at: datetime | None
) -> None:
    activations.activate(ws, "se", schedule=schedule)
    if last_success is not None:
        add_run(ws, "se", "succeeded", last_success)
    found = decision(ws, "se")
    assert (found.kind, found.next_attempt) == ("due" if due else "not_due", next_at)


def test_missed_slots_run_once_and_failures_do_not_count_as_the_last_run(ws: Workspace) -> None:
    activations.activate(ws, "se", schedule="daily 05:00")
    add_run(ws, "se", "succeeded", NOW - timedelta(days=3, hours=1))  # three slots missed
    add_run(ws, "se", "superseded", NOW - timedelta(days=2))
    assert decision(ws, "se").kind == "due"
    add_run(ws, "se", "succeeded", NOW - timedelta(minutes=2))  # the one catch-up run
    found = decision(ws, "se")
    assert (found.kind, found.next_attempt) == ("not_due", NOW + timedelta(hours=23))


def test_repeated_failures_back_off_5_10_20_minutes_up_to_6_hours(ws: Workspace) -> None:
    activations.activate(ws, "se", schedule="every 30m")
    add_run(ws, "se", "succeeded", NOW - timedelta(days=1))
    failed_at = NOW - timedelta(minutes=4)
    add_run(ws, "se", "failed", failed_at - timedelta(minutes=1))  # ended 4 minutes ago
    assert decision(ws, "se").next_attempt == failed_at + timedelta(minutes=5)
    assert decision(ws, "se", failed_at + timedelta(minutes=5)).kind == "due"
    add_run(ws, "se", "failed", failed_at - timedelta(minutes=1))
    assert decision(ws, "se", failed_at + timedelta(minutes=9)).kind == "not_due"
    assert decision(ws, "se", failed_at + timedelta(minutes=10)).kind == "due"
    for _ in range(10):
        add_run(ws, "se", "failed", failed_at - timedelta(minutes=1))
    assert decision(ws, "se").next_attempt == failed_at + timedelta(hours=6)
    assert "12 failure(s) in a row" in decision(ws, "se").reason
    add_run(ws, "se", "succeeded", NOW - timedelta(minutes=1))  # a success resets the count
    assert decision(ws, "se").next_attempt == NOW + timedelta(minutes=29)


def test_waiting_for_approval_is_reported_and_unfinished_runs_are_resumed(ws: Workspace) -> None:
    activations.activate(ws, "se", schedule="every 30m")
    waiting = add_run(ws, "se", "needs_approval", NOW - timedelta(days=1))
    found = decision(ws, "se")
    assert (found.kind, found.run_id) == ("waiting", waiting)
    assert f"activation approve {waiting}" in found.reason
    applying = add_run(ws, "se", "applying", NOW - timedelta(minutes=1))
    assert (decision(ws, "se").kind, decision(ws, "se").run_id) == ("due", applying)


def test_the_destinations_default_schedule_applies_unless_overridden(ws: Workspace) -> None:
    activations.create_destination(ws, "hourly", host="http://127.0.0.1:9", schedule="every 1h")
    activations.activate(ws, "se", "hourly", name="inherits")
    activations.activate(ws, "se", "hourly", name="manual-override", schedule="manual")
    assert decision(ws, "inherits").kind == "due"
    assert decision(ws, "manual-override").kind == "not_due"


def test_a_pass_with_nothing_due_runs_nothing_and_exits_0(ws: Workspace) -> None:
    activations.activate(ws, "se", schedule="manual")
    results = runner.run_due(ws.settings, now=NOW)
    assert [(r.name, r.status) for r in results] == [("se", "not_due")]
    assert exit_code(results) == 0 and ws.store.list_runs() == []


def test_a_missing_api_key_or_destination_is_a_configuration_error(ws: Workspace) -> None:
    activations.activate(ws, "se", schedule="every 1h")  # due, but "sg" has no key
    ws.store.save_activation("orphan", {"segment": "se", "destination": "gone"})
    results = {r.name: r for r in runner.run_due(ws.settings, now=NOW)}
    assert results["se"].status == "error" and "no SendGrid API key" in results["se"].reason
    assert results["orphan"].status == "error" and "'gone'" in results["orphan"].reason
    assert exit_code(list(results.values())) == 2


def cli(settings: Settings, *args: str, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``python -m workbench.runner ARGS`` in a subprocess with the test's settings."""
    environ = {k: v for k, v in os.environ.items() if k != "SENDGRID_API_KEY"}
    environ |= {"PYTHONPATH": str(REPO), "WORKBENCH_HOME": str(settings.home),
                "WORKBENCH_WAREHOUSE": str(settings.warehouse), **(env or {})}  # fmt: skip
    command = [sys.executable, "-m", "workbench.runner", *args]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=60,
                          cwd=settings.home.parent)  # fmt: skip


def test_cli_exit_2_for_an_unknown_activation_or_bad_settings(ws: Workspace) -> None:
    activations.activate(ws, "se")
    unknown = cli(ws.settings, "--activation", "nope")
    assert (
        unknown.returncode == 2
        and "no saved activation named 'nope' (saved: 'se')" in unknown.stderr
    )
    bad = cli(ws.settings, "--once", env={"WORKBENCH_QUERY_TIMEOUT_S": "-1"})
    assert bad.returncode == 2 and "WORKBENCH_QUERY_TIMEOUT_S" in bad.stderr
    assert cli(ws.settings, "--loop", "--dry-run").returncode == 2


def test_cli_json_reports_not_due_activations_with_their_next_attempt(ws: Workspace) -> None:
    activations.activate(ws, "se", schedule="every 6h")
    add_run(ws, "se", "succeeded", datetime.now(UTC) - timedelta(hours=1))
    done = cli(ws.settings, "--once", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    report = json.loads(line)
    assert set(report) == {
        "name",
        "status",
        "run_id",
        "counts",
        "reason",
        "next_attempt",
        "duration_s",
    }
    assert (report["name"], report["status"], report["run_id"]) == ("se", "not_due", None)
    assert report["next_attempt"].endswith("Z") and "every 6 hours" in report["reason"]


STARTUP_PROBE = """
import sys, time
started = time.perf_counter()
from workbench.runner import main
code = main(["--once"])
heavy = sorted(m for m in ("streamlit", "polars", "duckdb", "sendgrid") if m in sys.modules)
print(code, round(time.perf_counter() - started, 3), ",".join(heavy) or "-")
"""


def test_once_with_nothing_due_starts_fast_without_heavy_imports(ws: Workspace) -> None:
    activations.activate(ws, "se", schedule="manual")
    add_run(ws, "se", "succeeded", datetime.now(UTC))
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = cli(ws.settings, "--once")
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    # 3 s of wall time on an idle machine; the shared test machine may be far busier than that
    busy = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert wall < 3 * busy and cpu < 1.5, (wall, cpu, busy)
    environ = {**os.environ, "PYTHONPATH": str(REPO), "WORKBENCH_HOME": str(ws.settings.home)}
    probe = subprocess.run([sys.executable, "-c", STARTUP_PROBE], env=environ, text=True,
                           capture_output=True, timeout=60, check=True)  # fmt: skip
    code, _, heavy = probe.stdout.splitlines()[-1].split()
    assert (code, heavy) == ("0", "-"), probe.stderr


def test_the_loop_sleeps_until_the_next_attempt_between_1_and_60_seconds() -> None:
    def result(next_attempt: datetime | None) -> ActivationResult:
        when = next_attempt.strftime("%Y-%m-%dT%H:%M:%SZ") if next_attempt else None
        return ActivationResult("a", "not_due", next_attempt=when)

    assert runner.seconds_until_next([result(NOW + timedelta(seconds=20))], NOW) == 20
    assert runner.seconds_until_next([result(NOW + timedelta(hours=3))], NOW) == 60
    assert runner.seconds_until_next([result(NOW - timedelta(hours=3))], NOW) == 1
    assert runner.seconds_until_next([result(None)], NOW) == 60


def test_the_loop_repeats_a_report_only_when_it_changes() -> None:
    seen: list[str] = []
    report = runner.changes_only(lambda r: seen.append(f"{r.name}:{r.status}"))
    waiting = ActivationResult("a", "waiting", 7, reason="run 7 waits for approval")
    for _ in range(3):
        report(waiting)
    report(ActivationResult("a", "succeeded", 8, duration_s=1.0))
    report(ActivationResult("a", "succeeded", 9, duration_s=1.0))  # every run is reported
    report(waiting)
    assert seen == ["a:waiting", "a:succeeded", "a:succeeded", "a:waiting"]
