"""The SendGrid Marketing Campaigns client: typed operations a list sync needs.

Every HTTP call goes through :meth:`SendGridClient._call` (and from there the
:class:`~.transport.Transport` boundary), which sets a timeout, maps every failure into
``workbench.errors``, retries transient ones, paces per endpoint and counts calls
(:attr:`SendGridClient.stats`). The client is safe to share between threads.

It never creates or deletes contacts on purpose: additions go through the upsert with contacts
that a lookup returned (primary email plus existing identifiers, nothing else), and removals
only take contacts off a list.
"""

from __future__ import annotations

import random
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from workbench.errors import DestinationError, InvalidRequest, RemoteNotFound, Unavailable

from .batching import (
    BATCH_MAX_IDS,
    REMOVE_MAX_IDS,
    UPSERT_MAX_BYTES,
    UPSERT_MAX_CONTACTS,
    chunks,
    upsert_batches,
    upsert_body,
)
from .connection import REQUIRED_SCOPES, check_scopes, failed_check
from .exports import export_body, parse_export
from .lookup import lookup_emails
from .models import (
    ConnectionCheck,
    Contact,
    ImportJob,
    LookupResult,
    SgList,
    parse_contact,
    parse_import_job,
    parse_list,
)
from .pacing import CallStats, RetryPolicy
from .redaction import mask_secret
from .removal import RemovalResult, remove_batch
from .transport import Answer, Transport

LIST_NAME_MAX = 100
LISTS_PAGE_SIZE = 1000
_MAX_PAGES = 2000


class SendGridClient:
    """Typed access to SendGrid lists, contacts, jobs and exports (thread-safe)."""

    def __init__(
        self,
        api_key: str,
        host: str,
        timeout_s: float = 30,
        *,
        max_retries: int = 4,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        max_rate_limit_waits: int = 10,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        upsert_max_contacts: int = UPSERT_MAX_CONTACTS,
        upsert_max_bytes: int = UPSERT_MAX_BYTES,
        lists_page_size: int = LISTS_PAGE_SIZE,
    ) -> None:
        if not api_key or not api_key.strip():
            raise InvalidRequest("no SendGrid API key given: set one before connecting")
        policy = RetryPolicy(max_retries, backoff, backoff_cap, max_rate_limit_waits)
        self._transport = Transport(
            api_key, host, timeout_s, policy, sleep=sleep, clock=clock, jitter=jitter
        )
        self._sleep, self._clock = sleep, clock
        self.upsert_max_contacts = upsert_max_contacts
        self.upsert_max_bytes = upsert_max_bytes
        self.lists_page_size = lists_page_size
        self._masked_key = mask_secret(api_key)

    def __repr__(self) -> str:
        return f"SendGridClient(host={self._transport.host!r}, api_key={self._masked_key!r})"

    @property
    def stats(self) -> CallStats:
        """HTTP calls, retries and waits per endpoint so far (for run records)."""
        return self._transport.stats

    @property
    def calls(self) -> dict[str, int]:
        """HTTP requests sent so far, per endpoint."""
        return self._transport.stats.calls

    def _call(
        self,
        method: str,
        endpoint: str,
        *,
        path: str | None = None,
        body: Any = None,
        query: Mapping[str, str | int] | None = None,
        what: str,
        idempotent: bool = True,
    ) -> Answer:
        """The one boundary: ``endpoint`` is the path template, ``path`` the concrete path."""
        return self._transport.call(
            method,
            f"{method} {endpoint}",
            path or endpoint,
            body=body,
            query=query,
            what=what,
            idempotent=idempotent,
        )

    # -- key and permissions -------------------------------------------------------------

    def scopes(self) -> frozenset[str]:
        """The permissions (scopes) of the API key."""
        data = self._call("GET", "/v3/scopes", what="the API key's scopes").data or {}
        return frozenset(str(s) for s in data.get("scopes") or [])

    def check_connection(self, required: Iterable[str] = REQUIRED_SCOPES) -> ConnectionCheck:
        """Whether the key works and has ``required``; says plainly what is wrong if not."""
        try:
            return check_scopes(self.scopes(), required)
        except DestinationError as error:
            return failed_check(error)

    # -- lists ---------------------------------------------------------------------------

    def lists(self) -> list[SgList]:
        """Every contact list, following ``_metadata.next`` page tokens."""
        found: list[SgList] = []
        token: str | None = None
        for _ in range(_MAX_PAGES):
            query: dict[str, str | int] = {"page_size": self.lists_page_size}
            if token:
                query["page_token"] = token
            data = self._call("GET", "/v3/marketing/lists", query=query, what="the lists").data
            found.extend(parse_list(item) for item in (data or {}).get("result") or [])
            next_token = _next_page_token(data)
            if not next_token or next_token == token:
                return found
            token = next_token
        return found

    def find_list(self, name: str) -> SgList | None:
        """The list named exactly ``name``, or None."""
        return next((sg_list for sg_list in self.lists() if sg_list.name == name), None)

    def get_list(self, list_id: str) -> SgList:
        """One list by id; RemoteNotFound when it does not exist (anymore)."""
        path = f"/v3/marketing/lists/{_segment(list_id)}"
        what = f"list {list_id}"
        return parse_list(self._call("GET", "/v3/marketing/lists/{id}", path=path, what=what).data)

    def create_list(self, name: str) -> SgList:
        """Create a list named ``name`` (1..100 characters); never creates it twice on retry."""
        name = _valid_list_name(name)
        attempts = self._transport.policy.max_retries + 1
        for attempt in range(attempts):
            try:
                answer = self._call(
                    "POST",
                    "/v3/marketing/lists",
                    body={"name": name},
                    what=f"creating list {name!r}",
                    idempotent=False,
                )
                return parse_list(answer.data)
            except Unavailable:
                existing = self.find_list(name)
                if existing is not None:
                    return existing
                if attempt + 1 == attempts:
                    raise
                self._sleep(self._transport.policy.backoff_delay(attempt, random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def list_count(self, list_id: str) -> int:
        """How many contacts SendGrid counts on the list (lags behind writes)."""
        path = f"/v3/marketing/lists/{_segment(list_id)}/contacts/count"
        data = self._call(
            "GET",
            "/v3/marketing/lists/{id}/contacts/count",
            path=path,
            what=f"the size of list {list_id}",
        ).data
        return int((data or {}).get("contact_count") or 0)

    # -- contacts ------------------------------------------------------------------------

    def search_emails(self, emails: Iterable[str]) -> LookupResult:
        """Look emails up (lower-cased); invalid addresses are isolated, not fatal."""
        return lookup_emails(emails, self._search_batch)

    def _search_batch(self, emails: list[str]) -> dict[str, Any]:
        """One ``search/emails`` call for at most 100 addresses."""
        answer = self._call(
            "POST",
            "/v3/marketing/contacts/search/emails",
            body={"emails": emails},
            what=f"the contact lookup of {len(emails)} email(s)",
        )
        return answer.data or {}

    def contacts_by_ids(self, ids: Iterable[str]) -> list[Contact]:
        """The contacts that still exist among ``ids`` (batches of 100; 404 means none)."""
        found: list[Contact] = []
        for batch in chunks(sorted(set(ids)), BATCH_MAX_IDS):
            try:
                answer = self._call(
                    "POST",
                    "/v3/marketing/contacts/batch",
                    body={"ids": batch},
                    what=f"reading {len(batch)} contact(s) by id",
                )
            except RemoteNotFound:
                continue
            found.extend(parse_contact(c) for c in (answer.data or {}).get("result") or [])
        return found

    def add_to_list(self, list_id: str, contacts: Iterable[Contact]) -> list[str]:
        """Add existing contacts to a list; returns the upsert job ids.

        Each contact is sent as its primary email plus its existing identifiers and nothing
        else, in batches within the contact-count and byte limits.
        """
        entries = _upsert_entries(contacts)
        job_ids: list[str] = []
        for batch in upsert_batches(
            list_id, entries, max_contacts=self.upsert_max_contacts, max_bytes=self.upsert_max_bytes
        ):
            answer = self._call(
                "PUT",
                "/v3/marketing/contacts",
                body=upsert_body(list_id, batch),
                what=f"adding {len(batch)} contact(s) to list {list_id}",
            )
            job_ids.append(str((answer.data or {}).get("job_id", "")))
        return job_ids

    def remove_from_list(self, list_id: str, contact_ids: Iterable[str]) -> RemovalResult:
        """Take contacts off a list (they stay in the account); returns the job ids.

        The result is a list of job ids whose ``stale_ids`` holds the ids SendGrid no longer
        knows (skipped). RemoteNotFound when the list itself was deleted.
        """
        result = RemovalResult()
        for batch in chunks(sorted(set(contact_ids)), REMOVE_MAX_IDS):
            remove_batch(self, list_id, batch, result)
        return result

    def delete_list_contacts_call(self, list_id: str, ids: list[str]) -> str:
        """One removal call (ids joined into ONE ``contact_ids`` value); returns the job id."""
        answer = self._call(
            "DELETE",
            "/v3/marketing/lists/{id}/contacts",
            path=f"/v3/marketing/lists/{_segment(list_id)}/contacts",
            query={"contact_ids": ",".join(ids)},
            what=f"removing {len(ids)} contact(s) from list {list_id}",
        )
        return str((answer.data or {}).get("job_id", ""))

    # -- jobs and exports ----------------------------------------------------------------

    def job(self, job_id: str) -> ImportJob:
        """The status of an upsert or removal job."""
        data = self._call(
            "GET",
            "/v3/marketing/contacts/imports/{id}",
            path=f"/v3/marketing/contacts/imports/{_segment(job_id)}",
            what=f"job {job_id}",
        ).data
        return parse_import_job(job_id, data or {})

    def wait_for_jobs(
        self, job_ids: Iterable[str], poll_s: float = 5.0, timeout_s: float = 900.0
    ) -> dict[str, ImportJob]:
        """Poll jobs until all are finished or ``timeout_s`` passes; returns the last statuses.

        Jobs still pending at the deadline are returned as they are (check ``.finished``).
        """
        deadline = self._clock() + timeout_s
        latest = {job_id: self.job(job_id) for job_id in dict.fromkeys(job_ids)}
        while not all(j.finished for j in latest.values()) and self._clock() < deadline:
            self._sleep(poll_s)
            for job_id, job in latest.items():
                if not job.finished:
                    latest[job_id] = self.job(job_id)
        return latest

    def export_contacts(
        self,
        list_ids: list[str] | None = None,
        file_type: str = "csv",
        *,
        poll_s: float = 5.0,
        timeout_s: float = 1800.0,
    ) -> list[Contact]:
        """Every contact (of ``list_ids``, or the whole account) through an export.

        The export's files are downloaded from their pre-signed URLs without the API key.
        """
        answer = self._call(
            "POST",
            "/v3/marketing/contacts/exports",
            body=export_body(list_ids, file_type),
            what="starting a contact export",
        )
        urls = self._wait_for_export(str((answer.data or {}).get("id", "")), poll_s, timeout_s)
        contacts: list[Contact] = []
        for number, url in enumerate(urls, start=1):
            data = self._transport.download(url, what=f"export file {number} of {len(urls)}")
            contacts.extend(parse_export(data, file_type))
        return contacts

    def _wait_for_export(self, export_id: str, poll_s: float, timeout_s: float) -> list[str]:
        """Poll an export until ready; its download URLs. Raises when it fails or times out."""
        deadline = self._clock() + timeout_s
        while True:
            data = (
                self._call(
                    "GET",
                    "/v3/marketing/contacts/exports/{id}",
                    path=f"/v3/marketing/contacts/exports/{_segment(export_id)}",
                    what=f"export {export_id}",
                ).data
                or {}
            )
            status = data.get("status")
            if status == "ready":
                return [str(u) for u in data.get("urls") or []]
            if status == "failure":
                raise Unavailable(f"SendGrid export {export_id} failed: {data.get('message', '')}")
            if self._clock() >= deadline:
                raise Unavailable(f"SendGrid export {export_id} not ready after {timeout_s:.0f} s")
            self._sleep(poll_s)


def _segment(value: str) -> str:
    """An id made safe as one URL path segment."""
    if not value or not str(value).strip():
        raise InvalidRequest("an empty SendGrid id was given")
    return urllib.parse.quote(str(value), safe="")


def _valid_list_name(name: str) -> str:
    """The list name, checked to be 1..100 characters (SendGrid's rule)."""
    cleaned = (name or "").strip()
    if not 1 <= len(cleaned) <= LIST_NAME_MAX:
        raise InvalidRequest(
            f"a SendGrid list name must be 1 to {LIST_NAME_MAX} characters, got {len(cleaned)}"
        )
    return cleaned


def _next_page_token(data: Any) -> str | None:
    """The ``page_token`` of ``_metadata.next`` (an absolute URL), or None on the last page."""
    next_url = ((data or {}).get("_metadata") or {}).get("next")
    if not next_url:
        return None
    tokens = urllib.parse.parse_qs(urllib.parse.urlsplit(str(next_url)).query).get("page_token")
    return tokens[0] if tokens else None


def _upsert_entries(contacts: Iterable[Contact]) -> list[dict[str, str]]:
    """Upsert entries of contacts SendGrid returned (they have ids), one per contact."""
    entries: dict[str, dict[str, str]] = {}
    for contact in contacts:
        if not contact.id:
            raise InvalidRequest(
                "add_to_list only takes contacts SendGrid returned (with an id): look the "
                "emails up with search_emails first, so no contact is ever created"
            )
        entry = contact.upsert_entry()
        if entry:
            entries.setdefault(contact.id, entry)
    return list(entries.values())
