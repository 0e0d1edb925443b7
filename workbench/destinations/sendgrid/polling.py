"""Waiting for SendGrid's asynchronous work: contact jobs and exports.

Everything that writes is asynchronous in SendGrid, so a caller polls: jobs until each is
completed, errored or failed; an export until it is ready (or failed). The client is passed in
(``job(id)``, ``export_status(id)``) with the client's own ``sleep`` and ``clock``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from workbench.errors import Unavailable

from .models import ImportJob


class _Polled(Protocol):
    def job(self, job_id: str) -> ImportJob: ...

    def export_status(self, export_id: str) -> dict[str, Any]: ...


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
    client: _Polled,
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
