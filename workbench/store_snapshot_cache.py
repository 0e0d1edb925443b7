"""A columnar copy of each member snapshot beside the state file, read in milliseconds.

Reading a 930k-member snapshot through ``sqlite3`` takes 0.7-1.5 s (SQLite joins the columns into
text, polars splits it), and it lies on every run's critical path and every preview. So each
snapshot also lives as an Arrow IPC file in ``<state file>-snapshots/``, named after a token:
every change of the snapshot replaces the activation's token (table ``snapshot_tokens``, in the
same transaction as the change), so a copy is read only while it is exactly what SQLite holds,
and a stale one is never used. SQLite stays the truth: a missing or unreadable copy only means
the slow read, which writes a new copy.

Copies are written atomically (a temporary file, then a rename) by the slow read and by a sync
run that computed the snapshot it leaves (``Store.cache_snapshot``); older copies of the
activation are deleted then. Reading a copy maps the file: a copy replaced or deleted meanwhile
stays readable to whoever mapped it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sqlite3
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)

SNAPSHOT_SCHEMA = {"email": pl.Utf8, "contact_id": pl.Utf8}


def cache_folder(state_path: Path) -> Path:
    """Where the copies of ``state_path`` live: ``<state file>-snapshots`` beside it."""
    return state_path.with_name(f"{state_path.name}-snapshots")


def _prefix(activation: str) -> str:
    """The file-name prefix of an activation's copies (any name becomes a safe file name)."""
    return hashlib.sha256(activation.encode()).hexdigest()[:24]


def copy_path(state_path: Path, activation: str, token: str) -> Path:
    """The copy of ``activation``'s snapshot as of ``token``."""
    return cache_folder(state_path) / f"{_prefix(activation)}-{token}.arrow"


def renew_token(con: sqlite3.Connection, activation: str) -> None:
    """Mark ``activation``'s snapshot changed (inside the transaction that changes it)."""
    con.execute(
        "INSERT INTO snapshot_tokens (activation, token) VALUES (?, ?) "
        "ON CONFLICT(activation) DO UPDATE SET token = excluded.token",
        (activation, secrets.token_hex(16)),
    )


def forget_token(con: sqlite3.Connection, activation: str) -> None:
    """Drop ``activation``'s token (its snapshot was deleted): no copy of it is read again."""
    con.execute("DELETE FROM snapshot_tokens WHERE activation = ?", (activation,))


def token_of(con: sqlite3.Connection, activation: str) -> str | None:
    """The current token of ``activation``'s snapshot (None: never changed since migration 4)."""
    rows = con.execute(
        "SELECT token FROM snapshot_tokens WHERE activation = ?", (activation,)
    ).fetchall()
    return str(rows[0][0]) if rows else None


def read_copy(state_path: Path, activation: str, token: str) -> pl.DataFrame | None:
    """The copy for ``token``, or None when there is none (or it cannot be read)."""
    path = copy_path(state_path, activation, token)
    try:
        frame = pl.read_ipc(path)
    except (OSError, pl.exceptions.PolarsError):
        return None
    if frame.schema != SNAPSHOT_SCHEMA:
        return None
    return frame


def prepare_copy(state_path: Path, activation: str, frame: pl.DataFrame) -> Path | None:
    """Write ``frame`` as a copy not yet in use (``install_copy`` puts it in place once it is
    known to be current); its path, or None when it could not be written (logged)."""
    folder = cache_folder(state_path)
    prepared = folder / f".{_prefix(activation)}-{os.getpid()}-{secrets.token_hex(4)}.prepared"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        frame.select(list(SNAPSHOT_SCHEMA)).write_ipc(prepared)
    except OSError as exc:
        log.warning("could not keep a copy of the snapshot of %s: %s", activation, exc)
        prepared.unlink(missing_ok=True)
        return None
    return prepared


def install_copy(state_path: Path, activation: str, token: str, prepared: Path) -> None:
    """Make the prepared copy the copy for ``token`` (a rename) and delete the activation's
    other copies, and any copy another process prepared and left behind."""
    path = copy_path(state_path, activation, token)
    try:
        os.replace(prepared, path)
        for old in path.parent.glob(f"{_prefix(activation)}-*.arrow"):
            if old != path:
                old.unlink(missing_ok=True)
        for left in path.parent.glob(f".{_prefix(activation)}-*.prepared"):
            left.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not keep a copy of the snapshot of %s: %s", activation, exc)
        prepared.unlink(missing_ok=True)


def write_copy(state_path: Path, activation: str, token: str, frame: pl.DataFrame) -> None:
    """Keep ``frame`` as the copy for ``token`` and delete the activation's older copies. A
    failure only costs speed: it is logged, never raised."""
    prepared = prepare_copy(state_path, activation, frame)
    if prepared is not None:
        install_copy(state_path, activation, token, prepared)
