"""The shapes shared by the sandbox's endpoint handlers: request, answer, error, route table.

A handler is ``fn(request: ApiRequest) -> Answer``; it raises ``ApiError`` for a 4xx, which the
HTTP layer renders in SendGrid's shape ``{"errors": [{"field": ..., "message": ...}]}``.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from workbench.destinations.sendgrid.sandbox.faults import FaultPlan

EMAIL_PATTERN = re.compile(r"^[^@\s,;<>()\[\]\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


class ApiError(Exception):
    """An answer other than 2xx, raised inside a handler."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        """SendGrid's error body."""
        return {"errors": [{"field": self.field, "message": self.message}]}


class JobQueue(Protocol):
    """Where handlers create jobs and find jobs not taken in yet (``inbox.JobInbox``)."""

    def create(self, kind: str, payload: dict[str, Any], text: str | None = None) -> str:
        """Accept a job (``text``: its payload as JSON text, if known); returns its id."""
        ...

    def waiting_status(self, job_id: str) -> dict[str, Any] | None:
        """A job not taken in yet, as pending; None when unknown."""
        ...


@dataclass
class ApiRequest:
    """One API request, inside its database transaction (``jobs``: where jobs are created;
    ``raw``: the body as received, which ``body`` is parsed from)."""

    conn: sqlite3.Connection
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    base_url: str
    plan: FaultPlan
    now: float
    scopes: list[str] = field(default_factory=list)
    jobs: JobQueue | None = None
    raw: bytes = b""

    def job_queue(self) -> JobQueue:
        """Where this request creates jobs (every API request has one)."""
        if self.jobs is None:
            raise ApiError(500, "this request cannot create jobs")
        return self.jobs

    def query_value(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def json_object(self) -> dict[str, Any]:
        """The body, which must be a JSON object."""
        if not isinstance(self.body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return self.body


@dataclass
class Answer:
    """A handler's answer: JSON (``body``) or raw bytes (``raw`` with ``content_type``)."""

    status: int
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ApiRequest], Answer]


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path template with ``{name}`` parts, scope needed, handler.

    ``reads_only``: the handler writes nothing, so it may answer from a read snapshot when the
    request has no due work to do first. ``renders_export``: the path's ``{id}`` is an export
    to render (outside the write lock) before answering, if it is due. ``creates_job``: the
    handler only reads the state file and creates a job in the inbox, so it answers from a read
    snapshot without waiting for the job worker.
    """

    method: str
    template: str
    scope: str | None
    handler: Handler
    reads_only: bool = False
    renders_export: bool = False
    creates_job: bool = False

    @property
    def endpoint(self) -> str:
        """The endpoint's name, used for rate limits and the request log."""
        return f"{self.method} {self.template}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when this route serves ``method path``, else None."""
        if method != self.method:
            return None
        found = _compiled(self.template).fullmatch(path)
        return found.groupdict() if found else None


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(template: str) -> re.Pattern[str]:
    if template not in _PATTERNS:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        _PATTERNS[template] = re.compile(regex)
    return _PATTERNS[template]


def is_valid_email(text: object) -> bool:
    """Whether ``text`` looks like an address SendGrid accepts (a practical check, not RFC 5322)."""
    return isinstance(text, str) and len(text) <= 254 and bool(EMAIL_PATTERN.match(text.strip()))


def string_list(value: object, name: str, *, at_most: int | None = None) -> list[str]:
    """``value`` as a non-empty list of strings, else a 400 naming ``name``."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{name} must be a non-empty array of strings", name)
    if at_most is not None and len(value) > at_most:
        raise ApiError(400, f"{name} may hold at most {at_most} values", name)
    return value


def iso(ts: float) -> str:
    """A Unix time as SendGrid's ISO 8601 UTC text with milliseconds."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return f"{text}.{int(ts % 1 * 1000):03d}Z"
