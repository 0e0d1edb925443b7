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

The schema is a list of numbered migrations (``MIGRATIONS``, in ``workbench.store_schema``)
tracked in ``PRAGMA user_version``; to change it, append a script there. Secrets are never
stored: documents with keys named like ``api_key``/``secret``/``token``/``password`` are refused.

``Store`` is assembled from parts, one module each, all importable from here:

- ``workbench.store_base``: connections, transactions, ``refuse_secrets``, ``not_found``;
- ``workbench.store_schema``: ``MIGRATIONS`` and how they are applied;
- ``workbench.store_segments``: versioned segments and their dependents;
- ``workbench.store_documents``: destinations and activations;
- ``workbench.store_runs``: runs and member snapshots.

This module keeps what spans several parts: opening and migrating, catalog registrations, and
renaming or deleting a segment (which also rewrites its dependents and activations).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from workbench.catalog import EntitySpec
from workbench.errors import ConflictError
from workbench.store_base import BUSY_TIMEOUT_MS, StoreBase, not_found, refuse_secrets, utc_now
from workbench.store_documents import DocumentsMixin, StoredDoc
from workbench.store_runs import RUN_COLUMNS, SNAPSHOT_SCHEMA, RunsMixin, SnapshotsMixin
from workbench.store_schema import MIGRATIONS, apply_migrations, schema_version_of, statements_of
from workbench.store_segments import (
    SegmentInfo,
    SegmentsMixin,
    rename_versions_in,
    replace_segment_reference,
    save_segment_in,
    segment_document,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "MIGRATIONS",
    "RUN_COLUMNS",
    "SNAPSHOT_SCHEMA",
    "SegmentInfo",
    "Store",
    "StoreBase",
    "StoredDoc",
    "not_found",
    "refuse_secrets",
    "statements_of",
    "utc_now",
]


class Store(SegmentsMixin, DocumentsMixin, RunsMixin, SnapshotsMixin):
    """The SQLite state store at ``path`` (created with its folder and migrated on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._enable_wal()
        self._migrate()

    def _migrate(self) -> None:
        # Reads this module's MIGRATIONS at call time, so replacing ``workbench.store.MIGRATIONS``
        # (as the tests do) changes what a new Store applies.
        with self.transaction() as con:
            apply_migrations(con, self.path, MIGRATIONS)

    def schema_version(self) -> int:
        """The number of migrations applied to this database."""
        with self._reading() as con:
            return schema_version_of(con)

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

    # -- segment changes that reach dependents and activations -----------------------------

    def rename_segment(self, old: str, new: str) -> None:
        """Rename a segment (every version, its dependents' references and its activations)."""
        segment_document({"name": new})
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
            rename_versions_in(con, new)
            for dependent in dependents:
                updated = replace_segment_reference(self.get_segment(dependent), old, new)
                save_segment_in(con, updated)
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
