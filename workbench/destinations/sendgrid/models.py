"""Typed results of the SendGrid client, and their parsing from SendGrid's JSON (defensively)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workbench.errors import DestinationError

IDENTIFIER_FIELDS = ("phone_number_id", "external_id", "anonymous_id")


@dataclass(frozen=True)
class Contact:
    """A contact as SendGrid stores it: its id, primary email, other identifiers and lists."""

    id: str
    email: str | None
    alternate_emails: tuple[str, ...] = ()
    phone_number_id: str | None = None
    external_id: str | None = None
    anonymous_id: str | None = None
    list_ids: tuple[str, ...] = ()

    def upsert_entry(self) -> dict[str, str]:
        """The contact as one upsert entry: primary email plus existing identifiers, nothing else.

        Sending no other field guarantees the upsert changes nothing but list membership.
        """
        entry = {"email": self.email} if self.email else {}
        for name in IDENTIFIER_FIELDS:
            value = getattr(self, name)
            if value:
                entry[name] = value
        return entry


@dataclass(frozen=True)
class SgList:
    """A SendGrid contact list."""

    id: str
    name: str
    contact_count: int = 0


@dataclass(frozen=True)
class ImportJob:
    """The status of an asynchronous contacts job (upsert or removal)."""

    id: str
    status: str
    requested: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    errored: int = 0
    errors_url: str | None = None
    run_s: float | None = None  # finished_at - started_at, when SendGrid gives both
    started_at: float | None = None  # SendGrid's clock, Unix seconds: when it was created
    finished_at: float | None = None  # SendGrid's clock, Unix seconds: once it ended

    @property
    def finished(self) -> bool:
        """True once SendGrid has stopped working on the job (completed, errored or failed)."""
        return self.status in ("completed", "errored", "failed")


@dataclass
class LookupResult:
    """The outcome of looking emails up: found contacts, unknown and invalid addresses."""

    found: dict[str, Contact] = field(default_factory=dict)
    not_found: set[str] = field(default_factory=set)
    invalid: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ConnectionCheck:
    """Whether the key works and may do what a sync needs, said plainly in ``message``."""

    ok: bool
    message: str
    scopes: frozenset[str] = frozenset()
    missing: tuple[str, ...] = ()


def _text(value: Any) -> str | None:
    """A non-empty string or None (SendGrid sends "" for unset fields)."""
    return str(value) if value not in (None, "") else None


def _strings(value: Any) -> tuple[str, ...]:
    """A tuple of strings from a JSON array, tolerating null or a single string."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value if v not in (None, ""))


def parse_contact(data: dict[str, Any]) -> Contact:
    """A :class:`Contact` from SendGrid's contact JSON (search, batch or export)."""
    email = _text(data.get("email"))
    return Contact(
        id=str(data.get("id") or data.get("contact_id") or ""),
        email=email.lower() if email else None,
        alternate_emails=tuple(e.lower() for e in _strings(data.get("alternate_emails"))),
        phone_number_id=_text(data.get("phone_number_id")),
        external_id=_text(data.get("external_id")),
        anonymous_id=_text(data.get("anonymous_id")),
        list_ids=_strings(data.get("list_ids")),
    )


def parse_list(data: dict[str, Any]) -> SgList:
    """An :class:`SgList` from SendGrid's list JSON."""
    return SgList(
        id=str(data["id"]),
        name=str(data.get("name", "")),
        contact_count=_count(data, "contact_count"),
    )


def _count(data: dict[str, Any], key: str) -> int:
    """An integer count, 0 when absent or not a number."""
    try:
        return int(data.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def parse_import_job(job_id: str, data: dict[str, Any]) -> ImportJob:
    """An :class:`ImportJob` from ``GET /v3/marketing/contacts/imports/{id}``."""
    results = data.get("results") or {}
    return ImportJob(
        id=str(data.get("id") or job_id),
        status=str(data.get("status", "pending")),
        requested=_count(results, "requested_count"),
        created=_count(results, "created_count"),
        updated=_count(results, "updated_count"),
        deleted=_count(results, "deleted_count"),
        errored=_count(results, "errored_count"),
        errors_url=_text(results.get("errors_url")),
        run_s=_seconds_between(data.get("started_at"), data.get("finished_at")),
        started_at=_unix_seconds(data.get("started_at")),
        finished_at=_unix_seconds(data.get("finished_at")),
    )


def _unix_seconds(stamp: Any) -> float | None:
    """An ISO 8601 timestamp as Unix seconds; None when absent or not a timestamp (a time
    without zone is taken as UTC, as SendGrid writes them)."""
    if stamp is None:
        return None
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _seconds_between(started: Any, finished: Any) -> float | None:
    """Seconds from one ISO 8601 timestamp to another; None unless both parse."""
    start, end = _unix_seconds(started), _unix_seconds(finished)
    return None if start is None or end is None else max(end - start, 0.0)


def next_page_token(data: Any) -> str | None:
    """The ``page_token`` of ``_metadata.next`` (an absolute URL), or None on the last page."""
    next_url = ((data or {}).get("_metadata") or {}).get("next")
    if not next_url:
        return None
    tokens = urllib.parse.parse_qs(urllib.parse.urlsplit(str(next_url)).query).get("page_token")
    return tokens[0] if tokens else None


def answer_field(data: Any, key: str) -> str:
    """A required string field of an answer (a job or export id); DestinationError if absent."""
    value = data.get(key) if isinstance(data, dict) else None
    if value in (None, ""):
        raise DestinationError(f"SendGrid's answer lacks its {key!r}; nothing can be tracked")
    return str(value)
