"""App state in SQLite: catalog registrations, segments, destinations, activations, runs, snapshots.

The Streamlit app and the scheduled runner read and write this file at the same time, so:

- WAL mode (readers never block the writer), ``busy_timeout`` (writers wait instead of failing),
  foreign keys on;
- a fresh ``sqlite3`` connection per operation, never shared across threads;
- every write inside ``BEGIN IMMEDIATE`` (we issue it ourselves with ``isolation_level=None``):
  Python's default deferred transactions lose updates under two writers.

``store.transaction()`` groups several operations into one atomic write: while it is open, every
``Store`` method called on the same thread joins it (nested writes become savepoints), so a
read-modify-write inside it can never interleave with another process.

The schema is a list of numbered migrations (``MIGRATIONS``) tracked in ``PRAGMA user_version``;
to change it, append a script. Secrets are never stored: documents with keys named like
``api_key``/``secret``/``token``/``password`` are refused.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from workbench.catalog import EntitySpec
from workbench.errors import ConfigError, ConflictError, NotFoundError, Problem, SegmentInvalid

BUSY_TIMEOUT_MS = 30_000
RUN_COLUMNS = ("id", "activation", "status", "started_at", "updated_at")
SNAPSHOT_SCHEMA = {"email": pl.Utf8, "contact_id": pl.Utf8}

# Migration N is MIGRATIONS[N - 1]; append a script to change the schema, never edit one.
# Scripts run inside one BEGIN IMMEDIATE with foreign keys ON (the pragma cannot change inside a
# transaction): prefer ALTER TABLE ... ADD COLUMN; rebuilding ``segments`` by DROP TABLE would
# cascade-delete every segment version.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE entities (name TEXT PRIMARY KEY, spec TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE segments (
        name TEXT PRIMARY KEY, version INTEGER NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE segment_versions (
        name TEXT NOT NULL REFERENCES segments(name) ON UPDATE CASCADE ON DELETE CASCADE,
        version INTEGER NOT NULL, doc TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
        saved_at TEXT NOT NULL, PRIMARY KEY (name, version));
    CREATE TABLE destinations (name TEXT PRIMARY KEY, config TEXT NOT NULL,
        updated_at TEXT NOT NULL);
    CREATE TABLE activations (name TEXT PRIMARY KEY, config TEXT NOT NULL,
        updated_at TEXT NOT NULL, segment TEXT, destination TEXT);
    CREATE INDEX activations_by_segment ON activations (segment);
    CREATE INDEX activations_by_destination ON activations (destination);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, activation TEXT NOT NULL, status TEXT NOT NULL,
        started_at TEXT NOT NULL, updated_at TEXT NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX runs_by_activation ON runs (activation, id);
    CREATE TABLE snapshot_members (
        activation TEXT NOT NULL, email TEXT NOT NULL, contact_id TEXT, added_run INTEGER,
        PRIMARY KEY (activation, email)) WITHOUT ROWID;
    """,
)

_SECRET_KEY = re.compile(r"api[_-]?key|secret|token|passw(or)?d|credential|private[_-]?key", re.I)
_REFERENCE_SUFFIXES = ("_env", "_name", "_ref")  # where a secret lives, not the secret itself
_SENDGRID_KEY_VALUE = re.compile(r"SG\.[\w-]{10,}\.[\w-]{10,}")


def utc_now() -> str:
    """Now as UTC ISO-8601 with milliseconds, e.g. ``2026-06-30T12:00:00.000+00:00``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def statements_of(script: str) -> Iterator[str]:
    """The complete SQL statements of a script (``executescript`` would commit our transaction)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                yield pending.strip()
            pending = ""


def _secret_paths(doc: Any, path: str = "") -> Iterator[str]:
    """Paths in ``doc`` whose key is named like a secret or whose value looks like an API key."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{path}.{key}" if path else str(key)
            named_secret = _SECRET_KEY.search(str(key))
            if named_secret and not str(key).lower().endswith(_REFERENCE_SUFFIXES):
                yield here
            else:
                yield from _secret_paths(value, here)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _secret_paths(item, f"{path}[{i}]")
    elif isinstance(doc, str) and _SENDGRID_KEY_VALUE.search(doc):
        yield path or "(value)"


def refuse_secrets(kind: str, name: str, doc: Any) -> None:
    """Raise ConfigError when ``doc`` holds something secret (the message never shows the value)."""
    found = list(_secret_paths(doc))
    if found:
        raise ConfigError(
            f"{kind} {name!r}: refusing to store {', '.join(found)}: it looks like a secret and "
            "the state store never holds secrets. Keep the API key in .streamlit/secrets.toml "
            "or an environment variable, and store only where to find it (a key ending in _env)."
        )


def not_found(kind: str, name: object, known: list[str]) -> NotFoundError:
    """A NotFoundError naming the missing object and the closest (or all) saved names."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    if close:
        hint = "did you mean: " + ", ".join(repr(c) for c in close) + "?"
    else:
        hint = "saved: " + (", ".join(repr(k) for k in known[:20]) or "none")
    return NotFoundError(f"no saved {kind} named {name!r} ({hint})")


_CURRENT_SEGMENTS = (
    "SELECT s.name, s.version, s.updated_at, v.description, v.doc FROM segments s "
    "JOIN segment_versions v ON v.name = s.name AND v.version = s.version"
)


@dataclass(frozen=True)
class SegmentInfo:
    """One saved segment version: its name, number, when it was saved and its description."""

    name: str
    version: int
    updated_at: str
    description: str


def _segment_document(doc: Any) -> dict[str, Any]:
    """The document as plain JSON; SegmentInvalid when it has no name or is not JSON-able."""
    if not isinstance(doc, dict):
        raise SegmentInvalid([Problem("", "a segment document must be a JSON object")])
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SegmentInvalid([Problem("name", "a saved segment needs a non-empty name")])
    try:
        clean: dict[str, Any] = json.loads(json.dumps(doc))
    except (TypeError, ValueError) as exc:
        raise SegmentInvalid([Problem("", f"the document is not plain JSON: {exc}")]) from None
    return clean


def _save_segment_in(con: sqlite3.Connection, doc: dict[str, Any]) -> int:
    """Save ``doc`` inside the open transaction ``con``; returns its (maybe unchanged) version."""
    name, now = doc["name"], utc_now()
    current = con.execute(f"{_CURRENT_SEGMENTS} WHERE s.name = ?", (name,)).fetchall()
    if current and json.loads(current[0]["doc"]) == doc:
        return int(current[0]["version"])
    version = int(current[0]["version"]) + 1 if current else 1
    con.execute(
        "INSERT INTO segments (name, version, created_at, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET version = excluded.version, "
        "updated_at = excluded.updated_at",
        (name, version, now, now),
    )
    con.execute(
        "INSERT INTO segment_versions (name, version, doc, description, saved_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (name, version, json.dumps(doc), str(doc.get("description") or ""), now),
    )
    return version


def _rename_versions(con: sqlite3.Connection, name: str) -> None:
    """Set the "name" inside every stored version of segment ``name`` (after a rename)."""
    rows = con.execute("SELECT version, doc FROM segment_versions WHERE name = ?", (name,))
    for row in rows.fetchall():
        doc = {**json.loads(row["doc"]), "name": name}
        con.execute(
            "UPDATE segment_versions SET doc = ? WHERE name = ? AND version = ?",
            (json.dumps(doc), name, row["version"]),
        )


def _references(node: Any, name: str) -> bool:
    """True when an ``{"in_segment": name}`` node occurs anywhere inside ``node``."""
    if isinstance(node, dict):
        return node.get("in_segment") == name or any(_references(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_references(v, name) for v in node)
    return False


def _replace_reference(node: Any, old: str, new: str) -> Any:
    """A copy of ``node`` with every ``{"in_segment": old}`` pointing at ``new`` instead."""
    if isinstance(node, dict):
        copy = {k: _replace_reference(v, old, new) for k, v in node.items()}
        if copy.get("in_segment") == old:
            copy["in_segment"] = new
        return copy
    if isinstance(node, list):
        return [_replace_reference(v, old, new) for v in node]
    return node


@dataclass(frozen=True)
class StoredDoc:
    """A named JSON document (destination or activation) and when it was last saved."""

    name: str
    config: dict[str, Any]
    updated_at: str


class Store:
    """The SQLite state store at ``path`` (created with its folder and migrated on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._enable_wal()
        self._migrate()

    # -- connections and transactions -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA foreign_keys = ON")
        return con

    def _enable_wal(self) -> None:
        con = self._connect()
        try:
            con.execute("PRAGMA journal_mode = WAL")
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: commits on success, rolls back on error.

        Store methods called on this thread while it is open join it; a nested
        ``transaction()`` becomes a savepoint that rolls back alone.
        """
        active: sqlite3.Connection | None = getattr(self._local, "con", None)
        if active is not None:
            yield from _savepoint(active)
            return
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            self._local.con = con
            try:
                yield con
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            self._local.con = None
            con.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The open transaction's connection on this thread, else a fresh one for this read."""
        active: sqlite3.Connection | None = getattr(self._local, "con", None)
        if active is not None:
            yield active
            return
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    def _migrate(self) -> None:
        with self.transaction() as con:
            current = int(con.execute("PRAGMA user_version").fetchall()[0][0])
            if current > len(MIGRATIONS):
                raise ConfigError(
                    f"the state store {str(self.path)!r} has schema version {current}, newer "
                    f"than this workbench knows ({len(MIGRATIONS)}): upgrade the workbench"
                )
            for number in range(current + 1, len(MIGRATIONS) + 1):
                for statement in statements_of(MIGRATIONS[number - 1]):
                    con.execute(statement)
                con.execute(f"PRAGMA user_version = {number}")

    def schema_version(self) -> int:
        """The number of migrations applied to this database."""
        with self._reading() as con:
            return int(con.execute("PRAGMA user_version").fetchall()[0][0])

    # -- catalog registrations --------------------------------------------------------------

    def save_entity(self, spec: EntitySpec) -> None:
        """Save a registered entity's spec, replacing any registration of the same name."""
        with self.transaction() as con:
            con.execute(
                "INSERT INTO entities (name, spec, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, "
                "updated_at = excluded.updated_at",
                (spec.name, json.dumps(spec.to_dict()), utc_now()),
            )

    def list_entities(self) -> list[EntitySpec]:
        """Every registered entity spec, by name."""
        with self._reading() as con:
            rows = con.execute("SELECT spec FROM entities ORDER BY name").fetchall()
        return [EntitySpec.from_dict(json.loads(r["spec"])) for r in rows]

    def delete_entity(self, name: str) -> None:
        """Forget a registered entity; NotFoundError when it is not registered."""
        with self.transaction() as con:
            if con.execute("DELETE FROM entities WHERE name = ?", (name,)).rowcount == 0:
                raise not_found("entity", name, self._names(con, "entities"))

    @staticmethod
    def _names(con: sqlite3.Connection, table: str) -> list[str]:
        return [r[0] for r in con.execute(f"SELECT name FROM {table} ORDER BY name").fetchall()]

    # -- saved segments (versioned) ---------------------------------------------------------

    def save_segment(self, doc: dict[str, Any]) -> int:
        """Save a segment document (needs a "name"); a new version only if its content changed."""
        clean = _segment_document(doc)
        with self.transaction() as con:
            return _save_segment_in(con, clean)

    def get_segment(self, name: str, version: int | None = None) -> dict[str, Any]:
        """A saved segment's document: the current version, or the one asked for."""
        with self._reading() as con:
            if version is None:
                rows = con.execute(f"{_CURRENT_SEGMENTS} WHERE s.name = ?", (name,)).fetchall()
            else:
                rows = con.execute(
                    "SELECT doc FROM segment_versions WHERE name = ? AND version = ?",
                    (name, version),
                ).fetchall()
            if not rows:
                raise self._segment_not_found(con, name, version)
        doc: dict[str, Any] = json.loads(rows[0]["doc"])
        return doc

    def _segment_not_found(
        self, con: sqlite3.Connection, name: str, version: int | None
    ) -> NotFoundError:
        names = self._names(con, "segments")
        if name not in names:
            return not_found("segment", name, names)
        latest = con.execute("SELECT version FROM segments WHERE name = ?", (name,)).fetchall()
        return NotFoundError(
            f"segment {name!r} has no version {version} (versions 1 to {latest[0][0]})"
        )

    def list_segments(self) -> list[SegmentInfo]:
        """Every saved segment's current version, by name."""
        with self._reading() as con:
            rows = con.execute(f"{_CURRENT_SEGMENTS} ORDER BY s.name").fetchall()
        return [
            SegmentInfo(r["name"], r["version"], r["updated_at"], r["description"]) for r in rows
        ]

    def segment_versions(self, name: str) -> list[SegmentInfo]:
        """Every version of one segment, oldest first (``updated_at`` is when it was saved)."""
        with self._reading() as con:
            rows = con.execute(
                "SELECT name, version, saved_at, description FROM segment_versions "
                "WHERE name = ? ORDER BY version",
                (name,),
            ).fetchall()
            if not rows:
                raise not_found("segment", name, self._names(con, "segments"))
        return [SegmentInfo(r["name"], r["version"], r["saved_at"], r["description"]) for r in rows]

    def rename_segment(self, old: str, new: str) -> None:
        """Rename a segment (every version, its dependents' references and its activations)."""
        _segment_document({"name": new})
        with self.transaction() as con:
            names = self._names(con, "segments")
            if old not in names:
                raise not_found("segment", old, names)
            if new in names and new != old:
                raise ConflictError(
                    f"a segment named {new!r} exists already: choose another name or delete it"
                )
            dependents = self.segment_dependents(old)
            con.execute("UPDATE segments SET name = ? WHERE name = ?", (new, old))
            _rename_versions(con, new)
            for dependent in dependents:
                _save_segment_in(con, _replace_reference(self.get_segment(dependent), old, new))
            for activation in self.list_activations(segment=old):
                self.save_activation(activation.name, {**activation.config, "segment": new})

    def delete_segment(self, name: str, *, force: bool = False) -> None:
        """Delete a segment and its versions; ConflictError while others use it, unless forced."""
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM segments WHERE name = ?", (name,)).fetchall() == []:
                raise not_found("segment", name, self._names(con, "segments"))
            users = self.segment_dependents(name)
            users += [f"activation {a.name}" for a in self.list_activations(segment=name)]
            if users and not force:
                raise ConflictError(
                    f"segment {name!r} is used by {', '.join(users)}: change them first "
                    "(or delete with force)"
                )
            con.execute("DELETE FROM segments WHERE name = ?", (name,))

    def segment_dependents(self, name: str) -> list[str]:
        """Saved segments whose current document has an ``{"in_segment": name}`` node."""
        with self._reading() as con:
            rows = con.execute(_CURRENT_SEGMENTS).fetchall()
        return sorted(
            r["name"] for r in rows if r["name"] != name and _references(json.loads(r["doc"]), name)
        )

    # -- destinations and activations (named JSON documents) -------------------------------

    def save_destination(self, name: str, config: dict[str, Any]) -> None:
        """Save a destination's settings (never its API key: secrets are refused)."""
        refuse_secrets("destination", name, config)
        self._put_doc("destinations", name, config, {})

    def get_destination(self, name: str) -> dict[str, Any]:
        """A destination's settings; NotFoundError when it does not exist."""
        return self._get_doc("destinations", "destination", name)

    def list_destinations(self) -> list[StoredDoc]:
        """Every destination, by name."""
        return self._list_docs("destinations")

    def delete_destination(self, name: str) -> None:
        """Delete a destination; ConflictError while activations use it."""
        users = [a.name for a in self.list_activations(destination=name)]
        if users:
            raise ConflictError(
                f"destination {name!r} is used by activation(s) {', '.join(users)}: "
                "delete or change them first"
            )
        self._delete_doc("destinations", "destination", name)

    def save_activation(self, name: str, config: dict[str, Any]) -> None:
        """Save an activation; its ``segment`` and ``destination`` keys are indexed."""
        refuse_secrets("activation", name, config)
        columns = {"segment": config.get("segment"), "destination": config.get("destination")}
        self._put_doc("activations", name, config, columns)

    def get_activation(self, name: str) -> dict[str, Any]:
        """An activation's settings; NotFoundError when it does not exist."""
        return self._get_doc("activations", "activation", name)

    def list_activations(
        self, *, segment: str | None = None, destination: str | None = None
    ) -> list[StoredDoc]:
        """Every activation by name, optionally only those of one segment or destination."""
        return self._list_docs("activations", segment=segment, destination=destination)

    def delete_activation(self, name: str) -> None:
        """Delete an activation and its member snapshot (its runs stay as history)."""
        with self.transaction() as con:
            self._delete_doc("activations", "activation", name)
            con.execute("DELETE FROM snapshot_members WHERE activation = ?", (name,))

    def _put_doc(
        self, table: str, name: str, config: dict[str, Any], columns: dict[str, Any]
    ) -> None:
        names = ["name", "config", "updated_at", *columns]
        values = [name, json.dumps(config), utc_now(), *columns.values()]
        updates = ", ".join(f"{c} = excluded.{c}" for c in names[1:])
        with self.transaction() as con:
            con.execute(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                f"ON CONFLICT(name) DO UPDATE SET {updates}",
                values,
            )

    def _get_doc(self, table: str, kind: str, name: str) -> dict[str, Any]:
        with self._reading() as con:
            rows = con.execute(f"SELECT config FROM {table} WHERE name = ?", (name,)).fetchall()
            if not rows:
                raise not_found(kind, name, self._names(con, table))
        config: dict[str, Any] = json.loads(rows[0]["config"])
        return config

    def _list_docs(self, table: str, **filters: str | None) -> list[StoredDoc]:
        wanted = {k: v for k, v in filters.items() if v is not None}
        where = " AND ".join(f"{k} = ?" for k in wanted) or "1"
        sql = f"SELECT name, config, updated_at FROM {table} WHERE {where} ORDER BY name"
        with self._reading() as con:
            rows = con.execute(sql, list(wanted.values())).fetchall()
        return [StoredDoc(r["name"], json.loads(r["config"]), r["updated_at"]) for r in rows]

    def _delete_doc(self, table: str, kind: str, name: str) -> None:
        with self.transaction() as con:
            if con.execute(f"DELETE FROM {table} WHERE name = ?", (name,)).rowcount == 0:
                raise not_found(kind, name, self._names(con, table))

    # -- runs -------------------------------------------------------------------------------

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

    # -- member snapshots -------------------------------------------------------------------

    def read_snapshot(self, activation: str) -> pl.DataFrame:
        """The members SendGrid confirmed for ``activation``: email, contact_id, sorted by email."""
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
        """Record members SendGrid confirmed as added (idempotent; keeps the first added_run)."""
        with self.transaction() as con:
            con.executemany(
                "INSERT INTO snapshot_members (activation, email, contact_id, added_run) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(activation, email) DO UPDATE SET "
                "contact_id = coalesce(excluded.contact_id, contact_id)",
                [(activation, email, contact_id, run_id) for email, contact_id in rows],
            )

    def confirm_removed(self, activation: str, emails: list[str]) -> None:
        """Forget members SendGrid confirmed as removed (idempotent)."""
        with self.transaction() as con:
            con.executemany(
                "DELETE FROM snapshot_members WHERE activation = ? AND email = ?",
                [(activation, email) for email in emails],
            )


def _savepoint(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    con.execute("SAVEPOINT nested")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK TO nested")
        con.execute("RELEASE nested")
        raise
    con.execute("RELEASE nested")


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(row["doc"])
    return {**doc, **{c: row[c] for c in RUN_COLUMNS}}
