"""The yardsticks of ``bench.bench_sync``: the API-call lower bound of a sync run, the time the
rate limits allow for it, and what a run really did (calls by endpoint, sandbox work time).

Definitions (also in ``bench.bench_sync``'s docstring, which is the reference):

* ``lower_bound_calls``: list setup (first run: 1 page of lists + 1 create; later runs 0)
  + lookups, the fewer of ``ceil(n/100)`` searches and one export (1 create + 1 status poll
  + 1 download) + ``max(ceil(adds/30,000), ceil(upsert bytes/6 MB))`` upserts
  + ``ceil(removed contact ids/100)`` removals + one status poll per job (the job is finished
  when first polled).
* ``allowed_seconds``: with ``r`` requests/s per endpoint and latency ``L`` per request, the
  phases run one after the other and the calls of one phase concurrently across endpoints:
  setup ``setup_calls * L`` + lookup (searches ``s/r + L``; export ``3 L``: create, poll and
  download one after the other) + apply ``max(upserts, removals, polls)/r + 2 L`` (upserts
  and removals on their own endpoints in parallel, polls on the job-status endpoint; the last
  send and its poll are one latency each).
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEARCH_MAX = 100
UPSERT_MAX = 30_000
UPSERT_MAX_BYTES = 6 * 1024 * 1024
REMOVE_MAX = 100
EXPORT_CALLS = 3  # create + one status poll + one download
WRITE_ENDPOINTS = ("PUT /v3/marketing/contacts", "DELETE /v3/marketing/lists/{id}/contacts")
DOWNLOAD = "GET export file"


@dataclass(frozen=True)
class Workload:
    """What one run must do: emails to look up, contacts to add (and their upsert bytes),
    contact ids to remove, and whether the list must be found or created first."""

    lookups: int
    adds: int
    add_bytes: int
    removes: int
    first_run: bool


def lower_bound(w: Workload) -> dict[str, int]:
    """The fewest API calls per kind for ``w`` and their ``total`` (see the module docstring)."""
    upserts = max(math.ceil(w.adds / UPSERT_MAX), math.ceil(w.add_bytes / UPSERT_MAX_BYTES))
    removals = math.ceil(w.removes / REMOVE_MAX)
    parts = {
        "list setup": 2 if w.first_run else 0,
        "lookup": min(math.ceil(w.lookups / SEARCH_MAX), EXPORT_CALLS),
        "upserts": upserts,
        "removals": removals,
        "job polls": upserts + removals,
    }
    return {**parts, "total": sum(parts.values())}


def allowed_seconds(w: Workload, rate: float, latency: float) -> float:
    """The wall time the rate limits and latency allow for ``w`` (see the module docstring)."""
    bound = lower_bound(w)
    searches = math.ceil(w.lookups / SEARCH_MAX)
    if searches == 0:
        lookup = 0.0
    elif searches <= EXPORT_CALLS:
        lookup = searches / rate + latency
    else:
        lookup = EXPORT_CALLS * latency
    busiest = max(bound["upserts"], bound["removals"], bound["job polls"])
    apply = busiest / rate + 2 * latency if busiest else 0.0
    return bound["list setup"] * latency + lookup + apply


def calls_by_endpoint(log: list[dict[str, Any]], since: float, downloads: int) -> dict[str, int]:
    """API requests the sandbox logged at or after ``since`` per endpoint (429s included),
    plus ``downloads`` export-file fetches (the sandbox does not log those)."""
    counted = Counter(str(e["endpoint"] or e["path"]) for e in log if e["at"] >= since)
    if downloads:
        counted[DOWNLOAD] = downloads
    return dict(sorted(counted.items()))


def sandbox_work_seconds(state: Path, log: list[dict[str, Any]], since: float) -> float:
    """Time the run only waited for the sandbox's own processing, to subtract from its wall time:
    every export's render time (created to completed) plus the job tail, from the last write
    request's answer to the last job finishing (when later)."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        exports = conn.execute(
            "SELECT coalesce(sum(completed_at - created_at), 0) FROM exports WHERE created_at >= ?",
            (since,),
        ).fetchall()[0][0]
        last_job = conn.execute(
            "SELECT max(finished_at) FROM jobs WHERE created_at >= ?", (since,)
        ).fetchall()[0][0]
    finally:
        conn.close()
    writes = [e["at"] for e in log if e["at"] >= since and e["endpoint"] in WRITE_ENDPOINTS]
    tail = max(0.0, last_job - max(writes)) if last_job and writes else 0.0
    return float(exports) + tail


def timeline(state: Path, log: list[dict[str, Any]], since: float) -> list[str]:
    """Lines of what happened after ``since``, in time order: each API request (when it was
    answered) and each job's and export's creation and end, in seconds since ``since``."""
    events = [
        (e["at"], f"{e['status']} {e['endpoint'] or e['path']}") for e in log if e["at"] >= since
    ]
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        jobs = conn.execute(
            "SELECT id, size, created_at, finished_at FROM jobs WHERE created_at >= ?", (since,)
        ).fetchall()
        exports = conn.execute(
            "SELECT id, created_at, completed_at FROM exports WHERE created_at >= ?", (since,)
        ).fetchall()
    finally:
        conn.close()
    for job_id, size, created, finished in jobs:
        events.append((created, f"    job {job_id[:8]} created ({size} rows)"))
        if finished:
            events.append((finished, f"    job {job_id[:8]} finished"))
    for export_id, created, completed in exports:
        events.append((created, f"    export {export_id[:8]} created"))
        if completed:
            events.append((completed, f"    export {export_id[:8]} ready"))
    return [f"{at - since:8.3f} {text}" for at, text in sorted(events)]
