"""What the scheduled runner should do with each activation now: the due-ness decision.

The decision reads the state store with plain ``sqlite3`` (read-only), not through
``workbench.store``: that module pulls in polars and DuckDB, and a runner with nothing due must
finish in about a second. Only the activations, destinations and the latest runs are read.

Rules (``decide``), from the run history of one activation:

- a schedule that cannot be read, or a missing destination: ``invalid`` (a configuration error);
- the latest run waits for approval: ``waiting`` (reported, never re-run by the runner);
- the latest run is unfinished (``planned``/``applying``): ``due`` (the run resumes it; while
  another process holds its lock the run is reported as skipped);
- otherwise :func:`workbench.schedule_timing.next_attempt` with the start of the last
  successful run, the end of the last failed run and the failures since the last success
  (back-off): ``due`` when that moment has come (missed slots run once), ``not_due``
  otherwise, and manual schedules are never due.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from workbench.errors import ConfigError
from workbench.schedule_timing import next_attempt
from workbench.schedules import Schedule, parse_schedule

DecisionKind = Literal["due", "not_due", "waiting", "invalid"]
HISTORY_LIMIT = 50  # runs read per activation: enough to reach the 6 h back-off cap
UNFINISHED = ("planned", "applying")
IGNORED = ("superseded", "abandoned")  # replaced plans: neither a success nor a failure


@dataclass(frozen=True)
class RunRow:
    """One past run, as far as scheduling cares."""

    id: int
    status: str
    started_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ActivationState:
    """A saved activation's schedule source and its latest runs (newest first)."""

    name: str
    config: dict[str, Any]
    destination: dict[str, Any] | None
    runs: list[RunRow] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    """What the runner does with one activation, and why."""

    name: str
    kind: DecisionKind
    reason: str
    next_attempt: datetime | None = None
    run_id: int | None = None


def _connect_read_only(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    return con


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _runs_of(con: sqlite3.Connection, name: str) -> list[RunRow]:
    rows = con.execute(
        "SELECT id, status, started_at, updated_at FROM runs WHERE activation = ? "
        "ORDER BY id DESC LIMIT ?",
        (name, HISTORY_LIMIT),
    ).fetchall()
    return [
        RunRow(
            int(r["id"]), r["status"], _parse_time(r["started_at"]), _parse_time(r["updated_at"])
        )
        for r in rows
    ]


def read_states(db_path: Path, only: str | None = None) -> list[ActivationState]:
    """Every saved activation (or only the one named) with its destination and latest runs.

    A state store that does not exist yet holds no activations.
    """
    if not Path(db_path).exists():
        return []
    with closing(_connect_read_only(Path(db_path))) as con:
        try:
            destinations = {
                r["name"]: json.loads(r["config"])
                for r in con.execute("SELECT name, config FROM destinations").fetchall()
            }
            rows = con.execute("SELECT name, config FROM activations ORDER BY name").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # a store that was never migrated holds nothing yet
            raise
        states = []
        for row in rows:
            if only is not None and row["name"] != only:
                continue
            config = json.loads(row["config"])
            destination = destinations.get(str(config.get("destination")))
            states.append(
                ActivationState(row["name"], config, destination, _runs_of(con, row["name"]))
            )
    return states


def _as_schedule(value: Any) -> Schedule:
    """A Schedule from the stored text or dict form (None means manual)."""
    if value is None:
        return Schedule.manual()
    if isinstance(value, dict):
        return Schedule.from_dict(value)
    return parse_schedule(str(value))


def effective_schedule(state: ActivationState) -> Schedule:
    """The activation's own schedule override, else its destination's default schedule."""
    if state.destination is None:
        raise ConfigError(
            f"activation {state.name!r} names destination {state.config.get('destination')!r}, "
            "which is not saved: save it or change the activation"
        )
    overrides = state.config.get("overrides") or {}
    if overrides.get("schedule") is not None:
        return _as_schedule(overrides["schedule"])
    return _as_schedule((state.destination.get("defaults") or {}).get("schedule"))


@dataclass(frozen=True)
class History:
    """What back-off and schedules need from a run history."""

    last_success: datetime | None
    last_failure: datetime | None
    consecutive_failures: int


def summarise(runs: list[RunRow]) -> History:
    """Last successful start, last failure's end and failures since the last success."""
    failures, last_failure = 0, None
    for run in runs:  # newest first
        if run.status == "succeeded":
            return History(run.started_at, last_failure, failures)
        if run.status == "failed":
            failures += 1
            last_failure = last_failure or run.updated_at
    return History(None, last_failure, failures)


def _latest_relevant(runs: list[RunRow]) -> RunRow | None:
    return next((r for r in runs if r.status not in IGNORED), None)


def decide(state: ActivationState, now: datetime) -> Decision:
    """What to do with one activation at ``now`` (see the module docstring)."""
    try:
        schedule = effective_schedule(state)
    except ConfigError as exc:
        return Decision(state.name, "invalid", str(exc))
    latest = _latest_relevant(state.runs)
    if latest is not None and latest.status == "needs_approval":
        approve = f"python -m workbench activation approve {latest.id}"
        reason = f"run {latest.id} waits for approval: {approve}"
        return Decision(state.name, "waiting", reason, run_id=latest.id)
    if latest is not None and latest.status in UNFINISHED:
        return Decision(state.name, "due", f"resume unfinished run {latest.id}", run_id=latest.id)
    history = summarise(state.runs)
    at = next_attempt(
        schedule, history.last_success, history.last_failure, history.consecutive_failures, now
    )
    if at is None:
        return Decision(state.name, "not_due", "manual schedule: runs only when started by hand")
    if at > now:
        return Decision(state.name, "not_due", _not_yet(schedule, history, at), at)
    return Decision(state.name, "due", _due_reason(schedule, history), at)


def _not_yet(schedule: Schedule, history: History, at: datetime) -> str:
    when = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if history.consecutive_failures:
        return f"{history.consecutive_failures} failure(s) in a row: next try at {when}"
    return f"{schedule.describe()}: next due at {when}"


def _due_reason(schedule: Schedule, history: History) -> str:
    if history.last_success is None:
        return f"{schedule.describe()}: never ran successfully"
    if history.consecutive_failures:
        return f"{schedule.describe()}: retry after {history.consecutive_failures} failure(s)"
    return f"{schedule.describe()}: due"


def decide_all(db_path: Path, now: datetime, only: str | None = None) -> list[Decision]:
    """The decision for every saved activation (or only the one named), by name."""
    return [decide(state, now) for state in read_states(db_path, only)]


def activation_names(db_path: Path) -> list[str]:
    """The names of the saved activations."""
    return [state.name for state in read_states(db_path)]
