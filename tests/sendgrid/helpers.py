"""Small helpers for the sandbox tests: call the real client and get (status, body, headers)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sendgrid
from python_http_client.exceptions import HTTPError


def call(
    sg: sendgrid.SendGridAPIClient,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, Any] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """Call ``method path`` (path starts with ``/v3``) through the real client, any status."""
    client = sg.client
    for segment in path.removeprefix("/v3/").split("/"):
        client = client._(segment)
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs["request_body"] = body
    if query:
        kwargs["query_params"] = query
    try:
        response = getattr(client, method.lower())(**kwargs)
        status, raw, headers = response.status_code, response.body, response.headers
    except HTTPError as exc:
        status, raw, headers = exc.status_code, exc.body, exc.headers
    parsed = json.loads(raw) if raw else None
    return status, parsed, dict(headers.items())


def wait_for(predicate: Callable[[], Any], timeout_s: float = 3.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout_s} s")


def run_child(script: str, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh Python process from the project's top folder (for what only a
    process of its own can show: a SIGKILL, a segfault at exit)."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=Path(__file__).resolve().parents[2],
    )


SENDGRID_AHEAD = 1_000.0  # in the schedule tests, SendGrid's clock reads 1,000 s more than ours


class HandClock:
    """A clock the test moves by hand (``clock.now = ...``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
