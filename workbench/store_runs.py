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

import polars as pl

from workbench import store_snapshot_cache as snapshot_cache
from workbench.errors import NotFoundError
from workbench.store_base import StoreBase, refuse_secrets, utc_now
from workbench.store_snapshot_cache import SNAPSHOT_SCHEMA

RUN_COLUMNS = ("id", "activation", "status", "started_at", "updated_at")


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

        From the columnar copy of the current snapshot when there is one
        (``workbench.store_snapshot_cache``: milliseconds), else read column-wise from SQLite
        and kept as that copy: SQLite joins each column into one text (a million rows would
        otherwise become two million Python strings and a million tuples first) and polars
        splits it. The rare snapshot holding the separator in a value is read row by row."""
        with self._reading() as con:
            in_transaction = con.in_transaction
            if not in_transaction:
                con.execute("BEGIN")  # the token and the rows of one moment
            try:
                token = snapshot_cache.token_of(con, activation)
                copy = snapshot_cache.read_copy(self.path, activation, token) if token else None
                if copy is not None:
                    return copy
                count, with_id, emails, ids = con.execute(
                    _SNAPSHOT_COLUMNS, (activation,)
                ).fetchall()[0]
            finally:
                if not in_transaction:
                    con.execute("COMMIT")
        frame = _split_columns(int(count), int(with_id), emails, ids)
        if frame is None:
            return self._snapshot_rows(activation)
        if token and not in_transaction:  # a transaction's own writes are not committed yet
            snapshot_cache.write_copy(self.path, activation, token, frame)
        return frame

    def cache_snapshot(
        self, activation: str, frame: pl.DataFrame, prepared: Path | None = None
    ) -> bool:
        """Keep ``frame`` as the columnar copy of ``activation``'s current snapshot, for a
        caller that knows it is exactly what the store holds (a sync run, under the
        activation's lock, from the snapshot it read and the changes it confirmed; it may
        have written the copy already: ``prepared``, from ``store_snapshot_cache.prepare_copy``).
        Checked against the stored row count; False (and nothing kept) when it differs."""
        with self._reading() as con:
            token = snapshot_cache.token_of(con, activation)
            rows = con.execute(
                "SELECT count(*) FROM snapshot_members WHERE activation = ?", (activation,)
            ).fetchall()
        if token is None or rows[0][0] != frame.height:
            if prepared is not None:
                prepared.unlink(missing_ok=True)
            return False
        if prepared is None:
            snapshot_cache.write_copy(self.path, activation, token, frame)
        else:
            snapshot_cache.install_copy(self.path, activation, token, prepared)
        return True

    def _snapshot_rows(self, activation: str) -> pl.DataFrame:
        """``read_snapshot`` row by row (the slow path for values holding a separator)."""
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
            if con.execute(_CONFIRM_ADDED, (activation, run_id, json.dumps(rows))).rowcount:
                snapshot_cache.renew_token(con, activation)

    def confirm_removed(self, activation: str, emails: list[str]) -> None:
        """Forget members SendGrid confirmed as removed (idempotent)."""
        with self.transaction() as con:
            if con.execute(_CONFIRM_REMOVED, (activation, json.dumps(emails))).rowcount:
                snapshot_cache.renew_token(con, activation)  # nothing gone: the copy holds


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


_ROW_SEPARATOR = "\n"
_NULL_ID = "\x01"  # stands for a null contact id in the joined text
# The primary key (activation, email) hands the rows over in email order; the frame is sorted
# only if they ever come otherwise (an ORDER BY subquery would cost a third more).
_SNAPSHOT_COLUMNS = (
    "SELECT count(*), count(contact_id), group_concat(email, char(10)), "
    "group_concat(ifnull(contact_id, char(1)), char(10)) FROM snapshot_members "
    "WHERE activation = ?"
)


def _split_columns(count: int, with_id: int, emails: str, ids: str) -> pl.DataFrame | None:
    """The snapshot frame from its two joined columns; None when the text does not split
    back into ``count`` rows with ``with_id`` contact ids (a value held a separator)."""
    if not count:
        return pl.DataFrame(schema=SNAPSHOT_SCHEMA)
    email = pl.Series("email", [emails], pl.Utf8).str.split(_ROW_SEPARATOR).explode()
    joined = pl.Series("contact_id", [ids], pl.Utf8).str.split(_ROW_SEPARATOR).explode()
    if email.len() != count or joined.len() != count:
        return None
    frame = pl.DataFrame([email, joined]).with_columns(
        contact_id=pl.when(pl.col("contact_id") != _NULL_ID).then(pl.col("contact_id"))
    )
    if frame.get_column("contact_id").null_count() != count - with_id:
        return None
    return frame if email.is_sorted() else frame.sort("email")


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(row["doc"])
    return {**doc, **{c: row[c] for c in RUN_COLUMNS}}
