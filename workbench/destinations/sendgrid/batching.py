"""Pure batching rules of the SendGrid client: chunks by count, upserts by count AND bytes.

The upsert accepts at most 30,000 contacts and 6 MB of JSON a request, whichever is lower. The
byte size is measured exactly as ``python_http_client`` serialises the body (``json.dumps``
with default separators), so a batch never goes over the limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from workbench.errors import InvalidRequest

from .models import Contact

T = TypeVar("T")

UPSERT_MAX_CONTACTS = 30_000
UPSERT_MAX_BYTES = 6_000_000
SEARCH_MAX_EMAILS = 100
BATCH_MAX_IDS = 100
REMOVE_MAX_IDS = 100
SEARCH_EMAIL_MAX_CHARS = 100
LIST_NAME_MAX = 100
_EMAIL_SHAPE = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+$")


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of ``items`` with at most ``size`` elements each."""
    if size < 1:
        raise ValueError("a batch size must be at least 1")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def json_size(value: Any) -> int:
    """Bytes of ``value`` serialised the way ``python_http_client`` sends a request body."""
    return len(json.dumps(value).encode("utf-8"))


def upsert_body(list_id: str, entries: list[dict[str, str]]) -> dict[str, Any]:
    """The body of ``PUT /v3/marketing/contacts`` adding ``entries`` to one list."""
    return {"list_ids": [list_id], "contacts": entries}


def upsert_batches(
    list_id: str,
    entries: Sequence[dict[str, str]],
    *,
    max_contacts: int = UPSERT_MAX_CONTACTS,
    max_bytes: int = UPSERT_MAX_BYTES,
) -> Iterator[list[dict[str, str]]]:
    """Split upsert entries into request bodies within ``max_contacts`` AND ``max_bytes``.

    Raises InvalidRequest when one entry alone cannot fit in a request.
    """
    overhead = json_size(upsert_body(list_id, []))
    batch: list[dict[str, str]] = []
    size = overhead
    for entry in entries:
        added = json_size(entry) + (2 if batch else 0)  # ", " between array items
        if batch and (len(batch) >= max_contacts or size + added > max_bytes):
            yield batch
            batch, size, added = [], overhead, json_size(entry)
        if overhead + added > max_bytes:
            raise InvalidRequest(
                f"one contact needs {overhead + added} bytes, over the {max_bytes}-byte request "
                "limit: this contact cannot be sent"
            )
        batch.append(entry)
        size += added
    if batch:
        yield batch


def normalise_email(email: str) -> str:
    """An email as SendGrid stores it: trimmed and lower-cased (dots and +tags untouched)."""
    return email.strip().lower()


def searchable(email: str) -> bool:
    """True when ``email`` looks like an address the email search accepts.

    A search with one invalid address fails as a whole, so obviously bad ones (no ``@``,
    spaces, longer than the search's 100-character limit) are never sent.
    """
    return 0 < len(email) <= SEARCH_EMAIL_MAX_CHARS and bool(_EMAIL_SHAPE.match(email))


def valid_list_name(name: str) -> str:
    """The list name, checked to be 1..100 characters (SendGrid's rule)."""
    cleaned = (name or "").strip()
    if not 1 <= len(cleaned) <= LIST_NAME_MAX:
        raise InvalidRequest(
            f"a SendGrid list name must be 1 to {LIST_NAME_MAX} characters, got {len(cleaned)}"
        )
    return cleaned


def upsert_entries(contacts: Iterable[Contact]) -> list[dict[str, str]]:
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
