"""Waiting for SendGrid's asynchronous work: contact jobs and exports.

Everything that writes is asynchronous in SendGrid, so a caller polls: jobs until each is
completed, errored or failed; an export until it is ready (or failed). The client is passed in
(``job(id)``, ``export_status(id)``) with the client's own ``sleep`` and ``clock``.
``JobPace`` spaces the polls of one job by its reported progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from workbench.errors import Unavailable

from .models import ImportJob


class _ExportPolled(Protocol):
    def export_status(self, export_id: str) -> dict[str, Any]: ...


class _Polled(_ExportPolled, Protocol):
    def job(self, job_id: str) -> ImportJob: ...


def wait_for_jobs(
    client: _Polled,
    job_ids: list[str],
    poll_s: float,
    timeout_s: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, ImportJob]:
    """The latest status of every job, polled until all finished or the deadline passed."""
    deadline = clock() + timeout_s
    latest = {job_id: client.job(job_id) for job_id in dict.fromkeys(job_ids)}
    while not all(job.finished for job in latest.values()) and clock() < deadline:
        sleep(poll_s)
        for job_id, job in latest.items():
            if not job.finished:
                latest[job_id] = client.job(job_id)
    return latest


def wait_for_export(
    client: _ExportPolled,
    export_id: str,
    poll_s: float,
    timeout_s: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> list[str]:
    """The download URLs of a ready export; Unavailable when it fails or is not ready in time."""
    deadline = clock() + timeout_s
    while True:
        data = client.export_status(export_id)
        status = data.get("status")
        if status == "ready":
            return [str(url) for url in data.get("urls") or []]
        if status == "failure":
            reason = str(data.get("message") or "no reason given")[:300]
            raise Unavailable(f"SendGrid export {export_id} failed ({reason}); start it again")
        if clock() >= deadline:
            waited = f"{timeout_s:.0f} s"
            raise Unavailable(f"SendGrid export {export_id} not ready after {waited}; retry later")
        sleep(poll_s)


PACE_MARGIN = 1.2  # a job's pace varies (the 1M bench missed 9 of 41 polls with 1.05)


def rows_done(job: ImportJob) -> int:
    """The rows a job reports as handled so far (SendGrid's counts; 0 when it reports none)."""
    return job.created + job.updated + job.deleted + job.errored


class JobPace:
    """When to poll an unfinished job again, so that few polls find it unfinished.

    When the job reports rows handled so far, the next poll is due when the rest should be
    done at the pace observed between polls, or at first since the job was sent (the pace is
    kept across jobs: a list's jobs are worked through one after the other at a similar
    pace); otherwise the wait doubles from ``first_s``.
    Never less than ``first_s`` nor more than ``max_s``.
    """

    def __init__(
        self, first_s: float, max_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.first_s, self.max_s, self._clock = first_s, max_s, clock
        self._doubling = first_s
        self._rate = 0.0
        self._seen: tuple[str, int, float] | None = None

    def duration_s(self, rows: int) -> float | None:
        """Seconds a job of ``rows`` rows should take at the pace seen so far (no margin), or
        None while no pace is known."""
        return rows / self._rate if self._rate > 0 else None

    def next_delay(self, job: ImportJob, sent_at: float | None = None) -> float:
        """Seconds to sleep before polling ``job`` (just seen unfinished) again; ``sent_at``
        (on this pace's clock) is when its request was sent: before any pace is known, the
        rows done since then give a first, low estimate of it."""
        now, done = self._clock(), rows_done(job)
        seen = self._seen
        if seen and seen[0] == job.id and done > seen[1]:
            self._rate = (done - seen[1]) / max(now - seen[2], 1e-3)
        elif not self._rate and done and sent_at is not None:
            self._rate = done / max(now - sent_at, 1e-3)
        if seen is None or seen[0] != job.id or done > seen[1]:
            self._seen = (job.id, done, now)
        if self._rate > 0 and job.requested > done:
            delay = PACE_MARGIN * (job.requested - done) / self._rate
        else:
            delay, self._doubling = self._doubling, min(self._doubling * 2, self.max_s)
        return min(max(delay, self.first_s), self.max_s)
