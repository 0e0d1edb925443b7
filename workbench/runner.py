"""The scheduled runner: ``python -m workbench.runner --once | --loop | --activation NAME``.

::

    python -m workbench.runner --once              run whatever is due, then exit (cron, timers)
    python -m workbench.runner --loop              stay up; wake when the next one is due
    python -m workbench.runner --activation NAME   run one activation now, whatever its schedule
        [--dry-run]  plan and print only (activations.preview): nothing is written anywhere
        [--json]     one JSON object per activation on stdout: name, status, counts, run_id,
                     reason, next_attempt, duration_s
        [--stop-grace S]  on SIGTERM/SIGINT, how long the run in flight may take to finish

Which activations are due is decided by :mod:`workbench.runner_plan` (schedules, missed runs
run once, back-off after failures, runs waiting for approval are reported, not re-run). Two
runners (and a push from the app) never run one activation at once: the sync's activation
lock refuses the second, which is reported as ``skipped``. Just before running, the decision is
taken again from the store, so an activation another process ran meanwhile is not run twice.

On SIGTERM or SIGINT no new run starts; the run in flight gets ``--stop-grace`` seconds to end.
If it does not, it is abandoned (its batches are persisted; the next start resumes it) and the
process exits at once. Exit codes: 0 all fine (nothing due included), 1 a run failed or waits
for approval, 2 a configuration error (settings, unknown activation, missing API key...).

This module never imports Streamlit, and polars, DuckDB and sendgrid only when something runs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.runner_exec import (
    ActivationResult,
    call_interruptibly,
    from_decision,
    log_result,
    preview_activation,
    run_activation,
)
from workbench.runner_plan import Decision, activation_names, decide_all

if TYPE_CHECKING:
    from workbench.destinations.sendgrid.sync_context import SyncOptions
    from workbench.workspace import Workspace

STOP_GRACE_S = 20.0  # well inside systemd's default TimeoutStopSec of 90 s
MAX_SLEEP_S = 60.0
MIN_SLEEP_S = 1.0
Emit = Callable[[ActivationResult], None]


def _now() -> datetime:
    return datetime.now(UTC)


def _workspace(settings: Settings) -> Workspace:
    from workbench.workspace import Workspace

    return Workspace(settings)


def _report(result: ActivationResult, emit: Emit) -> ActivationResult:
    emit(result)
    return result


def changes_only(emit: Emit) -> Emit:
    """``emit`` for results that are runs, or that differ from the activation's last report
    (so a loop does not repeat "waiting for approval" on every wake)."""
    last: dict[str, tuple[str, int | None, str]] = {}

    def emit_changes(result: ActivationResult) -> None:
        key = (result.status, result.run_id, result.reason)
        if result.duration_s is not None or last.get(result.name) != key:
            emit(result)
        last[result.name] = key

    return emit_changes


def _run_checked(
    ws: Workspace,
    decision: Decision,
    now: datetime,
    dry_run: bool,
    options: SyncOptions | None,
    stop: threading.Event | None,
    grace_s: float,
) -> tuple[ActivationResult, str]:
    """Run (or preview) a due activation unless a fresh look at the store says otherwise."""
    fresh = decide_all(ws.settings.state_db_path, now, only=decision.name)
    if not fresh or fresh[0].kind != "due":
        return from_decision(fresh[0]) if fresh else from_decision(decision), ""
    if dry_run:
        return preview_activation(ws, decision.name, options)

    def still_due() -> bool:
        again = decide_all(ws.settings.state_db_path, now, only=decision.name)
        return bool(again) and again[0].kind == "due"

    work = lambda: run_activation(ws, decision.name, options, still_due)  # noqa: E731
    return call_interruptibly(work, decision.name, stop, grace_s), ""


def run_due(
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    options: SyncOptions | None = None,
    stop: threading.Event | None = None,
    grace_s: float = STOP_GRACE_S,
    emit: Emit = log_result,
    plans: list[str] | None = None,
) -> list[ActivationResult]:
    """One pass: every saved activation's result (the due ones are run, or previewed).

    ``now`` is the clock (default: the real UTC time). ``emit`` gets each result as soon as it
    is known (default: one log line each); ``plans`` collects the plan texts of a dry run.
    Raises :class:`Abandoned` when ``stop`` was set and the run in flight did not end within
    ``grace_s``.
    """
    now = now or _now()
    decisions = decide_all(settings.state_db_path, now)
    results = [_report(from_decision(d), emit) for d in decisions if d.kind != "due"]
    due = [d for d in decisions if d.kind == "due"]
    if not due:
        return results
    with _workspace(settings) as ws:
        for decision in due:
            if stop is not None and stop.is_set():
                break
            result, plan = _run_checked(ws, decision, now, dry_run, options, stop, grace_s)
            results.append(_report(result, emit))
            if plan and plans is not None:
                plans.append(plan)
    return results


def run_named(
    settings: Settings,
    name: str,
    *,
    dry_run: bool = False,
    options: SyncOptions | None = None,
    stop: threading.Event | None = None,
    grace_s: float = STOP_GRACE_S,
    emit: Emit = log_result,
    plans: list[str] | None = None,
) -> ActivationResult:
    """Run (or preview) one activation now, whatever its schedule; ConfigError if unknown."""
    names = activation_names(settings.state_db_path)
    if name not in names:
        saved = ", ".join(repr(n) for n in names) or "none"
        raise ConfigError(f"no saved activation named {name!r} (saved: {saved})")
    with _workspace(settings) as ws:
        if dry_run:
            result, plan = preview_activation(ws, name, options)
            if plans is not None and plan:
                plans.append(plan)
        else:
            work = lambda: run_activation(ws, name, options)  # noqa: E731
            result = call_interruptibly(work, name, stop, grace_s)
    return _report(result, emit)


def seconds_until_next(results: list[ActivationResult], now: datetime) -> float:
    """How long the loop sleeps: until the next attempt, at least 1 s and at most 60 s."""
    moments = [
        datetime.fromisoformat(r.next_attempt.replace("Z", "+00:00"))
        for r in results
        if r.next_attempt
    ]
    if not moments:
        return MAX_SLEEP_S
    wait = (min(moments) - now).total_seconds()
    return min(max(wait, MIN_SLEEP_S), MAX_SLEEP_S)


def run_loop(
    settings: Settings,
    stop: threading.Event,
    *,
    options: SyncOptions | None = None,
    grace_s: float = STOP_GRACE_S,
    emit: Emit = log_result,
    clock: Callable[[], datetime] = _now,
) -> None:
    """Run due activations until ``stop`` is set, re-reading the store on every wake.

    Runs are always reported; other results only when they change (see :func:`changes_only`).
    """
    report = changes_only(emit)
    while not stop.is_set():
        try:
            results = run_due(
                settings, now=clock(), options=options, stop=stop, grace_s=grace_s, emit=report
            )
        except (ConfigError, sqlite3.Error) as exc:  # e.g. a locked or broken store: keep going
            logging.getLogger("workbench.runner").error("cannot plan this pass: %s", exc)
            results = []
        stop.wait(seconds_until_next(results, clock()))


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit code."""
    from workbench.runner_cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
