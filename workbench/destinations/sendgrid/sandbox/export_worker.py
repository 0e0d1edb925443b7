"""Rendering due exports outside the write lock, once each, however many threads ask.

An export is rendered from a read snapshot of the ``visible`` layer (``Database.read``), so
requests keep being served while it renders; only storing the finished file takes the writer,
briefly. The worker thread renders every due export; a status request that finds its export
due renders it first (or waits for the thread already rendering it), so that call answers
``ready`` as it did when rendering happened inside the request.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
import time
from collections.abc import Callable

from workbench.destinations.sendgrid.sandbox import export_render, exports
from workbench.destinations.sendgrid.sandbox.database import Database

GZIP_LEVEL = 1

_DUE = "SELECT id FROM exports WHERE status = 'pending' AND fail = 0 AND due_at <= ?"


class ExportRenderer:
    """Renders the due exports of one sandbox (``SandboxServer.renderer``)."""

    def __init__(self, db: Database, make_due_changes_visible: Callable[[], None]) -> None:
        self._db = db
        self._catch_up = make_due_changes_visible
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}

    def render_due(self) -> None:
        """Render every export that is due now (in creation order)."""
        with self._db.read() as conn:
            due = [row[0] for row in conn.execute(_DUE + " ORDER BY created_at", (time.time(),))]
        for export_id in due:
            self.render(export_id)

    def render(self, export_id: str) -> None:
        """Render one export if it is due and pending; if another thread is rendering it,
        wait until that thread is done."""
        with self._lock:
            running = self._running.get(export_id)
            if running is None:
                self._running[export_id] = threading.Event()
        if running is not None:
            running.wait()
            return
        try:
            self._render(export_id)
        finally:
            with self._lock:
                self._running.pop(export_id).set()

    def _render(self, export_id: str) -> None:
        with self._db.read() as conn:
            due = conn.execute(_DUE + " AND id = ?", (time.time(), export_id)).fetchall()
        if not due:
            return
        self._catch_up()  # changes due by now are visible first, as a request would see them
        with self._db.read() as conn:
            rows = conn.execute("SELECT params FROM exports WHERE id = ?", (export_id,))
            params = json.loads(rows.fetchall()[0][0])
            data, count = _rendered(conn, params["list_ids"], params["file_type"])
        packed = gzip.compress(data, compresslevel=GZIP_LEVEL)
        done = time.time()
        with self._db.write() as conn:
            conn.execute(
                "UPDATE exports SET status = 'ready', file = ?, contact_count = ?, "
                "updated_at = ?, completed_at = ? WHERE id = ? AND status = 'pending'",
                (packed, count, done, done, export_id),
            )


def _rendered(conn: sqlite3.Connection, list_ids: list[str], file_type: str) -> tuple[bytes, int]:
    """The export file's text: CSV through polars when it can, else the per-row renderer."""
    if file_type == "csv":
        fast = export_render.render_csv(conn, list_ids)
        if fast is not None:
            return fast
    return exports.render_rows(conn, list_ids, file_type)
