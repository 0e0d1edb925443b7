"""Looking emails up in SendGrid: batches of at most 100, a 404 means none found, and a 400
(one invalid address fails the whole call) is narrowed down by bisecting the batch.

The search itself is passed in as ``search(emails) -> result`` so this module stays free of
HTTP; the client supplies the real call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from workbench.errors import InvalidRequest, RemoteNotFound

from .batching import SEARCH_MAX_EMAILS, chunks, normalise_email, searchable
from .models import LookupResult, parse_contact

SearchFn = Callable[[list[str]], dict[str, Any]]


def lookup_emails(emails: Iterable[str], search: SearchFn) -> LookupResult:
    """Look every email up; found ones map the searched (lower-case) email to its contact.

    A match through an alternate email maps that email to the contact, whose ``email`` is
    the primary one.
    """
    result = LookupResult()
    wanted = sorted({normalise_email(e) for e in emails if e and e.strip()})
    good = [e for e in wanted if searchable(e)]
    result.invalid.update(e for e in wanted if not searchable(e))
    for batch in chunks(good, SEARCH_MAX_EMAILS):
        _search_isolating_invalid(batch, search, result)
    return result


def _search_isolating_invalid(batch: list[str], search: SearchFn, result: LookupResult) -> None:
    """Search one batch; on a 400 split it in halves until the invalid addresses are alone."""
    try:
        answer = search(batch)
    except RemoteNotFound:
        result.not_found.update(batch)
        return
    except InvalidRequest:
        if len(batch) == 1:
            result.invalid.update(batch)
            return
        middle = len(batch) // 2
        _search_isolating_invalid(batch[:middle], search, result)
        _search_isolating_invalid(batch[middle:], search, result)
        return
    _collect(batch, answer, result)


def _collect(batch: list[str], answer: dict[str, Any], result: LookupResult) -> None:
    """Sort one 200 answer's entries into found and not found."""
    entries = answer.get("result") if isinstance(answer, dict) else None
    matched = {
        normalise_email(str(key)): value["contact"]
        for key, value in (entries or {}).items()
        if isinstance(value, dict) and isinstance(value.get("contact"), dict)
    }
    for email in batch:
        contact = matched.get(email)
        if contact is None:
            result.not_found.add(email)
        else:
            result.found[email] = parse_contact(contact)
