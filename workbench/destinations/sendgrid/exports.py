"""Reading SendGrid contact exports: the downloaded files (gzip or not) parsed into contacts.

Export files are CSV with upper-case headers (``EMAIL``, ..., ``CONTACT_ID``) or JSON lines
with ``contact_id``. Multi-valued columns (alternate emails, list ids) are comma-separated in
CSV and may be arrays or comma-separated strings in JSON.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

from workbench.errors import DestinationError

from .models import Contact, parse_contact

EXPORT_FILE_TYPES = ("csv", "json")
_MULTI_VALUED = ("alternate_emails", "list_ids")


def export_body(list_ids: list[str] | None, file_type: str) -> dict[str, Any]:
    """The body of ``POST /v3/marketing/contacts/exports``; no ``list_ids`` means everyone."""
    if file_type not in EXPORT_FILE_TYPES:
        raise ValueError(f"file_type must be 'csv' or 'json', not {file_type!r}")
    body: dict[str, Any] = {"file_type": file_type}
    if list_ids is not None:
        body["list_ids"] = list(list_ids)
    return body


def gunzip_if_needed(data: bytes) -> bytes:
    """The file's bytes, decompressed when they are gzip (export files normally are)."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DestinationError(f"a SendGrid export file is corrupt gzip ({exc})") from None
    return data


def parse_export(data: bytes, file_type: str) -> Iterator[Contact]:
    """The contacts in one downloaded export file (gzip or plain, CSV or JSON lines)."""
    text = gunzip_if_needed(data).decode("utf-8-sig")
    rows = _csv_rows(text) if file_type == "csv" else _json_rows(text)
    for row in rows:
        yield parse_contact(_split_multi_valued(row))


def _csv_rows(text: str) -> Iterator[dict[str, Any]]:
    """CSV rows with their headers lower-cased (``CONTACT_ID`` -> ``contact_id``)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is not None:  # lower-case the header once, not every row
        reader.fieldnames = [str(k).strip().lower() for k in reader.fieldnames]
    for row in reader:
        row.pop(None, None)  # values beyond the header
        yield row


def _json_rows(text: str) -> Iterator[dict[str, Any]]:
    """Objects of a JSON-lines file (a whole JSON array is accepted too)."""
    stripped = text.strip()
    if stripped.startswith("["):
        yield from (_lower_keys(item) for item in json.loads(stripped))
        return
    for number, line in enumerate(stripped.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield _lower_keys(json.loads(line))
        except ValueError:
            raise DestinationError(f"line {number} of a SendGrid JSON export is not JSON") from None


def _lower_keys(item: Any) -> dict[str, Any]:
    """A JSON object with lower-case keys (non-objects become empty rows)."""
    return {str(k).lower(): v for k, v in item.items()} if isinstance(item, dict) else {}


def _split_multi_valued(row: dict[str, Any]) -> dict[str, Any]:
    """The row with comma-separated multi-valued columns turned into lists."""
    for name in _MULTI_VALUED:
        value = row.get(name)
        if isinstance(value, str):
            row[name] = [part.strip() for part in value.split(",") if part.strip()]
    return row
