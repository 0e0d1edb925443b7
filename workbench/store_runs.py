"""Activation runs and member snapshots in the state store.

A *run* is one execution of an activation: fixed columns (``RUN_COLUMNS``) plus a free JSON
document merged by ``update_run``. The *member snapshot* of an activation holds the members
SendGrid confirmed: ``confirm_added`` records confirmed adds, ``confirm_removed`` forgets
confirmed removals (both idempotent).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import adbc_driver_sqlite.dbapi as adbc_sqlite
import polars as pl

from workbench.errors import NotFoundError
from workbench.store_base import StoreBase, refuse_secrets, utc_now

RUN_COLUMNS = ("id", "activation", "status", "started_at", "updated_at")
SNAPSHOT_SCHEMA = {"email": pl.Utf8, "contact_id": pl.Utf8}


class RunsMixin(StoreBase):
    """Recording, updating and listing runs of activations."""

    def create_run(self, activation: str, fields: dict[str, Any]) -> int:
        """Record a new run of ``activation`` (status ``planned`` unless given); its id."""
        refuse_secrets("run of", activation, fields)
        now = utc_now()
        status = str(fields.get("status", "planned"))
        doc = {k: v for k, v in fields.items() if k not in RUN_COLUMNS}
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO runs (activation, status, started_at, updated_at, doc) "
                "VALUES (?, ?, ?, ?, ?)",
                (activation, status, now, now, json.dumps(doc)),
            )
            return int(cur.lastrowid or 0)

    def update_run(self, run_id: int, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into a run's document (``status`` also sets its column); the run."""
        fixed = set(fields) & {"id", "activation", "started_at", "updated_at"}
        if fixed:
            raise ValueError(f"a run's {', '.join(sorted(fixed))} cannot be changed")
        refuse_secrets("run", str(run_id), fields)
        with self.transaction() as con:
            run = self.get_run(run_id)
            doc = {k: v for k, v in {**run, **fields}.items() if k not in RUN_COLUMNS}
            con.execute(
                "UPDATE runs SET status = ?, updated_at = ?, doc = ? WHERE id = ?",
                (str(fields.get("status", run["status"])), utc_now(), json.dumps(doc), run_id),
            )
            return self.get_run(run_id)

    def get_run(self, run_id: int) -> dict[str, Any]:
        """A run as one dict: its fields plus id, activation, status, started_at, updated_at."""
        with self._reading() as con:
            rows = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchall()
        if not rows:
            raise NotFoundError(f"no run with id {run_id}")
        return _run_dict(rows[0])

    def list_runs(self, activation: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The latest runs, newest first, optionally of one activation only."""
        where, params = (
            ("WHERE activation = ?", [activation]) if activation is not None else ("", [])
        )
        sql = f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?"
        with self._reading() as con:
            rows = con.execute(sql, [*params, limit]).fetchall()
        return [_run_dict(r) for r in rows]


class SnapshotsMixin(StoreBase):
    """The members SendGrid confirmed for each activation."""

    def read_snapshot(self, activation: str) -> pl.DataFrame:
        """The members SendGrid confirmed for ``activation``: email, contact_id, sorted by email.

        Read column-wise through ADBC's SQLite driver (``arrow_snapshot``): the rows go
        straight into Arrow columns, never a Python object per row. Inside a transaction of
        this thread the rows are read on its connection, so its own writes are seen."""
        if getattr(self._local, "con", None) is not None:
            return self._snapshot_rows(activation)
        frame = arrow_snapshot(self.path, activation)
        return frame if frame.get_column("email").is_sorted() else frame.sort("email")

    def _snapshot_rows(self, activation: str) -> pl.DataFrame:
        """``read_snapshot`` row by row, on this thread's connection."""
        with self._reading() as con:
            cur = con.cursor()
            cur.row_factory = None
            rows = cur.execute(
                "SELECT email, contact_id FROM snapshot_members WHERE activation = ? "
                "ORDER BY email",
                (activation,),
            ).fetchall()
        return pl.DataFrame(rows, schema=SNAPSHOT_SCHEMA, orient="row")

    def confirm_added(
        self, activation: str, rows: list[tuple[str, str | None]], run_id: int | None
    ) -> None:
        """Record members SendGrid confirmed as added (idempotent; keeps the first added_run).

        The rows go to SQLite as one JSON array read by ``json_each``: one statement instead
        of a Python round trip per row (a 30,000-row batch costs a third less CPU, and the
        GIL is free while SQLite works)."""
        with self.transaction() as con:
            con.execute(_CONFIRM_ADDED, (activation, run_id, json.dumps(rows)))

    def confirm_removed(self, activation: str, emails: list[str]) -> None:
        """Forget members SendGrid confirmed as removed (idempotent)."""
        with self.transaction() as con:
            con.execute(_CONFIRM_REMOVED, (activation, json.dumps(emails)))


_CONFIRM_ADDED = (
    "INSERT INTO snapshot_members (activation, email, contact_id, added_run) "
    "SELECT ?1, value ->> 0, value ->> 1, ?2 FROM json_each(?3) WHERE true "
    "ON CONFLICT(activation, email) DO UPDATE SET "
    "contact_id = coalesce(excluded.contact_id, contact_id)"
)
_CONFIRM_REMOVED = (
    "DELETE FROM snapshot_members WHERE activation = ?1 "
    "AND email IN (SELECT value FROM json_each(?2))"
)


# ADBC types a column from its first rows: a snapshot whose first members have no contact id
# would type it as a number and fail at the first id, so the ids come as text with a flag.
_ARROW_SNAPSHOT = (
    "SELECT email, contact_id IS NULL AS no_id, ifnull(contact_id, '') AS contact_id "
    "FROM snapshot_members WHERE activation = ?"
)


def arrow_snapshot(path: Path, activation: str) -> pl.DataFrame:
    """The snapshot of ``activation`` in the state file ``path``, read through ADBC's SQLite
    driver on a read-only connection (WAL: it never waits for a writer). At 930k members this
    takes 0.35-0.58 s, against 0.74-1.2 s for the two columns joined into text by SQLite and
    split by polars, and about 1 s for rows through ``sqlite3``."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with adbc_sqlite.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(_ARROW_SNAPSHOT, (activation,))
        table = cur.fetch_arrow_table()
    if table.num_rows == 0:
        return pl.DataFrame(schema=SNAPSHOT_SCHEMA)
    frame = pl.DataFrame(pl.from_arrow(table))
    return frame.select(
        pl.col("email").cast(pl.Utf8),
        contact_id=pl.when(pl.col("no_id") == 0).then(pl.col("contact_id").cast(pl.Utf8)),
    )


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(row["doc"])
    return {**doc, **{c: row[c] for c in RUN_COLUMNS}}
