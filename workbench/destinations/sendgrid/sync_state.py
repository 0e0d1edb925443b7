"""The persisted state machine of a sync's batches: a row per batch, written before and after
every request, so a run killed at any moment resumes instead of repeating or losing work.

A batch moves ``pending -> sending -> sent(job ids) -> confirmed | failed``. ``sending`` means
the request may or may not have reached SendGrid: upserts and removals are idempotent, so a
resumed run simply sends it again. The member snapshot changes only in the same transaction
that marks a batch ``confirmed`` (SendGrid finished the job), never earlier.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from workbench.errors import NotFoundError
from workbench.store import Store, utc_now

BatchKind = Literal["add", "remove"]
PENDING, SENDING, SENT, CONFIRMED, FAILED = "pending", "sending", "sent", "confirmed", "failed"
UNFINISHED = (PENDING, SENDING, SENT)
PAYLOAD_SEPARATOR = "\n"  # JSON text never holds a raw line break: rows, then entries

# Tables: ``run_batches`` and ``activation_locks`` (migrations 2 and 3 in
# workbench/store_schema.py). A batch's payload (``Batch.payload``) is kept in the run's payload
# file (``payload_file``), written once and only appended to; its row says where.


class Batch:
    """One request's worth of a run: which emails/contact ids, its status and its jobs.

    An add batch holds its upsert entries as ONE JSON array text (``entries_json``), exactly
    the ``contacts`` of the request body: it is stored and sent as is, never re-encoded per
    contact; ``entries`` parses it when a caller needs the entries as dicts.

    A batch planned or loaded at a million rows keeps its emails and contact ids as the JSON
    text it is stored as (``rows_json``) and parses them only when first asked for: sending
    an add needs only ``entries_json``, so the planned rows never become Python lists on the
    way from the plan to the first request. They are parsed once, when first asked for
    (``release_rows`` drops them again; ``size`` stays known).
    """

    def __init__(
        self,
        run_id: int,
        seq: int,
        kind: BatchKind,
        emails: list[str] | None = None,
        contact_ids: list[str] | None = None,
        entries_json: str = "[]",
        status: str = PENDING,
        job_ids: list[str] | None = None,
        outcome: dict[str, Any] | None = None,
        *,
        rows_json: str | None = None,
    ) -> None:
        self.run_id, self.seq, self.kind = run_id, seq, kind
        self.entries_json, self.status = entries_json, status
        self.job_ids: list[str] = list(job_ids or [])
        self.outcome: dict[str, Any] = dict(outcome or {})
        self._rows_json = rows_json if emails is None and contact_ids is None else None
        self._emails = list(emails or []) if self._rows_json is None else None
        self._contact_ids = list(contact_ids or []) if self._rows_json is None else None
        self._contacts: int | None = None
        self._size: int | None = None

    def __repr__(self) -> str:
        return f"Batch(run {self.run_id}, seq {self.seq}, {self.kind}, {self.status})"

    def _parse_rows(self) -> tuple[list[str], list[str]]:
        """The emails and contact ids, parsed from the stored text if not parsed yet (the
        lists are returned as well as kept: a ``release_rows`` meanwhile cannot empty them)."""
        emails, contact_ids = self._emails, self._contact_ids
        if emails is None and self._rows_json is not None:
            rows = json.loads(self._rows_json)
            emails, contact_ids = rows["emails"], rows["contact_ids"]
            self._emails, self._contact_ids, self._size = emails, contact_ids, len(emails)
        return emails or [], contact_ids or []

    @property
    def size(self) -> int:
        """How many rows (emails) the batch holds; known without parsing them again."""
        if self._size is None:
            self._size = len(self.emails)
        return self._size

    def release_rows(self) -> None:
        """Drop the parsed rows, their JSON text kept (freeing 1M rows at the end: 0.03 s)."""
        if self._rows_json is not None:
            self._emails = self._contact_ids = None

    @property
    def emails(self) -> list[str]:
        """The batch's emails (each row of the plan), in order."""
        return self._parse_rows()[0]

    @emails.setter
    def emails(self, emails: list[str]) -> None:
        self._parse_rows()
        self._emails, self._rows_json, self._size = list(emails), None, None

    @property
    def contact_ids(self) -> list[str]:
        """The contact id of each of ``emails``."""
        return self._parse_rows()[1]

    @contact_ids.setter
    def contact_ids(self, contact_ids: list[str]) -> None:
        self._parse_rows()
        self._contact_ids, self._rows_json, self._contacts = list(contact_ids), None, None

    @property
    def contacts(self) -> int:
        """How many distinct contacts the batch holds (counted once)."""
        if self._contacts is None:
            self._contacts = len(set(self.contact_ids))
        return self._contacts

    @property
    def entries(self) -> list[dict[str, str]]:
        """The upsert entries (adds only), one per contact, in contact order."""
        entries: list[dict[str, str]] = json.loads(self.entries_json)
        return entries

    @entries.setter
    def entries(self, entries: list[dict[str, str]]) -> None:
        self.entries_json = json.dumps(entries)

    def payload(self) -> str:
        """The batch's rows as stored: ``{"emails": [...], "contact_ids": [...]}``, a line
        break, then the entries' JSON text as is (not escaped into a JSON string: 6 MB per
        batch). Payloads stored before are one JSON object, read as well (``_batch_of``)."""
        rows = self._rows_json
        if rows is None:
            rows = json.dumps({"emails": self._emails, "contact_ids": self._contact_ids})
        return rows + PAYLOAD_SEPARATOR + self.entries_json


def payload_file(store: Store, run_id: int) -> Path:
    """The append-only file of a run's batch payloads: ``<state file>-batches/<run id>.txt``.

    The payloads (111 MB for a first run at a million members) stay out of SQLite, where
    committing them took 1-1.3 s and every status update rewrote a 3.5-6 MB row. The file is
    written (and flushed to the OS) before the rows that point into it are committed, so a run
    killed at any moment never has a row pointing past the file's end; a payload is never
    changed in place (``rewrite_batch`` appends)."""
    return store.path.with_name(f"{store.path.name}-batches") / f"{run_id}.txt"


def _append_payloads(store: Store, run_id: int, texts: Iterable[str]) -> list[tuple[int, int]]:
    """Append ``texts`` to the run's payload file; where each landed (offset, bytes)."""
    path = payload_file(store, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    places = []
    with path.open("ab") as file:
        at = file.tell()
        for text in texts:
            data = text.encode()
            file.write(data)
            places.append((at, len(data)))
            at += len(data)
    return places


def save_batches(store: Store, batches: list[Batch]) -> None:
    """Record the planned batches (status pending): their payloads first, then their rows in
    one transaction."""
    now = utc_now()
    rows = []
    for run_id in dict.fromkeys(b.run_id for b in batches):
        of_run = [b for b in batches if b.run_id == run_id]
        places = _append_payloads(store, run_id, (b.payload() for b in of_run))
        rows += [
            (b.run_id, b.seq, b.kind, b.status, *place, now)
            for b, place in zip(of_run, places, strict=True)
        ]
    with store.transaction() as con:
        con.executemany(
            "INSERT INTO run_batches "
            "(run_id, seq, kind, status, payload, payload_at, payload_bytes, updated_at) "
            "VALUES (?, ?, ?, ?, '', ?, ?, ?)",
            rows,
        )


def load_batches(store: Store, run_id: int) -> list[Batch]:
    """Every batch of a run, in order."""
    with store.transaction() as con:
        rows = con.execute(
            "SELECT * FROM run_batches WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
    payloads = _read_payloads(store, run_id, rows)
    return [_batch_of(row, payload) for row, payload in zip(rows, payloads, strict=True)]


def _read_payloads(store: Store, run_id: int, rows: list[Any]) -> list[str]:
    """Each row's payload: from the run's payload file, or (stored before migration 3) the
    row's own text."""
    if all(row["payload_bytes"] is None for row in rows):
        return [row["payload"] for row in rows]
    path = payload_file(store, run_id)
    texts = []
    try:
        with path.open("rb") as file:
            for row in rows:
                if row["payload_bytes"] is None:
                    texts.append(row["payload"])
                    continue
                file.seek(row["payload_at"])
                data = file.read(row["payload_bytes"])
                if len(data) != row["payload_bytes"]:
                    raise EOFError
                texts.append(data.decode())
    except (OSError, EOFError):
        raise NotFoundError(
            f"the batches of run {run_id} are kept in {str(path)!r}, which is missing or cut "
            "short: put the file back (it lives beside the state file) to resume or show this run"
        ) from None
    return texts


def _batch_of(row: Any, stored: str) -> Batch:
    """A stored batch and its payload; its rows stay JSON text until asked for (see
    ``Batch.payload``)."""
    state = {"status": row["status"], "job_ids": json.loads(row["job_ids"])}
    state["outcome"] = json.loads(row["outcome"])
    if PAYLOAD_SEPARATOR in stored:
        rows, entries = stored.split(PAYLOAD_SEPARATOR, 1)
        return Batch(
            row["run_id"], row["seq"], row["kind"], entries_json=entries, rows_json=rows, **state
        )
    payload = json.loads(stored)  # stored before the rows and entries were kept apart
    entries = payload.get("entries_json") or json.dumps(payload.get("entries") or [])
    emails, ids = payload["emails"], payload["contact_ids"]
    return Batch(row["run_id"], row["seq"], row["kind"], emails, ids, entries, **state)


def set_status(store: Store, batch: Batch, status: str, **outcome: Any) -> None:
    """Move a batch to ``status`` (recording its job ids and any outcome fields)."""
    batch.status = status
    batch.outcome.update(outcome)
    with store.transaction() as con:
        _write_status(con, batch)


def _write_status(con: Any, batch: Batch) -> None:
    con.execute(
        "UPDATE run_batches SET status = ?, job_ids = ?, outcome = ?, updated_at = ? "
        "WHERE run_id = ? AND seq = ?",
        (
            batch.status,
            json.dumps(batch.job_ids),
            json.dumps(batch.outcome),
            utc_now(),
            batch.run_id,
            batch.seq,
        ),
    )


def rewrite_batch(store: Store, batch: Batch) -> None:
    """Store a batch's changed rows (an approved plan minus contacts deleted since)."""
    ((at, size),) = _append_payloads(store, batch.run_id, [batch.payload()])
    with store.transaction() as con:
        con.execute(
            "UPDATE run_batches SET payload = '', payload_at = ?, payload_bytes = ?, "
            "updated_at = ? WHERE run_id = ? AND seq = ?",
            (at, size, utc_now(), batch.run_id, batch.seq),
        )


def confirm_batch(store: Store, activation: str, batch: Batch, gone_ids: set[str]) -> None:
    """Mark a batch confirmed and record its members in the snapshot, atomically.

    An add records every (email, contact id); a removal forgets every email (contacts in
    ``gone_ids`` no longer exist in SendGrid, so they are off the list too). The batch then
    drops its parsed rows (``Batch.release_rows``).
    """
    batch.status = CONFIRMED
    if gone_ids:
        batch.outcome["gone_contact_ids"] = sorted(gone_ids)
    with store.transaction() as con:
        if batch.kind == "add":
            refused = batch.outcome.get("row_errors") or {}
            rows: list[tuple[str, str | None]] = [
                (email, cid)
                for email, cid in zip(batch.emails, batch.contact_ids, strict=True)
                if email not in refused
            ]
            store.confirm_added(activation, rows, batch.run_id)
        else:
            store.confirm_removed(activation, batch.emails)
        _write_status(con, batch)
    batch.release_rows()


def unfinished_run(store: Store, activation: str) -> dict[str, Any] | None:
    """The activation's run left in ``applying`` (by a crash or a timeout), if any."""
    for run in store.list_runs(activation, limit=20):
        if run["status"] == "applying":
            return run
    return None
