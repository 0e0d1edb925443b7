"""The state store's schema: numbered migrations tracked in ``PRAGMA user_version``.

Migration N is ``MIGRATIONS[N - 1]``. To change the schema, append a script here; never edit
one that has shipped. ``apply_migrations`` runs the missing ones inside the caller's
``BEGIN IMMEDIATE``, so a failing script leaves nothing half done.

``workbench.store`` re-exports ``MIGRATIONS`` and passes its own module-level name to
``apply_migrations`` when a ``Store`` opens (tests replace ``workbench.store.MIGRATIONS``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from workbench.errors import ConfigError

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
    # 2: the SendGrid sync's persisted batches (one row per request, written before and after
    # it is sent) and one lock row per running activation (owner pid/host and a heartbeat).
    """
    CREATE TABLE IF NOT EXISTS run_batches (
        run_id INTEGER NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
        payload TEXT NOT NULL, job_ids TEXT NOT NULL DEFAULT '[]',
        outcome TEXT NOT NULL DEFAULT '{}', updated_at TEXT NOT NULL,
        PRIMARY KEY (run_id, seq));
    CREATE TABLE IF NOT EXISTS activation_locks (
        activation TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL,
        token TEXT NOT NULL, acquired_at TEXT NOT NULL, heartbeat_at REAL NOT NULL);
    """,
    # 3: a batch's payload (its rows and upsert entries: up to ~6 MB) moves out of SQLite into
    # an append-only file beside the state file (``workbench.destinations.sendgrid.sync_state``);
    # the row keeps where it is. Written into SQLite, 111 MB of payloads at a million members
    # took 1-1.3 s to commit (the WAL is checkpointed at commit) and every status update
    # written before and after a request rewrote its 3.5-6 MB row. Rows stored before keep
    # their payload text (``payload_bytes`` NULL).
    """
    ALTER TABLE run_batches ADD COLUMN payload_at INTEGER;
    ALTER TABLE run_batches ADD COLUMN payload_bytes INTEGER;
    """,
    # 4: a random token per member snapshot, replaced by every change of it in the same
    # transaction, naming the columnar copy of the snapshot kept beside the state file
    # (``workbench.store_snapshot_cache``): a copy is read only while its token is current.
    """
    CREATE TABLE snapshot_tokens (activation TEXT PRIMARY KEY, token TEXT NOT NULL);
    INSERT INTO snapshot_tokens (activation, token)
        SELECT activation, lower(hex(randomblob(16)))
        FROM (SELECT DISTINCT activation FROM snapshot_members);
    """,
)


def statements_of(script: str) -> Iterator[str]:
    """The complete SQL statements of a script (``executescript`` would commit our transaction)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                yield pending.strip()
            pending = ""


def schema_version_of(con: sqlite3.Connection) -> int:
    """The number of migrations applied to the database behind ``con``."""
    return int(con.execute("PRAGMA user_version").fetchall()[0][0])


def apply_migrations(con: sqlite3.Connection, path: Path, migrations: Sequence[str]) -> None:
    """Run the migrations ``con`` lacks, inside its open transaction.

    ConfigError when the database is newer than ``migrations`` (upgrade the workbench).
    """
    current = schema_version_of(con)
    if current > len(migrations):
        raise ConfigError(
            f"the state store {str(path)!r} has schema version {current}, newer "
            f"than this workbench knows ({len(migrations)}): upgrade the workbench"
        )
    for number in range(current + 1, len(migrations) + 1):
        for statement in statements_of(migrations[number - 1]):
            con.execute(statement)
        con.execute(f"PRAGMA user_version = {number}")
