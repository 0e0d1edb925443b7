"""Runs and activations shaped for people: table rows, chart data, summaries, messages.

Streamlit-free, so the pages stay thin and every number they show is unit-tested here. The
actions (discard a waiting run, delete an activation) are in the public API,
``workbench.activations``.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import polars as pl

from workbench import activations
from workbench.destinations.sendgrid.run_record import RunRecord
from workbench.destinations.sendgrid.sync import REASON_NOT_CONTACT
from workbench.emails import REASON_DUPLICATE, REASON_INVALID, REASON_NULL
from workbench.errors import NotFoundError
from workbench.workspace import Workspace

PREVIEW_ROWS = 200
HTTP_SUFFIX = re.compile(r"\s*\(HTTP (\d{3})\)\s*$")
TERMINAL = ("succeeded", "failed", "needs_approval", "superseded", "abandoned", "discarded")
MODE_TEXT = {
    "managed": "managed: removes only members this activation added",
    "mirror": "mirror: the list becomes exactly segment ∩ contacts; removes members others added",
}


# what a skip reason's code means, for people; downloads keep the codes
SKIP_REASON_TEXT = {
    REASON_NULL: "no email",
    REASON_INVALID: "invalid email",
    REASON_DUPLICATE: "duplicate email",
    REASON_NOT_CONTACT: "not a SendGrid contact",
}


def reason_text(code: Any) -> Any:
    """A skip reason in plain words (unknown reasons, and None, as they are)."""
    return SKIP_REASON_TEXT.get(code, code) if isinstance(code, str) else code


def readable_reasons(frame: pl.DataFrame, column: str = "reason") -> pl.DataFrame:
    """``frame`` with its reason codes in plain words, for display (not for downloads)."""
    if column not in frame.columns or frame.schema[column] != pl.String:
        return frame
    return frame.with_columns(pl.col(column).replace(SKIP_REASON_TEXT))


def status_said_once(message: str) -> str:
    """A run's message with its HTTP status said once: runs recorded before the sync learnt
    to say it once carry ``(HTTP 403)`` after a SendGrid text that already names 403; such a
    repeated suffix is dropped."""
    found = HTTP_SUFFIX.search(message)
    if found is None:
        return message
    before = message[: found.start()]
    return before if re.search(rf"\b{found.group(1)}\b", before) else message


def skipped_rows(record: RunRecord) -> list[dict[str, Any]]:
    """The run's skipped rows by reason, in plain words."""
    reasons = record.fields.get("skipped_by_reason") or {}
    return [{"skipped because": reason_text(k), "rows": int(v)} for k, v in reasons.items()]


def run_label(record: RunRecord) -> str:
    """A run for a menu: ``run 3: succeeded, started 2026-06-30 12:00:00 UTC``."""
    return f"run {record.id}: {record.status}, started {when(record.started_at)}"


def as_utc(iso: str) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (naive ones are UTC); None if unreadable."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def when(iso: str) -> str:
    """A stored UTC timestamp as ``2026-06-30 12:00:00 UTC`` (the text itself if unreadable)."""
    moment = as_utc(iso)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else iso


def total_skipped(record: RunRecord) -> int:
    """How many rows the run skipped, over every reason."""
    return sum(int(v) for v in (record.fields.get("skipped_by_reason") or {}).values())


def activation_rows(ws: Workspace) -> list[dict[str, Any]]:
    """One row per activation: segment, list, mode, schedule in plain English, last run."""
    rows = []
    for activation in activations.list_activations(ws):
        settings = activation.settings(activations.get_destination(ws, activation.destination))
        last = activations.list_runs(ws, activation.name, limit=1)
        rows.append(
            {
                "activation": activation.name,
                "segment": activation.segment,
                "list": list_name(ws, activation.segment, settings.list_name),
                "mode": settings.mode,
                "email column": settings.email_column or "the entity's own",
                "schedule": settings.schedule.describe(),
                "last run": when(last[0].started_at) if last else "never",
                "status": last[0].status if last else "",
            }
        )
    return rows


def list_name(ws: Workspace, segment: str, template: str) -> str:
    """The list name template filled in (the template itself if the segment is gone)."""
    try:
        entity = ws.store.get_segment(segment).get("entity")
    except NotFoundError:
        return template
    return template.format(segment=segment, entity=entity)


def funnel_rows(funnel: list[tuple[str, int]] | list[list[Any]]) -> list[dict[str, Any]]:
    """The coverage funnel as rows: step, count, and share of the segment's members."""
    first = max(int(funnel[0][1]), 1) if funnel else 1
    return [
        {"step": str(step), "count": int(count), "share": f"{int(count) / first:.0%}"}
        for step, count in funnel
    ]


def bounded(frame: pl.DataFrame, limit: int = PREVIEW_ROWS) -> tuple[pl.DataFrame, str]:
    """The first ``limit`` rows, and a note saying so when rows were left out ("" if none)."""
    if frame.height <= limit:
        return frame, ""
    return frame.head(limit), f"Showing the first {limit:,} of {frame.height:,} rows."


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """A frame as CSV bytes, for a download button."""
    return frame.write_csv().encode("utf-8")


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """A frame as Parquet bytes, for a download button."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def history_rows(records: list[RunRecord]) -> list[dict[str, Any]]:
    """The run history table: started, status, added, removed, skipped, failed, duration, calls."""
    return [
        {
            "run": r.id,
            "started": when(r.started_at),
            "status": r.status,
            "added": int(r.fields.get("added") or 0),
            "removed": int(r.fields.get("removed") or 0),
            "skipped": total_skipped(r),
            "failed": int(r.fields.get("failed") or 0),
            "duration (s)": round(float(r.fields.get("duration_s") or 0), 1),
            "API calls": int(r.fields.get("api_calls") or 0),
        }
        for r in records
    ]


def size_over_time(records: list[RunRecord]) -> pl.DataFrame:
    """Oldest first: each run's adds, removes and our members on the list after it.

    After a succeeded run the size is its funnel's "will be on the list"; after any other run
    it is the size before plus its confirmed adds minus its confirmed removes.
    """
    size, rows = 0, []
    for r in sorted(records, key=lambda r: r.id):
        added, removed = int(r.fields.get("added") or 0), int(r.fields.get("removed") or 0)
        funnel = dict((str(s), int(c)) for s, c in r.fields.get("funnel") or [])
        if r.status == "succeeded" and "will be on the list" in funnel:
            size = funnel["will be on the list"]
        else:
            size = size + added - removed
        rows.append((as_utc(r.started_at), size, added, removed))
    schema = {"started": pl.Datetime("ms", "UTC"), "list size": pl.Int64(), "added": pl.Int64()}
    schema["removed"] = pl.Int64()
    return pl.DataFrame(rows, schema, orient="row")


def job_rows(record: RunRecord) -> list[dict[str, Any]]:
    """Every SendGrid job of a run: batch, kind, job id, status and its counts."""
    rows = []
    for batch in record.fields.get("jobs") or []:
        for job in batch.get("outcome") or [{"job_id": ", ".join(batch.get("job_ids") or [])}]:
            rows.append(
                {
                    "batch": batch.get("seq"),
                    "kind": batch.get("kind"),
                    "batch status": batch.get("status"),
                    "job id": job.get("job_id", ""),
                    "job status": job.get("status", "not finished"),
                    **{k: job.get(k) for k in ("requested", "updated", "created", "errored")},
                }
            )
    return rows


def api_call_rows(record: RunRecord) -> list[dict[str, Any]]:
    """API calls of a run per endpoint, most first."""
    calls = record.fields.get("api_calls_by_endpoint") or {}
    return [
        {"endpoint": k, "calls": int(v)} for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
    ]


def retries(record: RunRecord) -> int:
    """How many API calls of the run were retried (over every endpoint)."""
    found = record.fields.get("api_retries") or 0
    return sum(int(v) for v in found.values()) if isinstance(found, dict) else int(found)


def waited_s(record: RunRecord) -> float:
    """Seconds the run waited for rate limits to reset."""
    return float(record.fields.get("api_waited_s") or 0)


def created_total(record: RunRecord) -> int:
    """Contacts SendGrid reports CREATED by the run's jobs (a sync must never create any)."""
    return sum(
        int(job.get("created") or 0)
        for batch in record.fields.get("jobs") or []
        for job in batch.get("outcome") or []
    )


def approval_reasons(record: RunRecord) -> list[str]:
    """Why a run waits for approval (the guards' words, else its message)."""
    reasons = [str(p) for p in record.fields.get("guard_problems") or []]
    return reasons or ([record.message] if record.message else [])
