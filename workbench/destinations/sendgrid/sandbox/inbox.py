"""The job inbox: jobs accepted but not yet taken in by the worker, in a SQLite file of their own.

A request that creates a job (an upsert, a removal from a list, a list deletion with its
contacts) checks what it needs on a read snapshot of the state file (does the list exist) and
stores the job here, in a short transaction on the inbox's own writer. So it is answered at
once even while the job worker holds the state file's write transaction for a whole
30,000-contact job.

The worker copies the waiting jobs into the state file's ``jobs`` table, in inbox order, in a
transaction of its own (``INSERT OR IGNORE``: a second copy is harmless), and once that is
committed marks them moved here (their payload dropped). A request or admin call about to
apply jobs copies them too (``copy_into``), without marking. Every job in the ``jobs`` table was
accepted before every job still waiting here (a copy takes all waiting jobs, or the oldest
ones), so applying the ``jobs`` table in order keeps creation order. A moved row stays
``TOMBSTONE_S`` as a tombstone: a status read whose snapshot of the state file was taken just
before the move still finds the job here (as pending).

The file is ``<state file>-inbox.sqlite``; a restarted sandbox takes in what it holds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.destinations.sendgrid.sandbox import job_records, store
from workbench.destinations.sendgrid.sandbox.faults import FaultPlan
from workbench.destinations.sendgrid.sandbox.job_records import NewJob

if TYPE_CHECKING:
    from workbench.destinations.sendgrid.sandbox.database import Database

TOMBSTONE_S = 60.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, job_type TEXT NOT NULL,
    payload TEXT, results TEXT NOT NULL, fail INTEGER NOT NULL, created_at REAL NOT NULL,
    due_at REAL NOT NULL, size INTEGER NOT NULL, moved_at REAL);
CREATE INDEX IF NOT EXISTS inbox_waiting ON inbox(moved_at, seq);
"""
_ADD = f"INSERT INTO inbox({job_records.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_WAITING = "SELECT id, size FROM inbox WHERE moved_at IS NULL ORDER BY seq"


def inbox_path(state_path: Path) -> Path:
    """The inbox file of a state file: ``<state file>-inbox.sqlite`` beside it."""
    return state_path.with_name(f"{state_path.name}-inbox.sqlite")


def initialise(state_path: Path) -> None:
    """Create the inbox file of ``state_path`` and its schema if missing (WAL mode)."""
    conn = store.connect(inbox_path(state_path))
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
    finally:
        conn.close()


def discard(state_path: Path) -> int:
    """Forget every job in the inbox of ``state_path``: for a tool that empties the state
    file's ``jobs`` while no sandbox runs on it (the demo seeder's rebuild), so jobs a killed
    sandbox left here are not applied to the new account. Returns how many were waiting."""
    initialise(state_path)
    with store.transaction(inbox_path(state_path)) as conn:
        waiting = conn.execute("SELECT count(*) FROM inbox WHERE moved_at IS NULL").fetchall()
        conn.execute("DELETE FROM inbox")
    return int(waiting[0][0])


def _prefix(rows: list[sqlite3.Row], largest: int | None) -> list[str]:
    """The ids of the waiting jobs up to (not including) the first bigger than ``largest``."""
    ids = []
    for row in rows:
        if largest is not None and row["size"] > largest:
            break
        ids.append(row["id"])
    return ids


def _load(conn: sqlite3.Connection, ids: list[str]) -> list[NewJob]:
    """The waiting jobs of ``ids`` (given in inbox order), in that order (sorted here, so
    SQLite does not sort the payloads)."""
    rows = conn.execute(
        f"SELECT {job_records.COLUMNS} FROM inbox WHERE id IN "
        "(SELECT value FROM json_each(?)) AND moved_at IS NULL",
        (json.dumps(ids),),
    ).fetchall()
    found = {row[0]: NewJob(*row) for row in rows}
    return [found[i] for i in ids if i in found]


def _in_jobs_table(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    sql = "SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
    return {row[0] for row in conn.execute(sql, (json.dumps(ids),)).fetchall()}


class JobInbox:
    """The inbox of one running sandbox: requests add jobs, the worker takes them in."""

    def __init__(self, db: Database, plan: FaultPlan, on_new_job: Callable[[], None]) -> None:
        self._db = db
        self._plan = plan
        self._on_new_job = on_new_job

    def create(self, kind: str, payload: dict[str, Any], text: str | None = None) -> str:
        """Accept a job of ``kind`` (upsert, remove, delete_contacts); returns its id. ``text``:
        the payload already as JSON text, if the caller has it (``job_records.new_job``)."""
        fails = self._plan.job_fails()
        delay = self._plan.knobs.job_delay_s
        job = job_records.new_job(kind, payload, delay, fails, time.time(), text)
        with self._db.inbox_write() as conn:
            conn.execute(_ADD, astuple(job))
        self._on_new_job()
        return job.id

    def waiting_status(self, job_id: str) -> dict[str, Any] | None:
        """A job still (or until a moment ago) in the inbox, as pending; None when unknown."""
        with self._db.inbox_read() as conn:
            sql = "SELECT job_type, results, created_at FROM inbox WHERE id = ?"
            rows = conn.execute(sql, (job_id,)).fetchall()
        if not rows:
            return None
        job_type, results, created_at = rows[0]
        return job_records.waiting_status(job_id, job_type, json.loads(results), created_at)

    def head(self) -> tuple[float, int] | None:
        """The due time and size of the oldest waiting job, or None when none waits."""
        with self._db.inbox_read() as conn:
            sql = "SELECT due_at, size FROM inbox WHERE moved_at IS NULL ORDER BY seq LIMIT 1"
            rows = conn.execute(sql).fetchall()
        return (rows[0][0], rows[0][1]) if rows else None

    def copy_into(self, conn: sqlite3.Connection, largest: int | None = None) -> list[str]:
        """Copy the waiting jobs (only those before the first bigger than ``largest``, if
        given) into the ``jobs`` table, inside the caller's transaction ``conn``; returns the
        ids now there, for ``mark_moved`` once that transaction is committed."""
        with self._db.inbox_read() as inbox_conn:
            ids = _prefix(inbox_conn.execute(_WAITING).fetchall(), largest)
            if not ids:
                return []
            present = _in_jobs_table(conn, ids)
            missing = [i for i in ids if i not in present]
            job_records.insert_jobs(conn, _load(inbox_conn, missing) if missing else [])
        return ids

    def mark_moved(self, ids: list[str]) -> None:
        """Drop the payloads of jobs copied into the ``jobs`` table (committed), keeping a
        tombstone for ``TOMBSTONE_S``; forget older tombstones."""
        if not ids:
            return
        now = time.time()
        with self._db.inbox_write() as conn:
            conn.execute(
                "UPDATE inbox SET payload = NULL, moved_at = ? "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (now, json.dumps(ids)),
            )
            conn.execute("DELETE FROM inbox WHERE moved_at < ?", (now - TOMBSTONE_S,))

    def waiting(self) -> bool:
        """Whether any job waits to be taken in."""
        with self._db.inbox_read() as conn:
            return bool(conn.execute(_WAITING + " LIMIT 1").fetchall())
