"""The export half of :class:`.client.SendGridClient`: start an export, wait for it, download
its files (pre-signed URLs, no API key) and read them, as ``Contact`` objects or, fast at
millions of contacts, as one polars frame."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import polars as pl

from . import export_chunks
from .contact_frames import contacts_frame, export_frame
from .exports import export_body, parse_export
from .models import Contact, answer_field
from .polling import wait_for_export
from .transport import Transport


class ExportsMixin:
    """Contact exports; the client supplies ``_call``, ``_transport``, ``_sleep``, ``_clock``."""

    _transport: Transport
    export_chunk_rows: tuple[int, int]
    _sleep: Callable[[float], None]
    _clock: Callable[[], float]

    def _call(
        self,
        what: str,
        endpoint: str,
        *ids: str,
        body: Any = None,
        query: Mapping[str, str | int] | None = None,
        idempotent: bool = True,
    ) -> Any:
        raise NotImplementedError  # pragma: no cover  (SendGridClient._call)

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
        export_id = self.start_export(list_ids, file_type)
        urls = wait_for_export(self, export_id, poll_s, timeout_s, self._sleep, self._clock)
        contacts: list[Contact] = []
        for number, url in enumerate(urls, start=1):
            data = self.download(url, what=f"export file {number} of {len(urls)}")
            contacts.extend(parse_export(data, file_type))
        return contacts

    def export_frame(
        self,
        list_ids: list[str] | None = None,
        *,
        poll_s: float = 5.0,
        timeout_s: float = 1800.0,
    ) -> pl.DataFrame:
        """Every contact (of ``list_ids``, or the whole account) through a CSV export, as a
        frame in ``contact_frames.CONTACT_SCHEMA`` (read column-wise: fast at millions)."""
        return self.read_export(self.export_urls(list_ids, poll_s=poll_s, timeout_s=timeout_s))

    def export_urls(
        self,
        list_ids: list[str] | None = None,
        *,
        poll_s: float = 5.0,
        timeout_s: float = 1800.0,
    ) -> list[str]:
        """Start a CSV export (of ``list_ids``, or the whole account) and wait until it is
        ready; the pre-signed URLs of its files."""
        export_id = self.start_export(list_ids, "csv")
        return wait_for_export(self, export_id, poll_s, timeout_s, self._sleep, self._clock)

    def read_export(self, urls: list[str]) -> pl.DataFrame:
        """The contacts of a ready CSV export's files, as one frame in ``CONTACT_SCHEMA``."""
        frames = [export_frame(data, "csv") for data in self._export_files(urls)]
        return pl.concat(frames) if frames else contacts_frame([])

    def export_frames(self, urls: list[str]) -> Iterator[pl.DataFrame]:
        """The contacts of a ready CSV export's files, file by file, each read in frames as
        it is decompressed (``export_chunk_rows`` contacts: the first, then the others), so
        the first contacts are at hand long before the last."""
        first, rows = self.export_chunk_rows
        for data in self._export_files(urls):
            yield from export_chunks.export_frames(data, "csv", first_rows=first, rows=rows)

    def _export_files(self, urls: list[str]) -> Iterator[bytes]:
        for number, url in enumerate(urls, start=1):
            yield self.download(url, what=f"export file {number} of {len(urls)}")

    def download(self, url: str, *, what: str) -> bytes:
        """The bytes behind a pre-signed URL (export files, job error files), fetched keyless."""
        return self._transport.download(url, what=what)

    def start_export(self, list_ids: list[str] | None, file_type: str = "csv") -> str:
        """Start a contact export (of ``list_ids``, or everyone); returns the export id."""
        body = export_body(list_ids, file_type)
        return answer_field(
            self._call("an export", "POST /v3/marketing/contacts/exports", body=body), "id"
        )

    def export_status(self, export_id: str) -> dict[str, Any]:
        """The raw status of an export (``status``, ``urls`` once ready, ``message``)."""
        endpoint = "GET /v3/marketing/contacts/exports/{id}"
        return dict(self._call(f"export {export_id}", endpoint, export_id))
