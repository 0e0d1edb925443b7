"""The SendGrid Marketing Campaigns client: typed operations a list sync needs.

Every API call goes through :meth:`SendGridClient._call` (and from there the
:class:`~.transport.Transport` boundary), which sets a timeout, maps every failure into
``workbench.errors``, retries transient ones, paces per endpoint and counts calls
(:attr:`SendGridClient.stats`). The client is safe to share between threads.

It never creates or deletes contacts on purpose: additions go through the upsert with contacts
that a lookup returned (primary email plus existing identifiers, nothing else), and removals
only take contacts off a list.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from workbench.config import Settings
from workbench.errors import DestinationError, InvalidRequest, RemoteNotFound, Unavailable
from workbench.secrets import Secret

from .batching import (
    BATCH_MAX_IDS,
    REMOVE_MAX_IDS,
    UPSERT_MAX_BYTES,
    UPSERT_MAX_CONTACTS,
    chunks,
    upsert_batches,
    upsert_body,
    upsert_entries,
    valid_list_name,
)
from .client_exports import ExportsMixin
from .connection import REQUIRED_SCOPES, check_scopes, failed_check
from .lookup import lookup_emails
from .models import (
    ConnectionCheck,
    Contact,
    ImportJob,
    LookupResult,
    SgList,
    answer_field,
    next_page_token,
    parse_contact,
    parse_import_job,
    parse_list,
)
from .pacing import CallStats, RetryPolicy
from .polling import wait_for_jobs
from .redaction import mask_secret
from .removal import RemovalResult, remove_batch
from .transport import JsonText, Transport, fill_path

LISTS_PAGE_SIZE = 1000
EXPORT_CHUNK_ROWS = (40_000, 60_000)  # contacts per export frame: 1-2 upserts each
_MAX_PAGES = 2000


class SendGridClient(ExportsMixin):
    """Typed access to SendGrid lists, contacts, jobs and exports (thread-safe)."""

    @classmethod
    def from_settings(cls, settings: Settings, api_key: str | Secret) -> SendGridClient:
        """A client on ``WORKBENCH_SENDGRID_HOST`` with ``WORKBENCH_SENDGRID_TIMEOUT_S``."""
        return cls(api_key, settings.sendgrid_host, settings.sendgrid_timeout_s)

    def __init__(
        self,
        api_key: str | Secret,
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
        export_chunk_rows: tuple[int, int] = EXPORT_CHUNK_ROWS,
    ) -> None:
        api_key = api_key.reveal() if isinstance(api_key, Secret) else api_key
        if not api_key or not api_key.strip():
            raise InvalidRequest("no SendGrid API key given: set one before connecting")
        self.policy = RetryPolicy(max_retries, backoff, backoff_cap, max_rate_limit_waits)
        self._transport = Transport(
            api_key, host, timeout_s, self.policy, sleep=sleep, clock=clock, jitter=jitter
        )
        self._sleep, self._clock, self._jitter = sleep, clock, jitter
        self.upsert_max_contacts = upsert_max_contacts
        self.upsert_max_bytes = upsert_max_bytes
        self.lists_page_size = lists_page_size
        self.export_chunk_rows = export_chunk_rows  # contacts per export frame: first, then
        self._masked_key = mask_secret(api_key)

    def __repr__(self) -> str:
        return f"SendGridClient(host={self._transport.host!r}, api_key={self._masked_key!r})"

    @property
    def stats(self) -> CallStats:
        """HTTP calls, retries and waits per endpoint so far (for run records)."""
        return self._transport.stats

    @property
    def calls(self) -> dict[str, int]:
        """HTTP requests sent so far, per endpoint (``"GET /v3/marketing/lists/{id}"``)."""
        return self._transport.stats.calls

    def _call(
        self,
        what: str,
        endpoint: str,
        *ids: str,
        body: Any = None,
        query: Mapping[str, str | int] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """The one boundary: ``endpoint`` is ``"METHOD /v3/path/{id}"``, filled with ``ids``.

        Returns the decoded JSON answer ({} when empty); raises ``workbench.errors`` only.
        """
        method, template = endpoint.split(" ", 1)
        path = fill_path(template, ids)
        answer = self._transport.call(
            method, endpoint, path, body=body, query=query, what=what, idempotent=idempotent
        )
        return answer.data if answer.data is not None else {}

    # -- key and permissions -------------------------------------------------------------

    def scopes(self) -> frozenset[str]:
        """The permissions (scopes) of the API key."""
        data = self._call("the API key's scopes", "GET /v3/scopes")
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
            data = self._call("the lists", "GET /v3/marketing/lists", query=query)
            found.extend(parse_list(item) for item in data.get("result") or [])
            next_token = next_page_token(data)
            if not next_token or next_token == token:
                break
            token = next_token
        return found

    def find_list(self, name: str) -> SgList | None:
        """The list named exactly ``name``, or None."""
        return next((sg_list for sg_list in self.lists() if sg_list.name == name), None)

    def get_list(self, list_id: str) -> SgList:
        """One list by id; RemoteNotFound when it does not exist (anymore)."""
        return parse_list(self._call(f"list {list_id}", "GET /v3/marketing/lists/{id}", list_id))

    def create_list(self, name: str) -> SgList:
        """Create a list named ``name`` (1..100 characters); never creates it twice on retry.

        After a 5xx or timeout the list may exist anyway, so after the backoff it is looked up
        before the request is repeated.
        """
        name = valid_list_name(name)
        for attempt in range(self.policy.max_retries + 1):
            if attempt:
                self._sleep(self.policy.backoff_delay(attempt - 1, self._jitter()))
                existing = self.find_list(name)
                if existing is not None:
                    return existing
            try:
                what = f"creating list {name!r}"
                body = {"name": name}
                data = self._call(what, "POST /v3/marketing/lists", body=body, idempotent=False)
                return parse_list(data)
            except Unavailable:
                if attempt == self.policy.max_retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def list_count(self, list_id: str) -> int:
        """How many contacts SendGrid counts on the list (lags behind writes)."""
        endpoint = "GET /v3/marketing/lists/{id}/contacts/count"
        data = self._call(f"the size of list {list_id}", endpoint, list_id)
        return int(data.get("contact_count") or 0)

    # -- contacts ------------------------------------------------------------------------

    def search_emails(self, emails: Iterable[str]) -> LookupResult:
        """Look emails up (lower-cased); invalid addresses are isolated, not fatal."""
        return lookup_emails(emails, self._search_batch)

    def _search_batch(self, emails: list[str]) -> dict[str, Any]:
        """One ``search/emails`` call for at most 100 addresses."""
        what = f"the lookup of {len(emails)} email(s)"
        return dict(
            self._call(what, "POST /v3/marketing/contacts/search/emails", body={"emails": emails})
        )

    def contacts_by_ids(self, ids: Iterable[str]) -> list[Contact]:
        """The contacts that still exist among ``ids`` (batches of 100; 404 means none)."""
        found: list[Contact] = []
        for batch in chunks(sorted(set(ids)), BATCH_MAX_IDS):
            what = f"reading {len(batch)} contact(s) by id"
            try:
                data = self._call(what, "POST /v3/marketing/contacts/batch", body={"ids": batch})
            except RemoteNotFound:
                continue
            found.extend(parse_contact(c) for c in data.get("result") or [])
        return found

    def add_to_list(self, list_id: str, contacts: Iterable[Contact]) -> list[str]:
        """Add existing contacts to a list; returns the upsert job ids.

        Each contact is sent as its primary email plus its existing identifiers and nothing
        else, in batches within the contact-count and byte limits.
        """
        job_ids: list[str] = []
        for batch in upsert_batches(
            list_id,
            upsert_entries(contacts),
            max_contacts=self.upsert_max_contacts,
            max_bytes=self.upsert_max_bytes,
        ):
            what = f"adding {len(batch)} contact(s) to list {list_id}"
            body = upsert_body(list_id, batch)
            job_ids.append(
                answer_field(self._call(what, "PUT /v3/marketing/contacts", body=body), "job_id")
            )
        return job_ids

    def add_entries_to_list(self, list_id: str, entries_json: str) -> str:
        """ONE upsert of prepared entries (a JSON array text of entries of looked-up contacts,
        as the planner sized them within the limits) onto a list; returns its job id."""
        body = JsonText(f'{{"list_ids": {json.dumps([list_id])}, "contacts": {entries_json}}}')
        if len(body.encode("utf-8")) > self.upsert_max_bytes:
            raise InvalidRequest(
                f"an upsert of {len(body):,} bytes is over the {self.upsert_max_bytes:,}-byte "
                "limit: plan the batches again"
            )
        what = f"adding contacts to list {list_id}"
        answer = self._call(what, "PUT /v3/marketing/contacts", body=body)
        return answer_field(answer, "job_id")

    def remove_from_list(self, list_id: str, contact_ids: Iterable[str]) -> RemovalResult:
        """Take contacts off a list (they stay in the account); returns the job ids.

        The result is a list of job ids whose ``stale_ids`` holds the ids SendGrid no longer
        knows (skipped). RemoteNotFound, saying so, when the list itself was deleted.
        """
        result = RemovalResult()
        for batch in chunks(sorted(set(contact_ids)), REMOVE_MAX_IDS):
            remove_batch(self, list_id, batch, result)
        return result

    def remove_batch_call(self, list_id: str, ids: list[str]) -> str:
        """One removal call (ids joined into ONE ``contact_ids`` value); returns the job id."""
        what = f"removing {len(ids)} contact(s) from list {list_id}"
        endpoint = "DELETE /v3/marketing/lists/{id}/contacts"
        data = self._call(what, endpoint, list_id, query={"contact_ids": ",".join(ids)})
        return answer_field(data, "job_id")

    # -- jobs (exports: client_exports.ExportsMixin) ------------------------------------

    def job(self, job_id: str) -> ImportJob:
        """The status of an upsert or removal job."""
        data = self._call(f"job {job_id}", "GET /v3/marketing/contacts/imports/{id}", job_id)
        return parse_import_job(job_id, data)

    def wait_for_jobs(
        self, job_ids: Iterable[str], poll_s: float = 5.0, timeout_s: float = 900.0
    ) -> dict[str, ImportJob]:
        """Poll jobs until all are finished or ``timeout_s`` passes; returns the last statuses.

        Jobs still pending at the deadline are returned as they are (check ``.finished``).
        """
        return wait_for_jobs(self, list(job_ids), poll_s, timeout_s, self._sleep, self._clock)
