"""The naive list sync a user would write by hand, with the raw ``sendgrid`` client.

It is the baseline of ``bench.bench_sync``: no export path, no concurrency, no pacing from the
rate-limit headers. It looks every email up by ``search/emails`` in batches of 100, upserts the
contacts found in batches of 1,000 (primary email only, so it never creates contacts), removes
leavers by contact id in batches of 100, and at the end polls each job once a second until it
is finished. A 429 makes it sleep until ``X-RateLimit-Reset`` and try again (without that the
script would simply crash at the first limit). It keeps the previous run's ``email -> contact
id`` map in memory, which is how it knows whom to remove on the next run.
"""

from __future__ import annotations

import json
import time
from typing import Any

import sendgrid
from python_http_client.exceptions import NotFoundError, TooManyRequestsError

SEARCH_BATCH = 100
UPSERT_BATCH = 1_000
REMOVE_BATCH = 100


class NaiveSync:
    """One hand-written sync of one list, keeping the last run's members in memory."""

    def __init__(self, api_key: str, host: str, list_name: str) -> None:
        self.sg = sendgrid.SendGridAPIClient(api_key=api_key, host=host)
        self.sg.client.timeout = 60
        self.list_name = list_name
        self.list_id: str | None = None
        self.members: dict[str, str] = {}  # email -> contact id, as of the last run

    def _call(self, send: Any) -> dict[str, Any]:
        """Send one request, sleeping through 429s; the decoded body ({} for a 404)."""
        while True:
            try:
                response = send()
            except TooManyRequestsError as exc:
                reset = float((exc.headers or {}).get("X-RateLimit-Reset") or time.time() + 1)
                time.sleep(max(reset - time.time(), 0.01))
                continue
            except NotFoundError:
                return {}
            return json.loads(response.body) if response.body else {}

    def _ensure_list(self) -> str:
        if self.list_id is None:
            lists = self.sg.client.marketing.lists
            found = self._call(lambda: lists.get(query_params={"page_size": 1000}))
            named = [x for x in found.get("result") or [] if x["name"] == self.list_name]
            created = (
                named[0]
                if named
                else self._call(lambda: lists.post(request_body={"name": self.list_name}))
            )
            self.list_id = str(created["id"])
        return self.list_id

    def _search(self, emails: list[str]) -> dict[str, str]:
        """email -> contact id of the emails that are contacts (primary email matches)."""
        found: dict[str, str] = {}
        search = self.sg.client.marketing.contacts.search.emails
        for i in range(0, len(emails), SEARCH_BATCH):
            batch = emails[i : i + SEARCH_BATCH]
            answer = self._call(lambda b=batch: search.post(request_body={"emails": b}))
            for email, hit in (answer.get("result") or {}).items():
                if isinstance(hit, dict) and "contact" in hit:
                    found[email] = hit["contact"]["id"]
        return found

    def _upsert(self, list_id: str, emails: list[str]) -> list[str]:
        contacts = self.sg.client.marketing.contacts
        jobs = []
        for i in range(0, len(emails), UPSERT_BATCH):
            body = {
                "list_ids": [list_id],
                "contacts": [{"email": e} for e in emails[i : i + UPSERT_BATCH]],
            }
            jobs.append(self._call(lambda b=body: contacts.put(request_body=b))["job_id"])
        return jobs

    def _remove(self, list_id: str, ids: list[str]) -> list[str]:
        target = self.sg.client.marketing.lists._(list_id).contacts
        jobs = []
        for i in range(0, len(ids), REMOVE_BATCH):
            query = {"contact_ids": ",".join(ids[i : i + REMOVE_BATCH])}
            jobs.append(self._call(lambda q=query: target.delete(query_params=q))["job_id"])
        return jobs

    def _wait(self, jobs: list[str]) -> None:
        imports = self.sg.client.marketing.contacts.imports
        for job_id in jobs:
            while self._call(lambda j=job_id: imports._(j).get()).get("status") == "pending":
                time.sleep(1.0)

    def run(self, emails: list[str]) -> dict[str, int]:
        """Make the list hold the contacts of ``emails``; the counts of what it sent."""
        list_id = self._ensure_list()
        wanted = set(emails)
        joiners = sorted(wanted - set(self.members))
        leavers = sorted(set(self.members) - wanted)
        found = self._search(joiners)
        jobs = self._upsert(list_id, sorted(found))
        gone_ids = sorted({self.members[e] for e in leavers} - set(found.values()))
        jobs += self._remove(list_id, gone_ids)
        self._wait(jobs)
        self.members = {e: cid for e, cid in self.members.items() if e in wanted} | found
        return {"added": len(found), "removed": len(gone_ids), "jobs": len(jobs)}
