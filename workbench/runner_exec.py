"""Running (or previewing) one activation for the scheduled runner, and what it reports.

Every activation the runner looks at ends as one :class:`ActivationResult`: a run's outcome
(``succeeded``, ``failed``, ``needs_approval``, ``applying``), ``skipped`` (another process runs
it: the sync lock said "already running"), ``waiting`` (an earlier run waits for approval),
``not_due``, ``planned`` (a dry run), ``interrupted`` (abandoned on SIGTERM; it resumes on the
next start) or ``error`` (a configuration problem: exit code 2).

``workbench.activations`` (polars, DuckDB, sendgrid) is imported here only when something is
actually run, so a runner with nothing due starts fast.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.errors import ConfigError, NotFoundError, RunSkipped, WorkbenchError
from workbench.runner_plan import Decision

if TYPE_CHECKING:
    from workbench.destinations.sendgrid.sync_context import SyncOptions
    from workbench.workspace import Workspace

log = logging.getLogger("workbench.runner")
T = TypeVar("T")
FAILING = frozenset({"failed", "needs_approval", "waiting"})
CONFIG_ERRORS = (ConfigError, NotFoundError)
COUNT_NAMES = ("added", "removed", "skipped", "failed")
LOG_LEVELS = {"not_due": logging.DEBUG, "succeeded": logging.INFO, "planned": logging.INFO}


@dataclass
class ActivationResult:
    """What happened to one activation in one pass of the runner."""

    name: str
    status: str
    run_id: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    next_attempt: str | None = None
    duration_s: float | None = None

    def to_json(self) -> str:
        """One line of JSON with sorted keys."""
        return json.dumps(asdict(self), sort_keys=True)

    def describe(self) -> str:
        """One line for people: ``NAME: status (run 12) added=3 ... reason``."""
        run = f" (run {self.run_id})" if self.run_id is not None else ""
        counts = " ".join(f"{k}={v}" for k, v in self.counts.items())
        parts = [f"{self.name}: {self.status}{run}", counts, self.reason]
        return " ".join(p for p in parts if p)


class Abandoned(Exception):
    """A stop was asked for and the run in flight did not end within the grace period."""

    def __init__(self, name: str) -> None:
        super().__init__(f"activation {name}: the run in flight was abandoned")
        self.name = name


def exit_code(results: list[ActivationResult]) -> int:
    """2 for a configuration error, 1 when a run failed or waits for approval, else 0."""
    statuses = {r.status for r in results}
    if "error" in statuses:
        return 2
    return 1 if statuses & FAILING else 0


def quoted(value: object) -> str:
    """A log value, in double quotes when it holds spaces, quotes or ``=``."""
    text = str(value)
    return json.dumps(text) if any(c.isspace() or c in '"=' for c in text) or not text else text


def log_result(result: ActivationResult) -> None:
    """One log line for the result (counts for runs; the reason for everything else)."""
    fields: list[tuple[str, object]] = [("activation", result.name)]
    if result.run_id is not None:
        fields.append(("run", result.run_id))
    fields.append(("status", result.status))
    fields += list(result.counts.items())
    if result.duration_s is not None:
        fields.append(("duration", f"{result.duration_s:.1f}s"))
    if result.reason and result.status != "succeeded":
        fields.append(("reason", result.reason))
    level = LOG_LEVELS.get(result.status, logging.WARNING)
    log.log(level, " ".join(f"{k}={quoted(v)}" for k, v in fields))


def from_decision(decision: Decision) -> ActivationResult:
    """The result of an activation that is not run in this pass."""
    status = {"not_due": "not_due", "waiting": "waiting", "invalid": "error"}[decision.kind]
    when = decision.next_attempt
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None and status == "not_due" else None
    return ActivationResult(
        decision.name, status, decision.run_id, reason=decision.reason, next_attempt=iso
    )


def call_interruptibly(
    fn: Callable[[], T], name: str, stop: threading.Event | None, grace_s: float
) -> T:
    """``fn()`` on a worker thread; once ``stop`` is set, wait ``grace_s`` more, then give up.

    Giving up raises :class:`Abandoned`; the worker is a daemon thread, so the caller should
    end the process (the run's batches are persisted: the next start resumes it).
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"run-{name}", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
        if stop is not None and stop.is_set():
            worker.join(grace_s)
            if worker.is_alive():
                raise Abandoned(name)
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _run_counts(fields: dict[str, Any]) -> dict[str, int]:
    skipped = sum((fields.get("skipped_by_reason") or {}).values())
    values = {**fields, "skipped": skipped}
    return {name: int(values.get(name) or 0) for name in COUNT_NAMES}


def run_activation(
    ws: Workspace,
    name: str,
    options: SyncOptions | None = None,
    only_if: Callable[[], bool] | None = None,
) -> ActivationResult:
    """Run (or resume) one activation now; failures become results, never exceptions.

    ``only_if`` is checked under the activation's lock (see ``activations.run``)."""
    from workbench import activations

    started = time.monotonic()
    try:
        record = activations.run(ws, name, options=options, only_if=only_if)
    except Exception as exc:
        result = failure(name, exc)
    else:
        result = ActivationResult(
            name, record.status, record.id, _run_counts(record.fields), record.message
        )
    result.duration_s = round(time.monotonic() - started, 3)
    return result


def preview_activation(
    ws: Workspace, name: str, options: SyncOptions | None = None
) -> tuple[ActivationResult, str]:
    """What a run would do now (reads SendGrid, writes nothing): the result and the plan text."""
    from workbench import activations

    try:
        plan = activations.preview(ws, name, options=options)
    except Exception as exc:
        return failure(name, exc), ""
    reason = "; ".join(f"would need approval: {p}" for p in plan.guard_problems)
    return ActivationResult(name, "planned", None, dict(plan.counts), reason), plan.describe()


def failure(name: str, exc: Exception) -> ActivationResult:
    """The result of an activation whose run raised ``exc`` (messages never hold secrets)."""
    if isinstance(exc, RunSkipped):
        return ActivationResult(name, "skipped", reason=str(exc))
    if isinstance(exc, CONFIG_ERRORS):
        return ActivationResult(name, "error", reason=str(exc))
    if isinstance(exc, WorkbenchError):
        return ActivationResult(name, "failed", reason=str(exc))
    log.exception("activation=%s: unexpected error", quoted(name))
    return ActivationResult(name, "failed", reason=f"unexpected {type(exc).__name__}: {exc}")


def iso_z(moment: datetime) -> str:
    """``2026-11-27T06:00:00Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
