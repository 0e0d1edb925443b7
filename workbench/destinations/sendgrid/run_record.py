"""What a run leaves behind: its record (counts, jobs, API calls, alarms) and a per-row log.

The record is the run's row in the state store. The per-row log is built from two sources: the
rows the plan skipped (a Parquet file ``WORKBENCH_HOME/runs/<run_id>-skipped.parquet``, written
atomically when the run is planned) and the run's batches (every added or removed email with
its batch's outcome), so it is always in step with what SendGrid confirmed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from workbench.errors import WorkbenchError
from workbench.store import Store

from .sync_state import CONFIRMED, FAILED, Batch, load_batches

LOG_SCHEMA = {"email": pl.String, "action": pl.String, "outcome": pl.String, "reason": pl.String}
OUTCOME_OF_STATUS = {
    CONFIRMED: "done",
    FAILED: "failed",
    "pending": "not sent yet",
    "sending": "sending",
    "sent": "sent, job not finished",
}


@dataclass(frozen=True)
class RunRecord:
    """One run as the user sees it (see ``fields`` for every recorded number)."""

    id: int
    activation: str
    status: str
    started_at: str
    updated_at: str
    message: str = ""
    alarms: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run(cls, run: dict[str, Any]) -> RunRecord:
        """The record of a run dict from ``store.get_run``."""
        return cls(
            id=int(run["id"]),
            activation=str(run["activation"]),
            status=str(run["status"]),
            started_at=str(run["started_at"]),
            updated_at=str(run["updated_at"]),
            message=str(run.get("message") or ""),
            alarms=list(run.get("alarms") or []),
            fields=dict(run),
        )

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.status == "succeeded"

    def describe(self) -> str:
        """The result in a few lines of plain text."""
        f = self.fields
        lines = [f"run {self.id} of {self.activation}: {self.status}"]
        if self.message:
            lines.append(f"  {self.message}")
        counts = (
            *("segment_size", "valid_emails", "unique_emails", "contacts_matched"),
            *("added", "removed", "failed"),
        )
        lines += [f"  {name.replace('_', ' '):<18} {f[name]:>10,}" for name in counts if name in f]
        for reason, count in sorted((f.get("skipped_by_reason") or {}).items()):
            lines.append(f"  skipped, {reason}: {count:,}")
        if "api_calls" in f:
            lines.append(f"  API calls {f['api_calls']}, {f.get('duration_s', 0):.1f} s")
        lines += [f"  {alarm}" for alarm in self.alarms]
        return "\n".join(lines)


def runs_folder(home: Path) -> Path:
    """``WORKBENCH_HOME/runs``, created on first use."""
    folder = Path(home) / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_skipped(home: Path, run_id: int, skipped: pl.DataFrame) -> None:
    """Save the rows a run skipped (``email, reason``), atomically."""
    path = runs_folder(home) / f"{run_id}-skipped.parquet"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    skipped.write_parquet(temporary)
    os.replace(temporary, path)


def read_skipped(home: Path, run_id: int) -> pl.DataFrame:
    """The rows a run skipped (empty when it recorded none)."""
    path = runs_folder(home) / f"{run_id}-skipped.parquet"
    if not path.exists():
        return pl.DataFrame(schema={"email": pl.String, "reason": pl.String})
    return pl.read_parquet(path)


def batch_rows(batches: list[Batch]) -> pl.DataFrame:
    """One log row per email of every batch, with the batch's outcome."""
    rows = []
    for batch in batches:
        gone = set(batch.outcome.get("gone_contact_ids") or [])
        refused = batch.outcome.get("row_errors") or {}
        for email, contact_id in zip(batch.emails, batch.contact_ids, strict=True):
            outcome = OUTCOME_OF_STATUS.get(batch.status, batch.status)
            reason = "the contact no longer exists in SendGrid" if contact_id in gone else None
            if email in refused:
                outcome, reason = "failed", f"SendGrid refused the row: {refused[email]}"
            rows.append((email, batch.kind, outcome, reason))
    return pl.DataFrame(rows, LOG_SCHEMA, orient="row")


def build_run_log(store: Store, home: Path, run_id: int) -> pl.DataFrame:
    """The per-row log of a run: ``email, action (add/remove/skip), outcome, reason``."""
    store.get_run(run_id)  # NotFoundError for an unknown run
    skipped = read_skipped(home, run_id).select(
        "email", action=pl.lit("skip"), outcome=pl.lit("skipped"), reason="reason"
    )
    return pl.concat([batch_rows(load_batches(store, run_id)), skipped])


def export_log(frame: pl.DataFrame, path: Path) -> Path:
    """Write a run log to ``.csv`` or ``.parquet``; WorkbenchError for another ending."""
    path = Path(path)
    if not path.parent.is_dir():
        raise WorkbenchError(f"cannot write {str(path)!r}: the folder does not exist")
    if path.suffix.lower() == ".csv":
        frame.write_csv(path)
    elif path.suffix.lower() == ".parquet":
        frame.write_parquet(path)
    else:
        raise WorkbenchError(f"cannot export a run log to {path.name!r}: use .csv or .parquet")
    return path


def tally(batches: list[Batch]) -> dict[str, int]:
    """Emails added, removed and failed over a run's batches (their sizes: the rows are
    not parsed again)."""
    done = [b for b in batches if b.status == CONFIRMED]
    refused = sum(len(b.outcome.get("row_errors") or {}) for b in done)
    return {
        "added": sum(b.size for b in done if b.kind == "add") - refused,
        "removed": sum(b.size for b in done if b.kind == "remove"),
        "failed": sum(b.size for b in batches if b.status == FAILED) + refused,
    }
